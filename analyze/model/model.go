package model

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/firewall"
	"github.com/dockcase/dockcase/bundle"
)

// Evidence cites where a fact comes from: a bundle member, its SHA-256 as
// the signed manifest records it, and either a JSON pointer (RFC 6901) into
// the member or a 1-based line of it. Text quotes the cited value when it
// helps a reader (a rule, a route) and is attacker-controlled.
type Evidence struct {
	Member  string `json:"member"`
	SHA256  string `json:"sha256,omitempty"`
	Pointer string `json:"pointer,omitempty"`
	Line    int    `json:"line,omitempty"`
	Text    string `json:"text,omitempty"`
}

// Host is the model of one Docker host as the bundle recorded it.
type Host struct {
	Hostname string `json:"hostname,omitempty"`
	// Collected is when the collection finished: "now" for anything still
	// running in the bundle (leases without an end).
	Collected time.Time `json:"collected"`

	Containers []*Container `json:"containers"`
	Networks   []*Network   `json:"networks"`
	Namespaces []*Namespace `json:"namespaces"`
	// HostNS is the host's own network namespace (links, routes, rules);
	// nil when the bundle lacks it.
	HostNS *Namespace `json:"-"`

	Conntrack []ConntrackFlow `json:"-"`
	// CaptureInterfaces and CaptureOverlays are capture/interfaces.json:
	// the interfaces captured with their roles, and the overlay networks
	// with what the capture cannot see of them; nil without a capture.
	CaptureInterfaces []CaptureInterface `json:"-"`
	CaptureOverlays   []CaptureOverlay   `json:"-"`
	// CaptureChanged are the interfaces the document's changes name (those
	// that came and went during the capture), and CaptureInterfacesErr why
	// the document could not be read or decoded.
	CaptureChanged       []CaptureInterface `json:"-"`
	CaptureInterfacesErr error              `json:"-"`
	// Usage is docker/stats.json, one entry per container sampled, in
	// the order first sampled; nil when the bundle lacks it.
	Usage []*ContainerUsage `json:"-"`
	// ConntrackClock is host/conntrack-sysctl.json, what dates the
	// conntrack entries; nil when the bundle lacks it.
	ConntrackClock *ConntrackClock `json:"-"`
	Processes      []HostProcess   `json:"-"`
	Events         []DockerEvent   `json:"-"`
	// EngineEvents are all of docker/events.jsonl's well-formed lines, in
	// the member's order, then those of capture/docker-events.jsonl that
	// the first does not hold.
	EngineEvents []EngineEvent `json:"-"`
	// Clock is host/clock.json; nil when absent or malformed.
	Clock *HostClock `json:"-"`

	// SocketSightings are capture/socket-samples.json's sockets, each with
	// the containers it is theirs of; SocketSampling is how they were
	// sampled, nil when the bundle lacks the member (not recorded).
	SocketSightings []SocketSighting `json:"-"`
	SocketSampling  *SocketSampling  `json:"-"`

	// Firewall4 and Firewall6 are the rulesets that decide NAT and
	// forwarding: iptables-save (or ip6tables-save) unless the engine uses
	// the nftables backend, in which case the nft document; netavark's own
	// nftables tables are merged into them. Nft is the nft document as
	// parsed, when present.
	Firewall4 *firewall.Ruleset `json:"-"`
	Firewall6 *firewall.Ruleset `json:"-"`
	Nft       *firewall.Ruleset `json:"-"`
	// Firewall4Evidence and Firewall6Evidence cite the member each came
	// from.
	Firewall4Evidence *Evidence `json:"-"`
	Firewall6Evidence *Evidence `json:"-"`
	// NftEvidence cites host/firewall/nft.json, which rules from an nft
	// table merged into Firewall4 or Firewall6 (netavark's) come from.
	NftEvidence *Evidence `json:"-"`

	// Engine is the container engine the bundle was collected from,
	// EngineDocker or EnginePodman, by its version answer.
	Engine string `json:"engine,omitempty"`
	// NetworkBackend is Podman's network backend (netavark, cni), when the
	// bundle says.
	NetworkBackend string `json:"network_backend,omitempty"`
	// Missing lists what the bundle lacks and what is unknown because of it.
	Missing []string `json:"missing,omitempty"`
	// ReadErrors are the members that are in the bundle but could not be
	// read (over their bound, or failing verification), with the error.
	ReadErrors map[string]error `json:"-"`

	// Steps are the collection steps of the custody log, and BundlePath
	// the bundle file the model was loaded from ("" for members in
	// memory): the timeline cites both.
	Steps      []bundle.StepRecord `json:"-"`
	BundlePath string              `json:"-"`

	leases []Lease
	byID   map[string]*Container
	diffs  map[string]*Diff // container id → docker diff, read on first use
	// src is the bundle the model was loaded from, for the streams it does
	// not hold (Open).
	src Source

	// leaseIdx finds the leases by address (holders.go); rebuilt with them.
	leaseIdx leaseIndex
}

