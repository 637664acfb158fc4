package traffic

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/internal/packet"
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
	PointVeth     = "veth"
	PointBridge   = "bridge"
	PointUplink   = "uplink"
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
	// maxIfaceMapBytes bounds capture/interfaces.json: 64 MiB describes
	// 100k interfaces and their changes.
	maxIfaceMapBytes = 64 << 20
	// maxAttribEvidence bounds the evidence entries attached to one flow.
	maxAttribEvidence = 8
	// attribEvidenceCap is the evidence entries a flow has room for before
	// its slice grows: the frames, what decided, and the entry behind it.
	attribEvidenceCap = 3
)

// Capture members of a bundle.
const (
	memberCapture    = "capture/capture.pcapng"
	memberIfaceMap   = "capture/interfaces.json"
	memberCTEvents   = "capture/conntrack-events.jsonl"
	captureMemberDir = "capture/"
)

// Flow is one captured flow with the container it is attributed to. Client
// is the side that sent the first packet (or the SYN); "to server" counts
// the client's packets. model.Container is empty unless Rule names a container.
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
	// model.Evidence cites the capture member and frames first, then what decided
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
	// Problems are reasons the traffic analysis is incomplete (a member
	// that could not be read, events that overflowed).
	Problems []string
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

// CaptureInputs lists the capture members of a bundle and the --pcap files
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
// response to a container (or says why it cannot), and summarises each
// capture. Unreadable captures and members are reported in Problems, never
// fatal.
func Attribute(h *model.Host, inputs []flow.Input, opts Options) *Result {
	if len(inputs) == 0 {
		return &Result{}
	}
	set := flow.ReadAll(inputs, opts.Flow)
	a := newAttributor(h)
	return a.attribute(set)
}

// pointInfo is what the interface map and the model say about a capture
// point.
type pointInfo struct {
	role                     string
	container, containerName string
	group                    []string
	evidence                 []model.Evidence
}

// ctTuple is one direction of a conntrack entry, or of a flow.
type ctTuple struct {
	proto        uint8
	src, dst     netip.Addr
	sport, dport uint16
}

// ctRecord is one conntrack entry's lifetime: from the snapshot (open at
// collection) or from the events (NEW to DESTROY).
type ctRecord struct {
	orig, reply ctTuple
	from, to    int64 // ns; 0 is unknown (before the events began) or open
	events      bool
	evidence    model.Evidence
}

// learnedAddr ties an address to a container from what the captures show
// on its veth: needed for containers gone before the snapshot, whose
// addresses inspect no longer records.
type learnedAddr struct {
	container, name string
	from, to        int64
	evidence        model.Evidence
}

// owned is a container found holding an address, with the words and
// evidence the rules cite: built once per lease, so that attributing a
// flow by a lease allocates nothing.
type owned struct {
	id, name, conf string
	ev             []model.Evidence
	heldBegan      string // "<name> held <addr> when the flow began"
}

func newOwned(id, name, conf string, addr netip.Addr, ev []model.Evidence) owned {
	return owned{id: id, name: name, conf: conf, ev: ev, heldBegan: name + " held " + addr.String() + " when the flow began"}
}

// leaseRef is a lease in the attributor's index.
type leaseRef struct {
	l     *model.Lease
	owned owned
}

type pubKey struct {
	proto uint8
	port  uint16
}

type pubRef struct {
	c  *model.Container
	pb model.PortBinding
}

type sockKey struct {
	proto uint8
	port  uint16
}

type corrKey struct {
	proto uint8
	addr  netip.Addr
	port  uint16
}

// corrCand is a pre-NAT flow in the correlation index: what the window
// scan compares, side by side in memory, and the flow itself.
type corrCand struct {
	first int64
	f     *Flow
	cont  int32  // the flow's container, numbered in the order met
	port  uint16 // the flow's client port
}

// attributor holds the indexes built once per analysis, so that each flow
// costs a few map lookups.
type attributor struct {
	h         *model.Host
	points    map[*flow.Point]*pointInfo
	ifaceMap  map[int]*pointInfo // pcapng interface id of the bundle capture → info
	leases    map[netip.Addr][]leaseRef
	learned   map[netip.Addr][]learnedAddr
	hostAddrs map[netip.Addr]bool
	subnets   []netip.Prefix
	gateways  map[netip.Addr]bool
	ct        []ctRecord
	ctReply   map[ctTuple][]int32
	ctOrig    map[ctTuple][]int32
	pub       map[pubKey][]pubRef
	socks     map[sockKey][]model.HostSocket
	procs     map[int]*model.HostProcess
	corr      map[corrKey][]corrCand
	problems  []string
}

func newAttributor(h *model.Host) *attributor {
	a := &attributor{h: h, points: map[*flow.Point]*pointInfo{}, ifaceMap: map[int]*pointInfo{},
		leases: map[netip.Addr][]leaseRef{}, learned: map[netip.Addr][]learnedAddr{}, hostAddrs: map[netip.Addr]bool{},
		gateways: map[netip.Addr]bool{}, ctReply: map[ctTuple][]int32{}, ctOrig: map[ctTuple][]int32{},
		pub: map[pubKey][]pubRef{}, socks: map[sockKey][]model.HostSocket{}, procs: map[int]*model.HostProcess{}, corr: map[corrKey][]corrCand{}}
	leases := h.Leases()
	for i := range leases {
		l := &leases[i]
		if l.Addr.IsValid() {
			a.leases[l.Addr] = append(a.leases[l.Addr], leaseRef{l, newOwned(l.Container, l.ContainerName, ConfidenceHigh, l.Addr.Unmap(), l.Evidence)})
		}
	}
	if h.HostNS != nil {
		for _, l := range h.HostNS.Links {
			for _, p := range l.Addrs {
				a.hostAddrs[p.Addr().Unmap()] = true
			}
		}
		for _, s := range h.HostNS.Sockets {
			k := sockKey{ctProtoNum(s.Proto), s.LocalPort}
			a.socks[k] = append(a.socks[k], s)
		}
	}
	for _, n := range h.Networks {
		a.subnets = append(a.subnets, n.Subnets...)
		for _, g := range n.Gateways {
			a.gateways[g.Unmap()] = true
		}
	}
	for i := range h.Processes {
		a.procs[h.Processes[i].PID] = &h.Processes[i]
	}
	for _, c := range h.Containers {
		for _, pb := range c.Ports {
			if pb.HostPort == 0 {
				continue
			}
			k := pubKey{ctProtoNum(pb.Proto), pb.HostPort}
			a.pub[k] = append(a.pub[k], pubRef{c, pb})
		}
	}
	for _, ct := range h.Conntrack {
		r, ok := ctRecordOf(ct.Proto, ct.OrigSrc, ct.OrigDst, ct.OrigSPort, ct.OrigDPort, ct.ReplySrc, ct.ReplyDst, ct.ReplySPort, ct.ReplyDPort)
		if !ok {
			continue
		}
		r.evidence = ct.Evidence
		a.addCT(r)
	}
	a.loadIfaceMap()
	a.loadCTEvents()
	return a
}

