package traffic

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/hugepage"
	"github.com/dockcase/dockcase/internal/packet"
)

// Bounds of the fusion.
const (
	// maxContactEvidence bounds the evidence entries of one contact: the
	// frames of each point and what decided; Sources lists every
	// observation.
	maxContactEvidence = 16
	// contactSlack is how far apart in time two observations of one tuple
	// may be and still be one conversation: the capture points see a
	// packet within microseconds; the slack covers a --pcap from another
	// machine's clock, as FlowCorrelationWindow does.
	contactSlack = FlowCorrelationWindow
)

// contactKey is a conversation's tuple as the container (or host process)
// sees it, before NAT.
type contactKey struct {
	proto         string
	local, remote netip.AddrPort
}

// tupleKey is a contactKey as the fuser's maps hold it: one block of
// bytes, hashed and compared at once (a key of a string and two AddrPorts
// is hashed field by field, which cost a third of the fusion). Each
// address is kept with whether it is IPv4, so that 192.0.2.1 and
// ::ffff:192.0.2.1 stay apart as they do in a contactKey; zones are not
// kept (no source of a tuple gives one).
type tupleKey [40]byte

// key is k's tupleKey.
func (k contactKey) key() (t tupleKey) {
	c := protoCode(k.proto)
	t[0], t[39] = byte(c), byte(c>>8)
	putAddrPort(t[1:20], k.local)
	putAddrPort(t[20:39], k.remote)
	return t
}

// addrPort is the address and port putAddrPort put in b.
func addrPort(b []byte) netip.AddrPort {
	var a netip.Addr
	switch b[0] {
	case 4:
		a = netip.AddrFrom4([4]byte(b[13:17]))
	case 6:
		a = netip.AddrFrom16([16]byte(b[1:17]))
	}
	return netip.AddrPortFrom(a, uint16(b[17])<<8|uint16(b[18]))
}

func putAddrPort(b []byte, ap netip.AddrPort) {
	a := ap.Addr()
	if a.Is4() {
		b[0] = 4
	} else if a.IsValid() {
		b[0] = 6
	}
	a16 := a.As16()
	copy(b[1:17], a16[:])
	b[17], b[18] = byte(ap.Port()>>8), byte(ap.Port())
}

// protoCode numbers a contact's protocol name: its IP protocol number for
// tcp, udp, icmp, icmpv6 and "ip-proto-N" (protoName's names), 0 for none,
// and 256 up for any other name (a conntrack entry's "sctp"), in the order
// the process first meets them.
func protoCode(p string) uint16 {
	switch p {
	case "tcp":
		return packet.IPProtoTCP
	case "udp":
		return packet.IPProtoUDP
	case "":
		return 0
	case "icmp":
		return packet.IPProtoICMP
	case "icmpv6":
		return packet.IPProtoICMPv6
	}
	if n, ok := strings.CutPrefix(p, "ip-proto-"); ok {
		if v, err := strconv.ParseUint(n, 10, 8); err == nil && n == strconv.FormatUint(v, 10) {
			return uint16(v)
		}
	}
	otherProtos.Lock()
	defer otherProtos.Unlock()
	c, ok := otherProtos.codes[p]
	if !ok {
		if otherProtos.codes == nil {
			otherProtos.codes = map[string]uint16{}
		}
		c = uint16(256 + len(otherProtos.codes))
		otherProtos.codes[p] = c
	}
	return c
}

// otherProtos holds protoCode's numbers of names that are no IP
// protocol's: a handful at most.
var otherProtos struct {
	sync.Mutex
	codes map[string]uint16
}

// remoteKey finds an inbound conversation through a published port by its
// remote end: the uplink sees the host's port, the bridge the container's.
type remoteKey struct {
	proto     string
	remote    netip.AddrPort
	container string
}

// building is a contact under construction, with what the fusion needs to
// merge further observations into it. Contacts of one key (or one remote
// key) are chained, the newest first: most keys have one.
type building struct {
	i          int    // the contact's index in Result.Contacts
	best       uint64 // packets of the counted point
	bestVeth   bool
	socket, ct bool
	next       *building // the previous contact of the same key
	nextRemote *building // the previous contact of the same remote key
}

// pointKey is a capture point: the member and the interface.
type pointKey struct{ member, iface string }

// hasPoint reports whether a flow of the capture point is among the
// contact's sources.
func hasPoint(c *Contact, pt pointKey) bool {
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Flow != nil && s.Interface == pt.iface && s.Evidence != nil && s.Evidence.Member == pt.member {
			return true
		}
	}
	return false
}

// fuseChunk is how many contacts' bookkeeping, rules and evidence are
// allocated at once, with room for fuseRules rules and fuseEvidence
// evidence entries each, and sources for fuseSources a contact on average
// (each takes what its flows need, see addTID): the fusion makes tens of
// thousands, and one allocation each would be most of its cost.
const (
	fuseChunk    = 1024
	fuseSources  = 2
	fuseRules    = 3
	fuseEvidence = 3
)

// fuser fuses the observations of one analysis into contacts.
type fuser struct {
	h *model.Host
	t *Result
	// index numbers the tuples, by shard (see tid); shared by the fusers
	// of the shards, each of which writes its own shard's only.
	index    *[fuseShards]tupleIndex
	byRemote map[remoteKey]*building
	// The chunks new contacts are carved from (in the flows phase, each
	// shard's part of arrays made for all of them at once).
	slab     []building
	sources  []ContactSource
	evidence []*model.Evidence
	rules    []string
	// far indexes contacts by the reply tuple of their conntrack entry, as
	// the remote end sees it (its address and port first): a socket of the
	// remote end held in a namespace of this host is that end of the same
	// conversation.
	far map[tupleKey]*building
	// natPorts indexes container conversations by natPortKey, built only
	// when a socket of a host process's namespace needs it.
	natPorts  map[natPortKey][]*building
	hostAddrs map[netip.Addr]bool
	subnets   []netip.Prefix
	gateways  map[netip.Addr]bool
	leased    map[netip.Addr]bool
	procs     map[int]*model.HostProcess
	snapshots map[string]time.Time // member → when its step ended
}

// fuse builds t.Contacts from t.Flows, the model's sockets, the capture
// window's socket samples and the conntrack snapshot, and t.DNS. It needs no capture: without one, the contacts come
// from the sockets and conntrack alone.
func fuse(h *model.Host, t *Result) {
	f := &fuser{h: h, t: t, index: new([fuseShards]tupleIndex), byRemote: map[remoteKey]*building{}, far: map[tupleKey]*building{},
		hostAddrs: map[netip.Addr]bool{}, gateways: map[netip.Addr]bool{}, leased: map[netip.Addr]bool{},
		procs: map[int]*model.HostProcess{}, snapshots: map[string]time.Time{}}
	if h.HostNS != nil {
		for _, l := range h.HostNS.Links {
			for _, p := range l.Addrs {
				f.hostAddrs[p.Addr().Unmap()] = true
			}
		}
	}
	for _, n := range h.Networks {
		f.subnets = append(f.subnets, n.Subnets...)
		for _, g := range n.Gateways {
			f.gateways[g.Unmap()] = true
		}
	}
	for _, l := range h.Leases() {
		if l.Addr.IsValid() {
			f.leased[l.Addr.Unmap()] = true
		}
	}
	for i := range h.Processes {
		f.procs[h.Processes[i].PID] = &h.Processes[i]
	}
	for _, s := range h.Steps {
		for _, m := range s.Members {
			f.snapshots[m] = s.Ended.UTC()
		}
	}
	f.flows()
	f.conntrack()
	f.ctEvents()
	f.farFlows()
	f.sockets()
	f.sightings()
	f.names()
	sortContacts(t.Contacts)
}

