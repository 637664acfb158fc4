package traffic

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
)

// TestAttributeRules runs the attributor over hand-made flows on a veth, a
// bridge and an uplink of a small host, one per rule that needs no capture
// member to decide.
func TestAttributeRules(t *testing.T) {
	for _, chunk := range []int{attributeMinChunk, 1} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			defer func(old int) { attributeMinChunk = old }(attributeMinChunk)
			attributeMinChunk = chunk
			testAttributeRules(t)
		})
	}
}

func testAttributeRules(t *testing.T) {
	a := netip.MustParseAddr
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ns := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	web := &model.Container{ID: "aaaa000000000000", Name: "web-1", State: "running", StartedAt: t0.Add(-time.Hour),
		Ports: []model.PortBinding{{ContainerPort: 8080, Proto: "tcp", HostPort: 18080}}}
	db := &model.Container{ID: "bbbb000000000000", Name: "db-1", State: "running", StartedAt: t0.Add(-time.Hour)}
	hostNS := &model.Namespace{Host: true, Links: []*model.Link{
		{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24"), netip.MustParsePrefix("fe80::10/64")}},
		{Name: "br-1", Kind: "bridge", Addrs: []netip.Prefix{netip.MustParsePrefix("172.18.0.1/16")}},
	}}
	h := &model.Host{Containers: []*model.Container{web, db}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS}, Collected: t0.Add(time.Minute),
		Networks: []*model.Network{{ID: "n1", Name: "app", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}, Gateways: []netip.Addr{a("172.18.0.1")}}},
		Conntrack: []model.ConntrackFlow{{Family: "ipv4", Proto: "tcp", OrigSrc: "172.18.0.3", OrigDst: "198.51.100.7", OrigSPort: 40000, OrigDPort: 443,
			ReplySrc: "198.51.100.7", ReplyDst: "192.0.2.10", ReplySPort: 443, ReplyDPort: 61000}},
	}
	h.Index()
	h.SetLeases([]model.Lease{
		{Addr: a("172.18.0.2"), Container: web.ID, ContainerName: web.Name, From: t0.Add(-time.Hour)},
		{Addr: a("172.18.0.3"), Container: db.ID, ContainerName: db.Name, From: t0.Add(-time.Hour)},
	})
	hostNS.Sockets = []model.HostSocket{{Proto: "tcp", LocalIP: "0.0.0.0", LocalPort: 22, State: "LISTEN", PIDs: []int{7}}}
	h.Processes = []model.HostProcess{{PID: 7, Comm: "sshd"}}
	veth := &flow.Point{Member: memberCapture, Index: 0, Interface: pcapng.Interface{Name: "veth1"}}
	bridge := &flow.Point{Member: memberCapture, Index: 1, Interface: pcapng.Interface{Name: "br-1"}}
	uplink := &flow.Point{Member: memberCapture, Index: 2, Interface: pcapng.Interface{Name: "eth0"}}
	ids := &flow.Point{Member: externalMember("/cases/ids.pcap"), Interface: pcapng.Interface{Name: "ids0"}}
	rec := func(p *flow.Point, proto uint8, c string, cp uint16, s string, sp uint16, at time.Duration) *flow.Record {
		return &flow.Record{Point: p, Proto: proto, Client: a(c), ClientPort: cp, Server: a(s), ServerPort: sp,
			First: ns(at), Last: ns(at + time.Second), Packets: [2]uint64{3, 2}, FirstFrame: 1, LastFrame: 5}
	}
	set := &flow.Set{Flows: []*flow.Record{
		rec(veth, packet.IPProtoTCP, "172.18.0.2", 50000, "203.0.113.9", 80, 0),                     // 0 veth
		rec(bridge, packet.IPProtoTCP, "172.18.0.2", 50000, "203.0.113.9", 80, 0),                   // 1 bridge, lease
		rec(uplink, packet.IPProtoTCP, "192.0.2.10", 50000, "203.0.113.9", 80, 50*time.Millisecond), // 2 correlation, same port
		rec(uplink, packet.IPProtoTCP, "192.0.2.10", 61000, "198.51.100.7", 443, 0),                 // 3 conntrack snapshot
		rec(uplink, packet.IPProtoTCP, "198.51.100.20", 3333, "192.0.2.10", 18080, 0),               // 4 published port
		rec(uplink, packet.IPProtoTCP, "198.51.100.20", 3334, "192.0.2.10", 22, 0),                  // 5 host socket
		rec(uplink, packet.IPProtoUDP, "192.0.2.10", 5353, "198.51.100.30", 9999, 0),                // 6 unknown
		rec(uplink, packet.IPProtoUDP, "192.0.2.77", 68, "192.0.2.1", 67, 0),                        // 7 foreign
		rec(bridge, packet.IPProtoTCP, "172.18.0.9", 1234, "172.18.0.3", 5432, 0),                   // 8 bridge: server owned
		rec(uplink, packet.IPProtoTCP, "192.0.2.10", 50100, "203.0.113.9", 80, 10*time.Second),      // 9 correlation: nothing in the window
		rec(uplink, packet.IPProtoICMPv6, "fe80::10", 133, "ff02::2", 0, 0),                         // 10 router solicitation: the host's
		rec(veth, packet.IPProtoICMPv6, "fe80::2", 143, "ff02::16", 0, 0),                           // 11 MLD report on the veth
		rec(uplink, packet.IPProtoICMPv6, "fe80::99", 143, "ff02::16", 0, 0),                        // 12 a neighbour's MLD report: not 11's continuation
		rec(ids, packet.IPProtoTCP, "198.51.100.20", 3335, "203.0.113.50", 18080, 0),                // 13 --pcap at the perimeter: the public address, published port
		rec(veth, packet.IPProtoUDP, "203.0.113.53", 53, "172.18.0.2", 40053, 0),                    // 14 DNS whose capture began with the answer
		rec(bridge, packet.IPProtoUDP, "172.18.0.3", 40054, "203.0.113.53", 53, 0),                  // 15 DNS, query first
		rec(uplink, packet.IPProtoTCP, "198.51.100.7", 443, "192.0.2.10", 61000, 0),                 // 16 flow 3 seen from its far end's packet first
	}}
	// The DNS log: each response belongs to its flow, whichever side sent
	// the flow's first packet.
	set.DNS = []*flow.DNSResponse{
		{Point: veth, Time: ns(500 * time.Millisecond), Client: a("172.18.0.2"), Server: a("203.0.113.53"), QName: "a.example"},
		{Point: bridge, Time: ns(500 * time.Millisecond), Client: a("172.18.0.3"), Server: a("203.0.113.53"), QName: "b.example"},
	}
	at := newAttributor(h)
	at.points[veth] = &pointInfo{role: PointVeth, container: web.ID, containerName: web.Name}
	at.points[bridge] = &pointInfo{role: PointBridge}
	at.points[uplink] = &pointInfo{role: PointUplink}
	tr := at.attribute(set)
	want := []struct{ container, rule, side string }{
		{web.ID, RuleVeth, "client"},
		{web.ID, RuleAddressOwner, "client"},
		{web.ID, RuleCorrelation, "client"},
		{db.ID, RuleConntrack, "client"},
		{web.ID, RuleDNAT, "server"},
		{"", RuleHost, ""},
		{"", RuleUnknown, ""},
		{"", RuleForeign, ""},
		{db.ID, RuleAddressOwner, "server"},
		{"", RuleUnknown, ""},
		{"", RuleHost, ""},
		{web.ID, RuleVeth, "client"},
		{"", RuleForeign, ""},
		{web.ID, RuleDNAT, "server"},
		{web.ID, RuleVeth, "server"},
		{db.ID, RuleAddressOwner, "client"},
		{db.ID, RuleConntrack, "client"},
	}
	for i, w := range want {
		f := tr.Flows[i]
		if f.Container != w.container || f.Rule != w.rule || f.ContainerSide != w.side {
			t.Errorf("flow %d %s %s:%d→%s:%d on %s: attributed to %q by %q (%s side; %s), want %q by %q (%s side)", i, f.Proto, f.Client, f.ClientPort,
				f.Server, f.ServerPort, f.Interface, f.Container, f.Rule, f.ContainerSide, f.Reason, w.container, w.rule, w.side)
		}
	}
	if o := tr.Flows[3].Original; o == nil || o.Src != a("172.18.0.3") || o.SPort != 40000 {
		t.Errorf("flow 3 original = %+v, want 172.18.0.3:40000", o)
	}
	// Turned round by conntrack: the host's side is the client again, with
	// its counters.
	if f := tr.Flows[16]; f.Client != a("192.0.2.10") || f.ClientPort != 61000 || f.Server != a("198.51.100.7") || f.ServerPort != 443 ||
		f.PacketsToServer != 2 || f.PacketsToClient != 3 || f.rec.Client != f.Client || f.Original == nil || f.Original.SPort != 40000 {
		t.Errorf("flow 16 = %s:%d → %s:%d, packets %d/%d, record client %s, original %+v; want 192.0.2.10:61000 → 198.51.100.7:443, 2/3, from 172.18.0.3:40000",
			f.Client, f.ClientPort, f.Server, f.ServerPort, f.PacketsToServer, f.PacketsToClient, f.rec.Client, f.Original)
	}
	if got := tr.Unattributed(); got != 2 {
		t.Errorf("Unattributed() = %d, want 2", got)
	}
	for i, w := range []struct{ container, rule string }{{web.ID, RuleVeth}, {db.ID, RuleAddressOwner}} {
		if q := tr.DNS[i]; q.Container != w.container || q.Rule != w.rule {
			t.Errorf("DNS response %d (%s from %s on %s): container %q by %q, want %q by %q", i, q.QName, q.Server, q.Interface, q.Container, q.Rule, w.container, w.rule)
		}
	}
}
