package model

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// holdersHost is a host built by hand: net-a (172.18.0.0/16,
// fd00:18::/64) and the leases given, collected at t0+1h.
func holdersHost(t0 time.Time, ls ...Lease) *Host {
	h := &Host{Collected: t0.Add(time.Hour), Networks: []*Network{
		{ID: "neta", Name: "net-a", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16"), netip.MustParsePrefix("fd00:18::/64")}},
	}}
	h.Index()
	h.SetLeases(ls)
	return h
}

var (
	hA   = netip.MustParseAddr("172.18.0.2")
	hA6  = netip.MustParseAddr("fd00:18::2")
	hOut = netip.MustParseAddr("198.18.0.9")
)

// want is one expected candidate: container, match, certain, and text the
// reason must hold.
type want struct {
	container string
	match     Match
	certain   bool
	reason    string
}

func checkHolders(t *testing.T, got []Holder, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for _, g := range got {
			t.Logf("got %s %s certain=%v: %s", g.Lease.Container, g.Match, g.Certain, g.Reason)
		}
		t.Fatalf("%d candidates, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		g := got[i]
		t.Logf("%s %s certain=%v: %s", g.Lease.Container, g.Match, g.Certain, g.Reason)
		if g.Lease.Container != w.container || g.Match != w.match || g.Certain != w.certain {
			t.Errorf("candidate %d = %s %s certain=%v, want %s %s certain=%v (%s)", i, g.Lease.Container, g.Match, g.Certain, w.container, w.match, w.certain, g.Reason)
		}
		if !strings.Contains(g.Reason, w.reason) {
			t.Errorf("candidate %d reason %q lacks %q", i, g.Reason, w.reason)
		}
	}
}

func TestHolders(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	connect := Evidence{Member: MemberEvents, Line: 1, Text: "network connect"}
	disconnect := Evidence{Member: MemberEvents, Line: 2, Text: "network disconnect"}
	// old held hA 10:00–10:05 and left; new holds it from 10:05 on.
	old := Lease{Addr: hA, Container: "old", ContainerName: "old", Network: "net-a", NetworkID: "neta", From: t0, To: at(5 * time.Minute), Evidence: []Evidence{connect, disconnect}}
	reused := Lease{Addr: hA, Container: "new", ContainerName: "new", Network: "net-a", NetworkID: "neta", From: at(5 * time.Minute), Evidence: []Evidence{connect}}
	// gone was attached to net-a 09:50–09:58 with no address recorded.
	gone := Lease{Container: "gone", ContainerName: "gone", Network: "net-a", NetworkID: "neta", From: at(-10 * time.Minute), To: at(-2 * time.Minute), Evidence: []Evidence{connect, disconnect}}
	unknownStart := Lease{Addr: hA, Container: "nostart", Network: "net-a", NetworkID: "neta", Note: "start time unknown"}
	v6 := Lease{Addr: hA6, Container: "six", Network: "net-a", NetworkID: "neta", From: at(time.Minute), To: at(3 * time.Minute), Evidence: []Evidence{connect, disconnect}}
	elsewhere := Lease{Container: "far", Network: "gone-net", NetworkID: "deadbeef", From: at(-10 * time.Minute), To: at(-2 * time.Minute)}

	tests := []struct {
		name     string
		leases   []Lease
		addr     netip.Addr
		from, to time.Time
		want     []want
	}{
		{"inside one lease", []Lease{old, reused}, hA, at(time.Minute), at(2 * time.Minute),
			[]want{{"old", MatchLease, true, "held 172.18.0.2 on net-a from 10:00:00 (connect event) to 10:05:00 (disconnect event)"}}},
		{"reuse instant belongs to the next holder", []Lease{old, reused}, hA, at(5 * time.Minute), at(5 * time.Minute),
			[]want{{"new", MatchLease, true, "to the collection's end 11:00:00 (still held)"}}},
		{"just before the reuse instant", []Lease{old, reused}, hA, at(5*time.Minute - time.Nanosecond), at(5*time.Minute - time.Nanosecond),
			[]want{{"old", MatchLease, true, "held 172.18.0.2"}}},
		{"straddling two leases", []Lease{old, reused}, hA, at(4 * time.Minute), at(6 * time.Minute),
			[]want{{"old", MatchLease, false, "covers more than this lease"}, {"new", MatchLease, false, "2 candidates"}}},
		{"interval ending at the reuse instant", []Lease{old, reused}, hA, at(4 * time.Minute), at(5 * time.Minute),
			[]want{{"old", MatchLease, false, "2 candidates"}, {"new", MatchLease, false, "2 candidates"}}},
		{"removed then reused: the later holder never before its From", []Lease{gone, reused}, hA, at(-5 * time.Minute), at(-4 * time.Minute),
			[]want{{"gone", MatchAttached, false, "attached to net-a (172.18.0.0/16) 09:50:00–09:58:00, address not recorded; the recorded leases of 172.18.0.2: new from 10:05:00"}}},
		{"after the lease ended, before the next", []Lease{gone, reused}, hA, at(-time.Minute), at(-time.Minute), nil},
		{"after the collection", []Lease{reused}, hA, at(2 * time.Hour), at(2 * time.Hour), nil},
		{"still held at the collection's end", []Lease{reused}, hA, at(time.Hour), at(time.Hour),
			[]want{{"new", MatchLease, true, "still held"}}},
		{"an attachment where a recorded lease holds the address is no candidate", []Lease{old, {Container: "peer", Network: "net-a", NetworkID: "neta", From: at(time.Minute), To: at(2 * time.Minute)}}, hA, at(time.Minute), at(90 * time.Second),
			[]want{{"old", MatchLease, true, "held"}}},
		{"an attachment overlapping the part no lease covers", []Lease{reused, {Container: "peer", Network: "net-a", NetworkID: "neta", From: at(time.Minute), To: at(6 * time.Minute)}}, hA, at(4 * time.Minute), at(6 * time.Minute),
			[]want{{"new", MatchLease, false, "covers more"}, {"peer", MatchAttached, false, "address not recorded"}}},
		{"an attachment to a network whose subnet lacks the address", []Lease{gone}, hOut, at(-5 * time.Minute), at(-5 * time.Minute), nil},
		{"a lease with no recorded address on a removed network", []Lease{elsewhere}, hOut, at(-5 * time.Minute), at(-5 * time.Minute),
			[]want{{"far", MatchNetworkUnknown, false, "does not describe that network"}}},
		{"a removed network recreated under its name", []Lease{{Container: "was", Network: "net-a", NetworkID: "old-neta", From: at(-10 * time.Minute), To: at(-2 * time.Minute)}, reused}, hA, at(-5 * time.Minute), at(-5 * time.Minute),
			[]want{{"was", MatchNetworkUnknown, false, "but one of its name (id neta, 172.18.0.0/16) does: recreated"}}},
		{"a removed network is no candidate for an address of a known one", []Lease{elsewhere}, hA, at(-5 * time.Minute), at(-5 * time.Minute), nil},
		{"zero From: a candidate, never certain", []Lease{unknownStart}, hA, at(time.Minute), at(time.Minute),
			[]want{{"nostart", MatchLease, false, "start time is unknown"}}},
		{"zero From ranks after a lease with a start", []Lease{unknownStart, reused}, hA, at(10 * time.Minute), at(10 * time.Minute),
			[]want{{"new", MatchLease, false, "2 candidates"}, {"nostart", MatchLease, false, "unknown start"}}},
		{"zero From that ended before the interval", []Lease{{Addr: hA, Container: "ended", From: time.Time{}, To: at(-time.Minute)}}, hA, at(time.Minute), at(time.Minute), nil},
		{"IPv6 lease", []Lease{v6, old}, hA6, at(2 * time.Minute), at(2 * time.Minute),
			[]want{{"six", MatchLease, true, "held fd00:18::2 on net-a from 10:01:00"}}},
		{"IPv6 before the lease: the attachment without address", []Lease{v6, gone}, hA6, at(-3 * time.Minute), at(-3 * time.Minute),
			[]want{{"gone", MatchAttached, false, "(fd00:18::/64)"}}},
		{"IPv4-mapped IPv6 is the IPv4 address", []Lease{old}, netip.AddrFrom16(hA.As16()), at(time.Minute), at(time.Minute),
			[]want{{"old", MatchLease, true, "held 172.18.0.2"}}},
		{"undated: every holder ever, none certain", []Lease{old, reused}, hA, time.Time{}, time.Time{},
			[]want{{"new", MatchLease, false, "2 candidates for the observation until 11:00:00"}, {"old", MatchLease, false, "covers more"}}},
		{"undated with one lease ever: still not certain", []Lease{reused}, hA, time.Time{}, time.Time{},
			[]want{{"new", MatchLease, false, "covers more than this lease"}}},
		{"open start", []Lease{old, reused}, hA, time.Time{}, at(time.Minute),
			[]want{{"old", MatchLease, false, "covers more"}}},
		{"open end", []Lease{old, reused}, hA, at(6 * time.Minute), time.Time{},
			[]want{{"new", MatchLease, true, "held"}}},
		{"reversed bounds", []Lease{old}, hA, at(2 * time.Minute), at(time.Minute),
			[]want{{"old", MatchLease, true, "held"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := holdersHost(t0, tt.leases...)
			checkHolders(t, h.Holders(tt.addr, tt.from, tt.to), tt.want)
		})
	}
}

// TestHoldersClock: an unsynchronised clock widens the interval by its
// stated error, so an observation near a reuse names both holders; a
// synchronised one does not.
func TestHoldersClock(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	old := Lease{Addr: hA, Container: "old", From: t0, To: t0.Add(5 * time.Minute)}
	reused := Lease{Addr: hA, Container: "new", From: t0.Add(5 * time.Minute)}
	obs := t0.Add(5*time.Minute + 2*time.Second)
	tests := []struct {
		name  string
		clock *HostClock
		want  []want
	}{
		{"no clock", nil, []want{{"new", MatchLease, true, "held"}}},
		{"synchronised", &HostClock{NTP: &ClockNTP{Synchronized: true, EstErrorUS: 10_000_000}}, []want{{"new", MatchLease, true, "held"}}},
		{"unsynchronised, error beyond the gap", &HostClock{NTP: &ClockNTP{EstErrorUS: 3_000_000, OffsetNS: int64(time.Second)}},
			[]want{{"new", MatchLease, false, "widened by ±3s"}, {"old", MatchLease, false, "widened by ±3s"}}},
		{"unsynchronised, offset beyond the gap", &HostClock{NTP: &ClockNTP{OffsetNS: -int64(4 * time.Second)}},
			[]want{{"new", MatchLease, false, "kernel offset -4s"}, {"old", MatchLease, false, "2 candidates"}}},
		{"unsynchronised, error within the gap", &HostClock{NTP: &ClockNTP{EstErrorUS: 1_000_000}},
			[]want{{"new", MatchLease, true, "widened by ±1s"}}},
		{"unsynchronised, no error stated", &HostClock{NTP: &ClockNTP{}},
			[]want{{"new", MatchLease, true, "states no error: times are the host's"}}},
		// 16 s is the kernel's value when no daemon set one (NTP_PHASE_LIMIT):
		// it bounds nothing, and only a pending offset widens.
		{"unsynchronised, the kernel's unset error", &HostClock{NTP: &ClockNTP{EstErrorUS: 16_000_000, MaxErrorUS: 16_000_000}},
			[]want{{"new", MatchLease, true, "no daemon disciplines it"}}},
		{"unsynchronised, the kernel's unset error, offset beyond the gap", &HostClock{NTP: &ClockNTP{EstErrorUS: 16_000_000, OffsetNS: 3 * int64(time.Second)}},
			[]want{{"new", MatchLease, false, "widened by ±3s (kernel offset 3s, estimated error 16s, the kernel's unset value)"}, {"old", MatchLease, false, "2 candidates"}}},
		{"unsynchronised, a daemon's error of 17s", &HostClock{NTP: &ClockNTP{EstErrorUS: 17_000_000}},
			[]want{{"new", MatchLease, false, "widened by ±17s"}, {"old", MatchLease, false, "2 candidates"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := holdersHost(t0, old, reused)
			h.Clock = tt.clock
			checkHolders(t, h.Holders(hA, obs, obs), tt.want)
		})
	}
}

// TestHoldersRemovedThenReused builds the leases from the engine's events
// as the loader does: a container connected, died and was removed (no
// inspect); a later one took its address. A conntrack entry of the removed
// one, dated to an interval before the reuse, names it as a candidate and
// never the later holder; Owner names nobody.
func TestHoldersRemovedThenReused(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ev := func(d time.Duration, typ, action, actor, ctr, name string) DockerEvent {
		return DockerEvent{Time: t0.Add(d), Type: typ, Action: action, Actor: actor, Container: ctr, Name: name,
			Evidence: Evidence{Member: MemberEvents, Text: typ + " " + action}}
	}
	h := holdersHost(t0)
	h.Events = []DockerEvent{
		ev(0, "network", "connect", "neta", "beacon1", "net-a"),
		ev(time.Second, "container", "start", "beacon1", "beacon1", "beacon"),
		ev(3*time.Minute, "container", "die", "beacon1", "beacon1", "beacon"),
		ev(3*time.Minute+time.Second, "network", "disconnect", "neta", "beacon1", "net-a"),
		ev(4*time.Minute, "container", "destroy", "beacon1", "beacon1", "beacon"),
		ev(5*time.Minute, "network", "connect", "neta", "benign1", "net-a"),
		ev(5*time.Minute+time.Second, "container", "start", "benign1", "benign1", "benign"),
	}
	h.Containers = []*Container{{ID: "benign1", Name: "benign", State: "running", StartedAt: t0.Add(5*time.Minute + time.Second),
		Endpoints: []Endpoint{{Network: "net-a", NetworkID: "neta", IP: hA}}}}
	h.Index()
	h.buildLeases()

	// A TIME_WAIT entry dated 10:02:00 give or take 30s.
	got := h.Holders(hA, t0.Add(90*time.Second), t0.Add(150*time.Second))
	checkHolders(t, got, []want{{"beacon1", MatchAttached, false, "attached to net-a (172.18.0.0/16) 10:00:00–10:03:01, address not recorded; the recorded leases of 172.18.0.2: benign from 10:05:00"}})
	if got[0].Lease.ContainerName != "beacon" {
		t.Errorf("removed container's name = %q, want it from its events", got[0].Lease.ContainerName)
	}
	if l, ok := h.Owner(hA, t0.Add(2*time.Minute)); ok {
		t.Errorf("Owner(before the reuse) = %s, want nobody", l.Container)
	}
	// The benign one's traffic is its own, with certainty.
	checkHolders(t, h.Holders(hA, t0.Add(10*time.Minute), t0.Add(10*time.Minute)),
		[]want{{"benign1", MatchLease, true, "from 10:05:00 (connect event)"}})
	// Straddling the reuse: both, neither certain.
	checkHolders(t, h.Holders(hA, t0.Add(2*time.Minute), t0.Add(6*time.Minute)),
		[]want{{"benign1", MatchLease, false, "2 candidates"}, {"beacon1", MatchAttached, false, "2 candidates"}})
}

// TestBuildLeasesClosesAtDie: a window with no disconnect in the events
// ends at the container's die, not at the collection.
func TestBuildLeasesClosesAtDie(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	h := holdersHost(t0)
	h.Events = []DockerEvent{
		{Time: t0, Type: "network", Action: "connect", Actor: "neta", Container: "x", Name: "net-a", Evidence: Evidence{Member: MemberEvents, Text: "network connect"}},
		{Time: t0.Add(time.Minute), Type: "container", Action: "die", Actor: "x", Container: "x", Name: "/x-name", Evidence: Evidence{Member: MemberEvents, Text: "container die"}},
		{Time: t0.Add(2 * time.Minute), Type: "container", Action: "destroy", Actor: "x", Container: "x", Name: "/x-name", Evidence: Evidence{Member: MemberEvents, Text: "container destroy"}},
	}
	h.buildLeases()
	ls := h.Leases()
	if len(ls) != 1 || !ls[0].To.Equal(t0.Add(time.Minute)) || ls[0].ContainerName != "x-name" || ls[0].Addr.IsValid() {
		t.Fatalf("Leases() = %+v, want x on net-a until its die", ls)
	}
	if got := h.Holders(hA, t0.Add(90*time.Second), t0.Add(90*time.Second)); len(got) != 0 {
		t.Errorf("Holders(after the die) = %+v, want none", got)
	}
	checkHolders(t, h.Holders(hA, t0.Add(30*time.Second), t0.Add(30*time.Second)), []want{{"x", MatchAttached, false, "10:00:00–10:01:00"}})
}

// TestOwnerReuseInstant: Owner reads the leases as Holders does.
func TestOwnerReuseInstant(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	h := holdersHost(t0,
		Lease{Addr: hA, Container: "old", From: t0, To: t0.Add(5 * time.Minute)},
		Lease{Addr: hA, Container: "new", From: t0.Add(5 * time.Minute)},
		Lease{Addr: hA6, Container: "nostart"})
	tests := []struct {
		addr netip.Addr
		at   time.Time
		want string
	}{
		{hA, t0.Add(-time.Nanosecond), ""},
		{hA, t0, "old"},
		{hA, t0.Add(5*time.Minute - time.Nanosecond), "old"},
		{hA, t0.Add(5 * time.Minute), "new"},
		{hA, h.Collected, "new"},
		{hA, h.Collected.Add(time.Nanosecond), ""},
		{hA6, t0, ""}, // start unknown: not attributable in time
	}
	for _, tt := range tests {
		got := ""
		if l, ok := h.Owner(tt.addr, tt.at); ok {
			got = l.Container
		}
		if got != tt.want {
			t.Errorf("Owner(%s, %s) = %q, want %q", tt.addr, tt.at, got, tt.want)
		}
	}
}

// BenchmarkHolders: one call among 500 leases (250 recording addresses of
// net-a, 250 attachments without one), the size of a busy host's events.
func BenchmarkHolders(b *testing.B) {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var ls []Lease
	for i := range 250 {
		a := netip.AddrFrom4([4]byte{172, 18, byte(i / 200), byte(2 + i%200)})
		from := t0.Add(time.Duration(i) * time.Minute)
		ls = append(ls, Lease{Addr: a, Container: "c", NetworkID: "neta", From: from, To: from.Add(time.Hour)},
			Lease{Container: "gone", NetworkID: "neta", From: from, To: from.Add(time.Minute)})
	}
	h := holdersHost(t0, ls...)
	at := t0.Add(100 * time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		if len(h.Holders(hA, at, at.Add(time.Minute))) == 0 {
			b.Fatal("no holder")
		}
	}
}
