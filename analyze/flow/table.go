package flow

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"

	"github.com/dockcase/dockcase/internal/hugepage"
	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
)

// Limits of the flow table. A capture is attacker-controlled: a port scan or a
// spoofed-source flood makes one flow per packet, so the table is bounded and the
// bound is reported when hit.
const (
	// DefaultMaxFlows is the flow table bound used when Options.MaxFlows is 0:
	// 150,000 live flows. The table itself needs 136 to 152 bytes a flow (120
	// in the flow array, 16 to 32 in the index, which is kept between a quarter
	// and half full; see TestFlowTableBytesPerFlow), but every flow kept is
	// then attributed and reported, about 1.5 KiB a flow in all: at this bound
	// the analysis of a 10 GB capture of 900,000 flows peaked at 228 MiB of
	// RSS (scripts/bench-flows.sh), under the 300 MiB the analysis is held to.
	// dockcase's --max-flows raises it where memory allows.
	DefaultMaxFlows = 150_000
	// minMaxFlows is the smallest bound a table accepts: 64 flows, so that
	// eviction of an eighth always frees a slot.
	minMaxFlows = 64
	// evictDivisor: a full table evicts its least recently active eighth at
	// once, so the sort that finds them is paid once per max/8 new flows.
	evictDivisor = 8
	// chunkLen is how many flows one storage chunk holds: 4096 (448 KiB). The
	// flow array grows by chunks, never by copying, so growth has no peak.
	chunkLen = 4096
	// maxFragments bounds the first fragments remembered for attaching the
	// later ones: 65536 (about 3 MiB). Fragments of one datagram arrive within
	// milliseconds; when the index is full it is cleared and later fragments of
	// datagrams already seen are counted as unattached.
	maxFragments = 65536
	// readBufferBytes is the read buffer in front of a capture stream: 1 MiB,
	// large enough that reads cost nothing next to decoding.
	readBufferBytes = 1 << 20
)

// state bits.
const (
	stateLive      = 1 << iota // the slot holds a flow
	stateClientB               // side B of the key is the client
	stateNamesDone             // the first client payload was looked at for names
)

// state is one live flow in the table: 120 bytes. Directions are those of the
// key: index 0 is A to B.
type state struct {
	key                   Key
	first, last           int64
	pkts, bytes           [2]uint64
	firstFrame, lastFrame uint64
	frags                 uint32
	names                 uint32 // 1 + the index of the flow's names in Table.names; 0: none
	flags                 [2]uint8
	bits                  uint8
}

// Counts are the packet counters of one capture point. Every packet is in
// exactly one of InFlows, NonIP, Undecodable, NoPorts and FragmentsUnattached;
// Truncated and Malformed overlap them.
type Counts struct {
	Packets     uint64 // records captured on the interface
	Bytes       uint64 // bytes on the wire (original lengths)
	InFlows     uint64 // packets counted in a flow, attached fragments included
	NonIP       uint64 // link layer decoded, no IP inside (ARP, LLDP, STP, ...)
	Undecodable uint64 // unsupported link type, or cut or malformed before the IP addresses
	// NoPorts counts TCP, UDP and ICMP packets whose transport header is missing
	// (truncated or malformed): they have no flow.
	NoPorts             uint64
	Truncated           uint64 // the capture ended inside a header
	Malformed           uint64 // a header contradicts itself
	Fragments           uint64 // later IP fragments (no transport header)
	FragmentsAttached   uint64 // later fragments whose IP id matched a first fragment seen
	FragmentsUnattached uint64 // later fragments without a first fragment: no flow
}

// Point is one interface of one capture member: where a flow was seen.
// The embedded pcapng.Interface has the interface name, link type and the drop
// statistics the capture recorded.
type Point struct {
	Member string // capture member path (bundle member or file name)
	SHA256 string // SHA-256 of the member, as the caller gave it
	Index  int    // interface index in the member
	pcapng.Interface
	Counts Counts
}