// sortMaxRuns is how many runs in order sortContacts merges rather than
// sorts.
const sortMaxRuns = 16

// ascendingRuns returns the bounds of the runs of s already in order
// (0, the start of each run after the first, len(s)), or nil when there
// are more than max.
func ascendingRuns[E any](s []E, compare func(a, b E) int, max int) []int {
	bounds := []int{0}
	for i := 1; i < len(s); i++ {
		if compare(s[i-1], s[i]) > 0 {
			if len(bounds) == max {
				return nil
			}
			bounds = append(bounds, i)
		}
	}
	return append(bounds, len(s))
}

// mergeRuns merges the sorted runs of s between bounds into a new slice,
// two at a time.
func mergeRuns[E any](s []E, bounds []int, compare func(a, b E) int) []E {
	for len(bounds) > 2 {
		out := make([]E, 0, len(s))
		next := []int{0}
		for r := 0; r+1 < len(bounds); r += 2 {
			if r+2 >= len(bounds) { // an odd run out: as it is
				out = append(out, s[bounds[r]:bounds[r+1]]...)
				next = append(next, len(out))
				break
			}
			a, b := s[bounds[r]:bounds[r+1]], s[bounds[r+1]:bounds[r+2]]
			for len(a) > 0 && len(b) > 0 {
				if compare(a[0], b[0]) <= 0 {
					out, a = append(out, a[0]), a[1:]
				} else {
					out, b = append(out, b[0]), b[1:]
				}
			}
			out = append(append(out, a...), b...)
			next = append(next, len(out))
		}
		s, bounds = out, next
	}
	return s
}

// sortContacts sorts the contacts by first seen, then container,
// protocol and tuple, stably: an order of indexes is sorted and applied in
// place, since a Contact is large to move and there may be many. The
// order is sorted on a copy of each contact's first time, next to its
// index, and reads the contact only on a tie: most comparisons then touch
// neither the contacts nor their times' locations.
func sortContacts(cs []Contact) {
	type entry struct {
		sec  int64
		nsec int32
		i    int32
	}
	order := make([]entry, len(cs))
	attributeParallel(order, func(e *entry, i int) {
		*e = entry{cs[i].First.Unix(), int32(cs[i].First.Nanosecond()), int32(i)}
	})
	compare := func(a, b entry) int {
		if c := cmp.Or(cmp.Compare(a.sec, b.sec), cmp.Compare(a.nsec, b.nsec)); c != 0 {
			return c
		}
		x, y := &cs[a.i], &cs[b.i]
		// The index last keeps equal contacts in their order: stable.
		return cmp.Or(cmp.Compare(x.Container, y.Container), cmp.Compare(x.Proto, y.Proto),
			x.Local.Compare(y.Local), x.Remote.Compare(y.Remote), cmp.Compare(a.i, b.i))
	}
	// compare is a total order, so every way below gives the one result.
	switch runs := ascendingRuns(order, compare, sortMaxRuns); {
	case runs != nil:
		// The contacts are made in a few runs already in order (a run a
		// kind of capture point, its flows in time): merged, not sorted.
		order = mergeRuns(order, runs, compare)
	case len(order) < 2*attributeMinChunk || runtime.GOMAXPROCS(0) < 2:
		slices.SortFunc(order, compare)
	default:
		// Each half sorted on a core, then merged.
		mid := len(order) / 2
		halves := [2][]entry{order[:mid], order[mid:]}
		parallel(2, func(h int) { slices.SortFunc(halves[h], compare) })
		order = mergeRuns(order, []int{0, mid, len(order)}, compare)
	}
	// Position i takes the contact at order[i].i: follow each cycle once.
	for i := range order {
		if order[i].i < 0 || int(order[i].i) == i {
			continue
		}
		tmp := cs[i]
		j := i
		for {
			k := int(order[j].i)
			order[j].i = -1
			if k == i {
				cs[j] = tmp
				break
			}
			cs[j] = cs[k]
			j = k
		}
	}
}

func unmapAP(a netip.Addr, port uint16) netip.AddrPort { return netip.AddrPortFrom(a.Unmap(), port) }

// flowTuple is a flow's conversation tuple before NAT; dnat says the local
// side is the host's published port, not the container's.
func flowTuple(fl *Flow) (k contactKey, side string, dnat bool) {
	k.proto = fl.Proto
	switch {
	case fl.Original != nil && fl.ContainerSide == "server":
		return contactKey{fl.Proto, unmapAP(fl.Original.Dst, fl.Original.DPort), unmapAP(fl.Original.Src, fl.Original.SPort)}, "server", true
	case fl.Original != nil:
		return contactKey{fl.Proto, unmapAP(fl.Original.Src, fl.Original.SPort), unmapAP(fl.Original.Dst, fl.Original.DPort)}, "client", false
	case fl.ContainerSide == "server":
		return contactKey{fl.Proto, unmapAP(fl.Server, fl.ServerPort), unmapAP(fl.Client, fl.ClientPort)}, "server", false
	}
	return contactKey{fl.Proto, unmapAP(fl.Client, fl.ClientPort), unmapAP(fl.Server, fl.ServerPort)}, "client", false
}

// fuseShards is how many parts the flows are fused in, side by side:
// the flows of one conversation share its remote end (its tuple and, for
// an inbound one, its remote key have it), so a part holds every remote
// end whose hash is its number and the parts never meet.
const fuseShards = 2

// tupleIndex numbers the tuples of one shard; heads[n] is the newest
// contact of the shard's tuple n (chained through building.next).
type tupleIndex struct {
	tids  map[tupleKey]int32
	heads []*building
}

// shardOf is the shard of the tuple: a hash of its protocol and remote
// end.
func shardOf(k *tupleKey) int {
	h := uint32(2166136261)
	h = (h ^ uint32(k[0])) * 16777619
	for _, b := range k[20:40] {
		h = (h ^ uint32(b)) * 16777619
	}
	return int(h % fuseShards)
}

// tid is the number of tuple k, a new one when it has none: its number in
// its shard's index times fuseShards, plus the shard.
func (f *fuser) tid(k tupleKey) int32 {
	s := shardOf(&k)
	ix := &f.index[s]
	n, ok := ix.tids[k]
	if !ok {
		n = int32(len(ix.heads))
		ix.tids[k] = n
		ix.heads = append(ix.heads, nil)
	}
	return n*fuseShards + int32(s)
}

// headOf is where the newest contact of tuple tid is kept.
func (f *fuser) headOf(tid int32) **building {
	return &f.index[tid%fuseShards].heads[tid/fuseShards]
}

// head is the newest contact of tuple k, nil when it has none.
func (f *fuser) head(k tupleKey) *building {
	ix := &f.index[shardOf(&k)]
	if n, ok := ix.tids[k]; ok {
		return ix.heads[n]
	}
	return nil
}

