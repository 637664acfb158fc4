package traffic

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/pcapng"
)

// Attribution rules, in Flow.Rule. The first seven name a container; the
// last three do not.
const (
	// RuleVeth: captured on a container's veth (issue 6 rule 1).
	RuleVeth = "veth"
	// RuleAddressOwner: the container that held the address at that time,
	// on a bridge or on any link where the address was not translated
	// (rule 2).
	RuleAddressOwner = "address-owner"
	// RuleConntrack and RuleConntrackEvent: after NAT, the conntrack entry
	// of the snapshot or of the events whose reply tuple matches, reversed
	// to its original tuple (rule 3).
	RuleConntrack      = "conntrack"
	RuleConntrackEvent = "conntrack-event"
	// RuleCorrelation: after NAT without a conntrack entry, the pre-NAT flow
	// seen on a bridge or veth with the same remote address and port that
	// began within FlowCorrelationWindow (rule 3, fallback).
	RuleCorrelation = "correlation"
	// RuleDNAT: inbound to a published port, through the conntrack entry or
	// the DNAT rule of the binding (rule 4).
	RuleDNAT = "dnat"
	// RuleHostSocket: a host-network container's socket, through its
	// processes (rule 5).
	RuleHostSocket = "host-socket"
	// RuleHost: the host's own traffic.
	RuleHost = "host"
	// RuleForeign: neither endpoint is an address of the host or of a
	// container (other machines' broadcasts on an uplink, say).
	RuleForeign = "foreign"
	// RuleUnknown: evidence that stays unattributed ("host or unknown"),
	// with the reason; it makes the analysis finish with gaps.
	RuleUnknown = "unknown"
)

// Confidence of an attribution, in Flow.Confidence.
const (
	ConfidenceHigh   = "high"
	ConfidenceMedium = "medium"
	ConfidenceLow    = "low"
	ConfidenceNone   = "none"
)

// Roles of a capture point, in Flow.Role.
const (
	PointVeth   = "veth"
	PointBridge = "bridge"
	PointUplink = "uplink"
	// PointParent is the parent interface of a macvlan or ipvlan network:
	// its packets carry the container's own addresses (no NAT, no veth),
	// so it is attributed like a bridge, by who held the address then.
	PointParent   = "parent"
	PointExternal = "external" // a capture given with --pcap: after NAT, outside the host
	PointOther    = "other"
)

// Limits and tolerances of the attribution. The conntrack events member and
// the interface map come from the host and are attacker-controlled.
const (
	// FlowCorrelationWindow is how far apart the starts of a pre-NAT flow
	// and its translated copy may be: 2 s. Both sides of the host are
	// captured by one clock within microseconds; the slack covers a
	// retransmitted SYN and the clock of a --pcap from another machine that
	// is roughly, not exactly, in step.
	FlowCorrelationWindow = 2 * time.Second
	// ctWindowSlack widens a conntrack event's lifetime when matching a
	// flow: 1 s. Event times are when the collector received them, a few
	// milliseconds after the kernel acted.
	ctWindowSlack = time.Second
	// maxCTEventsBytes bounds capture/conntrack-events.jsonl: 1 GiB, the
	// collector's own bound (ctEventsMaxBytes).
	maxCTEventsBytes = 1 << 30
	// maxCTEventLineBytes bounds one event line: 64 KiB; a line is about
	// 600 bytes, labels and helpers included.
	maxCTEventLineBytes = 64 << 10
	// maxAttribEvidence bounds the evidence entries attached to one flow.
	maxAttribEvidence = 8
	// attribEvidenceCap is the evidence entries a flow has room for before
	// its slice grows: the frames, what decided, and the entry behind it.
	attribEvidenceCap = 3
)

// Capture members of a bundle.
const (
	memberCapture    = "capture/capture.pcapng"
	memberCTEvents   = "capture/conntrack-events.jsonl"
	captureMemberDir = "capture/"
)