// Record is one bidirectional flow seen at one capture point. Direction 0 is
// client to server, 1 server to client. The client is the sender of the first
// packet, or its receiver when that packet was a TCP SYN-ACK.
type Record struct {
	Point      *Point
	Proto      uint8
	Client     netip.Addr
	Server     netip.Addr
	ClientPort uint16 // for ICMP: the type (echo requests and replies as the request type)
	ServerPort uint16 // for ICMP: the echo identifier, or the code for other types
	First      int64  // time of the first packet, ns since the Unix epoch
	Last       int64  // time of the last packet, ns since the Unix epoch
	Packets    [2]uint64
	Bytes      [2]uint64 // bytes on the wire (original frame lengths)
	TCPFlags   [2]uint8  // OR of the TCP flags sent in each direction
	FirstFrame uint64    // frame number of the first packet in the member
	LastFrame  uint64    // frame number of the last packet in the member
	Fragments  uint32    // later IP fragments attached by IP id (in Packets and Bytes)
	// SNI and HTTPHost come from the first client payload of a TCP flow, found in
	// frame NameFrame: the TLS ClientHello server_name and the HTTP/1 Host header,
	// lowercased, without port or trailing dot. They are attacker-controlled.
	SNI       string
	HTTPHost  string
	NameFrame uint64
}

// Key returns the flow's key.
func (f *Record) Key() Key {
	k, _ := NewKey(f.Point.Index, f.Proto, f.Client, f.Server, f.ClientPort, f.ServerPort)
	return k
}

// Options tune the flow reader.
type Options struct {
	// MaxFlows bounds the live flows of one capture member (0: DefaultMaxFlows).
	// ReadAll divides it among the members read at the same time.
	MaxFlows int
	// Flushed receives the flows evicted from a full table (the least recently
	// active eighth at a time), so that a caller can stream them out; with nil
	// they are only counted. ReadAll calls it from several goroutines.
	Flushed func(*Record)
}

// datagramKey identifies an IP datagram for fragment attachment.
type datagramKey struct {
	sHi, sLo, dHi, dLo uint64
	id                 uint32
	iface              uint16
	proto              uint8
	v6                 bool
}

type datagramRef struct {
	idx  uint32
	dirB bool // the datagram was sent by side B
}

// payloadNames are the names found in a flow's first client payload.
type payloadNames struct {
	sni, host string
	frame     uint64
}

// Table accumulates the flows of one capture member, packet by packet. It is
// bounded: when it holds its maximum of live flows and a new one arrives, the
// least recently active eighth is evicted (handed to Options.Flushed, else
// only counted) and the event is reported. It is not safe for concurrent use.
type Table struct {
	member, sha256 string
	max            int
	flushed        func(*Record)

	index  slotIndex
	chunks [][]state
	used   uint32         // slots handed out so far
	free   []uint32       // evicted slots to reuse
	names  []payloadNames // referenced by state.names
	frags  map[datagramKey]datagramRef
	points []*Point
	pkt    packet.Packet

	// A one-entry cache of the last flow: bursts of one flow skip the map.
	lastKey Key
	lastIdx uint32
	lastOK  bool

	dns        []DNSResponse
	dnsDropped uint64
	dnsErrors  uint64

	limitHit       bool
	limitFrame     uint64
	evictions      uint64
	evicted        uint64
	evictedPackets uint64
	evictedBytes   uint64
}

// NewTable returns an empty table for the capture member named member, whose
// SHA-256 is sha256 (both are copied into the evidence of every flow).
func NewTable(member, sha256 string, opts Options) *Table {
	limit := opts.MaxFlows
	if limit <= 0 {
		limit = DefaultMaxFlows
	}
	return &Table{
		member: member, sha256: sha256, max: max(limit, minMaxFlows), flushed: opts.Flushed,
		index: newSlotIndex(),
		frags: make(map[datagramKey]datagramRef),
	}
}

