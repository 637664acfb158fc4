package traffic

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestFuseConntrackEvents: an entry the capture window's conntrack events
// recorded is a source of the contacts. Alone (no capture point saw the
// conversation, the snapshot no longer holds it) it is a conversation of
// its own, named by the holder of its address at its events' dates and
// dated by them; with the snapshot's entry of the same tuple, or a
// captured flow of it, it joins that conversation: one contact, not two.
func TestFuseConntrackEvents(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	beacon := &model.Container{ID: "aaaa000000000000", Name: "beacon-1", State: "running"}
	later := &model.Container{ID: "bbbb000000000000", Name: "later-1", State: "running"}
	addr := netip.MustParseAddr("172.18.0.2")
	c2 := netip.MustParseAddr("198.18.185.2")
	host := netip.MustParseAddr("192.0.2.10")
	rec := ctRecord{
		orig:   ctTuple{proto: 6, src: addr, dst: c2, sport: 41000, dport: 4444},
		reply:  ctTuple{proto: 6, src: c2, dst: host, sport: 4444, dport: 41000},
		from:   t0.Add(2 * time.Second).UnixNano(),
		to:     t0.Add(3 * time.Second).UnixNano(),
		events: true, evidence: model.Evidence{Member: memberCTEvents, Line: 7},
	}
	for _, tt := range []struct {
		name     string
		snapshot bool // the snapshot holds the entry too
		flow     bool // a capture point saw the conversation
		open     bool // still open when the events ended
		sources  int
	}{
		{"events alone", false, false, false, 1},
		{"events and the snapshot's entry", true, false, true, 2},
		{"events and a captured flow", false, true, false, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hostNS := &model.Namespace{Inode: 4000, Host: true, Links: []*model.Link{{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}}}}
			h := &model.Host{Containers: []*model.Container{beacon, later}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS},
				Collected: t0.Add(20 * time.Second),
				Networks:  []*model.Network{{ID: "n1", Name: "app", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}}}}
			h.Index()
			// The address changed hands at t0+10s: the events' dates name
			// the beacon, never the later holder.
			h.SetLeases([]model.Lease{
				{Addr: addr, NetworkID: "n1", Network: "app", Container: beacon.ID, ContainerName: beacon.Name, From: t0, To: t0.Add(10 * time.Second)},
				{Addr: addr, NetworkID: "n1", Network: "app", Container: later.ID, ContainerName: later.Name, From: t0.Add(10 * time.Second)},
			})
			r := rec
			if tt.open {
				r.to = 0
			}
			tr := &Result{ctEvents: []ctRecord{r}}
			if tt.snapshot {
				h.Conntrack = []model.ConntrackFlow{{Family: "ipv4", Proto: "tcp", OrigSrc: addr.String(), OrigDst: c2.String(), OrigSPort: 41000, OrigDPort: 4444,
					ReplySrc: c2.String(), ReplyDst: host.String(), ReplySPort: 4444, ReplyDPort: 41000, State: "ESTABLISHED",
					Start: ptr(t0.Add(2 * time.Second)), Evidence: model.Evidence{Member: model.MemberConntrack, Pointer: "/0"}}}
			}
			if tt.flow {
				tr.Flows = []Flow{{Container: beacon.ID, ContainerName: beacon.Name, ContainerSide: "client", Rule: RuleVeth, Confidence: ConfidenceHigh,
					Role: PointVeth, Interface: "veth1", Member: memberCapture, Proto: "tcp", Client: addr, ClientPort: 41000, Server: c2, ServerPort: 4444,
					First: t0.Add(2 * time.Second), Last: t0.Add(3 * time.Second), PacketsToServer: 5, PacketsToClient: 4}}
			}
			fuse(h, tr)
			if len(tr.Contacts) != 1 {
				for _, c := range tr.Contacts {
					t.Logf("contact %s → %s %q sources %+v", c.Local, c.Remote, c.ContainerName, c.Sources)
				}
				t.Fatalf("%d contacts, want 1", len(tr.Contacts))
			}
			c := tr.Contacts[0]
			if c.Container != beacon.ID {
				t.Errorf("the conversation names %q (%s), want the beacon, its address's holder at the events' dates", c.Container, c.Reason)
			}
			kinds := map[string]bool{}
			for _, s := range c.Sources {
				kinds[s.Kind] = true
			}
			if len(c.Sources) != tt.sources || !kinds[SourceConntrackEvents] {
				t.Errorf("sources %+v, want %d with the conntrack events", c.Sources, tt.sources)
			}
			if !tt.flow && !tt.snapshot && (!c.First.Equal(t0.Add(2*time.Second)) || !c.Last.Equal(t0.Add(3*time.Second))) {
				t.Errorf("dated %s … %s (%s), want the events' new and destroy", c.First, c.Last, c.Dating)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