func ctProtoNum(name string) uint8 {
	switch strings.ToLower(name) {
	case "tcp":
		return packet.IPProtoTCP
	case "udp":
		return packet.IPProtoUDP
	case "icmp":
		return packet.IPProtoICMP
	case "icmpv6", "ipv6-icmp":
		return packet.IPProtoICMPv6
	case "sctp":
		return 132
	}
	return 0
}

func ctRecordOf(proto, os, od string, osp, odp uint16, rs, rd string, rsp, rdp uint16) (ctRecord, bool) {
	p := ctProtoNum(proto)
	if p == 0 {
		return ctRecord{}, false
	}
	parse := func(s string) netip.Addr {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}
		}
		return a.Unmap()
	}
	r := ctRecord{orig: ctTuple{p, parse(os), parse(od), osp, odp}, reply: ctTuple{p, parse(rs), parse(rd), rsp, rdp}}
	if !r.orig.src.IsValid() || !r.reply.src.IsValid() {
		return ctRecord{}, false
	}
	return r, true
}

func (a *attributor) addCT(r ctRecord) {
	i := int32(len(a.ct))
	a.ct = append(a.ct, r)
	a.ctReply[r.reply] = append(a.ctReply[r.reply], i)
	a.ctOrig[r.orig] = append(a.ctOrig[r.orig], i)
}

// ifaceMapDoc is capture/interfaces.json as analyze needs it.
type ifaceMapDoc struct {
	Interfaces []ifaceMapEntry `json:"interfaces"`
	Changes    []struct {
		Event     string          `json:"event"`
		Interface *ifaceMapEntry  `json:"interface"`
		Map       []ifaceMapEntry `json:"map"`
	} `json:"changes"`
}

type ifaceMapEntry struct {
	BlockID       int    `json:"pcapng_interface_id"`
	Name          string `json:"name"`
	Role          string `json:"role"`
	Bridge        string `json:"bridge"`
	Network       string `json:"network"`
	Container     string `json:"container_id"`
	ContainerName string `json:"container_name"`
}

func (a *attributor) loadIfaceMap() {
	if !a.h.Has(memberIfaceMap) {
		return
	}
	data, err := a.h.Source().ReadMember(memberIfaceMap, maxIfaceMapBytes)
	if err != nil {
		a.problems = append(a.problems, fmt.Sprintf("%s: %v: capture points identified by name only", memberIfaceMap, err))
		return
	}
	var d ifaceMapDoc
	if err := json.Unmarshal(data, &d); err != nil {
		a.problems = append(a.problems, fmt.Sprintf("%s: %v: capture points identified by name only", memberIfaceMap, err))
		return
	}
	sum := a.h.MemberSHA256(memberIfaceMap)
	set := func(e ifaceMapEntry, ptr string) {
		if e.BlockID < 0 {
			return
		}
		pi := a.ifaceMap[e.BlockID]
		if pi == nil {
			pi = &pointInfo{}
			a.ifaceMap[e.BlockID] = pi
		}
		switch e.Role {
		case "veth":
			pi.role = PointVeth
		case "bridge":
			pi.role = PointBridge
		case "uplink":
			pi.role = PointUplink
		default:
			if pi.role == "" {
				pi.role = PointOther
			}
		}
		if e.Container != "" && pi.container == "" {
			pi.container, pi.containerName = e.Container, e.ContainerName
			pi.evidence = []model.Evidence{{Member: memberIfaceMap, SHA256: sum, Pointer: ptr,
				Text: fmt.Sprintf("%q is the veth of container %q", e.Name, e.ContainerName)}}
		}
	}
	for i, e := range d.Interfaces {
		set(e, model.IndexPointer("/interfaces", i))
	}
	for i, c := range d.Changes {
		if c.Interface != nil {
			set(*c.Interface, model.IndexPointer("/changes", i, "interface"))
		}
	}
}

// ctEventDoc is one line of capture/conntrack-events.jsonl.
type ctEventDoc struct {
	Time time.Time `json:"time"`
	Type string    `json:"type"`
	Flow *struct {
		Proto    string       `json:"proto"`
		Original ctEventTuple `json:"original"`
		Reply    ctEventTuple `json:"reply"`
		Start    *time.Time   `json:"start"`
	} `json:"flow"`
	Stop *time.Time `json:"stop"`
}

type ctEventTuple struct {
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	SPort uint16 `json:"sport"`
	DPort uint16 `json:"dport"`
}