// flowTuples is what the fusion finds of each flow first, one pass over
// the flows: flowTuple's key, side and dnat, its shard (and how many flows
// each shard has), and the order the flows are taken in (by rolePriority,
// stably); then each shard numbers
// its flows' tuples (tid) and counts the flows of each (perTuple, by the
// tuple's number in the shard: the room its contact needs for their
// sources).
type flowTuples struct {
	keys     []tupleKey
	shard    []uint8
	server   []bool // flowTuple's side is "server"
	dnat     []bool
	order    []int32
	tid      []int32
	perTuple [fuseShards][]uint16
	flows    [fuseShards]int
}

// tuple is flow i's tuple as flowTuple gives it.
func (ft *flowTuples) tuple(i int32, proto string) (k contactKey, side string, dnat bool) {
	tk := &ft.keys[i]
	k = contactKey{proto, addrPort(tk[1:20]), addrPort(tk[20:39])}
	side = "client"
	if ft.server[i] {
		side = "server"
	}
	return k, side, ft.dnat[i]
}

// room is how many sources the contact of flow i's tuple needs for the
// tuple's flows.
func (ft *flowTuples) room(i int32) int {
	tid := ft.tid[i]
	return int(ft.perTuple[tid%fuseShards][tid/fuseShards])
}

// readFlows is flowTuples' first pass, over the flows in parallel.
func readFlows(flows []Flow) *flowTuples {
	n := len(flows)
	ft := &flowTuples{keys: make([]tupleKey, n), shard: make([]uint8, n), server: make([]bool, n), dnat: make([]bool, n),
		order: make([]int32, n), tid: make([]int32, n)}
	prio := make([]uint8, n)
	attributeParallel(flows, func(fl *Flow, i int) {
		k, side, dnat := flowTuple(fl)
		ft.keys[i] = k.key()
		ft.shard[i] = uint8(shardOf(&ft.keys[i]))
		ft.server[i], ft.dnat[i] = side == "server", dnat
		prio[i] = uint8(rolePriority(fl.Role))
	})
	for _, s := range ft.shard {
		ft.flows[s]++
	}
	// A counting sort, stable.
	var at [4]int
	for _, p := range prio {
		at[p]++
	}
	for p, sum := 0, 0; p < len(at); p++ {
		at[p], sum = sum, sum+at[p]
	}
	for i, p := range prio {
		ft.order[at[p]] = int32(i)
		at[p]++
	}
	return ft
}

// number numbers the tuples of shard s's flows and counts the flows of
// each.
func (f *fuser) number(ft *flowTuples, s int) {
	var per []uint16
	for _, i := range ft.order {
		if int(ft.shard[i]) != s {
			continue
		}
		tid := f.tid(ft.keys[i])
		ft.tid[i] = tid
		n := tid / fuseShards
		if int(n) == len(per) {
			per = append(per, 0)
		}
		if per[n] < math.MaxUint16 {
			per[n]++
		}
	}
	ft.perTuple[s] = per
}

// rolePriority orders the capture points, the closest to the container
// first: the veth names the container itself, a macvlan/ipvlan parent and
// the bridge carry its own address, the rest are after NAT. Extract takes
// a contact's packets from the first of its points in this order.
func rolePriority(role string) int {
	switch role {
	case PointVeth:
		return 0
	case PointParent:
		return 1
	case PointBridge:
		return 2
	}
	return 3
}

// flows groups the per-point flows of each conversation into one
// contact, each point kept as a source: each shard's flows by a fuser of
// its own, side by side, in t.Contacts one shard after the other.
func (f *fuser) flows() {
	ft := readFlows(f.t.Flows)
	idx := make([]int, len(f.t.Flows)) // the Sources' flow indexes, one allocation
	var subs [fuseShards]*fuser
	for s := range subs {
		sub := *f
		sub.t = &Result{Flows: f.t.Flows}
		sub.byRemote = map[remoteKey]*building{}
		subs[s] = &sub
	}
	others := f.otherObservations()
	parallel(fuseShards, func(s int) {
		// Room for a tuple a flow: the map never grows while it is filled.
		f.index[s].tids = make(map[tupleKey]int32, ft.flows[s]+others/fuseShards)
		subs[s].number(ft, s)
	})
	// The shards' contacts are made side by side in one array, each shard
	// with room for a contact per tuple of its flows, which is what it
	// makes unless a tuple is reused (then that shard's contacts move to
	// an array of their own, and all are copied into one); the array has
	// room past them for a contact of every other observation (see
	// otherObservations), so that no later contact copies them all.
	tuples := 0
	for s := range f.index {
		tuples += len(f.index[s].heads)
	}
	// Each large array is prepared as soon as it is made (see
	// hugepage.Advise), before the collector may scan it untouched.
	all := make([]Contact, 0, tuples+others)
	hugepage.Advise(all[:0:tuples]) // the room past the flows' contacts may go unused
	// Each shard's bookkeeping and sources too come from arrays made for
	// all: a contact a tuple and a source a flow (more, from a reused
	// tuple, get chunks of their own); one allocation each.
	slab := make([]building, tuples)
	hugepage.Advise(slab)
	rules := make([]string, tuples*fuseRules)
	hugepage.Advise(rules)
	evidence := make([]*model.Evidence, tuples*fuseEvidence)
	hugepage.Advise(evidence)
	sources := make([]ContactSource, len(f.t.Flows))
	hugepage.Advise(sources)
	at, moved, src := 0, false, 0
	for s := range subs {
		n := len(f.index[s].heads)
		sub := subs[s]
		sub.t.Contacts = all[at : at : at+n]
		sub.slab = slab[at : at : at+n]
		sub.rules = rules[at*fuseRules : (at+n)*fuseRules]
		sub.evidence = evidence[at*fuseEvidence : (at+n)*fuseEvidence]
		sub.sources = sources[src : src : src+ft.flows[s]]
		at += n
		src += ft.flows[s]
	}
	parallel(fuseShards, func(s int) { subs[s].shardFlows(ft, s, idx) })
	for s := range subs {
		moved = moved || len(subs[s].t.Contacts) > len(f.index[s].heads)
	}
	if moved {
		all = nil // a shard's contacts are no longer where its room was
	}
	at = 0
	for s := range subs {
		// Each shard's contacts are at its room's start (or appended to
		// the others'): so are their indexes, each in the chain of its
		// tuple.
		if moved {
			all = append(all, subs[s].t.Contacts...)
		}
		if at > 0 {
			for _, b := range f.index[s].heads {
				for ; b != nil; b = b.next {
					b.i += at
				}
			}
		}
		at += len(subs[s].t.Contacts)
	}
	f.t.Contacts = all[:at]
}

// otherObservations is how many contacts the phases after the flows can
// make at most: one a conntrack entry, conntrack event, socket and socket
// sighting.
func (f *fuser) otherObservations() int {
	n := len(f.h.Conntrack) + len(f.t.ctEvents) + len(f.h.SocketSightings)
	for _, ns := range f.h.Namespaces {
		n += len(ns.Sockets)
	}
	return n
}

// parallel runs fn(0) to fn(n-1), each on a goroutine of its own, and
// waits for them.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

