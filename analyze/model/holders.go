package model

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Match says how a Holder is tied to the address.
type Match string

// The kinds of Match, strongest first.
const (
	// MatchLease: a lease that records this address overlaps the interval.
	MatchLease Match = "lease"
	// MatchAttached: the container was attached, its address not recorded,
	// to a network whose subnet holds the address.
	MatchAttached Match = "attached"
	// MatchNetworkUnknown: the container was attached, its address not
	// recorded, to a network the bundle does not describe (removed before
	// the collection), and no network the bundle describes holds the
	// address: its subnet may have.
	MatchNetworkUnknown Match = "network-unknown"
)

// Holder is a candidate holder of an address over an interval.
type Holder struct {
	// Lease is the lease or attachment the candidate rests on; it points
	// into the Host's leases.
	Lease *Lease `json:"lease"`
	Match Match  `json:"match"`
	// Certain is true only when exactly one lease recording the address
	// covers the whole interval (widened by the clock's uncertainty) and no
	// attachment without a recorded address could also have held it.
	Certain bool `json:"certain"`
	// Reason says, for a responder, why this container is a candidate and
	// what keeps it from being certain.
	Reason string `json:"reason"`
}

// leaseIndex finds a Host's leases: by address, and those without one by
// the network they name (id and name).
type leaseIndex struct {
	byAddr      map[netip.Addr][]int
	unaddressed map[[2]string][]int
}

// indexLeases rebuilds h.leaseIdx from h.leases.
func (h *Host) indexLeases() {
	h.leaseIdx = leaseIndex{byAddr: map[netip.Addr][]int{}, unaddressed: map[[2]string][]int{}}
	for i := range h.leases {
		if a := h.leases[i].Addr; a.IsValid() {
			a = a.Unmap()
			h.leaseIdx.byAddr[a] = append(h.leaseIdx.byAddr[a], i)
		} else {
			k := [2]string{h.leases[i].NetworkID, h.leases[i].Network}
			h.leaseIdx.unaddressed[k] = append(h.leaseIdx.unaddressed[k], i)
		}
	}
}

// farFuture stands for an open end when the collection's end is unknown.
var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// span is a lease's time as Holders compares it: [from, to) for a lease
// that ended, [from, to] for one still held at the collection (to is then
// Host.Collected), unbounded where from or to is zero.
type span struct {
	from, to time.Time
	open     bool // still held at the collection: to is included
}

func (h *Host) spanOf(l *Lease) span {
	if l.To.IsZero() {
		return span{from: l.From, to: h.Collected, open: true}
	}
	return span{from: l.From, to: l.To}
}

// overlaps reports whether s and the closed interval [from, to] share an
// instant. A lease that ended at t does not hold the address at t: the
// instant of reuse belongs to the next holder.
func (s span) overlaps(from, to time.Time) bool {
	if !s.from.IsZero() && to.Before(s.from) {
		return false
	}
	if s.to.IsZero() {
		return true
	}
	if s.open {
		return !from.After(s.to)
	}
	return from.Before(s.to)
}

// covers reports whether s holds every instant of [from, to]; a span with
// an unknown start covers nothing for sure.
func (s span) covers(from, to time.Time) bool {
	if s.from.IsZero() || from.Before(s.from) {
		return false
	}
	if s.to.IsZero() {
		return true
	}
	if s.open {
		return !to.After(s.to)
	}
	return to.Before(s.to)
}

// clip is the part of [from, to] inside s (closed at both ends), and
// whether there is one.
func (s span) clip(from, to time.Time) (time.Time, time.Time, bool) {
	if !s.overlaps(from, to) {
		return time.Time{}, time.Time{}, false
	}
	if !s.from.IsZero() && from.Before(s.from) {
		from = s.from
	}
	if !s.to.IsZero() && to.After(s.to) {
		to = s.to
	}
	return from, to, true
}