// Len returns the number of live flows.
func (t *Table) Len() int { return t.index.n }

func (t *Table) slot(i uint32) *state {
	return &t.chunks[i/chunkLen][i%chunkLen]
}

func (t *Table) point(iface int) *Point {
	for iface >= len(t.points) {
		t.points = append(t.points, nil)
	}
	p := t.points[iface]
	if p == nil {
		p = &Point{Member: t.member, SHA256: t.sha256, Index: iface}
		t.points[iface] = p
	}
	return p
}

// Add decodes one record and counts it in its flow and capture point. It does not
// allocate for a packet of a flow already in the table; DNS responses and the
// first client payload of a TCP flow may allocate the names they hold.
func (t *Table) Add(r *pcapng.Record) {
	var ev event
	payload := decodeEvent(r, &t.pkt, &ev)
	t.apply(&ev, payload)
}

// apply counts a decoded record in its capture point and flow; payload is the
// one decodeEvent returned for it.
func (t *Table) apply(ev *event, payload []byte) {
	pt := t.point(int(ev.iface))
	c := &pt.Counts
	c.Packets++
	c.Bytes += uint64(ev.origLen)
	if ev.has(evTruncated) {
		c.Truncated++
	}
	if ev.has(evMalformed) {
		c.Malformed++
	}
	switch ev.kind {
	case evUndecodable:
		c.Undecodable++
		return
	case evNonIP:
		c.NonIP++
		return
	case evNoPorts:
		c.NoPorts++
		return
	case evFragment:
		t.addFragment(ev, c)
		return
	}
	c.InFlows++
	idx, isNew := t.lookup(&ev.key, ev.time, ev.frame)
	f := t.slot(idx)
	fwd := ev.has(evFwd)
	if isNew {
		// The first sender is the client, unless what it sent is a SYN-ACK (the
		// capture missed the SYN): then the receiver is.
		if fwd == ev.has(evSynACK) {
			f.bits |= stateClientB
		}
	}
	dir := 0
	if !fwd {
		dir = 1
	}
	f.last = ev.time
	f.lastFrame = ev.frame
	f.pkts[dir]++
	f.bytes[dir] += uint64(ev.origLen)
	if ev.has(evTCP) {
		f.flags[dir] |= ev.tcpFlags
	}
	if ev.has(evFragFirst) {
		t.rememberFragment(ev, idx, !fwd)
	}
	if !ev.has(evPayload) {
		return
	}
	if ev.has(evDNSBytes) {
		t.addDNS(pt, ev, payload)
	}
	if ev.key.proto == packet.IPProtoTCP && f.bits&stateNamesDone == 0 && (dir == 1) == (f.bits&stateClientB != 0) {
		f.bits |= stateNamesDone
		if ev.has(evNameBytes) {
			t.addNames(f, ev.frame, payload)
		}
	}
}

// lookup returns the slot of key, creating the flow when it is new.
func (t *Table) lookup(key *Key, time int64, frame uint64) (idx uint32, isNew bool) {
	if t.lastOK && t.lastKey == *key {
		return t.lastIdx, false
	}
	h := t.index.hash(key)
	idx, ok := t.index.find(t, key, h)
	if !ok {
		if t.index.n >= t.max {
			t.evict(frame)
		}
		idx = t.alloc()
		*t.slot(idx) = state{key: *key, first: time, firstFrame: frame, bits: stateLive}
		t.index.insert(h, idx)
	}
	t.lastKey, t.lastIdx, t.lastOK = *key, idx, true
	return idx, !ok
}

func (t *Table) alloc() uint32 {
	if n := len(t.free); n > 0 {
		idx := t.free[n-1]
		t.free = t.free[:n-1]
		return idx
	}
	if t.used%chunkLen == 0 {
		t.chunks = append(t.chunks, make([]state, chunkLen))
	}
	t.used++
	return t.used - 1
}