// shardFlows fuses the flows of shard s, in ft.order.
func (f *fuser) shardFlows(ft *flowTuples, s int, idx []int) {
	flows := f.t.Flows
	for _, i := range ft.order {
		if int(ft.shard[i]) != s {
			continue
		}
		fl := &flows[i]
		idx[i] = int(i)
		k, side, dnat := ft.tuple(i, fl.Proto)
		pt := pointKey{fl.Member, fl.Interface}
		tid := ft.tid[i]
		b := f.findFlow(*f.headOf(tid), pt, fl)
		if b == nil && dnat {
			b = f.findRemote(remoteKey{k.proto, k.remote, fl.Container}, pt, fl)
		}
		if b == nil {
			// Room for the tuple's flows: a conntrack entry or socket
			// merged later gets its contact's sources an array of their
			// own, but most of a perimeter capture's contacts have none.
			b = f.addTID(k, tid, ft.room(i), side, fl.First, fl.Last, "")
			f.c(b).Exact = true
			// Only an inbound conversation is looked up by its remote
			// end: the uplink's flow of it names the host's port.
			if !dnat && side == "server" && fl.Container != "" {
				rk := remoteKey{k.proto, k.remote, fl.Container}
				b.nextRemote = f.byRemote[rk]
				f.byRemote[rk] = b
			}
		}
		f.mergeFlow(b, fl, &idx[i], pt, side)
	}
}

// natPortKey finds a container's conversation as its remote end sees it
// after source NAT, when no conntrack entry gives the translation: its
// remote end and the container's port.
type natPortKey struct {
	proto  string
	remote netip.AddrPort
	port   uint16
}

// indexNATPorts indexes the client contacts of container addresses by
// natPortKey (see socket); called only when a socket needs it.
func (f *fuser) indexNATPorts() {
	f.natPorts = map[natPortKey][]*building{}
	for s := range f.index {
		for _, b := range f.index[s].heads {
			for ; b != nil; b = b.next {
				c := f.c(b)
				if c.Side == "client" && f.isContainerAddr(c.Local.Addr()) {
					nk := natPortKey{c.Proto, c.Remote, c.Local.Port()}
					f.natPorts[nk] = append(f.natPorts[nk], b)
				}
			}
		}
	}
}

// farFromFlows adds to f.far the conversations containers began that the
// flows saw after source NAT, by their tuple as the remote end sees it: a
// conversation newer than the conntrack snapshot has no entry to give it.
// Called only when a socket needs it (see sockets), since most hosts have
// none: it costs a walk of the flows, and nothing otherwise.
func (f *fuser) farFromFlows() {
	for i := range f.t.Flows {
		fl := &f.t.Flows[i]
		if fl.Original == nil {
			continue
		}
		k, side, _ := flowTuple(fl)
		if side != "client" {
			continue
		}
		far := contactKey{k.proto, unmapAP(fl.Server, fl.ServerPort), unmapAP(fl.Client, fl.ClientPort)}
		if f.far[far.key()] != nil {
			continue
		}
		for b := f.head(k.key()); b != nil; b = b.next {
			if slices.ContainsFunc(f.c(b).Sources, func(s ContactSource) bool { return s.Flow != nil && *s.Flow == i }) {
				f.far[far.key()] = b
				break
			}
		}
	}
}

// c is the contact under construction of b.
func (f *fuser) c(b *building) *Contact { return &f.t.Contacts[b.i] }

// add makes a contact of the tuple, carved from the fuser's chunks, with
// room for two sources.
func (f *fuser) add(k contactKey, side string, first, last time.Time, dating string) *building {
	return f.addTID(k, f.tid(k.key()), 2, side, first, last, dating)
}

// addTID makes a contact of tuple k, number tid, with room for sources
// sources before its Sources need an allocation of their own.
func (f *fuser) addTID(k contactKey, tid int32, sources int, side string, first, last time.Time, dating string) *building {
	if len(f.slab) == cap(f.slab) {
		f.slab = make([]building, 0, fuseChunk)
		f.evidence = make([]*model.Evidence, fuseChunk*fuseEvidence)
		f.rules = make([]string, fuseChunk*fuseRules)
	}
	if cap(f.sources)-len(f.sources) < sources {
		f.sources = make([]ContactSource, 0, max(sources, fuseChunk*fuseSources))
	}
	n, ns := len(f.slab), len(f.sources)
	f.sources = f.sources[:ns+sources]
	f.slab = append(f.slab, building{i: len(f.t.Contacts)})
	b := &f.slab[n]
	f.t.Contacts = append(f.t.Contacts, Contact{Proto: k.proto, Side: side, Local: k.local, Remote: k.remote, First: first, Last: last, Dating: dating,
		Rules: f.rules[n*fuseRules : n*fuseRules : (n+1)*fuseRules], Confidence: ConfidenceNone,
		Sources:  f.sources[ns : ns : ns+sources],
		Evidence: f.evidence[n*fuseEvidence : n*fuseEvidence : (n+1)*fuseEvidence]})
	head := f.headOf(tid)
	b.next = *head
	*head = b
	return b
}

// overlaps reports whether [first, last] meets the contact's time, with
// the slack.
func overlaps(c *Contact, first, last time.Time) bool {
	return !first.After(c.Last.Add(contactSlack)) && !last.Before(c.First.Add(-contactSlack))
}

// findFlow returns the contact of the tuple that the flow continues: one
// that overlaps it in time and has no flow of the same point yet (a second
// flow of one point is a second conversation on a reused tuple).
func (f *fuser) findFlow(head *building, pt pointKey, fl *Flow) *building {
	for b := head; b != nil; b = b.next {
		if overlaps(f.c(b), fl.First, fl.Last) && !hasPoint(f.c(b), pt) {
			return b
		}
	}
	return nil
}

func (f *fuser) findRemote(k remoteKey, pt pointKey, fl *Flow) *building {
	for b := f.byRemote[k]; b != nil; b = b.nextRemote {
		if overlaps(f.c(b), fl.First, fl.Last) && !hasPoint(f.c(b), pt) {
			return b
		}
	}
	return nil
}

