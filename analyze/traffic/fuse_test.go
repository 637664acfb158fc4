package traffic

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
)

// TestFuse fuses hand-made observations of a small host into contacts: one
// case per way a conversation is seen.
func TestFuse(t *testing.T) {
	a := netip.MustParseAddr
	ap := netip.MustParseAddrPort
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	web := &model.Container{ID: "aaaa000000000000", Name: "web-1", State: "running", NetNS: 4001}
	side := &model.Container{ID: "bbbb000000000000", Name: "sidecar-1", State: "running", NetworkMode: "container:aaaa000000000000", SharesWith: "aaaa000000000000", NetNS: 4001}
	hostnet := &model.Container{ID: "cccc000000000000", Name: "agent-1", State: "running", NetworkMode: "host"}
	old := &model.Container{ID: "dddd000000000000", Name: "gone-1", State: "removed"}
	reuse := &model.Container{ID: "eeee000000000000", Name: "benign-1", State: "running"}
	newHost := func() *model.Host {
		hostNS := &model.Namespace{Inode: 4000, Host: true, Links: []*model.Link{
			{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}},
			{Name: "br-1", Kind: "bridge", Addrs: []netip.Prefix{netip.MustParsePrefix("172.18.0.1/16")}},
		}}
		shared := &model.Namespace{Inode: 4001, Containers: []string{web.ID, side.ID}}
		h := &model.Host{Containers: []*model.Container{web, side, hostnet, old, reuse}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS, shared},
			Collected: t0.Add(time.Hour),
			Networks:  []*model.Network{{ID: "n1", Name: "app", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}, Gateways: []netip.Addr{a("172.18.0.1")}}},
			Processes: []model.HostProcess{
				{PID: 100, Comm: "sh", Cmdline: []string{"sh", "-i"}, ContainerID: hostnet.ID},
				{PID: 200, Comm: "curl", ContainerID: side.ID},
				{PID: 300, Comm: "sshd"},
			}}
		h.Index()
		h.SetLeases([]model.Lease{
			{Addr: a("172.18.0.2"), Container: web.ID, ContainerName: web.Name, From: t0.Add(-time.Hour)},
			{Addr: a("172.18.0.7"), Container: old.ID, ContainerName: old.Name, From: t0.Add(-3 * time.Hour), To: t0.Add(-2 * time.Hour)},
			{Addr: a("172.18.0.7"), Container: reuse.ID, ContainerName: reuse.Name, From: t0.Add(-time.Hour)},
		})
		return h
	}
	ev := func(s string) []model.Evidence { return []model.Evidence{{Member: "capture/capture.pcapng", Text: s}} }
	dated := func(at time.Time) *model.ConntrackDating {
		return &model.ConntrackDating{LastPacket: at, Method: "test"}
	}
	tests := []struct {
		name  string
		setup func(h *model.Host) *Result
		check func(t *testing.T, cs []Contact)
	}{
		{"three points, one conversation", func(h *model.Host) *Result {
			c2 := a("198.18.185.2")
			return &Result{Flows: []Flow{
				{Container: web.ID, ContainerName: web.Name, NamespaceGroup: []string{side.ID}, ContainerSide: "client", Rule: RuleVeth, Confidence: ConfidenceHigh, Role: PointVeth, Interface: "veth1", Member: memberCapture,
					Proto: "tcp", Client: a("172.18.0.2"), ClientPort: 40000, Server: c2, ServerPort: 4444, First: t0, Last: t0.Add(time.Second), PacketsToServer: 6, PacketsToClient: 4, BytesToServer: 600, BytesToClient: 400, Evidence: ev("veth")},
				{Container: web.ID, ContainerName: web.Name, ContainerSide: "client", Rule: RuleAddressOwner, Confidence: ConfidenceHigh, Role: PointBridge, Interface: "br-1", Member: memberCapture,
					Proto: "tcp", Client: a("172.18.0.2"), ClientPort: 40000, Server: c2, ServerPort: 4444, First: t0, Last: t0.Add(time.Second), PacketsToServer: 6, PacketsToClient: 4, BytesToServer: 600, BytesToClient: 400, Evidence: ev("bridge")},
				{Container: web.ID, ContainerName: web.Name, ContainerSide: "client", Rule: RuleConntrack, Confidence: ConfidenceHigh, Role: PointUplink, Interface: "eth0", Member: memberCapture,
					Proto: "tcp", Client: a("192.0.2.10"), ClientPort: 61000, Server: c2, ServerPort: 4444, Original: &FlowTuple{Src: a("172.18.0.2"), SPort: 40000, Dst: c2, DPort: 4444},
					First: t0.Add(time.Millisecond), Last: t0.Add(time.Second), PacketsToServer: 6, PacketsToClient: 4, BytesToServer: 600, BytesToClient: 400, Evidence: ev("uplink")},
			}}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 {
				t.Fatalf("%d contacts, want 1: %+v", len(cs), cs)
			}
			c := cs[0]
			if len(c.Sources) != 3 || c.PacketsToRemote != 6 || c.PacketsFromRemote != 4 || c.BytesToRemote != 600 || c.CountedAt != "veth1" {
				t.Errorf("contact: %d sources, packets %d/%d, bytes %d, counted at %q; want 3 sources, 6/4 packets, 600 bytes, at veth1", len(c.Sources), c.PacketsToRemote, c.PacketsFromRemote, c.BytesToRemote, c.CountedAt)
			}
			// The veth's namespace is shared: the group, the owner first.
			if c.Container != "" || len(c.Group) != 2 || c.Group[0].ID != web.ID || c.Group[1].ID != side.ID {
				t.Errorf("who = %q group %+v, want the group web-1, sidecar-1", c.Container, c.Group)
			}
			if c.Local != ap("172.18.0.2:40000") || c.Remote != ap("198.18.185.2:4444") || !c.Exact || c.Side != "client" {
				t.Errorf("tuple %s → %s exact %v side %s, want 172.18.0.2:40000 → 198.18.185.2:4444, exact, client", c.Local, c.Remote, c.Exact, c.Side)
			}
		}},
		{"host network socket, no capture", func(h *model.Host) *Result {
			h.HostNS.Sockets = []model.HostSocket{
				{Proto: "tcp", LocalIP: "192.0.2.10", LocalPort: 50123, RemoteIP: "198.18.185.2", RemotePort: 4444, State: "ESTABLISHED", PIDs: []int{100}, NetNS: 4000, Evidence: model.Evidence{Member: "netns/4000/sockets.json", Pointer: "/0"}},
				{Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: 5000, RemoteIP: "127.0.0.1", RemotePort: 5001, State: "ESTABLISHED", PIDs: []int{300}},
				{Proto: "tcp", LocalIP: "0.0.0.0", LocalPort: 22, State: "LISTEN", PIDs: []int{300}},
			}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 {
				t.Fatalf("%d contacts, want 1 (loopback and listening sockets are no conversation): %+v", len(cs), cs)
			}
			c := cs[0]
			if c.Container != hostnet.ID || c.Process == nil || c.Process.PID != 100 || c.Rules[0] != RuleHostSocket || c.Exact || c.Dating == "" {
				t.Errorf("contact %q process %+v rules %v exact %v dating %q; want agent-1, pid 100, host-socket, estimated", c.Container, c.Process, c.Rules, c.Exact, c.Dating)
			}
			if c.First != h0(t0) {
				t.Errorf("first = %v, want the collection's end %v", c.First, h0(t0))
			}
		}},
		{"container:X group picked by the owner's cgroup", func(h *model.Host) *Result {
			h.Namespaces[1].Sockets = []model.HostSocket{
				{Proto: "tcp6", LocalIP: "172.18.0.2", LocalPort: 40001, RemoteIP: "198.18.185.2", RemotePort: 443, State: "ESTABLISHED", PIDs: []int{200}, NetNS: 4001},
				{Proto: "tcp", LocalIP: "172.18.0.2", LocalPort: 40002, RemoteIP: "198.18.185.2", RemotePort: 443, State: "TIME_WAIT", NetNS: 4001},
			}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 2 {
				t.Fatalf("%d contacts, want 2", len(cs))
			}
			for _, c := range cs {
				switch c.Local.Port() {
				case 40001:
					if c.Container != side.ID || c.Process == nil || c.Process.Comm != "curl" {
						t.Errorf("owned socket: %q process %+v, want sidecar-1 by curl", c.Container, c.Process)
					}
				case 40002:
					if c.Container != "" || len(c.Group) != 2 || c.Confidence == ConfidenceHigh {
						t.Errorf("ownerless socket: %q group %+v confidence %s, want the group of 2, not high", c.Container, c.Group, c.Confidence)
					}
				}
			}
		}},
		{"conntrack only, address reused later", func(h *model.Host) *Result {
			h.Conntrack = []model.ConntrackFlow{{Family: "ipv4", Proto: "tcp", OrigSrc: "172.18.0.7", OrigDst: "198.18.185.2", OrigSPort: 41000, OrigDPort: 4444,
				ReplySrc: "198.18.185.2", ReplyDst: "192.0.2.10", ReplySPort: 4444, ReplyDPort: 41000, State: "TIME_WAIT",
				LastPacket: dated(t0.Add(-150 * time.Minute)), Evidence: model.Evidence{Member: model.MemberConntrack, Pointer: "/0"}}}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 {
				t.Fatalf("%d contacts, want 1", len(cs))
			}
			c := cs[0]
			if c.Container != old.ID || len(c.Candidates) != 0 || c.Rules[0] != RuleConntrackHolder || c.Exact {
				t.Errorf("contact %q candidates %+v rules %v, want gone-1 alone by conntrack-holder, estimated", c.Container, c.Candidates, c.Rules)
			}
			if c.Local != ap("172.18.0.7:41000") || c.First != t0.Add(-150*time.Minute) {
				t.Errorf("local %s first %v, want 172.18.0.7:41000 at %v", c.Local, c.First, t0.Add(-150*time.Minute))
			}
		}},
		// An entry is made by its first packet: begun while gone-1 held the
		// address, it is gone-1's, though it lived on past the reuse.
		{"conntrack begun before the reuse: the holder at its start", func(h *model.Host) *Result {
			start := t0.Add(-150 * time.Minute)
			h.Conntrack = []model.ConntrackFlow{{Family: "ipv4", Proto: "tcp", OrigSrc: "172.18.0.7", OrigDst: "198.18.185.2", OrigSPort: 41000, OrigDPort: 4444,
				ReplySrc: "198.18.185.2", ReplyDst: "192.0.2.10", ReplySPort: 4444, ReplyDPort: 41000, State: "ESTABLISHED",
				Start: &start, LastPacket: dated(t0.Add(-10 * time.Minute))}}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 {
				t.Fatalf("%d contacts, want 1", len(cs))
			}
			c := cs[0]
			if c.Container != old.ID || len(c.Candidates) != 0 || c.Reason == "" {
				t.Errorf("contact %q candidates %+v (%s), want %s, the holder when the entry began", c.Container, c.Candidates, c.Reason, old.ID)
			}
		}},
		{"undated conntrack, address reused within its state's timeout: both candidates", func(h *model.Host) *Result {
			// gone-1 held 172.18.0.9 until a minute before the snapshot,
			// benign-1 since: an undated TIME_WAIT entry (at most 120 s
			// old) may be either's.
			h.SetLeases([]model.Lease{
				{Addr: a("172.18.0.9"), Container: old.ID, ContainerName: old.Name, From: t0, To: h0(t0).Add(-time.Minute)},
				{Addr: a("172.18.0.9"), Container: reuse.ID, ContainerName: reuse.Name, From: h0(t0).Add(-time.Minute)},
			})
			h.Conntrack = []model.ConntrackFlow{{Family: "ipv4", Proto: "tcp", OrigSrc: "172.18.0.9", OrigDst: "198.18.185.2", OrigSPort: 41001, OrigDPort: 4444,
				ReplySrc: "198.18.185.2", ReplyDst: "192.0.2.10", ReplySPort: 4444, ReplyDPort: 41001, State: "TIME_WAIT"}}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 {
				t.Fatalf("%d contacts, want 1", len(cs))
			}
			if c := cs[0]; c.Container != "" || len(c.Candidates) != 2 || c.Confidence != ConfidenceLow || !strings.Contains(c.Dating, "not dated") {
				t.Errorf("contact %q candidates %+v confidence %s dating %q, want both candidates, low, undated", c.Container, c.Candidates, c.Confidence, c.Dating)
			}
		}},
		{"undated conntrack after the reuse's timeout: only the later holder", func(h *model.Host) *Result {
			h.SetLeases([]model.Lease{
				{Addr: a("172.18.0.9"), Container: old.ID, ContainerName: old.Name, From: t0, To: h0(t0).Add(-10 * time.Minute)},
				{Addr: a("172.18.0.9"), Container: reuse.ID, ContainerName: reuse.Name, From: h0(t0).Add(-10 * time.Minute)},
			})
			h.Conntrack = []model.ConntrackFlow{{Family: "ipv4", Proto: "udp", OrigSrc: "172.18.0.9", OrigDst: "198.18.185.7", OrigSPort: 41002, OrigDPort: 53,
				ReplySrc: "198.18.185.7", ReplyDst: "192.0.2.10", ReplySPort: 53, ReplyDPort: 41002}}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 || cs[0].Container != reuse.ID || len(cs[0].Candidates) != 0 {
				t.Fatalf("contacts %+v, want benign-1 alone: a UDP entry lasts at most 120 s", cs)
			}
		}},
		{"captured flow gets its socket's process", func(h *model.Host) *Result {
			h.Namespaces[1].Containers = []string{web.ID}
			h.Processes = append(h.Processes, model.HostProcess{PID: 400, Comm: "beacon", ContainerID: web.ID})
			h.Namespaces[1].Sockets = []model.HostSocket{{Proto: "udp", LocalIP: "172.18.0.2", LocalPort: 5000, RemoteIP: "198.18.185.2", RemotePort: 5555, State: "ESTABLISHED", PIDs: []int{400}}}
			return &Result{Flows: []Flow{{Container: web.ID, ContainerName: web.Name, ContainerSide: "client", Rule: RuleVeth, Confidence: ConfidenceHigh, Role: PointVeth, Interface: "veth1",
				Proto: "udp", Client: a("172.18.0.2"), ClientPort: 5000, Server: a("198.18.185.2"), ServerPort: 5555, First: t0, Last: t0.Add(time.Second), PacketsToServer: 2, Evidence: ev("veth")}}}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 || cs[0].Process == nil || cs[0].Process.PID != 400 || len(cs[0].Sources) != 2 || cs[0].Container != web.ID {
				t.Fatalf("contacts %+v, want one of web-1 with pid 400 and two sources", cs)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost()
			tr := tc.setup(h)
			fuse(h, tr)
			tc.check(t, tr.Contacts)
		})
	}
}