// ClockUncertainty is how far Holders widens an interval when the host's
// clock was not synchronised at collection (host/clock.json): the larger of
// the kernel's estimated error and its pending offset. Times are the host's
// own, so the events and the conntrack dates share the clock; a correction
// stepped or slewed between them shifts one against the other by up to
// that. note describes it; both are zero without an unsynchronised clock.
//
// An estimated error of exactly kernelUnsetErrorUS is not an estimate: it
// is what the kernel sets when no daemon disciplines the clock (at boot and
// at every settimeofday), and it bounds nothing. With no daemon there is no
// correction between the events and the snapshot to allow for, and a step
// by hand is not bounded by it either: only the pending offset widens then.
func (h *Host) ClockUncertainty() (d time.Duration, note string) {
	c := h.Clock
	if c == nil || c.NTP == nil || c.NTP.Synchronized {
		return 0, ""
	}
	if c.NTP.EstErrorUS != kernelUnsetErrorUS {
		d = time.Duration(c.NTP.EstErrorUS) * time.Microsecond
	}
	if off := time.Duration(c.NTP.OffsetNS); off > d {
		d = off
	} else if -off > d {
		d = -off
	}
	if d == 0 && c.NTP.EstErrorUS == kernelUnsetErrorUS {
		return 0, fmt.Sprintf("the host's clock was not synchronised (host/clock.json) and no daemon disciplines it (estimated error %s, the kernel's unset value; no offset pending): times are the host's", kernelUnsetErrorUS*time.Microsecond)
	}
	if d == 0 {
		return 0, "the host's clock was not synchronised (host/clock.json) and states no error: times are the host's"
	}
	est := (time.Duration(c.NTP.EstErrorUS) * time.Microsecond).String()
	if c.NTP.EstErrorUS == kernelUnsetErrorUS {
		est += ", the kernel's unset value"
	}
	return d, fmt.Sprintf("the host's clock was not synchronised (host/clock.json): the interval was widened by ±%s (kernel offset %s, estimated error %s)",
		d, time.Duration(c.NTP.OffsetNS), est)
}

// kernelUnsetErrorUS is the estimated error (µs) the kernel gives a clock
// no daemon has set one for: NTP_PHASE_LIMIT, 16 s (kernel/time/ntp.c,
// ntp_clear).
const kernelUnsetErrorUS = 16_000_000

// Holders returns every candidate holder of addr for an observation known
// only to lie within [from, to] (from == to for an exact instant; a dated
// conntrack entry gives an interval; a zero from or to leaves that end
// open, both zero for an observation not dated at all), best first: leases
// recording the address before attachments that do not, those covering the
// whole interval before those that overlap part of it, then by the
// overlap's length and the lease's start.
//
// A lease is taken as holding its address from its From up to, not
// including, its To, and through the collection when it has no To: at the
// instant of reuse (one lease's To equal to the next one's From) only the
// next holder is a candidate. A lease whose interval cannot overlap [from,
// to] is never a candidate. A lease with no From (start unknown) may have
// begun at any time before its end: it is a candidate, never certain. An
// attachment whose address the bundle does not record is a candidate only
// for a network whose subnet (Host.Networks) holds addr, and only for the
// part of the interval no lease recording addr covers: the engine does not
// give one address to two endpoints at once. An attachment to a network the
// bundle does not describe (removed before the collection) is a candidate
// when no network the bundle describes holds addr, or when the one that
// does has the removed one's name (a network recreated, as compose does). When the host's clock was not
// synchronised the interval is widened by ClockUncertainty and each Reason
// says so.
func (h *Host) Holders(addr netip.Addr, from, to time.Time) []Holder {
	widen, clockNote := h.ClockUncertainty()
	return h.holders(addr, from, to, widen, clockNote)
}