func (f *fuser) mergeFlow(b *building, fl *Flow, idx *int, pt pointKey, side string) {
	c := f.c(b)
	if fl.First.Before(c.First) {
		c.First = fl.First
	}
	if fl.Last.After(c.Last) {
		c.Last = fl.Last
	}
	pk, by := fl.PacketsToServer+fl.PacketsToClient, fl.BytesToServer+fl.BytesToClient
	src := ContactSource{Kind: SourceCapture, Interface: fl.Interface, Role: fl.Role, Flow: idx, Packets: pk, Bytes: by}
	if len(fl.Evidence) > 0 {
		src.Evidence = &fl.Evidence[0] // the frames
	}
	c.Sources = append(c.Sources, src)
	veth := fl.Role == PointVeth
	if pk > b.best || (pk == b.best && veth && !b.bestVeth) || c.CountedAt == "" {
		b.best, b.bestVeth, c.CountedAt = pk, veth, fl.Interface
		if side == "client" {
			c.PacketsToRemote, c.PacketsFromRemote, c.BytesToRemote, c.BytesFromRemote = fl.PacketsToServer, fl.PacketsToClient, fl.BytesToServer, fl.BytesToClient
		} else {
			c.PacketsToRemote, c.PacketsFromRemote, c.BytesToRemote, c.BytesFromRemote = fl.PacketsToClient, fl.PacketsToServer, fl.BytesToClient, fl.BytesToServer
		}
	}
	c.SNI = cmp.Or(c.SNI, fl.SNI)
	c.HTTPHost = cmp.Or(c.HTTPHost, fl.HTTPHost)
	for _, n := range fl.Names {
		if !slices.Contains(c.Names, n) {
			c.Names = append(c.Names, n)
		}
	}
	// The first point that names someone decides (the veth before the
	// bridge before the uplink); the others agree or are only evidence.
	switch {
	case !c.Named() && fl.Container != "":
		// A flow named by its address (a bridge, or after NAT) does not
		// say that the address's namespace is shared: the model does.
		g := fl.NamespaceGroup
		if len(g) == 0 {
			g = f.sharers(fl.Container)
		}
		if len(g) > 0 {
			c.Group = f.group(fl.Container, g)
		} else {
			c.Container, c.ContainerName = fl.Container, fl.ContainerName
		}
		c.Rules = append(c.Rules[:0], fl.Rule)
		c.Confidence, c.Reason = fl.Confidence, fl.Reason
	case !c.Named() && len(c.Rules) == 0:
		c.Rules = append(c.Rules, fl.Rule)
		c.Confidence, c.Reason = fl.Confidence, fl.Reason
	case fl.Container != "" && (fl.Container == c.Container || slices.ContainsFunc(c.Group, func(g ContainerRef) bool { return g.ID == fl.Container })):
		if !slices.Contains(c.Rules, fl.Rule) {
			c.Rules = append(c.Rules, fl.Rule)
		}
		if confidenceRank(fl.Confidence) > confidenceRank(c.Confidence) {
			c.Confidence = fl.Confidence
		}
	}
	// The frames are the source's evidence; the contact cites what
	// decided (the interface map, the lease, the conntrack entry).
	if len(fl.Evidence) > 1 && len(c.Evidence) < fuseEvidence {
		for i := 1; i < len(fl.Evidence); i++ {
			f.cite(c, &fl.Evidence[i])
		}
	}
}

// cite adds evidence to the contact once, within maxContactEvidence.
func (f *fuser) cite(c *Contact, e *model.Evidence) {
	if len(c.Evidence) < maxContactEvidence && !slices.ContainsFunc(c.Evidence, func(x *model.Evidence) bool { return x == e || *x == *e }) {
		c.Evidence = append(c.Evidence, e)
	}
}

func confidenceRank(c string) int {
	switch c {
	case ConfidenceHigh:
		return 3
	case ConfidenceMedium:
		return 2
	case ConfidenceLow:
		return 1
	}
	return 0
}

// sharers are the other containers in the network namespace of container
// id (container:<id> mode), none when it has it alone or is not known.
func (f *fuser) sharers(id string) []string {
	c, ok := f.h.Container(id)
	if !ok || c.NetNS == 0 {
		return nil
	}
	ns, ok := f.h.Namespace(c.NetNS)
	if !ok {
		return nil
	}
	var out []string
	for _, o := range ns.Containers {
		if o != c.ID {
			out = append(out, o)
		}
	}
	return out
}

// group names the containers sharing one network namespace: the owner of
// the namespace first, then the others by id.
func (f *fuser) group(owner string, others []string) []ContainerRef {
	out := []ContainerRef{f.ref(owner)}
	rest := slices.Clone(others)
	slices.Sort(rest)
	for _, id := range rest {
		if id != owner {
			out = append(out, f.ref(id))
		}
	}
	return out
}

func (f *fuser) ref(id string) ContainerRef {
	if c, ok := f.h.ContainerByID(id); ok {
		return ContainerRef{ID: c.ID, Name: c.Name}
	}
	if c, ok := f.h.Container(id); ok {
		return ContainerRef{ID: c.ID, Name: c.Name}
	}
	return ContainerRef{ID: id}
}

// socketProto is the contact protocol of a socket table ("tcp6" → "tcp");
// "" for what is not a conversation (raw, unix).
func socketProto(p string) string {
	switch strings.TrimSuffix(p, "6") {
	case "tcp":
		return "tcp"
	case "udp":
		return "udp"
	}
	return ""
}

// socketStateless lists socket states that are no conversation.
var socketStateless = map[string]bool{"LISTEN": true, "CLOSE": true, "UNCONNECTED": true, "": true}

// sockets merges the socket of every namespace that has a remote end into
// the contact of its tuple (giving it the process), or makes one.
func (f *fuser) sockets() {
	// A server socket of a namespace no container holds may be the remote
	// end of a container's conversation (see socket) whose own socket is
	// in a namespace listed later: it is merged after every other.
	type pending struct {
		ns   *model.Namespace
		s    *model.HostSocket
		k    contactKey
		side string
		at   time.Time
	}
	var later []pending
	for _, ns := range f.h.Namespaces {
		listening := map[contactKey]bool{}
		for _, s := range ns.Sockets {
			if s.State == "LISTEN" {
				listening[contactKey{proto: socketProto(s.Proto), local: netip.AddrPortFrom(netip.Addr{}, s.LocalPort)}] = true
			}
		}
		at, snapped := f.snapshots[socketsMember(ns)]
		if !snapped {
			at = f.h.Collected.UTC()
		}
		for i := range ns.Sockets {
			s := &ns.Sockets[i]
			proto := socketProto(s.Proto)
			if proto == "" || socketStateless[s.State] {
				continue
			}
			local, err1 := netip.ParseAddr(s.LocalIP)
			remote, err2 := netip.ParseAddr(s.RemoteIP)
			if err1 != nil || err2 != nil || s.RemotePort == 0 || remote.IsUnspecified() || remote.Unmap().IsLoopback() || local.Unmap().IsLoopback() {
				continue
			}
			k := contactKey{proto, unmapAP(local, s.LocalPort), unmapAP(remote, s.RemotePort)}
			side := "client"
			if listening[contactKey{proto: proto, local: netip.AddrPortFrom(netip.Addr{}, s.LocalPort)}] {
				side = "server"
			}
			if side == "server" && hostProcessNS(ns) == 1 && f.far[k.key()] == nil {
				later = append(later, pending{ns, s, k, side, at})
				continue
			}
			f.socket(ns, s, k, side, at)
		}
	}
	if len(later) > 0 {
		f.farFromFlows()
		f.indexNATPorts()
	}
	for _, p := range later {
		f.socket(p.ns, p.s, p.k, p.side, p.at)
	}
}

// hostProcessNS is 1 for a namespace that is neither the host's nor any
// known container's (a host process in a namespace of its own), else 0.
func hostProcessNS(ns *model.Namespace) int {
	if ns.Host || len(ns.Containers) > 0 {
		return 0
	}
	return 1
}

// socketsMember is the socket member of a namespace.
func socketsMember(ns *model.Namespace) string { return fmt.Sprintf("netns/%d/sockets.json", ns.Inode) }