// Container is one container as inspect, the namespace index and the
// processes describe it.
type Container struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Names []string `json:"names,omitempty"`
	Image string   `json:"image,omitempty"`
	// ImageID is the image's content id.
	ImageID    string    `json:"image_id,omitempty"`
	State      string    `json:"state"`
	Created    time.Time `json:"created,omitzero"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// NetworkMode is inspect's HostConfig.NetworkMode: bridge, host, none,
	// container:<id>, or a network name.
	NetworkMode string `json:"network_mode"`
	// SharesWith is the container whose namespace this one joined
	// (container:<id> mode).
	SharesWith string        `json:"shares_with,omitempty"`
	Pid        int           `json:"pid,omitempty"`
	NetNS      uint64        `json:"netns,omitempty"`
	Endpoints  []Endpoint    `json:"endpoints"`
	Ports      []PortBinding `json:"ports"`
	Mounts     []Mount       `json:"mounts"`
	Privileges Privileges    `json:"privileges"`
	// Labels are the container's labels (attacker-controlled text).
	Labels    map[string]string `json:"labels,omitempty"`
	Evidence  []Evidence        `json:"evidence"`
	Unknown   []string          `json:"unknown,omitempty"`
	inspected bool

	// SeenIn is SeenInCaptureWindow for a container the snapshot did not
	// list, known from the inspect the capture window took as it started;
	// empty for the snapshot's.
	SeenIn string `json:"seen_in,omitempty"`
	// HostVeths are the container's veths as the capture window read its
	// namespace, with the ifindex of each one's host end.
	HostVeths []HostVeth `json:"host_veths,omitempty"`

	// Inspect is the container's inspect as decoded from the bundle, for
	// the configuration rules; nil when absent or malformed. InspectErr is
	// the decoding error of a malformed one.
	Inspect    *Inspect `json:"-"`
	InspectErr error    `json:"-"`
}

// Running reports whether the container was running (or paused) at
// collection.
func (c *Container) Running() bool { return c.State == "running" || c.State == "paused" }

// Endpoint is a container's attachment to one network.
type Endpoint struct {
	Network   string     `json:"network"`
	NetworkID string     `json:"network_id,omitempty"`
	IP        netip.Addr `json:"ip,omitzero"`
	PrefixLen int        `json:"prefix_len,omitempty"`
	Gateway   netip.Addr `json:"gateway,omitzero"`
	IPv6      netip.Addr `json:"ipv6,omitzero"`
	IPv6Len   int        `json:"ipv6_prefix_len,omitempty"`
	GatewayV6 netip.Addr `json:"gateway_v6,omitzero"`
	MAC       string     `json:"mac,omitempty"`
	Evidence  Evidence   `json:"evidence"`
}

// PortBinding is one published port.
type PortBinding struct {
	ContainerPort uint16   `json:"container_port"`
	Proto         string   `json:"proto"`
	HostIP        string   `json:"host_ip,omitempty"`
	HostPort      uint16   `json:"host_port,omitempty"`
	Evidence      Evidence `json:"evidence"`
}

// Mount is one mount of a container.
type Mount struct {
	Type        string `json:"type"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	RW          bool   `json:"rw"`
}