// Flow is one captured flow with the container it is attributed to. Client
// is the side that sent the first packet (or the SYN); "to server" counts
// the client's packets. Container is empty unless Rule names a container.
type Flow struct {
	Container     string `json:"container,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	// NamespaceGroup lists the other containers sharing the container's
	// network namespace (container:<id> mode): the traffic is theirs too.
	NamespaceGroup []string `json:"namespace_group,omitempty"`
	// ContainerSide is "client" or "server": which endpoint is the
	// container (before NAT, see Original).
	ContainerSide string `json:"container_side,omitempty"`
	Rule          string `json:"rule"`
	Confidence    string `json:"confidence"`
	Reason        string `json:"reason"`

	Member    string `json:"member"`
	Interface string `json:"interface"`
	// InterfaceID is the interface's index in the capture member (the
	// pcapng interface id).
	InterfaceID int    `json:"interface_id"`
	Role        string `json:"role"`

	Proto      string     `json:"proto"`
	Client     netip.Addr `json:"client"`
	ClientPort uint16     `json:"client_port"`
	Server     netip.Addr `json:"server"`
	ServerPort uint16     `json:"server_port"`
	// Original is the tuple before NAT, when the flow was reversed through
	// conntrack or a published port.
	Original *FlowTuple `json:"original,omitempty"`

	First           time.Time `json:"first"`
	Last            time.Time `json:"last"`
	PacketsToServer uint64    `json:"packets_to_server"`
	PacketsToClient uint64    `json:"packets_to_client"`
	BytesToServer   uint64    `json:"bytes_to_server"`
	BytesToClient   uint64    `json:"bytes_to_client"`
	TCPFlags        string    `json:"tcp_flags,omitempty"`
	// SNI and HTTPHost are from the flow's first client payload; Names are
	// the names the container's DNS answers gave the remote address. All
	// are attacker-controlled.
	SNI        string   `json:"sni,omitempty"`
	HTTPHost   string   `json:"http_host,omitempty"`
	Names      []string `json:"names,omitempty"`
	FirstFrame uint64   `json:"first_frame"`
	LastFrame  uint64   `json:"last_frame"`
	// Evidence cites the capture member and frames first, then what decided
	// the attribution (interface map, lease, conntrack entry, rule).
	Evidence []model.Evidence `json:"evidence"`

	rec *flow.Record
}

// FlowTuple is one direction's addresses and ports.
type FlowTuple struct {
	Src   netip.Addr `json:"src"`
	SPort uint16     `json:"sport"`
	Dst   netip.Addr `json:"dst"`
	DPort uint16     `json:"dport"`
}

// MemberKey is the capture member and flow key the flow was read from;
// false for a flow not read from a capture.
func (f *Flow) MemberKey() (flow.MemberKey, bool) {
	if f.rec == nil {
		return flow.MemberKey{}, false
	}
	return f.rec.MemberKey(), true
}

// Attributed reports whether the flow names a container.
func (f *Flow) Attributed() bool { return f.Container != "" }

// Remote returns the endpoint that is not the container: the server when
// the container is the client, else the client. For an unattributed flow
// it is the server.
func (f *Flow) Remote() (netip.Addr, uint16) {
	if f.ContainerSide == "server" {
		return f.Client, f.ClientPort
	}
	return f.Server, f.ServerPort
}

// DNSQuery is one DNS response seen in a capture, with the container that
// asked. Names are attacker-controlled.
type DNSQuery struct {
	Time          time.Time  `json:"time"`
	Container     string     `json:"container,omitempty"`
	ContainerName string     `json:"container_name,omitempty"`
	Rule          string     `json:"rule"`
	Client        netip.Addr `json:"client"`
	Server        netip.Addr `json:"server"`
	QName         string     `json:"qname"`
	QType         uint16     `json:"qtype"`
	RCode         uint8      `json:"rcode"`
	// Answers are "name A addr", "name AAAA addr" or "name CNAME target".
	Answers   []string       `json:"answers,omitempty"`
	Partial   bool           `json:"partial,omitempty"`
	Interface string         `json:"interface"`
	Evidence  model.Evidence `json:"evidence"`

	resp *flow.DNSResponse
}

// Response is the decoded DNS response the query was read from, for
// matching its answers.
func (q *DNSQuery) Response() *flow.DNSResponse { return q.resp }

// CaptureSummary is what one capture gave: its interfaces, counters and the
// problems met while reading it.
type CaptureSummary struct {
	Member   string          `json:"member"`
	SHA256   string          `json:"sha256,omitempty"`
	Format   string          `json:"format,omitempty"`
	Frames   uint64          `json:"frames"`
	Points   []PointSummary  `json:"points"`
	Flows    int             `json:"flows"`
	Rules    map[string]int  `json:"rules"`
	Problems []string        `json:"problems,omitempty"`
	Error    string          `json:"error,omitempty"`
	Limit    *FlowLimitStats `json:"flow_limit,omitempty"`
}

// FlowLimitStats reports a flow table that reached its bound.
type FlowLimitStats struct {
	MaxFlows       int    `json:"max_flows"`
	AtFrame        uint64 `json:"at_frame"`
	Evicted        uint64 `json:"evicted"`
	EvictedPackets uint64 `json:"evicted_packets"`
	EvictedBytes   uint64 `json:"evicted_bytes"`
}

// PointSummary is one capture interface.
type PointSummary struct {
	InterfaceID   int    `json:"interface_id"`
	Name          string `json:"name"`
	Description   string `json:"description,omitempty"`
	Role          string `json:"role"`
	Container     string `json:"container,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	Packets       uint64 `json:"packets"`
	Bytes         uint64 `json:"bytes"`
	NonIP         uint64 `json:"non_ip"`
	Undecodable   uint64 `json:"undecodable"`
	Truncated     uint64 `json:"truncated"`
	Dropped       uint64 `json:"kernel_dropped,omitempty"`
}

