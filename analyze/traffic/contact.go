package traffic

import (
	"net/netip"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// Sources of a contact, in ContactSource.Kind.
const (
	SourceCapture   = "capture"
	SourceSocket    = "socket"
	SourceConntrack = "conntrack"
	// SourceConntrackEvents is an entry the capture window's conntrack
	// events recorded (NEW to DESTROY), dated by them.
	SourceConntrackEvents = "conntrack-events"
)

// Rules a contact may carry beyond the flows' own (see the Rule constants):
// a socket of the container's own namespace, and a conntrack entry whose
// original source a container held.
const (
	// RuleNamespaceSocket: a socket in the container's own network
	// namespace (or its group's, container:<id> mode).
	RuleNamespaceSocket = "netns-socket"
	// RuleConntrackHolder: a conntrack entry of the snapshot whose original
	// source (before SNAT) the container held at the entry's dated time.
	RuleConntrackHolder = "conntrack-holder"
)

// Contact is one conversation (a container, a namespace group or a host
// process with one remote endpoint, protocol and ports) fused from every
// observation of it: the flows of each capture point that saw it, the
// sockets of the namespaces and the conntrack snapshot. Local is the
// container's side before NAT, Remote the other end.
//
// Packets and bytes are those of one capture point (CountedAt): the one
// that saw the most packets, the container's veth when it ties. They are
// never summed over points, since each packet crosses all of them.
type Contact struct {
	// Container and ContainerName name the one container the conversation
	// is attributed to; Group lists every container sharing the network
	// namespace when the evidence cannot pick one (container:<id> mode);
	// Candidates are the containers that may have held the address when
	// the evidence cannot separate them (never one of them as a
	// certainty). All empty for the host's own traffic or an unknown
	// owner (Rules say which).
	Container     string         `json:"container,omitempty"`
	ContainerName string         `json:"container_name,omitempty"`
	Group         []ContainerRef `json:"group,omitempty"`
	Candidates    []Candidate    `json:"candidates,omitempty"`
	// Process is the process holding the socket of the conversation, when
	// the bundle has it.
	Process *Process `json:"process,omitempty"`

	Proto string `json:"proto"`
	// Side is "client" when the container (or host process) began the
	// conversation, "server" when the remote did.
	Side   string         `json:"side"`
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`

	// First and Last are when the conversation was seen. Exact says they
	// are packet times; otherwise Dating says how they were estimated
	// ("socket ESTABLISHED at the snapshot 10:04:05", "conntrack estimate").
	First  time.Time `json:"first"`
	Last   time.Time `json:"last"`
	Exact  bool      `json:"exact"`
	Dating string    `json:"dating,omitempty"`

	PacketsToRemote   uint64 `json:"packets_to_remote"`
	PacketsFromRemote uint64 `json:"packets_from_remote"`
	BytesToRemote     uint64 `json:"bytes_to_remote"`
	BytesFromRemote   uint64 `json:"bytes_from_remote"`
	// CountedAt is the capture point (interface) whose counters these are;
	// empty when no capture saw the conversation.
	CountedAt string `json:"counted_at,omitempty"`

	// SNI and HTTPHost are from the client's first payload, Names the names
	// DNS answers gave the remote address. All are attacker-controlled.
	SNI      string   `json:"sni,omitempty"`
	HTTPHost string   `json:"http_host,omitempty"`
	Names    []string `json:"names,omitempty"`

	// Rules are the attribution rules that decided (the flows' and the
	// contact's own); Confidence is the highest of them, never high when
	// candidates are listed. Reason says what decided, in words.
	Rules      []string `json:"rules"`
	Confidence string   `json:"confidence"`
	Reason     string   `json:"reason"`

	// Sources are the observations; Evidence cites what decided. Both
	// point into the model's and the flows' evidence rather than copy it:
	// a bundle may give a hundred thousand contacts.
	Sources  []ContactSource   `json:"sources"`
	Evidence []*model.Evidence `json:"evidence"`
}

// ContainerRef names a container.
type ContainerRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Candidate is a container that may have held the contact's address, with
// the reason it is one.
type Candidate struct {
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Certain bool   `json:"certain,omitempty"`
	Reason  string `json:"reason"`
}

// Process is the process holding a conversation's socket. Comm and Cmdline
// are attacker-controlled.
type Process struct {
	PID     int      `json:"pid"`
	Comm    string   `json:"comm,omitempty"`
	Cmdline []string `json:"cmdline,omitempty"`
	// Container is the container whose cgroup the process is in.
	Container string `json:"container,omitempty"`
}

// ContactSource is one observation a contact was fused from: a capture
// point's flow (Flow indexes Result.Flows), a socket of a namespace, or a
// conntrack entry.
type ContactSource struct {
	Kind      string `json:"kind"`
	Interface string `json:"interface,omitempty"`
	Role      string `json:"role,omitempty"`
	Flow      *int   `json:"flow,omitempty"`
	Packets   uint64 `json:"packets,omitempty"`
	Bytes     uint64 `json:"bytes,omitempty"`
	// State is the socket's or conntrack entry's state.
	State    string          `json:"state,omitempty"`
	Evidence *model.Evidence `json:"evidence,omitempty"`
}

// Named reports whether the contact names a container (alone or as one of
// a group or of the candidates).
func (c *Contact) Named() bool {
	return c.Container != "" || len(c.Group) > 0 || len(c.Candidates) > 0
}

// WhoKey identifies who the contact is attributed to: the container, the
// group, the candidates, the host process, or the rule of an unattributed
// one. Contacts with one key are one line of an answer.
func (c *Contact) WhoKey() string {
	switch {
	case c.Container != "":
		return c.Container
	case len(c.Group) > 0:
		k := "group:"
		for _, g := range c.Group {
			k += g.ID + ","
		}
		return k
	case len(c.Candidates) > 0:
		k := "candidates:"
		for _, g := range c.Candidates {
			k += g.ID + ","
		}
		return k
	case c.Process != nil:
		return "process:" + c.Process.Comm
	}
	if len(c.Rules) > 0 {
		return "rule:" + c.Rules[0]
	}
	return "rule:" + RuleUnknown
}