// Privileges are the settings that widen what a container may do.
type Privileges struct {
	Privileged  bool     `json:"privileged"`
	CapAdd      []string `json:"cap_add,omitempty"`
	CapDrop     []string `json:"cap_drop,omitempty"`
	PidMode     string   `json:"pid_mode,omitempty"`
	IpcMode     string   `json:"ipc_mode,omitempty"`
	UTSMode     string   `json:"uts_mode,omitempty"`
	SecurityOpt []string `json:"security_opt,omitempty"`
}

// Network is one Docker network.
type Network struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Driver   string         `json:"driver"`
	Scope    string         `json:"scope,omitempty"`
	Subnets  []netip.Prefix `json:"subnets"`
	Gateways []netip.Addr   `json:"gateways"`
	// Bridge is the host bridge of a bridge network: the
	// com.docker.network.bridge.name option, or br- and the first 12
	// characters of the id; on Podman, the network's network_interface
	// (podman1, cni-podman1) or the host bridge holding its gateway, and
	// empty when neither names it.
	Bridge string `json:"bridge,omitempty"`
	// BridgeEvidence cites where a Podman network's bridge name comes from.
	BridgeEvidence *Evidence `json:"bridge_evidence,omitempty"`
	// Parent is the host NIC of a macvlan or ipvlan network.
	Parent     string   `json:"parent,omitempty"`
	Internal   bool     `json:"internal"`
	EnableIPv6 bool     `json:"enable_ipv6"`
	Masquerade *bool    `json:"masquerade,omitempty"`
	Containers []string `json:"containers"`
	Evidence   Evidence `json:"evidence"`
}

// Namespace is one network namespace with its links, addresses, routes and
// policy rules.
type Namespace struct {
	Inode      uint64   `json:"inode"`
	Host       bool     `json:"host"`
	PID        int      `json:"pid,omitempty"`
	Containers []string `json:"containers,omitempty"`
	Orphan     bool     `json:"orphan,omitempty"`
	// Member is the netns.json the links and routes come from; empty when
	// the bundle lacks it.
	Member string       `json:"member,omitempty"`
	Links  []*Link      `json:"links"`
	Routes []Route      `json:"routes"`
	Rules  []PolicyRule `json:"rules,omitempty"`
	Error  string       `json:"error,omitempty"`
	// Sockets are the namespace's TCP, UDP, raw and unix sockets with the
	// processes holding them.
	Sockets []HostSocket `json:"-"`
	byIdx   map[int]*Link
}

// Link is one network interface of a namespace.
type Link struct {
	Index int    `json:"ifindex"`
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	// Iflink is the peer's ifindex for a veth and the parent's for a
	// macvlan, ipvlan or vlan link.
	Iflink    int            `json:"iflink,omitempty"`
	Master    string         `json:"master,omitempty"`
	MAC       string         `json:"mac,omitempty"`
	OperState string         `json:"oper_state,omitempty"`
	Addrs     []netip.Prefix `json:"addrs,omitempty"`
	// PeerNS and PeerIndex are the other end of a veth once paired (ifindex
	// and iflink agree in both directions).
	PeerNS    uint64   `json:"peer_netns,omitempty"`
	PeerIndex int      `json:"peer_ifindex,omitempty"`
	NS        uint64   `json:"netns"`
	Evidence  Evidence `json:"evidence"`
	// addrEv cites each address, in the order of Addrs.
	addrEv []Evidence
}

