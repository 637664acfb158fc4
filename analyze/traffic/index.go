package traffic

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/packet"
)

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

// loadIfaceMap indexes the model's capture/interfaces.json by pcapng
// interface id: the role of each capture point and the container of a veth.
func (a *attributor) loadIfaceMap() {
	if err := a.h.CaptureInterfacesErr; err != nil {
		a.problems = append(a.problems, fmt.Sprintf("%s: %v: capture points identified by name only", model.MemberCaptureInterfaces, err))
		return
	}
	set := func(e *model.CaptureInterface) {
		if e.BlockID < 0 {
			return
		}
		pi := a.ifaceMap[e.BlockID]
		if pi == nil {
			pi = &pointInfo{}
			a.ifaceMap[e.BlockID] = pi
		}
		switch e.Role {
		case model.CaptureRoleVeth:
			pi.role = PointVeth
		case model.CaptureRoleBridge:
			pi.role = PointBridge
		case model.CaptureRoleUplink:
			pi.role = PointUplink
		case model.CaptureRoleParent:
			pi.role = PointParent
		default:
			if pi.role == "" {
				pi.role = PointOther
			}
		}
		if e.ContainerID != "" && pi.container == "" {
			ev := e.Evidence
			ev.Text = fmt.Sprintf("%q is the veth of container %q", e.Name, e.ContainerName)
			pi.container, pi.containerName, pi.evidence = e.ContainerID, e.ContainerName, []model.Evidence{ev}
		}
		// A veth the capture could not name: the capture window's inspect
		// of its container read the host end's ifindex.
		if c, ev, ok := a.h.ContainerOfHostVeth(e.Index); ok && e.Role == model.CaptureRoleVeth && (pi.container == "" || pi.container == c.ID) {
			pi.container, pi.containerName = c.ID, c.Name
			pi.evidence = append(pi.evidence, ev)
		}
	}
	for i := range a.h.CaptureInterfaces {
		set(&a.h.CaptureInterfaces[i])
	}
	for i := range a.h.CaptureChanged {
		set(&a.h.CaptureChanged[i])
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