// h0 is when the test host's collection ended.
func h0(t0 time.Time) time.Time { return t0.Add(time.Hour) }

// TestFuseNamesAndPicks: a contact seen only in the sockets takes the name
// a DNS answer gave its remote address, whoever asked (the embedded
// resolver asks from the host's namespace); and a socket in a container's
// namespace picks that container among the candidates of a reused address.
func TestFuseNamesAndPicks(t *testing.T) {
	a := netip.MustParseAddr
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	old := &model.Container{ID: "dddd000000000000", Name: "gone-1", State: "removed"}
	cur := &model.Container{ID: "eeee000000000000", Name: "benign-1", State: "running", NetNS: 4002}
	hostNS := &model.Namespace{Inode: 4000, Host: true, Links: []*model.Link{{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}}}}
	ns := &model.Namespace{Inode: 4002, Containers: []string{cur.ID}, Sockets: []model.HostSocket{
		{Proto: "tcp", LocalIP: "172.18.0.9", LocalPort: 41001, RemoteIP: "198.18.185.2", RemotePort: 4444, State: "ESTABLISHED", NetNS: 4002},
	}}
	h := &model.Host{Containers: []*model.Container{old, cur}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS, ns}, Collected: t0,
		Networks: []*model.Network{{ID: "n1", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}}}}
	h.Index()
	h.SetLeases([]model.Lease{
		{Addr: a("172.18.0.9"), Container: old.ID, ContainerName: old.Name, From: t0.Add(-time.Hour), To: t0.Add(-time.Minute)},
		{Addr: a("172.18.0.9"), Container: cur.ID, ContainerName: cur.Name, From: t0.Add(-time.Minute)},
	})
	h.Conntrack = []model.ConntrackFlow{{Family: "ipv4", Proto: "tcp", OrigSrc: "172.18.0.9", OrigDst: "198.18.185.2", OrigSPort: 41001, OrigDPort: 4444,
		ReplySrc: "198.18.185.2", ReplyDst: "192.0.2.10", ReplySPort: 4444, ReplyDPort: 41001, State: "TIME_WAIT"}}
	resp := &flow.DNSResponse{Time: t0.Add(-2 * time.Minute).UnixNano(), QName: "c2.evil.example",
		Answers: []flow.DNSAnswer{{Name: "c2.evil.example", Type: flow.DNSTypeA, Addr: a("198.18.185.2")}}}
	tr := &Result{DNS: []DNSQuery{{Time: t0.Add(-2 * time.Minute), Client: a("192.0.2.10"), QName: resp.QName, Rule: RuleHost, resp: resp}}}
	fuse(h, tr)
	if len(tr.Contacts) != 1 {
		t.Fatalf("%d contacts, want 1: %+v", len(tr.Contacts), tr.Contacts)
	}
	c := tr.Contacts[0]
	if c.Container != cur.ID || len(c.Candidates) != 0 || !slices.Contains(c.Names, "c2.evil.example") || len(c.Sources) != 2 {
		t.Errorf("contact %q candidates %+v names %v sources %d; want benign-1 picked by its socket, named c2.evil.example, from conntrack and the socket",
			c.Container, c.Candidates, c.Names, len(c.Sources))
	}
}

