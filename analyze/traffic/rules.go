package traffic

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/internal/hugepage"
	"github.com/dockcase/dockcase/internal/packet"
)

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
	// Both arrays are large and written at once: each is prepared (huge
	// pages, faulted in at once; see hugepage.Advise) as soon as it is made.
	t := &Result{Flows: make([]Flow, len(set.Flows))}
	hugepage.Advise(t.Flows)
	// Room for the evidence most rules cite (the frames, what decided, and
	// the lease or conntrack entry behind it), allocated at once.
	evidence := make([]model.Evidence, attribEvidenceCap*len(set.Flows))
	hugepage.Advise(evidence)
	attributeParallel(t.Flows, func(f *Flow, i int) {
		f.init(set.Flows[i], evidence[attribEvidenceCap*i:attribEvidenceCap*i+1:attribEvidenceCap*(i+1)])
		f.Role = a.pointOf(f.rec.Point).role // the rules read it
	})
	var veths, bridges, afterNAT []*Flow
	for i := range t.Flows {
		switch f := &t.Flows[i]; f.Role {
		case PointVeth:
			veths = append(veths, f)
		case PointBridge, PointParent:
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
		if f.Role != PointVeth && f.Role != PointBridge && f.Role != PointParent {
			continue
		}
		// Link-scoped flows (NDP, MLD, mDNS) never leave their link, so
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
	for _, r := range a.ct {
		if r.events {
			t.ctEvents = append(t.ctEvents, r)
		}
	}
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

// onBridge applies rule 2, on a bridge or on a macvlan/ipvlan parent,
// whose packets carry the container's own address (no NAT).
func (a *attributor) onBridge(f *Flow) {
	prefix := ""
	if f.Role == PointParent {
		prefix = fmt.Sprintf("captured on %q, the parent of a macvlan/ipvlan network (no NAT): ", f.Interface)
	}
	a.byAddress(f, prefix)
}

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