func (f *fuser) socket(ns *model.Namespace, s *model.HostSocket, k contactKey, side string, at time.Time) {
	var proc *model.HostProcess
	for _, pid := range s.PIDs {
		if p := f.procs[pid]; p != nil {
			proc = p
			break
		}
	}
	end := f.far[k.key()]
	if end == nil && side == "server" && hostProcessNS(ns) == 1 && (proc == nil || proc.ContainerID == "") {
		// A server socket of a host process in a namespace of its own (a
		// C2 simulated on the host) whose tuple, reversed, is a contact's
		// own: the remote end of that conversation, as f.far finds it
		// through conntrack's reply tuple. Without NAT (a macvlan or
		// ipvlan container, whose traffic never crosses the host's
		// stack) there is no entry to give the reply tuple.
		end = f.head(contactKey{k.proto, k.remote, k.local}.key())
	}
	byPort := false
	if end == nil && f.natPorts != nil && f.hostAddrs[k.remote.Addr()] {
		// Its peer is the host's address, after source NAT, and neither
		// conntrack nor a capture has the translation (the conversation
		// began after the conntrack snapshot, outside the capture):
		// MASQUERADE keeps the source port unless it collides, so the one
		// container conversation with this remote end and port is it.
		if bs := f.natPorts[natPortKey{k.proto, k.local, k.remote.Port()}]; len(bs) == 1 {
			end, byPort = bs[0], true
		}
	}
	if b := end; b != nil && f.head(k.key()) == nil {
		// The remote end's own socket, in a namespace of this host: the
		// same conversation, seen from the other side. It is evidence of
		// the conversation, not of who began it.
		ev := s.Evidence
		src := ContactSource{Kind: SourceSocket, State: s.State, Evidence: &ev}
		if proc != nil {
			ev.Text = fmt.Sprintf("the remote end's socket %s → %s, held by pid %d (%q) in network namespace %d", k.local, k.remote, proc.PID, proc.Comm, ns.Inode)
		}
		if byPort {
			ev.Text = cmp.Or(ev.Text, fmt.Sprintf("the remote end's socket %s → %s in network namespace %d", k.local, k.remote, ns.Inode)) +
				", its peer the host's address after source NAT with the container's port (no conntrack entry or capture has the translation)"
		}
		f.c(b).Sources = append(f.c(b).Sources, src)
		f.cite(f.c(b), src.Evidence)
		return
	}
	// Who: the owner's cgroup in the host namespace (host network mode);
	// in a container's namespace its container, or the one of the group
	// the owner's cgroup names, else the group.
	var who Contact
	switch {
	case ns.Host && proc != nil && proc.ContainerID != "":
		r := f.ref(proc.ContainerID)
		who.Container, who.ContainerName = r.ID, r.Name
		who.Rules, who.Confidence = []string{RuleHostSocket}, ConfidenceMedium
		who.Reason = fmt.Sprintf("host network: socket %s → %s held by pid %d (%q), whose cgroup is container %q's, at the snapshot", k.local, k.remote, proc.PID, proc.Comm, r.Name)
	case ns.Host:
		who.Rules, who.Confidence = []string{RuleHost}, ConfidenceMedium
		who.Reason = "a socket of the host's namespace"
		if proc != nil {
			who.Reason += fmt.Sprintf(" held by pid %d (%q), in no container's cgroup", proc.PID, proc.Comm)
		}
	case proc != nil && proc.ContainerID != "" && (len(ns.Containers) == 0 || slices.Contains(ns.Containers, proc.ContainerID) || f.inNS(ns, proc.ContainerID)):
		r := f.ref(proc.ContainerID)
		who.Container, who.ContainerName = r.ID, r.Name
		who.Rules, who.Confidence = []string{RuleNamespaceSocket}, ConfidenceHigh
		who.Reason = fmt.Sprintf("socket of network namespace %d held by pid %d (%q), whose cgroup is container %q's", ns.Inode, proc.PID, proc.Comm, r.Name)
	case len(ns.Containers) == 1:
		r := f.ref(ns.Containers[0])
		who.Container, who.ContainerName = r.ID, r.Name
		who.Rules, who.Confidence = []string{RuleNamespaceSocket}, ConfidenceHigh
		who.Reason = fmt.Sprintf("socket of network namespace %d, container %q's", ns.Inode, r.Name)
	case len(ns.Containers) > 1:
		who.Group = f.group(ns.Containers[0], ns.Containers[1:])
		who.Rules, who.Confidence = []string{RuleNamespaceSocket}, ConfidenceMedium
		who.Reason = fmt.Sprintf("socket of network namespace %d, shared by %d containers (container:<id> mode); no owner's cgroup picks one", ns.Inode, len(ns.Containers))
	case proc != nil && proc.ContainerID == "":
		who.Rules, who.Confidence = []string{RuleHost}, ConfidenceMedium
		who.Reason = fmt.Sprintf("socket of network namespace %d, which no known container holds, held by pid %d (%q), in no container's cgroup: a host process in a namespace of its own", ns.Inode, proc.PID, proc.Comm)
	default:
		who.Rules, who.Confidence = []string{RuleUnknown}, ConfidenceNone
		who.Reason = fmt.Sprintf("socket of network namespace %d, which no known container holds", ns.Inode)
	}
	var p *Process
	if proc != nil {
		p = &Process{PID: proc.PID, Comm: proc.Comm, Cmdline: proc.Cmdline, Container: proc.ContainerID}
	}
	src := ContactSource{Kind: SourceSocket, State: s.State, Evidence: &s.Evidence}
	var b *building
	for c := f.head(k.key()); c != nil; c = c.next {
		if !c.socket {
			b = c // the latest conversation of the tuple: the one open at the snapshot
			break
		}
	}
	if b == nil {
		b = f.add(k, side, at, at, fmt.Sprintf("socket %s at the snapshot %s", s.State, at.Format(time.RFC3339)))
	}
	if !f.c(b).Exact && !b.socket && b.ct {
		f.c(b).Dating += fmt.Sprintf("; socket %s at the snapshot %s", s.State, at.Format(time.RFC3339))
		if at.After(f.c(b).Last) && s.State == "ESTABLISHED" {
			f.c(b).Last = at // still open then
		}
	}
	b.socket = true
	c := f.c(b)
	c.Sources = append(c.Sources, src)
	f.cite(c, &s.Evidence)
	if proc != nil {
		f.cite(c, &proc.Evidence)
	}
	if c.Process == nil {
		c.Process = p
	}
	// A socket names its container by the namespace it is in or by its
	// owner's cgroup: that picks one of a group or of the candidates.
	f.attribute(c, &who, who.Container != "")
}

// inNS reports whether the container runs in the namespace.
func (f *fuser) inNS(ns *model.Namespace, id string) bool {
	c, ok := f.h.ContainerByID(id)
	return ok && c.NetNS == ns.Inode
}

// attribute gives the contact who's attribution when it names no one yet,
// picks one container of its group or of its candidates when who names
// one of them and picks (a socket's namespace or owner decides), and adds
// who's rule when it agrees.
func (f *fuser) attribute(c *Contact, who *Contact, picks bool) {
	inGroup := func(id string) bool {
		return slices.ContainsFunc(c.Group, func(g ContainerRef) bool { return g.ID == id })
	}
	switch {
	case !c.Named() && who.Named(), len(c.Rules) == 0,
		!c.Named() && (slices.Contains(c.Rules, RuleUnknown) || slices.Contains(c.Rules, RuleForeign)) && !slices.Contains(who.Rules, RuleUnknown):
		c.Container, c.ContainerName, c.Group, c.Candidates = who.Container, who.ContainerName, who.Group, who.Candidates
		c.Rules = append(c.Rules[:0:0], who.Rules...)
		c.Confidence, c.Reason = who.Confidence, who.Reason
	case picks && c.Container == "" && slices.ContainsFunc(c.Candidates, func(k Candidate) bool { return k.ID == who.Container }):
		// The owner's cgroup separates the candidates of the address.
		c.Reason += "; " + who.Reason
		c.Container, c.ContainerName, c.Candidates = who.Container, who.ContainerName, nil
		c.Rules = append(c.Rules, who.Rules...)
		c.Confidence = who.Confidence
	case picks && c.Container == "" && inGroup(who.Container):
		c.Reason += "; " + who.Reason
		c.Container, c.ContainerName, c.Group = who.Container, who.ContainerName, nil
		c.Rules = append(c.Rules, who.Rules...)
	case who.Container != "" && who.Container == c.Container:
		for _, r := range who.Rules {
			if !slices.Contains(c.Rules, r) {
				c.Rules = append(c.Rules, r)
			}
		}
		if confidenceRank(who.Confidence) > confidenceRank(c.Confidence) && len(c.Candidates) == 0 {
			c.Confidence = who.Confidence
		}
	}
}