// BenchmarkFuse fuses 50,000 flows, 25,000 conversations each seen on a
// bridge and after NAT on an uplink, as scripts/gencapture's host has them.
func BenchmarkFuse(b *testing.B) {
	a := netip.MustParseAddr
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := &model.Host{HostNS: &model.Namespace{Host: true, Links: []*model.Link{{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}}}}}
	h.Namespaces = []*model.Namespace{h.HostNS}
	h.Index()
	var flows []Flow
	ev := []model.Evidence{{Member: memberCapture, Text: "frames"}, {Member: "docker/containers/x/inspect.json", Pointer: "/a"}}
	for i := range 25000 {
		local := netip.AddrFrom4([4]byte{172, 20, 0, byte(2 + i%50)})
		remote := netip.AddrFrom4([4]byte{203, 0, byte(i / 250), byte(i % 250)})
		at := t0.Add(time.Duration(i) * time.Millisecond)
		c := fmt.Sprintf("%064x", i%50+1)
		flows = append(flows,
			Flow{Container: c, ContainerName: "gen", ContainerSide: "client", Rule: RuleAddressOwner, Confidence: ConfidenceHigh, Role: PointBridge, Interface: "br-gen0", Member: memberCapture,
				Proto: "tcp", Client: local, ClientPort: uint16(10000 + i%50000), Server: remote, ServerPort: 443, First: at, Last: at.Add(time.Second), PacketsToServer: 5, PacketsToClient: 4, Evidence: ev},
			Flow{Container: c, ContainerName: "gen", ContainerSide: "client", Rule: RuleCorrelation, Confidence: ConfidenceMedium, Role: PointUplink, Interface: "eth0", Member: memberCapture,
				Proto: "tcp", Client: a("192.0.2.10"), ClientPort: uint16(10000 + i%50000), Server: remote, ServerPort: 443, First: at, Last: at.Add(time.Second), PacketsToServer: 5, PacketsToClient: 4, Evidence: ev,
				Original: &FlowTuple{Src: local, SPort: uint16(10000 + i%50000), Dst: remote, DPort: 443}})
	}
	b.ReportAllocs()
	for b.Loop() {
		tr := &Result{Flows: flows}
		fuse(h, tr)
		if len(tr.Contacts) != 25000 {
			b.Fatalf("%d contacts, want 25000", len(tr.Contacts))
		}
	}
}