// loadCTEvents reads the conntrack events recorded during the capture: the
// flows that began and ended between two snapshots are only there.
func (a *attributor) loadCTEvents() {
	if !a.h.Has(memberCTEvents) {
		return
	}
	f, err := a.h.Open(memberCTEvents)
	if err != nil {
		a.problems = append(a.problems, fmt.Sprintf("%s: %v", memberCTEvents, err))
		return
	}
	defer f.Close()
	sum := a.h.MemberSHA256(memberCTEvents)
	sc := bufio.NewScanner(io.LimitReader(f, maxCTEventsBytes))
	sc.Buffer(make([]byte, 0, 64<<10), maxCTEventLineBytes)
	type pair struct{ orig, reply ctTuple }
	open := map[pair]int{}
	line, bad, lost := 0, 0, 0
	for sc.Scan() {
		line++
		var e ctEventDoc
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			bad++
			continue
		}
		if e.Type == "lost" {
			lost++
			continue
		}
		if e.Flow == nil {
			continue
		}
		fl := e.Flow
		r, ok := ctRecordOf(fl.Proto, fl.Original.Src, fl.Original.Dst, fl.Original.SPort, fl.Original.DPort,
			fl.Reply.Src, fl.Reply.Dst, fl.Reply.SPort, fl.Reply.DPort)
		if !ok {
			continue
		}
		k := pair{r.orig, r.reply}
		at := e.Time.UnixNano()
		idx, isOpen := open[k]
		switch e.Type {
		case "new":
			r.from, r.events = at, true
			if fl.Start != nil {
				r.from = fl.Start.UnixNano()
			}
			r.evidence = model.Evidence{Member: memberCTEvents, SHA256: sum, Line: line, Text: ctText(r)}
			open[k] = len(a.ct)
			a.addCT(r)
		case "update":
			if !isOpen {
				r.events = true
				r.evidence = model.Evidence{Member: memberCTEvents, SHA256: sum, Line: line, Text: ctText(r)}
				open[k] = len(a.ct)
				a.addCT(r)
			}
		case "destroy":
			end := at
			if e.Stop != nil {
				end = e.Stop.UnixNano()
			}
			if isOpen {
				a.ct[idx].to = end
				delete(open, k)
			} else {
				r.to, r.events = end, true
				r.evidence = model.Evidence{Member: memberCTEvents, SHA256: sum, Line: line, Text: ctText(r)}
				a.addCT(r)
			}
		}
	}
	if err := sc.Err(); err != nil {
		a.problems = append(a.problems, fmt.Sprintf("%s: read stopped at line %d: %v", memberCTEvents, line, err))
	}
	if bad > 0 {
		a.problems = append(a.problems, fmt.Sprintf("%s: %d malformed lines skipped", memberCTEvents, bad))
	}
	if lost > 0 {
		a.problems = append(a.problems, fmt.Sprintf("%s: the event socket overflowed %d times: some NAT translations are missing", memberCTEvents, lost))
	}
}

func ctText(r ctRecord) string {
	return fmt.Sprintf("%s %s:%d → %s:%d, reply %s:%d → %s:%d", protoName(r.orig.proto),
		r.orig.src, r.orig.sport, r.orig.dst, r.orig.dport, r.reply.src, r.reply.sport, r.reply.dst, r.reply.dport)
}

func protoName(p uint8) string {
	switch p {
	case packet.IPProtoTCP:
		return "tcp"
	case packet.IPProtoUDP:
		return "udp"
	case packet.IPProtoICMP:
		return "icmp"
	case packet.IPProtoICMPv6:
		return "icmpv6"
	}
	return fmt.Sprintf("ip-proto-%d", p)
}

// pointOf returns what is known about a capture point: from the interface
// map for the bundle's capture, from the model's links by name otherwise;
// --pcap files are external.
func (a *attributor) pointOf(p *flow.Point) *pointInfo {
	if pi, ok := a.points[p]; ok {
		return pi
	}
	pi := &pointInfo{role: PointOther}
	switch {
	case strings.HasPrefix(p.Member, "pcap:"):
		pi.role = PointExternal
	case p.Member == memberCapture && a.ifaceMap[p.Index] != nil:
		*pi = *a.ifaceMap[p.Index]
	default:
		for _, hi := range netpath.Interfaces(a.h) {
			if hi.Name != p.Name {
				continue
			}
			switch hi.Kind {
			case netpath.IfaceVeth:
				pi.role = PointVeth
			case netpath.IfaceBridge:
				pi.role = PointBridge
			case netpath.IfaceUplink:
				pi.role = PointUplink
			}
			if hi.Container != "" {
				pi.container = hi.Container
				if c, ok := a.h.Container(hi.Container); ok {
					pi.containerName = c.Name
				}
				if l := a.h.HostNS.LinkByName(hi.Name); l != nil {
					pi.evidence = l.Cite()
				}
			}
		}
	}
	if pi.container != "" {
		if c, ok := a.h.Container(pi.container); ok {
			if ns, ok := a.h.Namespace(c.NetNS); ok && c.NetNS != 0 {
				for _, id := range ns.Containers {
					if id != c.ID {
						pi.group = append(pi.group, id)
					}
				}
			}
		}
	}
	a.points[p] = pi
	return pi
}