// isContainerAddr reports whether addr is one a container may hold: in a
// Docker network's subnet, or leased, and neither a gateway nor the host's.
func (f *fuser) isContainerAddr(addr netip.Addr) bool {
	if f.gateways[addr] || f.hostAddrs[addr] {
		return false
	}
	if f.leased[addr] {
		return true
	}
	for _, p := range f.subnets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// conntrack merges every conntrack entry of the snapshot into the contact
// of its original tuple (the container's, before SNAT), or makes one
// attributed through the holders of the address at the entry's dated time.
func (f *fuser) conntrack() {
	snap, ok := f.snapshots[model.MemberConntrack]
	if !ok {
		snap = f.h.Collected.UTC()
	}
	for i := range f.h.Conntrack {
		e := &f.h.Conntrack[i]
		if ctProtoNum(e.Proto) == 0 {
			continue
		}
		r, ok := ctRecordOf(e.Proto, e.OrigSrc, e.OrigDst, e.OrigSPort, e.OrigDPort, e.ReplySrc, e.ReplyDst, e.ReplySPort, e.ReplyDPort)
		if !ok {
			continue
		}
		from, to, dating, window := f.dateCT(e, snap)
		f.ctEntry(r, from, to, dating, window, ContactSource{Kind: SourceConntrack, State: e.State, Evidence: &e.Evidence}, false)
	}
}

// ctEvents makes the entries the capture window's conntrack events
// recorded sources of the contacts: a conversation the host translated
// that no capture point saw (outside the capture filter, on an interface
// not captured) or that ended between two snapshots still has its
// container, dated by its events. An entry that began before the events
// ends at its destroy event; one still open when they ended lasts to the
// end of the capture.
func (f *fuser) ctEvents() {
	end, ok := f.snapshots[memberCTEvents]
	if !ok {
		end = f.h.Collected.UTC()
	}
	for i := range f.t.ctEvents {
		r := &f.t.ctEvents[i]
		if r.from == 0 && r.to == 0 {
			continue // only updated: no date to attribute it by
		}
		from, to := time.Unix(0, r.from).UTC(), time.Unix(0, r.to).UTC()
		dating := fmt.Sprintf("conntrack events: new %s, destroyed %s", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
		switch {
		case r.from == 0:
			from = to
			dating = fmt.Sprintf("conntrack events: destroyed %s, begun before the events", to.Format(time.RFC3339Nano))
		case r.to == 0:
			to = end
			dating = fmt.Sprintf("conntrack events: new %s, open when the events ended", from.Format(time.RFC3339Nano))
		}
		// Made by its first packet: who held the address at its new event
		// made it; begun before the events, who held it at its end.
		made := from
		if r.from == 0 {
			made = to
		}
		f.ctEntry(*r, from, to, dating, [2]time.Time{made.Add(-ctDatingGrain), made.Add(ctDatingGrain)},
			ContactSource{Kind: SourceConntrackEvents, Evidence: &r.evidence}, true)
	}
}

// ctEntry makes a conntrack entry (of the snapshot or the events) a source
// of the conversation it is, attributed to who held its address over
// window. An entry of the events joins a conversation of the same tuple
// over the same time whatever made it, the snapshot's entry included: the
// kernel holds one entry per tuple at a time.
func (f *fuser) ctEntry(r ctRecord, from, to time.Time, dating string, window [2]time.Time, src ContactSource, events bool) {
	if r.orig.src.IsLoopback() || r.orig.dst.IsLoopback() || linkScoped(r.orig.src, r.orig.dst) {
		return
	}
	proto := protoName(r.orig.proto)
	var k contactKey
	side := "client"
	switch {
	case f.isContainerAddr(r.orig.src) || f.hostAddrs[r.orig.src]:
		k = contactKey{proto, netip.AddrPortFrom(r.orig.src, r.orig.sport), netip.AddrPortFrom(r.orig.dst, r.orig.dport)}
	case r.reply.src != r.orig.dst && f.isContainerAddr(r.reply.src):
		k = contactKey{proto, netip.AddrPortFrom(r.reply.src, r.reply.sport), netip.AddrPortFrom(r.orig.src, r.orig.sport)}
		side = "server"
	case f.hostAddrs[r.orig.dst]:
		k = contactKey{proto, netip.AddrPortFrom(r.orig.dst, r.orig.dport), netip.AddrPortFrom(r.orig.src, r.orig.sport)}
		side = "server"
	default:
		return // through the host between two other machines
	}
	who := f.ctHolders(k.local.Addr(), window)
	var b *building
	for c := f.head(k.key()); c != nil; c = c.next {
		if (!c.ct || events) && (overlaps(f.c(c), from, to) || !f.c(c).Exact) {
			b = c
			break
		}
	}
	if b == nil {
		b = f.add(k, side, from, to, dating)
	}
	b.ct = true
	// The remote end sees the reply tuple, from its side.
	if side == "client" {
		f.far[contactKey{proto, netip.AddrPortFrom(r.reply.src, r.reply.sport), netip.AddrPortFrom(r.reply.dst, r.reply.dport)}.key()] = b
	}
	c := f.c(b)
	c.Sources = append(c.Sources, src)
	f.cite(c, src.Evidence)
	for _, ev := range who.Evidence {
		f.cite(c, ev)
	}
	f.attribute(c, &who, false)
}

// ctLongestWait is how long before the snapshot an undated conntrack
// entry's last packet may have been: the kernel's default timeout of its
// state (net/netfilter/nf_conntrack_proto_*.c), the most that can remain.
func ctLongestWait(e *model.ConntrackFlow) time.Duration {
	tcp := map[string]time.Duration{"SYN_SENT": 120 * time.Second, "SYN_RECV": 60 * time.Second, "ESTABLISHED": 5 * 24 * time.Hour,
		"FIN_WAIT": 120 * time.Second, "CLOSE_WAIT": 60 * time.Second, "LAST_ACK": 30 * time.Second, "TIME_WAIT": 120 * time.Second, "CLOSE": 10 * time.Second}
	switch e.Proto {
	case "tcp":
		if d, ok := tcp[strings.ToUpper(e.State)]; ok {
			return d
		}
		return 5 * 24 * time.Hour
	case "udp", "udplite":
		return 120 * time.Second
	case "icmp", "icmpv6":
		return 30 * time.Second
	}
	return 600 * time.Second
}

// dateCT is the interval of a conntrack entry: from its start
// (nf_conntrack_timestamp) or its estimated last packet, to that last
// packet or the snapshot, with how it was dated. window is the interval
// its holders are sought over: for an undated entry, from the longest its
// state can last before the snapshot, so that an address reused within it
// gives both holders as candidates.
func (f *fuser) dateCT(e *model.ConntrackFlow, snap time.Time) (from, to time.Time, how string, window [2]time.Time) {
	var last time.Time
	if e.LastPacket != nil && !e.LastPacket.LastPacket.IsZero() {
		last = e.LastPacket.LastPacket.UTC()
	}
	switch {
	case e.Start != nil && !last.IsZero():
		from, to = e.Start.UTC(), last
		how = fmt.Sprintf("conntrack: started %s, last packet estimated %s (%s)", e.Start.UTC().Format(time.RFC3339), last.Format(time.RFC3339), e.LastPacket.Method)
	case !last.IsZero():
		from, to = last, last
		how = fmt.Sprintf("conntrack estimate: last packet %s (%s)", last.Format(time.RFC3339), e.LastPacket.Method)
	case e.Start != nil:
		from, to = e.Start.UTC(), snap
		how = fmt.Sprintf("conntrack: started %s, open at the snapshot %s", e.Start.UTC().Format(time.RFC3339), snap.Format(time.RFC3339))
	default:
		wait := ctLongestWait(e)
		how = fmt.Sprintf("conntrack entry %s at the snapshot %s, not dated: its last packet at most %v before", e.State, snap.Format(time.RFC3339), wait)
		return snap, snap, how, [2]time.Time{snap.Add(-wait), snap}
	}
	// The dates are whole seconds: the holders are sought a grain either
	// side, so that an estimate a second early does not fall before its
	// holder's lease began (and name nobody, or an earlier holder). An
	// entry is made by its first packet: with its start known, who held
	// the address then made it, whoever held it later.
	if e.Start != nil {
		return from, to, how, [2]time.Time{from.Add(-ctDatingGrain), from.Add(ctDatingGrain)}
	}
	return from, to, how, [2]time.Time{from.Add(-ctDatingGrain), to.Add(ctDatingGrain)}
}

// ctDatingGrain is how far a dated conntrack entry's times may be from
// the truth: the kernel gives an entry's remaining timeout (and its age,
// with nf_conntrack_timestamp, as the loader reads it) in whole seconds,
// cut down, so its last packet was up to a second after the estimate; the
// table was read a moment before the time the collector recorded for it,
// which puts the estimate that much after the truth.
const ctDatingGrain = time.Second

// ctHolders attributes a conntrack entry through the holders of its
// container-side address over its dated interval (Host.Holders): one
// holder names the container (confidence medium when certain, low when
// not); several are all listed as candidates, confidence low, never one as
// a certainty.
func (f *fuser) ctHolders(addr netip.Addr, window [2]time.Time) Contact {
	var who Contact
	if f.hostAddrs[addr] {
		who.Rules, who.Confidence = []string{RuleHost}, ConfidenceMedium
		who.Reason = fmt.Sprintf("conntrack entry from the host's address %s", addr)
		return who
	}
	var hs []model.Holder
	for _, hd := range f.h.Holders(addr, window[0], window[1]) {
		if hd.Lease != nil && !slices.ContainsFunc(hs, func(x model.Holder) bool { return x.Lease.Container == hd.Lease.Container }) {
			hs = append(hs, hd)
		}
	}
	between := fmt.Sprintf("%s to %s", window[0].Format(time.RFC3339), window[1].Format(time.RFC3339))
	switch len(hs) {
	case 0:
		who.Rules, who.Confidence = []string{RuleUnknown}, ConfidenceNone
		who.Reason = fmt.Sprintf("conntrack entry from %s, which no known container held from %s", addr, between)
	case 1:
		l := hs[0].Lease
		who.Container, who.ContainerName = l.Container, l.ContainerName
		who.Rules, who.Confidence = []string{RuleConntrackHolder}, ConfidenceMedium
		if !hs[0].Certain {
			who.Confidence = ConfidenceLow
		}
		who.Reason = fmt.Sprintf("conntrack entry from %s (before SNAT), held from %s by %q: %s", addr, between, l.ContainerName, hs[0].Reason)
		if len(l.Evidence) > 0 {
			who.Evidence = []*model.Evidence{&l.Evidence[0]}
		}
		if g := f.sharers(l.Container); len(g) > 0 {
			// The address is a namespace's that several containers share
			// (container:<id> mode): the lease names the one it was
			// allocated to, not whose process talked. The group is named;
			// a socket whose owner's cgroup names one of it picks it.
			who.Group = f.group(l.Container, g)
			who.Container, who.ContainerName = "", ""
			who.Reason += fmt.Sprintf("; its network namespace is shared by %d containers", len(g)+1)
		}
	default:
		who.Rules, who.Confidence = []string{RuleConntrackHolder}, ConfidenceLow
		for _, hd := range hs {
			who.Candidates = append(who.Candidates, Candidate{ID: hd.Lease.Container, Name: hd.Lease.ContainerName, Reason: hd.Reason})
			if len(hd.Lease.Evidence) > 0 {
				who.Evidence = append(who.Evidence, &hd.Lease.Evidence[0])
			}
		}
		who.Reason = fmt.Sprintf("conntrack entry from %s: %d containers may have held the address from %s; the evidence cannot separate them", addr, len(hs), between)
	}
	return who
}

// names gives a contact without names those the DNS answers gave its
// remote address before it ended, whoever asked: Docker's embedded
// resolver forwards a container's queries from the host's namespace.
func (f *fuser) names() {
	// The answers by address; the names are read from a response only for
	// a contact that needs them.
	type seen struct {
		at    time.Time
		resp  *flow.DNSResponse
		names atomic.Pointer[[]string] // resp's names of the address, once a contact asked
	}
	var byAddr map[netip.Addr][]*seen
	for i := range f.t.DNS {
		q := &f.t.DNS[i]
		if q.resp == nil {
			continue
		}
		for _, ans := range q.resp.Answers {
			if ans.Addr.IsValid() {
				if byAddr == nil {
					byAddr = map[netip.Addr][]*seen{}
				}
				a := ans.Addr.Unmap()
				if l := byAddr[a]; len(l) == 0 || l[len(l)-1].resp != q.resp {
					byAddr[a] = append(l, &seen{at: q.Time, resp: q.resp})
				}
			}
		}
	}
	if len(byAddr) == 0 {
		return
	}
	// The contacts are named side by side: byAddr is only read, and two
	// contacts that ask one answer at once may both read its names.
	attributeParallel(f.t.Contacts, func(c *Contact, _ int) {
		if len(c.Names) > 0 {
			return
		}
		// The latest answer before the contact ended names it: names of
		// one address rarely change, and a busy resolver answers the same
		// name thousands of times.
		remote := c.Remote.Addr()
		seen := byAddr[remote]
		for j := len(seen) - 1; j >= 0; j-- {
			if c.Exact && seen[j].at.After(c.Last) {
				continue
			}
			names := seen[j].names.Load()
			if names == nil {
				// Shared by the contacts of the address, clipped so that
				// an append to one copies.
				n := slices.Clip(seen[j].resp.NamesFor(remote))
				names = &n
				seen[j].names.Store(names)
			}
			c.Names = *names
			return
		}
	})
}
