package traffic

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestFuseConntrackGrain: a conntrack entry's last packet is estimated from
// a remaining timeout in whole seconds, cut down, so the estimate may come
// up to a second before the packet. The holders are sought a second either
// side of it: an estimate just before its holder's lease began still names
// that holder, one within a second of a reuse names both as candidates,
// and one further from the reuse names only the holder of the time.
func TestFuseConntrackGrain(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 14, 12, 45, 8_000_000, time.UTC) // the removed beacon's connect event
	gone := &model.Container{ID: "dddd000000000000", Name: "gone-1", State: "removed"}
	reuse := &model.Container{ID: "eeee000000000000", Name: "benign-1", State: "running"}
	addr := netip.MustParseAddr("172.18.0.250")
	removed := t0.Add(2240 * time.Millisecond) // its disconnect event
	tests := []struct {
		name      string
		reuseFrom time.Time     // the benign container's connect event
		estimate  time.Duration // the last packet's estimate, from t0
		want      []string      // the container named, or the candidates
		certain   bool          // want names one container, not candidates
	}{
		{"estimate cut below the lease's start", removed.Add(3 * time.Second), -8 * time.Millisecond, []string{gone.ID}, true},
		{"estimate inside the lease, reuse 3 s after", removed.Add(3 * time.Second), 1500 * time.Millisecond, []string{gone.ID}, true},
		{"estimate within a second of the reuse", removed.Add(50 * time.Millisecond), 1500 * time.Millisecond, []string{gone.ID, reuse.ID}, false},
		{"estimate after the reuse", removed.Add(3 * time.Second), 8 * time.Second, []string{reuse.ID}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostNS := &model.Namespace{Inode: 4000, Host: true, Links: []*model.Link{
				{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}},
			}}
			h := &model.Host{Containers: []*model.Container{gone, reuse}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS},
				Collected: t0.Add(20 * time.Second),
				Networks:  []*model.Network{{ID: "n1", Name: "app", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}}}}
			h.Index()
			// The removed container's address is not recorded (no inspect
			// of it; a connect event has none): an attachment; the reusing
			// container's is, from its inspect.
			h.SetLeases([]model.Lease{
				{NetworkID: "n1", Network: "app", Container: gone.ID, ContainerName: gone.Name, From: t0, To: removed},
				{Addr: addr, NetworkID: "n1", Network: "app", Container: reuse.ID, ContainerName: reuse.Name, From: tt.reuseFrom},
			})
			h.Conntrack = []model.ConntrackFlow{{Family: "ipv4", Proto: "tcp", OrigSrc: addr.String(), OrigDst: "198.18.185.2", OrigSPort: 41000, OrigDPort: 4444,
				ReplySrc: "198.18.185.2", ReplyDst: "192.0.2.10", ReplySPort: 4444, ReplyDPort: 41000, State: "TIME_WAIT",
				LastPacket: &model.ConntrackDating{LastPacket: t0.Add(tt.estimate), Method: "test"},
				Evidence:   model.Evidence{Member: model.MemberConntrack, Pointer: "/0"}}}
			tr := &Result{}
			fuse(h, tr)
			if len(tr.Contacts) != 1 {
				t.Fatalf("%d contacts, want 1", len(tr.Contacts))
			}
			c := tr.Contacts[0]
			var got []string
			if c.Container != "" {
				got = []string{c.Container}
			}
			for _, k := range c.Candidates {
				got = append(got, k.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) || (c.Container != "") != tt.certain {
				t.Errorf("contact names %v (container %q, candidates %+v; %s), want %v (one: %v)", got, c.Container, c.Candidates, c.Reason, tt.want, tt.certain)
			}
			if !tt.certain && c.Confidence != ConfidenceLow {
				t.Errorf("candidates with confidence %s, want low", c.Confidence)
			}
		})
	}
}