// evict removes the least recently active eighth of the flows. The fragment index
// is cleared because it may point at evicted slots.
func (t *Table) evict(frame uint64) {
	if !t.limitHit {
		t.limitHit, t.limitFrame = true, frame
	}
	t.evictions++
	all := make([]lastSeen, 0, t.index.n)
	for i := range t.used {
		if f := t.slot(i); f.bits&stateLive != 0 {
			all = append(all, lastSeen{f.last, f.lastFrame, i})
		}
	}
	// Only the least recently active eighth is wanted, not the order of
	// all: a selection costs a pass or two over the flows where a sort cost
	// log n of them. The eighth is sorted for Flushed, which sees the
	// flows in the order they went quiet.
	oldest := all[:len(all)/evictDivisor]
	selectOldest(all, len(oldest))
	if t.flushed != nil {
		slices.SortFunc(oldest, lastSeen.compare)
	}
	var rec Record
	for _, e := range oldest {
		f := t.slot(e.idx)
		t.evicted++
		t.evictedPackets += f.pkts[0] + f.pkts[1]
		t.evictedBytes += f.bytes[0] + f.bytes[1]
		if t.flushed != nil {
			rec = Record{}
			t.record(e.idx, &rec)
			t.flushed(&rec)
		}
		*f = state{}
		t.free = append(t.free, e.idx)
	}
	t.index.rebuild(len(t.index.entries), func(slot uint32) bool { return t.slot(slot).bits&stateLive != 0 })
	names := make([]payloadNames, 0, len(t.names))
	for i := range t.used {
		if f := t.slot(i); f.names != 0 {
			names = append(names, t.names[f.names-1])
			f.names = uint32(len(names))
		}
	}
	t.names = names
	clear(t.frags)
	t.lastOK = false
}

// lastSeen is a live slot and when its flow was last active, for
// eviction: the time of its last packet, then its frame number (unique in
// the member).
type lastSeen struct {
	last  int64
	frame uint64
	idx   uint32
}

func (a lastSeen) compare(b lastSeen) int {
	return cmp.Or(cmp.Compare(a.last, b.last), cmp.Compare(a.frame, b.frame))
}

// selectOldest reorders s so that its k least recently active entries
// come first, in no particular order: a quickselect on the median of three
// random entries. The capture is the attacker's, so the pivots are random
// (no order of flows makes every pick a bad one), and a selection that
// has not converged after selectMaxRounds partitions sorts what is left.
func selectOldest(s []lastSeen, k int) {
	lo, hi := 0, len(s) // the k-th smallest is in s[lo:hi]
	for round := 0; hi-lo > 1 && k > lo && k < hi; round++ {
		if round == selectMaxRounds {
			slices.SortFunc(s[lo:hi], lastSeen.compare)
			return
		}
		a, b, c := lo+rand.IntN(hi-lo), lo+rand.IntN(hi-lo), lo+rand.IntN(hi-lo)
		if s[b].compare(s[a]) < 0 {
			a, b = b, a
		}
		if s[c].compare(s[b]) < 0 {
			b = c
			if s[b].compare(s[a]) < 0 {
				b = a
			}
		}
		s[lo], s[b] = s[b], s[lo]
		pivot := s[lo]
		// Partition s[lo+1:hi] into < pivot and >= pivot.
		i := lo + 1
		for j := lo + 1; j < hi; j++ {
			if s[j].compare(pivot) < 0 {
				s[i], s[j] = s[j], s[i]
				i++
			}
		}
		s[lo], s[i-1] = s[i-1], s[lo] // the pivot at its place, i-1
		switch p := i - 1; {
		case p == k || p == k-1:
			return
		case p < k:
			lo = p + 1
		default:
			hi = p
		}
	}
}

// selectMaxRounds bounds the partitions of selectOldest: 64, where random
// pivots need about 2 log2(n), 40 for a million flows.
const selectMaxRounds = 64