// Options tune Attribute.
type Options struct {
	// Flow tunes the flow tables.
	Flow flow.Options
}

// Result is what the captures of a bundle (and --pcap files) say about
// who talked to whom.
type Result struct {
	Captures []CaptureSummary
	Flows    []Flow
	DNS      []DNSQuery
	// Contacts are the conversations, one each, fused from the flows of
	// every capture point, the sockets of every namespace and the conntrack
	// snapshot, sorted by first seen. They are there without a capture.
	Contacts []Contact
	// Problems are reasons the traffic analysis is incomplete (a member
	// that could not be read, events that overflowed).
	Problems []string

	// ctEvents are the conntrack entries the capture window's events
	// recorded, for the fusion.
	ctEvents []ctRecord
	// interfaces are the interfaces each capture member's reading found
	// (see KnownInterfaces).
	interfaces map[string][]pcapng.Interface
}

// KnownInterfaces returns the inputs with the interfaces the analysis's
// reading of each found (flow.Input.Interfaces), so that a reading of them
// again (Extract) can skip those it needs nothing else from.
func (t *Result) KnownInterfaces(inputs []flow.Input) []flow.Input {
	out := slices.Clone(inputs)
	for i := range out {
		if ifs, ok := t.interfaces[out[i].Member]; ok {
			out[i].Interfaces = ifs
		}
	}
	return out
}

// Unattributed returns how many flows stay "host or unknown" for want of
// evidence (RuleUnknown).
func (t *Result) Unattributed() int {
	n := 0
	for i := range t.Flows {
		if t.Flows[i].Rule == RuleUnknown {
			n++
		}
	}
	return n
}

// Inputs lists the capture members of a bundle and the --pcap files
// as inputs of flow.ReadAll. A --pcap file that does not exist is an
// error: the user named it.
func Inputs(h *model.Host, pcaps []string) ([]flow.Input, error) {
	var in []flow.Input
	for _, m := range h.MemberPaths() {
		if !strings.HasPrefix(m, captureMemberDir) || !(strings.HasSuffix(m, ".pcapng") || strings.HasSuffix(m, ".pcap")) {
			continue
		}
		in = append(in, flow.Input{Member: m, SHA256: h.MemberSHA256(m), Open: func() (io.ReadCloser, error) {
			return h.Open(m)
		}})
	}
	for _, p := range pcaps {
		// The file is hashed as the flows are read from it, on another
		// core, not in a pass of its own; it must open now, as it did
		// when it was hashed here.
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("--pcap %q: %w", p, err)
		}
		f.Close()
		ph := &pcapHash{path: p}
		in = append(in, flow.Input{Member: externalMember(p), Sum: ph.result, Open: func() (io.ReadCloser, error) {
			rc, err := ph.open()
			if err != nil {
				return nil, err
			}
			return openPcapStream(rc, p)
		}})
	}
	return in, nil
}

// externalMember names a --pcap file in the evidence.
func externalMember(path string) string { return "pcap:" + filepath.Base(path) }

// Attribute reads every capture input, attributes each flow and DNS
// response to a container (or says why it cannot), summarises each
// capture, and fuses the flows, the sockets and the conntrack snapshot
// into one contact per conversation (fuse). Unreadable captures and members are reported in Problems, never
// fatal.
func Attribute(h *model.Host, inputs []flow.Input, opts Options) *Result {
	t := &Result{}
	if len(inputs) > 0 {
		set := flow.ReadAll(inputs, opts.Flow)
		t = newAttributor(h).attribute(set)
		t.interfaces = map[string][]pcapng.Interface{}
		for _, c := range set.Captures {
			if len(c.Points) == 0 {
				continue
			}
			ifs := make([]pcapng.Interface, len(c.Points))
			for i, p := range c.Points {
				ifs[i] = p.Interface
			}
			t.interfaces[c.Member] = ifs
		}
	}
	fuse(h, t)
	return t
}
