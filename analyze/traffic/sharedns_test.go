package traffic

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestFuseSharedNamespaceByAddress fuses conversations of a namespace
// that X and Y share (Y joined X's, container:X) seen only through X's
// address, on a bridge or in conntrack: the lease is X's, yet the address
// is the namespace's, so the group is named, and Y when a socket's owner
// is Y's; never X alone.
func TestFuseSharedNamespaceByAddress(t *testing.T) {
	a := netip.MustParseAddr
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	x := &model.Container{ID: "aaaa000000000000", Name: "x-1", State: "running", NetNS: 7001}
	y := &model.Container{ID: "bbbb000000000000", Name: "y-1", State: "running", NetworkMode: "container:aaaa000000000000", SharesWith: "aaaa000000000000", NetNS: 7001}
	c2 := a("198.18.9.2")
	bridgeFlow := Flow{Container: x.ID, ContainerName: x.Name, ContainerSide: "client", Rule: RuleAddressOwner, Confidence: ConfidenceHigh, Role: PointBridge, Interface: "br-1", Member: memberCapture,
		Proto: "tcp", Client: a("172.18.0.4"), ClientPort: 40000, Server: c2, ServerPort: 4444, First: t0, Last: t0.Add(time.Second), PacketsToServer: 5, PacketsToClient: 4}
	entry := model.ConntrackFlow{Proto: "tcp", State: "TIME_WAIT", OrigSrc: "172.18.0.4", OrigDst: c2.String(), OrigSPort: 41000, OrigDPort: 4444,
		ReplySrc: c2.String(), ReplyDst: "192.0.2.10", ReplySPort: 4444, ReplyDPort: 41000, LastPacket: &model.ConntrackDating{LastPacket: t0, Method: "test"}}
	ysocket := model.HostSocket{Proto: "tcp", LocalIP: "172.18.0.4", LocalPort: 41000, RemoteIP: c2.String(), RemotePort: 4444, State: "TIME_WAIT", PIDs: []int{300}}
	for _, tc := range []struct {
		name    string
		flows   []Flow
		entries []model.ConntrackFlow
		sockets []model.HostSocket
		want    string // "group", or the container named
	}{
		{"a bridge flow by the lease: the group", []Flow{bridgeFlow}, nil, nil, "group"},
		{"a conntrack entry by the lease: the group", nil, []model.ConntrackFlow{entry}, nil, "group"},
		{"a conntrack entry and Y's socket: Y", nil, []model.ConntrackFlow{entry}, []model.HostSocket{ysocket}, y.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostNS := &model.Namespace{Inode: 7000, Host: true, Links: []*model.Link{
				{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}},
				{Name: "br-1", Kind: "bridge", Addrs: []netip.Prefix{netip.MustParsePrefix("172.18.0.1/16")}}}}
			h := &model.Host{Containers: []*model.Container{x, y}, HostNS: hostNS, Collected: t0.Add(time.Minute),
				Namespaces: []*model.Namespace{hostNS, {Inode: 7001, Containers: []string{x.ID, y.ID}, Sockets: tc.sockets}},
				Networks:   []*model.Network{{ID: "n1", Name: "app", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}, Gateways: []netip.Addr{a("172.18.0.1")}}},
				Processes:  []model.HostProcess{{PID: 300, Comm: "beacon", ContainerID: y.ID}},
				Conntrack:  tc.entries}
			h.Index()
			h.SetLeases([]model.Lease{{Addr: a("172.18.0.4"), Container: x.ID, ContainerName: x.Name, From: t0.Add(-time.Hour)}})
			tr := &Result{Flows: tc.flows}
			fuse(h, tr)
			if len(tr.Contacts) != 1 {
				t.Fatalf("%d contacts, want 1: %+v", len(tr.Contacts), tr.Contacts)
			}
			c := tr.Contacts[0]
			switch tc.want {
			case "group":
				if c.Container != "" || len(c.Group) != 2 || c.Group[0].ID != x.ID || c.Group[1].ID != y.ID {
					t.Errorf("contact %q group %+v, want the group x-1, y-1", c.Container, c.Group)
				}
			default:
				if c.Container != tc.want || len(c.Group) != 0 {
					t.Errorf("contact %q group %+v, want %s alone", c.Container, c.Group, tc.want)
				}
			}
		})
	}
}