// slotOrder is a live slot and its first frame, for putting records in
// frame order.
type slotOrder struct {
	frame uint64
	slot  uint32
}

func (a slotOrder) compare(b slotOrder) int { return cmp.Compare(a.frame, b.frame) }

// record fills rec, which must be zero, with the flow in slot idx, turned to
// client/server order. Fields are set one by one: assigning a whole record
// (it holds pointers) would clear it again behind a bulk write barrier while
// the collector runs.
func (t *Table) record(idx uint32, rec *Record) {
	f := t.slot(idx)
	a, b := f.key.Addrs()
	rec.Point, rec.Proto = t.point(int(f.key.iface)), f.key.proto
	rec.Client, rec.Server, rec.ClientPort, rec.ServerPort = a, b, f.key.aPort, f.key.bPort
	rec.First, rec.Last, rec.Packets, rec.Bytes, rec.TCPFlags = f.first, f.last, f.pkts, f.bytes, f.flags
	rec.FirstFrame, rec.LastFrame, rec.Fragments = f.firstFrame, f.lastFrame, f.frags
	if f.bits&stateClientB != 0 {
		rec.Client, rec.Server = b, a
		if f.key.proto != packet.IPProtoICMP && f.key.proto != packet.IPProtoICMPv6 {
			rec.ClientPort, rec.ServerPort = f.key.bPort, f.key.aPort
		}
		rec.Packets[0], rec.Packets[1] = f.pkts[1], f.pkts[0]
		rec.Bytes[0], rec.Bytes[1] = f.bytes[1], f.bytes[0]
		rec.TCPFlags[0], rec.TCPFlags[1] = f.flags[1], f.flags[0]
	}
	if f.names != 0 {
		n := &t.names[f.names-1]
		rec.SNI, rec.HTTPHost, rec.NameFrame = n.sni, n.host, n.frame
	}
}

// fragKey returns the datagram key of a fragment event: for a later fragment
// the key holds the source first; for a first fragment, the side evFwd says.
func (e *event) fragKey() datagramKey {
	k := datagramKey{id: e.fragID, iface: e.key.iface, proto: e.key.proto, v6: e.key.v6,
		sHi: e.key.aHi, sLo: e.key.aLo, dHi: e.key.bHi, dLo: e.key.bLo}
	if e.kind == evFlow && !e.has(evFwd) {
		k.sHi, k.sLo, k.dHi, k.dLo = e.key.bHi, e.key.bLo, e.key.aHi, e.key.aLo
	}
	return k
}

func (t *Table) rememberFragment(ev *event, idx uint32, dirB bool) {
	if len(t.frags) >= maxFragments {
		clear(t.frags)
	}
	t.frags[ev.fragKey()] = datagramRef{idx: idx, dirB: dirB}
}

func (t *Table) addFragment(ev *event, c *Counts) {
	c.Fragments++
	ref, ok := t.frags[ev.fragKey()]
	if !ok {
		c.FragmentsUnattached++
		return
	}
	c.FragmentsAttached++
	c.InFlows++
	f := t.slot(ref.idx)
	dir := 0
	if ref.dirB {
		dir = 1
	}
	f.last, f.lastFrame = ev.time, ev.frame
	f.pkts[dir]++
	f.bytes[dir] += uint64(ev.origLen)
	f.frags++
}

// Capture is what Read found in one capture member.
type Capture struct {
	Member string
	SHA256 string
	Format pcapng.Format
	Frames uint64 // frame numbers handed out (packets and numbered non-packet blocks)
	// Points has one entry per capture interface, in the capture's order.
	Points []*Point
	// Flows are the flows still in the table at the end, by first frame.
	Flows []Record
	// DNS are the DNS responses seen, in capture order (at most maxDNSLog;
	// DNSDropped counts the rest).
	DNS        []DNSResponse
	DNSDropped uint64
	DNSErrors  uint64 // payloads from port 53 that looked like responses but did not parse

	// MaxFlows is the bound the table had; LimitHit says it was reached (first at
	// LimitFrame), and Evicted, EvictedPackets and EvictedBytes count the flows
	// evicted to make room (handed to Options.Flushed when set).
	MaxFlows       int
	LimitHit       bool
	LimitFrame     uint64
	Evicted        uint64
	EvictedPackets uint64
	EvictedBytes   uint64

	// Err is the error that ended the read early (usually a *pcapng.Error); the
	// flows up to it are kept. Problems says in words what went wrong or was
	// skipped, one line each.
	Err      error
	Problems []string
}