// attribute turns the flow set into attributed flows, in three passes:
// veths first (they teach which address a vanished container had), then
// bridges, then everything after NAT (which may correlate with the first
// two). The veth pass writes what it learns; the others only read the
// attributor's indexes and write their own flows, so they run on every core.
func (a *attributor) attribute(set *flow.Set) *Result {
	var last *flow.Point
	for _, r := range set.Flows {
		if r.Point != last {
			a.pointOf(r.Point) // fill the cache: later passes only read it
			last = r.Point
		}
	}
	t := &Result{Flows: make([]Flow, len(set.Flows))}
	// Room for the evidence most rules cite (the frames, what decided, and
	// the lease or conntrack entry behind it), allocated at once.
	evidence := make([]model.Evidence, attribEvidenceCap*len(set.Flows))
	attributeParallel(t.Flows, func(f *Flow, i int) {
		f.init(set.Flows[i], evidence[attribEvidenceCap*i:attribEvidenceCap*i+1:attribEvidenceCap*(i+1)])
		f.Role = a.pointOf(f.rec.Point).role // the rules read it
	})
	var veths, bridges, afterNAT []*Flow
	for i := range t.Flows {
		switch f := &t.Flows[i]; f.Role {
		case PointVeth:
			veths = append(veths, f)
		case PointBridge:
			bridges = append(bridges, f)
		case PointUplink, PointExternal, PointOther:
			afterNAT = append(afterNAT, f)
		}
	}
	for _, f := range veths {
		a.onVeth(f)
	}
	attributeParallel(bridges, func(f **Flow, _ int) { a.onBridge(*f) })
	conts := map[string]int32{}
	for i := range t.Flows {
		f := &t.Flows[i]
		if f.Role != PointVeth && f.Role != PointBridge {
			continue
		}
		// model.Link-scoped flows (NDP, MLD, mDNS) never leave their link, so
		// nothing after NAT can be their continuation.
		if f.Attributed() && f.ContainerSide == "client" && !linkScoped(f.Client, f.Server) {
			k := corrKey{f.rec.Proto, f.Server, corrPort(f.rec.Proto, f.ServerPort)}
			ci, ok := conts[f.Container]
			if !ok {
				ci = int32(len(conts))
				conts[f.Container] = ci
			}
			a.corr[k] = append(a.corr[k], corrCand{first: f.rec.First, f: f, cont: ci, port: f.ClientPort})
		}
	}
	for _, cands := range a.corr {
		slices.SortStableFunc(cands, func(x, y corrCand) int { return cmp.Compare(x.first, y.first) })
	}
	attributeParallel(afterNAT, func(f **Flow, _ int) { a.afterNAT(*f) })
	for i := range t.Flows {
		f := &t.Flows[i]
		if len(f.Evidence) > maxAttribEvidence {
			f.Evidence = f.Evidence[:maxAttribEvidence]
		}
	}
	t.DNS = a.dnsLog(set, t.Flows)
	a.names(t)
	for _, c := range set.Captures {
		t.Captures = append(t.Captures, a.summary(c, t.Flows))
		if c.Err != nil && len(c.Points) == 0 {
			t.Problems = append(t.Problems, c.Err.Error())
		}
	}
	t.Problems = append(t.Problems, a.problems...)
	return t
}

// attributeMinChunk is the fewest flows worth a goroutine of their own
// (a variable so that a test can make every pass parallel).
var attributeMinChunk = 4096

// attributeParallel calls fn for every element of s (with its index),
// splitting s among up to GOMAXPROCS goroutines.
func attributeParallel[E any](s []E, fn func(e *E, i int)) {
	n := min(runtime.GOMAXPROCS(0), max(1, len(s)/attributeMinChunk))
	var wg sync.WaitGroup
	for w := range n {
		lo, hi := len(s)*w/n, len(s)*(w+1)/n
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fn(&s[i], i)
			}
		})
	}
	wg.Wait()
}

func corrPort(proto uint8, port uint16) uint16 {
	if proto == packet.IPProtoICMP || proto == packet.IPProtoICMPv6 {
		return 0 // masquerade may rewrite the echo identifier
	}
	return port
}

// init fills a zero Flow from its record; evs, of length and capacity 1,
// takes the flow's first evidence (the frames of the record): the caller
// allocates the evidence of many flows at once, and evidence appended later
// gets an array of its own. Fields are set one by one: copying a
// whole Flow into the slice cost a bulk write barrier per flow while the
// collector ran.
func (f *Flow) init(r *flow.Record, evs []model.Evidence) {
	f.rec = r
	f.Member, f.Interface, f.InterfaceID = r.Point.Member, r.Point.Name, r.Point.Index
	f.Proto = protoName(r.Proto)
	f.Client, f.ClientPort, f.Server, f.ServerPort = r.Client, r.ClientPort, r.Server, r.ServerPort
	f.First, f.Last = time.Unix(0, r.First).UTC(), time.Unix(0, r.Last).UTC()
	f.PacketsToServer, f.PacketsToClient = r.Packets[0], r.Packets[1]
	f.BytesToServer, f.BytesToClient = r.Bytes[0], r.Bytes[1]
	f.TCPFlags = tcpFlagsText(r.TCPFlags[0] | r.TCPFlags[1])
	f.SNI, f.HTTPHost = r.SNI, r.HTTPHost
	f.FirstFrame, f.LastFrame = r.FirstFrame, r.LastFrame
	f.Rule, f.Confidence = RuleUnknown, ConfidenceNone
	var buf [96]byte // "frames N to N on interface N ("name")" fits for most names
	text := append(buf[:0], "frames "...)
	text = strconv.AppendUint(text, r.FirstFrame, 10)
	text = append(text, " to "...)
	text = strconv.AppendUint(text, r.LastFrame, 10)
	text = append(text, " on interface "...)
	text = strconv.AppendInt(text, int64(r.Point.Index), 10)
	text = append(text, " ("...)
	text = strconv.AppendQuote(text, r.Point.Name)
	text = append(text, ')')
	evs[0] = model.Evidence{Member: r.Point.Member, SHA256: r.Point.SHA256, Text: string(text)}
	f.Evidence = evs
}

// tcpFlagsTexts holds the text of every combination of TCP flags, so that
// a flow's costs no allocation.
var tcpFlagsTexts = func() (t [256]string) {
	for fl := 1; fl < 256; fl++ {
		var b strings.Builder
		for i, n := range []string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"} {
			if fl&(1<<i) != 0 {
				if b.Len() > 0 {
					b.WriteByte(',')
				}
				b.WriteString(n)
			}
		}
		t[fl] = b.String()
	}
	return t
}()

func tcpFlagsText(fl uint8) string { return tcpFlagsTexts[fl] }

func (f *Flow) set(container, name, side, rule, conf, reason string, ev ...model.Evidence) {
	f.Container, f.ContainerName, f.ContainerSide = container, name, side
	f.Rule, f.Confidence, f.Reason = rule, conf, reason
	f.Evidence = append(f.Evidence, ev...)
}