func (h *Host) holders(addr netip.Addr, from, to time.Time, widen time.Duration, clockNote string) []Holder {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return nil
	}
	if !to.IsZero() && to.Before(from) {
		from, to = to, from
	}
	// An open end is the collection's span: the bundle knows nothing of
	// the address before the epoch or after its collection.
	if from.IsZero() {
		from = time.Unix(0, 0).UTC()
	}
	if to.IsZero() {
		to = h.Collected
		if to.IsZero() {
			to = farFuture
		}
	}
	from, to = from.Add(-widen), to.Add(widen)

	type cand struct {
		Holder
		rank    int
		overlap time.Duration
	}
	var cands []cand
	var recorded []*Lease // leases with addr and a known start
	for _, i := range h.leaseIdx.byAddr[addr] {
		if l := &h.leases[i]; !l.From.IsZero() {
			recorded = append(recorded, l)
		}
	}
	inKnownNet := false
	for _, n := range h.Networks {
		if n.holds(addr) {
			inKnownNet = true
			break
		}
	}
	// The leases of addr, then the attachments without an address to the
	// networks that could have given it.
	idx := slices.Clip(h.leaseIdx.byAddr[addr]) // appending copies
	for _, g := range h.leaseIdx.unaddressed {
		if h.mayHaveGiven(&h.leases[g[0]], addr, inKnownNet) {
			idx = append(idx, g...)
		}
	}
	for _, i := range idx {
		l := &h.leases[i]
		s := h.spanOf(l)
		cf, ct, ok := s.clip(from, to)
		if !ok {
			continue
		}
		c := cand{overlap: ct.Sub(cf)}
		c.Lease = l
		switch {
		case l.Addr.IsValid(): // the index's leases of addr
			c.Match = MatchLease
			switch {
			case l.From.IsZero():
				c.rank = 2
			case s.covers(from, to):
				c.rank = 0
			default:
				c.rank = 1
			}
		default:
			n, known := h.leaseNetwork(l)
			switch {
			case known && n.holds(addr) && s.covers(from, to):
				c.Match, c.rank = MatchAttached, 3
			case known && n.holds(addr):
				c.Match, c.rank = MatchAttached, 4
			case !known && h.mayHaveGiven(l, addr, inKnownNet):
				c.Match, c.rank = MatchNetworkUnknown, 5
			default:
				continue
			}
			// Over the part of the interval this attachment shares, leases
			// recording addr held it throughout: this one could not have.
			if coveredByAll(h, recorded, cf, ct) {
				continue
			}
		}
		cands = append(cands, c)
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.rank != b.rank {
			return a.rank < b.rank
		}
		if a.overlap != b.overlap {
			return a.overlap > b.overlap
		}
		if !a.Lease.From.Equal(b.Lease.From) {
			return a.Lease.From.Before(b.Lease.From)
		}
		if a.Lease.Container != b.Lease.Container {
			return a.Lease.Container < b.Lease.Container
		}
		return a.Lease.NetworkID < b.Lease.NetworkID
	})
	out := make([]Holder, len(cands))
	for i := range cands {
		out[i] = cands[i].Holder
	}
	for i := range out {
		out[i].Certain = len(out) == 1 && cands[i].rank == 0
		out[i].Reason = h.holderReason(addr, out[i], from, to, out, recorded, clockNote)
	}
	return out
}