// Route is one route of a namespace.
type Route struct {
	Family   string       `json:"family"`
	Table    int          `json:"table"`
	Type     string       `json:"type"`
	Dst      netip.Prefix `json:"dst"`
	Gw       netip.Addr   `json:"gw,omitzero"`
	Dev      string       `json:"dev,omitempty"`
	DevIndex int          `json:"dev_ifindex,omitempty"`
	Src      netip.Addr   `json:"src,omitzero"`
	Metric   int          `json:"metric"`
	// Multipath lists the devices of a multipath route.
	Multipath []string `json:"multipath,omitempty"`
	Evidence  Evidence `json:"evidence"`
}

// Text renders the route the way `ip route` does.
func (r Route) Text() string {
	var b strings.Builder
	if r.Type != "" && r.Type != "unicast" {
		b.WriteString(r.Type + " ")
	}
	if r.Dst.Bits() == 0 {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Gw.IsValid() {
		b.WriteString(" via " + r.Gw.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	for _, d := range r.Multipath {
		b.WriteString(" nexthop dev " + d)
	}
	if r.Table != 0 && r.Table != 254 {
		b.WriteString(" table " + TableName(r.Table))
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	return b.String()
}

// TableName is the name ip route prints for a routing table.
func TableName(t int) string {
	switch t {
	case 254:
		return "main"
	case 255:
		return "local"
	case 253:
		return "default"
	}
	return strconv.Itoa(t)
}

// PolicyRule is one `ip rule`.
type PolicyRule struct {
	Family   string   `json:"family"`
	Priority int      `json:"priority"`
	Action   string   `json:"action"`
	Table    int      `json:"table,omitempty"`
	Src      string   `json:"src,omitempty"`
	Dst      string   `json:"dst,omitempty"`
	Iif      string   `json:"iif,omitempty"`
	Oif      string   `json:"oif,omitempty"`
	Mark     uint32   `json:"fwmark,omitempty"`
	Invert   bool     `json:"not,omitempty"`
	Other    bool     `json:"other,omitempty"` // selectors the model does not evaluate (ports, uid, tos…)
	Evidence Evidence `json:"evidence"`
}

// ConntrackFlow is one conntrack entry: the original and reply tuples.
type ConntrackFlow struct {
	Family     string   `json:"family"`
	Proto      string   `json:"proto"`
	OrigSrc    string   `json:"orig_src"`
	OrigDst    string   `json:"orig_dst"`
	OrigSPort  uint16   `json:"orig_sport,omitempty"`
	OrigDPort  uint16   `json:"orig_dport,omitempty"`
	ReplySrc   string   `json:"reply_src"`
	ReplyDst   string   `json:"reply_dst"`
	ReplySPort uint16   `json:"reply_sport,omitempty"`
	ReplyDPort uint16   `json:"reply_dport,omitempty"`
	State      string   `json:"state,omitempty"`
	Status     []string `json:"status,omitempty"`
	Evidence   Evidence `json:"evidence"`
	// TimeoutSeconds is what remained of the entry's timeout when the
	// table was read.
	TimeoutSeconds uint32 `json:"-"`
	// Start is when the entry was created: nf_conntrack_timestamp on,
	// read over netlink (or from /proc's delta-time and the table's read
	// time); nil otherwise.
	Start *time.Time `json:"-"`
	// LastPacket is the estimate of its last packet's time (DateConntrack);
	// nil when the bundle lacks host/conntrack-sysctl.json.
	LastPacket *ConntrackDating `json:"-"`
}

// HostProcess is one process of the host.
type HostProcess struct {
	PID         int       `json:"pid"`
	PPID        int       `json:"ppid"`
	Comm        string    `json:"comm"`
	Cmdline     []string  `json:"cmdline,omitempty"`
	Exe         string    `json:"exe,omitempty"`
	StartTime   time.Time `json:"start_time,omitzero"`
	NetNS       uint64    `json:"netns,omitempty"`
	ContainerID string    `json:"container_id,omitempty"`
	Evidence    Evidence  `json:"evidence"`
	// ExeDeleted says the executable was deleted after the process
	// started, for the process rules; the analysis document does not
	// carry it.
	ExeDeleted bool `json:"-"`
}

// HostSocket is one socket of a namespace with the processes holding it.
type HostSocket struct {
	// Container is set where the socket is listed as a container's
	// (Result.sockets).
	Container  string   `json:"container,omitempty"`
	Proto      string   `json:"proto"`
	LocalIP    string   `json:"local_ip,omitempty"`
	LocalPort  uint16   `json:"local_port"`
	RemoteIP   string   `json:"remote_ip,omitempty"`
	RemotePort uint16   `json:"remote_port"`
	State      string   `json:"state"`
	PIDs       []int    `json:"pids,omitempty"`
	NetNS      uint64   `json:"netns"`
	Evidence   Evidence `json:"evidence"`
}

// DockerEvent is one engine event that bears on addresses: container start,
// die, destroy; network connect, disconnect.
type DockerEvent struct {
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Action    string    `json:"action"`
	Actor     string    `json:"actor"`
	Container string    `json:"container,omitempty"`
	Name      string    `json:"name,omitempty"`
	Evidence  Evidence  `json:"evidence"`
}

// Container returns the container with this id, unique id prefix or name
// (with or without the leading slash).
func (h *Host) Container(ref string) (*Container, bool) {
	ref = strings.TrimPrefix(ref, "/")
	if c, ok := h.byID[ref]; ok {
		return c, true
	}
	var found *Container
	for _, c := range h.Containers {
		if c.Name == ref {
			return c, true
		}
		if len(ref) >= 4 && strings.HasPrefix(c.ID, ref) {
			if found != nil {
				return nil, false
			}
			found = c
		}
	}
	return found, found != nil
}

// Network returns the network with this id, id prefix or name.
func (h *Host) Network(ref string) (*Network, bool) {
	for _, n := range h.Networks {
		if n.ID == ref || n.Name == ref {
			return n, true
		}
	}
	for _, n := range h.Networks {
		if len(ref) >= 12 && strings.HasPrefix(n.ID, ref) {
			return n, true
		}
	}
	return nil, false
}

// Namespace returns the namespace with this inode.
func (h *Host) Namespace(inode uint64) (*Namespace, bool) {
	for _, ns := range h.Namespaces {
		if ns.Inode == inode {
			return ns, true
		}
	}
	return nil, false
}

// Link returns the namespace's link with this ifindex.
func (ns *Namespace) Link(index int) *Link {
	if ns == nil {
		return nil
	}
	return ns.byIdx[index]
}

// LinkByName returns the namespace's link with this name.
func (ns *Namespace) LinkByName(name string) *Link {
	if ns == nil {
		return nil
	}
	for _, l := range ns.Links {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// AddrEvidence cites the link's address a; nil when the link is nil or
// does not hold a.
func (l *Link) AddrEvidence(a netip.Addr) []Evidence {
	if l == nil {
		return nil
	}
	for i, p := range l.Addrs {
		if p.Addr() == a && i < len(l.addrEv) {
			return []Evidence{l.addrEv[i]}
		}
	}
	return nil
}

// Cite is the link's evidence with a text naming the link (name, ifindex,
// kind, iflink, master); an empty list for a nil link.
func (l *Link) Cite() []Evidence {
	if l == nil {
		return []Evidence{}
	}
	e := l.Evidence
	e.Text = fmt.Sprintf("%s ifindex %d kind %s", l.Name, l.Index, l.Kind)
	if l.Iflink != 0 {
		e.Text += fmt.Sprintf(" iflink %d", l.Iflink)
	}
	if l.Master != "" {
		e.Text += " master " + l.Master
	}
	return []Evidence{e}
}
