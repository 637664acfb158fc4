package traffic

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
)

// TestAttributeParent checks that a flow captured on a macvlan/ipvlan
// parent (capture/interfaces.json role "parent") is attributed by who held
// its address at the time, as on a bridge, and not left to the rules after
// NAT: the parent carries the container's own address.
func TestAttributeParent(t *testing.T) {
	a := netip.MustParseAddr
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := &model.Container{ID: "aaaa000000000000", Name: "mv-old", State: "exited"}
	cur := &model.Container{ID: "bbbb000000000000", Name: "mv-new", State: "running"}
	hostNS := &model.Namespace{Host: true, Links: []*model.Link{
		{Name: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.7.1/24")}},
	}}
	h := &model.Host{Containers: []*model.Container{old, cur}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS}, Collected: t0.Add(time.Hour),
		Networks:          []*model.Network{{ID: "n1", Name: "mv", Driver: "macvlan", Subnets: []netip.Prefix{netip.MustParsePrefix("198.18.8.0/24")}}},
		CaptureInterfaces: []model.CaptureInterface{{Name: "eth1", Role: model.CaptureRoleParent, BlockID: 0, Index: 2}},
	}
	h.Index()
	// The address was mv-old's for ten minutes, then mv-new's.
	h.SetLeases([]model.Lease{
		{Addr: a("198.18.8.10"), Container: old.ID, ContainerName: old.Name, From: t0, To: t0.Add(10 * time.Minute)},
		{Addr: a("198.18.8.10"), Container: cur.ID, ContainerName: cur.Name, From: t0.Add(10*time.Minute + time.Second)},
	})
	parent := &flow.Point{Member: memberCapture, Index: 0, Interface: pcapng.Interface{Name: "eth1"}}
	rec := func(c string, cp uint16, s string, sp uint16, at time.Duration) *flow.Record {
		return &flow.Record{Point: parent, Proto: packet.IPProtoTCP, Client: a(c), ClientPort: cp, Server: a(s), ServerPort: sp,
			First: t0.Add(at).UnixNano(), Last: t0.Add(at + time.Second).UnixNano(), Packets: [2]uint64{3, 2}, FirstFrame: 1, LastFrame: 5}
	}
	for _, tc := range []struct {
		name      string
		rec       *flow.Record
		container string
		rule      string
		side      string
	}{
		{"before the reuse", rec("198.18.8.10", 40000, "198.18.9.9", 443, time.Minute), old.ID, RuleAddressOwner, "client"},
		{"after the reuse", rec("198.18.8.10", 40001, "198.18.9.9", 443, 20*time.Minute), cur.ID, RuleAddressOwner, "client"},
		{"inbound to the container", rec("198.18.9.9", 5555, "198.18.8.10", 22, 30*time.Minute), cur.ID, RuleAddressOwner, "server"},
		{"no holder", rec("198.18.8.99", 40002, "198.18.9.9", 443, time.Minute), "", RuleUnknown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := newAttributor(h)
			tr := at.attribute(&flow.Set{Flows: []*flow.Record{tc.rec}})
			f := tr.Flows[0]
			if f.Role != PointParent {
				t.Fatalf("role of %q = %q, want %q", f.Interface, f.Role, PointParent)
			}
			if f.Container != tc.container || f.Rule != tc.rule || f.ContainerSide != tc.side {
				t.Errorf("flow %s:%d → %s:%d on the parent: %q by %q (%s side; %s), want %q by %q (%s side)", f.Client, f.ClientPort, f.Server, f.ServerPort,
					f.Container, f.Rule, f.ContainerSide, f.Reason, tc.container, tc.rule, tc.side)
			}
			if !strings.Contains(f.Reason, "parent of a macvlan/ipvlan network") {
				t.Errorf("reason %q does not say the point is a macvlan/ipvlan parent", f.Reason)
			}
		})
	}
}