// coveredByAll reports whether the leases in ls together hold every
// instant of [from, to].
func coveredByAll(h *Host, ls []*Lease, from, to time.Time) bool {
	spans := make([]span, 0, len(ls))
	for _, l := range ls {
		spans = append(spans, h.spanOf(l))
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
	at := from // the first instant not yet known to be held
	for _, s := range spans {
		if s.from.After(at) {
			return false
		}
		if s.covers(at, to) {
			return true
		}
		if s.to.After(at) {
			at = s.to
		}
	}
	return false
}

// holds reports whether one of the network's subnets holds addr.
func (n *Network) holds(addr netip.Addr) bool {
	for _, p := range n.Subnets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// mayHaveGiven reports whether the network of l, a lease without an
// address, could have given addr: its subnet holds addr, or the bundle does
// not describe it and either no network it describes holds addr
// (inKnownNet false) or one of the same name does (recreated).
func (h *Host) mayHaveGiven(l *Lease, addr netip.Addr, inKnownNet bool) bool {
	if n, known := h.leaseNetwork(l); known {
		return n.holds(addr)
	}
	return !inKnownNet || h.namesake(l, addr) != nil
}

// namesake is a network the bundle describes under the name of l's
// network, whose subnet holds addr, when l's network is not described.
func (h *Host) namesake(l *Lease, addr netip.Addr) *Network {
	if l.Network == "" {
		return nil
	}
	for _, n := range h.Networks {
		if n.Name == l.Network && n.ID != l.NetworkID && n.holds(addr) {
			return n
		}
	}
	return nil
}

// leaseNetwork is the network a lease names, if the bundle describes it.
func (h *Host) leaseNetwork(l *Lease) (*Network, bool) {
	if l.NetworkID != "" {
		if n, ok := h.Network(l.NetworkID); ok {
			return n, true
		}
	}
	if l.Network != "" && l.NetworkID == "" {
		return h.Network(l.Network)
	}
	return nil, false
}

// holderReason is the Reason of a candidate.
func (h *Host) holderReason(addr netip.Addr, c Holder, from, to time.Time, all []Holder, recorded []*Lease, clockNote string) string {
	l := c.Lease
	day := from // times on from's date are written without it
	if from.Before(time.Unix(1, 0)) {
		day = to
	}
	var b strings.Builder
	switch c.Match {
	case MatchLease:
		fmt.Fprintf(&b, "held %s on %s", addr, leaseNet(l))
		if l.From.IsZero() {
			b.WriteString(" from an unknown start")
		} else {
			fmt.Fprintf(&b, " from %s (%s)", clock(l.From, day), fromSource(l))
		}
		b.WriteString(h.leaseEnd(l, day))
		if l.From.IsZero() {
			b.WriteString("; its start time is unknown, so it may not have held the address at the observation")
		} else if !c.Certain && !h.spanOf(l).covers(from, to) {
			fmt.Fprintf(&b, "; the observation's interval %s covers more than this lease", interval(from, to, day))
		}
	default:
		fmt.Fprintf(&b, "attached to %s", leaseNet(l))
		if c.Match == MatchAttached {
			if n, ok := h.leaseNetwork(l); ok {
				fmt.Fprintf(&b, " (%s)", subnetFor(n, addr))
			}
		}
		fmt.Fprintf(&b, " %s, address not recorded", interval(l.From, h.spanOf(l).to, day))
		if l.From.IsZero() {
			b.WriteString(" (attached before the events begin)")
		}
		if c.Match == MatchNetworkUnknown {
			if n := h.namesake(l, addr); n != nil {
				fmt.Fprintf(&b, "; the bundle does not describe that network, but one of its name (id %s, %s) does: recreated, it likely had the same subnet", shortID(n.ID), subnetFor(n, addr))
			} else {
				b.WriteString("; the bundle does not describe that network (removed before the collection?), so its subnet may have held the address")
			}
		}
		if len(recorded) == 0 {
			fmt.Fprintf(&b, "; no lease in the bundle records %s", addr)
		} else {
			var other []string
			for _, r := range recorded {
				other = append(other, fmt.Sprintf("%s from %s", containerLabel(r), clock(r.From, day)))
			}
			fmt.Fprintf(&b, "; the recorded leases of %s: %s", addr, strings.Join(other, ", "))
		}
	}
	if n := len(all); n > 1 {
		fmt.Fprintf(&b, "; %d candidates for the observation %s: the evidence does not separate them", n, interval(from, to, day))
	}
	if clockNote != "" {
		b.WriteString("; ")
		b.WriteString(clockNote)
	}
	return b.String()
}

func leaseNet(l *Lease) string {
	if l.Network != "" {
		return l.Network
	}
	if l.NetworkID != "" {
		return "network " + shortID(l.NetworkID)
	}
	return "an unnamed network"
}

func containerLabel(l *Lease) string {
	if l.ContainerName != "" {
		return l.ContainerName
	}
	return shortID(l.Container)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func subnetFor(n *Network, addr netip.Addr) string {
	for _, p := range n.Subnets {
		if p.Contains(addr) {
			return p.String()
		}
	}
	return "subnet unknown"
}

// fromSource names what dated a lease's start.
func fromSource(l *Lease) string {
	for _, e := range l.Evidence {
		switch {
		case e.Member == MemberEvents && e.Text == "network connect":
			return "connect event"
		case e.Pointer == "/State/StartedAt":
			return "container start, inspect"
		}
	}
	return "recorded start"
}

// leaseEnd is " to <time> (<what>)", or that the lease was still held.
func (h *Host) leaseEnd(l *Lease, day time.Time) string {
	if l.To.IsZero() {
		if h.Collected.IsZero() {
			return ", still held at collection"
		}
		return fmt.Sprintf(" to the collection's end %s (still held)", clock(h.Collected, day))
	}
	what := "recorded end"
	for _, e := range l.Evidence {
		if e.Member == MemberEvents && strings.HasPrefix(e.Text, "network disconnect") {
			what = "disconnect event"
		} else if e.Member == MemberEvents && (e.Text == "container die" || e.Text == "container destroy") {
			what = strings.TrimPrefix(e.Text, "container ") + " event"
		}
	}
	return fmt.Sprintf(" to %s (%s)", clock(l.To, day), what)
}

// interval renders [from, to] for a Reason.
func interval(from, to, day time.Time) string {
	if from.Before(time.Unix(1, 0)) {
		from = time.Time{}
	}
	if !to.Before(farFuture) {
		to = time.Time{}
	}
	switch {
	case from.IsZero() && to.IsZero():
		return "at an unknown time"
	case from.IsZero():
		return "until " + clock(to, day)
	case to.IsZero():
		return "from " + clock(from, day)
	case from.Equal(to):
		return "at " + clock(from, day)
	}
	return clock(from, day) + "–" + clock(to, day)
}

// clock renders t as a time of day in UTC, with its date when that differs
// from day's.
func clock(t, day time.Time) string {
	t = t.UTC()
	layout := "15:04:05.999999999"
	if y, m, d := t.Date(); day.IsZero() || y != day.UTC().Year() || m != day.UTC().Month() || d != day.UTC().Day() {
		layout = "2006-01-02 " + layout
	}
	return t.Format(layout)
}