// Result returns the flows and counters of the table. The reader, when not nil,
// supplies the interface names, link types and drop statistics; interfaces
// without packets get a capture point too. The table is emptied: its memory is
// released while the records are built.
func (t *Table) Result(c *pcapng.Reader) *Capture {
	res := &Capture{
		Member: t.member, SHA256: t.sha256, MaxFlows: t.max, DNS: t.dns, DNSDropped: t.dnsDropped, DNSErrors: t.dnsErrors,
		LimitHit: t.limitHit, LimitFrame: t.limitFrame, Evicted: t.evicted,
		EvictedPackets: t.evictedPackets, EvictedBytes: t.evictedBytes,
	}
	if c != nil {
		res.Format, res.Frames = c.Format(), c.Frames()
		for i, iface := range c.Interfaces() {
			t.point(i).Interface = iface
		}
	}
	for _, p := range t.points {
		if p == nil {
			continue // an index beyond the described interfaces cannot occur; keep going
		}
		res.Points = append(res.Points, p)
	}
	t.index = slotIndex{} // let the index go before the records grow
	// Slots are handed out in frame order until an eviction frees some, so
	// the records are usually in order already. Otherwise an index of
	// first frames is sorted, not the records: moving records (which hold
	// pointers) costs write barriers while the collector runs.
	order := make([]slotOrder, 0, t.used-uint32(len(t.free)))
	for i := range t.used {
		if f := t.slot(i); f.bits&stateLive != 0 {
			order = append(order, slotOrder{f.firstFrame, i})
		}
	}
	inOrder := slices.IsSortedFunc(order, slotOrder.compare)
	if !inOrder {
		slices.SortFunc(order, slotOrder.compare)
	}
	// The slice is zeroed when made: record fills each element in place.
	// In slot order, each chunk of states is let go once read.
	res.Flows = make([]Record, len(order))
	hugepage.Advise(res.Flows)
	for i, o := range order {
		t.record(o.slot, &res.Flows[i])
		if inOrder && (i+1 == len(order) || order[i+1].slot/chunkLen != o.slot/chunkLen) {
			t.chunks[o.slot/chunkLen] = nil
		}
	}
	t.chunks, t.names, t.frags, t.free, t.used, t.dns = nil, nil, nil, nil, 0, nil
	if t.limitHit {
		res.Problems = append(res.Problems, fmt.Sprintf(
			"flow table bound of %d flows reached at frame %d: %d least recently active flows evicted in %d rounds (%d packets, %d bytes)",
			t.max, t.limitFrame, t.evicted, t.evictions, t.evictedPackets, t.evictedBytes))
	}
	if t.dnsDropped > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("DNS log bound of %d responses reached: %d responses not logged", maxDNSLog, t.dnsDropped))
	}
	for _, p := range res.Points {
		c := &p.Counts
		if n := c.Undecodable; n > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("interface %d (%q, link type %d): %d packets not decodable", p.Index, p.Name, p.LinkType, n))
		}
		if n := c.Truncated; n > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("interface %d (%q): %d packets truncated inside a header", p.Index, p.Name, n))
		}
		if n := c.FragmentsUnattached; n > 0 {
			res.Problems = append(res.Problems, fmt.Sprintf("interface %d (%q): %d IP fragments without a first fragment", p.Index, p.Name, n))
		}
	}
	return res
}