// onVeth applies rule 1.
func (a *attributor) onVeth(f *Flow) {
	pi := a.pointOf(f.rec.Point)
	if pi.container == "" {
		a.byAddress(f, "the veth's container is not known, ")
		return
	}
	side := "client"
	if a.isContainerAddr(f.Server) && !a.isContainerAddr(f.Client) {
		side = "server"
	}
	reason := fmt.Sprintf("captured on %q, the veth of container %q", f.Interface, pi.containerName)
	if len(pi.group) > 0 {
		reason += fmt.Sprintf(", whose network namespace is shared with %d other container(s)", len(pi.group))
	}
	f.set(pi.container, pi.containerName, side, RuleVeth, ConfidenceHigh, reason, pi.evidence...)
	f.NamespaceGroup = pi.group
	// What the veth shows teaches the container's address, for containers
	// the snapshot no longer has.
	local := f.Client
	if side == "server" {
		local = f.Server
	}
	if a.isContainerAddr(local) {
		a.learned[local] = append(a.learned[local], learnedAddr{container: pi.container, name: pi.containerName,
			from: f.rec.First, to: f.rec.Last, evidence: f.Evidence[0]})
	}
}

// isContainerAddr reports whether addr is in a Docker network's subnet and
// not a gateway: an address a container may hold.
func (a *attributor) isContainerAddr(addr netip.Addr) bool {
	if a.gateways[addr] || a.hostAddrs[addr] {
		return false
	}
	if _, ok := a.leases[addr]; ok {
		return true
	}
	for _, p := range a.subnets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// onBridge applies rule 2.
func (a *attributor) onBridge(f *Flow) { a.byAddress(f, "") }

// byAddress attributes a flow to the container that held one of its
// addresses at the time: the client first (the side that began it).
func (a *attributor) byAddress(f *Flow, prefix string) bool {
	at := f.rec.First
	for _, side := range []string{"client", "server"} {
		addr := f.Client
		if side == "server" {
			addr = f.Server
		}
		if o, ok := a.owner(addr, at); ok {
			reason := o.heldBegan
			if other := a.otherEnd(f, side, at); other != "" {
				reason = prefix + reason + "; the other end is container " + other
			} else if prefix != "" {
				reason = prefix + reason
			}
			f.set(o.id, o.name, side, RuleAddressOwner, o.conf, reason, o.ev...)
			return true
		}
	}
	switch {
	case a.hostAddrs[f.Client] || a.hostAddrs[f.Server]:
		f.set("", "", "", RuleHost, ConfidenceMedium, prefix+"an endpoint is the host's own address and no container held the other")
	case a.isContainerAddr(f.Client) || a.isContainerAddr(f.Server):
		f.set("", "", "", RuleUnknown, ConfidenceNone, prefix+"no container is known to have held "+f.Client.String()+" or "+f.Server.String()+" then")
	default:
		f.set("", "", "", RuleForeign, ConfidenceNone, prefix+"neither endpoint is an address of the host or of a container")
	}
	return false
}

func (a *attributor) otherEnd(f *Flow, side string, at int64) string {
	addr := f.Server
	if side == "server" {
		addr = f.Client
	}
	if o, ok := a.owner(addr, at); ok {
		return o.name
	}
	return ""
}

// owner finds the container holding addr at time at (ns): a lease of the
// model, else an address learned from a veth.
func (a *attributor) owner(addr netip.Addr, at int64) (owned, bool) {
	addr = addr.Unmap()
	t := time.Unix(0, at)
	for _, r := range a.leases[addr] {
		l := r.l
		if l.From.IsZero() || t.Before(l.From) {
			continue
		}
		end := l.To
		if end.IsZero() {
			end = a.h.Collected
		}
		if !end.IsZero() && t.After(end) {
			continue
		}
		return r.owned, true
	}
	slack := int64(FlowCorrelationWindow)
	for _, l := range a.learned[addr] {
		if l.from-slack <= at && at <= l.to+slack {
			// Built when used: most veth flows never stand in for a lease.
			return newOwned(l.container, l.name, ConfidenceMedium, addr, []model.Evidence{{Member: l.evidence.Member, SHA256: l.evidence.SHA256,
				Text: fmt.Sprintf("%s was the address of %q on its veth then (%s)", addr, l.name, l.evidence.Text)}}), true
		}
	}
	return owned{}, false
}

// ctFind returns the conntrack record indexed under k whose lifetime
// covers the time at, events before the snapshot.
func (a *attributor) ctFind(idx map[ctTuple][]int32, k ctTuple, at int64) (*ctRecord, bool) {
	var snap *ctRecord
	slack := int64(ctWindowSlack)
	for _, i := range idx[k] {
		r := &a.ct[i]
		if !r.events {
			snap = r
			continue
		}
		if (r.from == 0 || r.from-slack <= at) && (r.to == 0 || at <= r.to+slack) {
			return r, true
		}
	}
	return snap, snap != nil
}

// afterNAT applies rules 3, 4 and 5 to a flow seen where addresses may be
// translated: an uplink or an external capture.
func (a *attributor) afterNAT(f *Flow) {
	r := f.rec
	at := r.First
	fwd := ctTuple{r.Proto, r.Client, r.Server, r.ClientPort, r.ServerPort}
	rev := ctTuple{r.Proto, r.Server, r.Client, r.ServerPort, r.ClientPort}
	icmp := r.Proto == packet.IPProtoICMP || r.Proto == packet.IPProtoICMPv6
	if !icmp {
		// A capture that began mid-connection with the far end's packet
		// made the far end the flow's client. Conntrack knows which end
		// began: when only the turned-round tuples match an entry, the
		// flow is turned round first.
		_, replyRev := a.ctFind(a.ctReply, rev, at)
		_, origFwd := a.ctFind(a.ctOrig, fwd, at)
		if !replyRev && !origFwd {
			_, replyFwd := a.ctFind(a.ctReply, fwd, at)
			_, origRev := a.ctFind(a.ctOrig, rev, at)
			if replyFwd || origRev {
				f.turnRound()
				fwd, rev = rev, fwd
			}
		}
		// Outbound, source-translated: the flow is the reply tuple reversed.
		if ct, ok := a.ctFind(a.ctReply, rev, at); ok && ct.orig.src != r.Client {
			a.fromCT(f, ct, "client", ct.orig.src, ct.orig)
			return
		}
		// Inbound, destination-translated: the flow is the original tuple.
		if ct, ok := a.ctFind(a.ctOrig, fwd, at); ok && ct.reply.src != r.Server {
			a.fromCT(f, ct, "server", ct.reply.src, ct.orig)
			return
		}
	}
	if a.byAddressQuiet(f) {
		return
	}
	if !icmp && (a.hostAddrs[r.Server] || f.Role == PointExternal) && a.published(f) {
		return
	}
	if a.correlate(f) {
		return
	}
	if a.hostSocket(f) {
		return
	}
	switch {
	case (a.hostAddrs[r.Client] || a.hostAddrs[r.Server]) && linkScoped(r.Client, r.Server):
		// Forwarded container traffic is never given a link-local source,
		// and link-local multicast (NDP, MLD, mDNS) does not cross a router.
		f.set("", "", "", RuleHost, ConfidenceHigh, "link-local traffic of the host's own interface: neither NAT nor forwarding carries a container's packets there")
	case a.hostAddrs[r.Client] || a.hostAddrs[r.Server]:
		if !icmp {
			if ct, ok := a.ctFind(a.ctReply, rev, at); ok {
				f.set("", "", "", RuleHost, ConfidenceHigh, "conntrack shows the host's own connection, not translated", ct.evidence)
				return
			}
			if ct, ok := a.ctFind(a.ctOrig, fwd, at); ok {
				f.set("", "", "", RuleHost, ConfidenceHigh, "conntrack shows the host's own connection, not translated", ct.evidence)
				return
			}
		}
		f.set("", "", "", RuleUnknown, ConfidenceNone, "host or unknown: an endpoint is the host's address, and no conntrack entry, pre-NAT flow, published port or socket ties it to a container")
	case f.Role == PointExternal:
		f.set("", "", "", RuleUnknown, ConfidenceNone, "host or unknown: no conntrack entry, pre-NAT flow or published port matches this flow from outside the host")
	default:
		f.set("", "", "", RuleForeign, ConfidenceNone, "neither endpoint is an address of the host or of a container")
	}
}

// turnRound swaps the flow's client and server, with their ports and
// per-direction counters, in the flow and its record.
func (f *Flow) turnRound() {
	r := f.rec
	r.Client, r.Server = r.Server, r.Client
	r.ClientPort, r.ServerPort = r.ServerPort, r.ClientPort
	r.Packets[0], r.Packets[1] = r.Packets[1], r.Packets[0]
	r.Bytes[0], r.Bytes[1] = r.Bytes[1], r.Bytes[0]
	r.TCPFlags[0], r.TCPFlags[1] = r.TCPFlags[1], r.TCPFlags[0]
	f.Client, f.Server = f.Server, f.Client
	f.ClientPort, f.ServerPort = f.ServerPort, f.ClientPort
	f.PacketsToServer, f.PacketsToClient = f.PacketsToClient, f.PacketsToServer
	f.BytesToServer, f.BytesToClient = f.BytesToClient, f.BytesToServer
}

// linkScoped reports whether a flow is confined to one link: an end with a
// link-local address, or a link-local multicast destination.
func linkScoped(a, b netip.Addr) bool {
	for _, x := range []netip.Addr{a, b} {
		if x.IsLinkLocalUnicast() || x.IsLinkLocalMulticast() || (x.Is6() && x.IsMulticast() && x.As16()[1]&0x0f <= 2) {
			return true
		}
	}
	return false
}

// byAddressQuiet attributes an untranslated flow by address; it leaves the
// flow untouched when no container held either address.
func (a *attributor) byAddressQuiet(f *Flow) bool {
	for _, addr := range []netip.Addr{f.Client, f.Server} {
		if _, ok := a.owner(addr, f.rec.First); ok {
			return a.byAddress(f, "not translated: ")
		}
	}
	return false
}

func (a *attributor) fromCT(f *Flow, ct *ctRecord, side string, addr netip.Addr, orig ctTuple) {
	rule, src := RuleConntrack, "the conntrack snapshot"
	if ct.events {
		rule, src = RuleConntrackEvent, "the conntrack events"
	}
	f.Original = &FlowTuple{Src: orig.src, SPort: orig.sport, Dst: orig.dst, DPort: orig.dport}
	o, ok := a.owner(addr, f.rec.First)
	if !ok {
		if a.hostAddrs[addr] {
			f.set("", "", "", RuleHost, ConfidenceHigh, fmt.Sprintf("%s translate it to the host's address %s", src, addr), ct.evidence)
			return
		}
		f.set("", "", "", RuleUnknown, ConfidenceNone, fmt.Sprintf("host or unknown: %s translate it to %s, which no known container held then", src, addr), ct.evidence)
		return
	}
	conf := o.conf
	if conf == ConfidenceHigh && rule == RuleConntrack && !a.h.Collected.IsZero() && time.Unix(0, f.rec.Last).Before(a.h.Collected.Add(-10*time.Minute)) {
		conf = ConfidenceMedium // an old flow matched to a snapshot entry may be a reused tuple
	}
	if side == "server" {
		rule = RuleDNAT
	}
	// "<src> map <addr>:<port> to <addr>:<port>, held by <name>", without
	// fmt: one allocation per flow.
	text := make([]byte, 0, 64+len(src)+len(o.name))
	text = append(text, src...)
	text = append(text, " map "...)
	text = appendAddrColonPort(text, pick(side == "client", f.Client, f.Server), pick(side == "client", f.ClientPort, f.ServerPort))
	text = append(text, " to "...)
	text = appendAddrColonPort(text, addr, pick(side == "client", orig.sport, ct.reply.sport))
	text = append(text, ", held by "...)
	text = append(text, o.name...)
	f.set(o.id, o.name, side, rule, conf, string(text), ct.evidence)
	f.Evidence = append(f.Evidence, o.ev...)
}

// appendAddrColonPort appends addr, a colon and port, as "%s:%d" would
// (no brackets around an IPv6 address).
func appendAddrColonPort(b []byte, addr netip.Addr, port uint16) []byte {
	b = addr.AppendTo(b)
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}

func pick[T any](c bool, a, b T) T {
	if c {
		return a
	}
	return b
}

// published applies rule 4 without conntrack: the server port is a
// published port of exactly one container.
func (a *attributor) published(f *Flow) bool {
	refs := a.pub[pubKey{f.rec.Proto, f.ServerPort}]
	var match []pubRef
	for _, p := range refs {
		if hip, err := netip.ParseAddr(p.pb.HostIP); err == nil && !hip.IsUnspecified() && hip.Unmap() != f.Server && f.Role != PointExternal {
			continue
		}
		if !a.ownedAt(p.c, f.rec.First) {
			continue
		}
		match = append(match, p)
	}
	if len(match) != 1 {
		return false
	}
	p := match[0]
	var ev []model.Evidence
	if path, err := netpath.Inbound(a.h, p.c.ID, p.pb); err == nil {
		for _, hop := range path.Hops {
			if hop.Kind == netpath.HopDNAT {
				ev = append(ev, hop.Evidence...)
			}
		}
	}
	ev = append(ev, p.pb.Evidence)
	f.Original = &FlowTuple{Src: f.Client, SPort: f.ClientPort, Dst: f.Server, DPort: f.ServerPort}
	f.set(p.c.ID, p.c.Name, "server", RuleDNAT, ConfidenceMedium,
		fmt.Sprintf("inbound to %s/%d, published by %s to its port %d (no conntrack entry: the binding decides)", protoName(f.rec.Proto), f.ServerPort, p.c.Name, p.pb.ContainerPort), ev...)
	return true
}

// ownedAt reports whether the container ran at time at (ns), as far as the
// model knows.
func (a *attributor) ownedAt(c *model.Container, at int64) bool {
	t := time.Unix(0, at)
	if !c.StartedAt.IsZero() && t.Before(c.StartedAt.Add(-FlowCorrelationWindow)) {
		return false
	}
	return c.Running() || c.FinishedAt.IsZero() || t.Before(c.FinishedAt.Add(FlowCorrelationWindow))
}

// correlate applies rule 3's fallback: a pre-NAT flow to the same remote
// address and port that began within FlowCorrelationWindow, the same source
// port first (MASQUERADE keeps it when it is free).
func (a *attributor) correlate(f *Flow) bool {
	r := f.rec
	if linkScoped(r.Client, r.Server) {
		return false
	}
	// The candidates are sorted by start (attribute sorts them): the window
	// is found by binary search, so a busy remote costs log n, not n.
	cands := a.corr[corrKey{r.Proto, r.Server, corrPort(r.Proto, r.ServerPort)}]
	window := int64(FlowCorrelationWindow)
	lo, _ := slices.BinarySearchFunc(cands, r.First-window, func(c corrCand, at int64) int { return cmp.Compare(c.first, at) })
	var best *corrCand
	var bestDiff int64
	samePort := false
	var buf [64]int32
	containers := buf[:0] // distinct, in the order met
	for i := lo; i < len(cands); i++ {
		c := &cands[i]
		if c.first > r.First+window {
			break
		}
		d := c.first - r.First
		if d < 0 {
			d = -d
		}
		if !slices.Contains(containers, c.cont) {
			containers = append(containers, c.cont)
		}
		sp := c.port == r.ClientPort
		if best == nil || (sp && !samePort) || (sp == samePort && d < bestDiff) {
			best, bestDiff, samePort = c, d, sp
		}
	}
	if best == nil {
		return false
	}
	conf := ConfidenceMedium
	how := "the same source port"
	if !samePort {
		if len(containers) > 1 {
			// "host or unknown: %d containers had a flow to %s:%d starting
			// within %v, none with the same source port", without fmt.
			text := make([]byte, 0, 160)
			text = append(text, "host or unknown: "...)
			text = strconv.AppendInt(text, int64(len(containers)), 10)
			text = append(text, " containers had a flow to "...)
			text = appendAddrColonPort(text, r.Server, r.ServerPort)
			text = append(text, " starting within "...)
			text = append(text, corrWindowText...)
			text = append(text, ", none with the same source port"...)
			f.set("", "", "", RuleUnknown, ConfidenceNone, string(text))
			return true
		}
		conf, how = ConfidenceLow, "a different source port"
	}
	pre := best.f
	f.Original = &FlowTuple{Src: pre.Client, SPort: pre.ClientPort, Dst: pre.Server, DPort: pre.ServerPort}
	// "no conntrack entry; correlated with the pre-NAT flow on %q (same
	// remote %s:%d, %s, start %v apart)", without fmt.
	text := make([]byte, 0, 160+len(pre.Interface))
	text = append(text, "no conntrack entry; correlated with the pre-NAT flow on "...)
	text = strconv.AppendQuote(text, pre.Interface)
	text = append(text, " (same remote "...)
	text = appendAddrColonPort(text, r.Server, r.ServerPort)
	text = append(text, ", "...)
	text = append(text, how...)
	text = append(text, ", start "...)
	text = append(text, time.Duration(bestDiff).String()...)
	text = append(text, " apart)"...)
	f.set(pre.Container, pre.ContainerName, "client", RuleCorrelation, conf, string(text), pre.Evidence[0])
	return true
}

var corrWindowText = FlowCorrelationWindow.String()

// hostSocket applies rule 5: a socket of the host's namespace with the
// flow's local port, held by a process of a container.
func (a *attributor) hostSocket(f *Flow) bool {
	r := f.rec
	for _, side := range []string{"client", "server"} {
		local, lport, remote, rport := r.Client, r.ClientPort, r.Server, r.ServerPort
		if side == "server" {
			local, lport, remote, rport = r.Server, r.ServerPort, r.Client, r.ClientPort
		}
		if !a.hostAddrs[local] {
			continue
		}
		for _, s := range a.socks[sockKey{r.Proto, lport}] {
			if lip, err := netip.ParseAddr(s.LocalIP); err == nil && !lip.IsUnspecified() && lip.Unmap() != local {
				continue
			}
			if rip, err := netip.ParseAddr(s.RemoteIP); err == nil && !rip.IsUnspecified() && (rip.Unmap() != remote || s.RemotePort != rport) {
				continue
			}
			for _, pid := range s.PIDs {
				p := a.procs[pid]
				if p == nil {
					continue
				}
				if p.ContainerID == "" {
					f.set("", "", "", RuleHost, ConfidenceMedium, fmt.Sprintf("socket held by pid %d (%q) of the host at collection", pid, p.Comm), s.Evidence, p.Evidence)
					return true
				}
				name := p.ContainerID
				if c, ok := a.h.Container(p.ContainerID); ok {
					name = c.Name
				}
				f.set(p.ContainerID, name, side, RuleHostSocket, ConfidenceMedium,
					fmt.Sprintf("host network: socket %s:%d held by pid %d (%q) of container %q at collection", local, lport, pid, p.Comm, name), s.Evidence, p.Evidence)
				return true
			}
		}
	}
	return false
}

// dnsLog attributes each DNS response to the container that asked, through
// the flow that carried it.
func (a *attributor) dnsLog(set *flow.Set, flows []Flow) []DNSQuery {
	// A flow is found by its two addresses in either order: where a
	// capture began with the answer (an interface added while a lookup was
	// under way), the flow's first sender, its client, is the DNS server.
	type key struct {
		p    *flow.Point
		a, b netip.Addr // the smaller address first
	}
	keyOf := func(p *flow.Point, x, y netip.Addr) key {
		if y.Less(x) {
			x, y = y, x
		}
		return key{p, x, y}
	}
	idx := map[key][]*Flow{}
	for i := range flows {
		f := &flows[i]
		if (f.ServerPort == 53 || f.ClientPort == 53) && (f.rec.Proto == packet.IPProtoUDP || f.rec.Proto == packet.IPProtoTCP) {
			k := keyOf(f.rec.Point, f.Client, f.Server)
			idx[k] = append(idx[k], f)
		}
	}
	out := make([]DNSQuery, 0, len(set.DNS))
	for _, r := range set.DNS {
		q := DNSQuery{Time: time.Unix(0, r.Time).UTC(), Client: r.Client, Server: r.Server, QName: r.QName, QType: r.QType,
			RCode: r.RCode, Partial: r.Partial, Interface: r.Point.Name, Rule: RuleUnknown, resp: r,
			Evidence: model.Evidence{Member: r.Point.Member, SHA256: r.Point.SHA256, Text: fmt.Sprintf("frame %d on interface %d (%q)", r.Frame, r.Point.Index, r.Point.Name)}}
		for _, ans := range r.Answers {
			switch ans.Type {
			case flow.DNSTypeCNAME:
				q.Answers = append(q.Answers, ans.Name+" CNAME "+ans.Target)
			case flow.DNSTypeA:
				q.Answers = append(q.Answers, ans.Name+" A "+ans.Addr.String())
			case flow.DNSTypeAAAA:
				q.Answers = append(q.Answers, ans.Name+" AAAA "+ans.Addr.String())
			}
		}
		var best *Flow
		for _, f := range idx[keyOf(r.Point, r.Client, r.Server)] {
			if f.rec.First <= r.Time && r.Time <= f.rec.Last {
				best = f
				break
			}
		}
		if best != nil {
			q.Container, q.ContainerName, q.Rule = best.Container, best.ContainerName, best.Rule
		}
		out = append(out, q)
	}
	return out
}

// names gives each attributed flow the names its container's DNS answers
// gave the remote address before the flow began.
func (a *attributor) names(t *Result) {
	type key struct {
		container string
		addr      netip.Addr
	}
	type seen struct {
		at    int64
		names []string
	}
	resolved := map[key][]seen{}
	for _, q := range t.DNS {
		if q.Container == "" {
			continue
		}
		for _, ans := range q.resp.Answers {
			if ans.Type == flow.DNSTypeCNAME {
				continue
			}
			k := key{q.Container, ans.Addr}
			resolved[k] = append(resolved[k], seen{q.resp.Time, q.resp.NamesFor(ans.Addr)})
		}
	}
	if len(resolved) == 0 {
		return
	}
	for i := range t.Flows {
		f := &t.Flows[i]
		if !f.Attributed() {
			continue
		}
		remote, _ := f.Remote()
		for _, s := range resolved[key{f.Container, remote}] {
			if s.at > f.rec.Last {
				continue
			}
			for _, n := range s.names {
				if !slices.Contains(f.Names, n) {
					f.Names = append(f.Names, n)
				}
			}
		}
	}
}

func (a *attributor) summary(c *flow.Capture, flows []Flow) CaptureSummary {
	s := CaptureSummary{Member: c.Member, SHA256: c.SHA256, Frames: c.Frames, Problems: c.Problems, Rules: map[string]int{}}
	if c.Format != 0 {
		s.Format = c.Format.String()
	}
	if c.Err != nil {
		s.Error = c.Err.Error()
	}
	if c.LimitHit {
		s.Limit = &FlowLimitStats{MaxFlows: c.MaxFlows, AtFrame: c.LimitFrame, Evicted: c.Evicted, EvictedPackets: c.EvictedPackets, EvictedBytes: c.EvictedBytes}
	}
	for _, p := range c.Points {
		pi := a.pointOf(p)
		ps := PointSummary{InterfaceID: p.Index, Name: p.Name, Description: p.Description, Role: pi.role, Container: pi.container,
			ContainerName: pi.containerName, Packets: p.Counts.Packets, Bytes: p.Counts.Bytes, NonIP: p.Counts.NonIP,
			Undecodable: p.Counts.Undecodable, Truncated: p.Counts.Truncated}
		if p.HasDropped {
			ps.Dropped = p.Dropped
		}
		s.Points = append(s.Points, ps)
	}
	for i := range flows {
		if flows[i].Member == c.Member {
			s.Flows++
			s.Rules[flows[i].Rule]++
		}
	}
	return s
}

// ErrNoCapture reports that there is no traffic to analyse.
var ErrNoCapture = errors.New("the bundle has no capture (collect with --capture) and no --pcap was given")
