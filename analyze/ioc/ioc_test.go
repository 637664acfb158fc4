package ioc

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/internal/indicator"
)

func TestIOCMatch(t *testing.T) {
	mustIOC := func(s string) indicator.Indicator {
		i, err := indicator.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	a := netip.MustParseAddr
	flow := &traffic.Flow{Client: a("172.18.0.2"), Server: a("198.51.100.7"), SNI: "www.evil.example", ContainerSide: "client"}
	nat := &traffic.Flow{Client: a("192.0.2.10"), Server: a("203.0.113.5"), Original: &traffic.FlowTuple{Src: a("172.18.0.2"), Dst: a("203.0.113.5")}}
	tests := []struct {
		ioc  string
		f    *traffic.Flow
		want bool
	}{
		{"198.51.100.7", flow, true},
		{"198.51.100.0/24", flow, true},
		{"198.51.100.8", flow, false},
		{"evil.example", flow, true},
		{"www.evil.example", flow, true},
		{"notevil.example", flow, false},
		{"example.evil", flow, false},
		{"172.18.0.2", nat, true}, // the pre-NAT source
		{"203.0.113.0/28", nat, true},
		{"evil.example", nat, false},
	}
	for _, tt := range tests {
		if got := MatchFlow(mustIOC(tt.ioc), tt.f); got != tt.want {
			t.Errorf("MatchFlow(ParseIOC(%q), %v→%v sni %q) = %v, want %v", tt.ioc, tt.f.Client, tt.f.Server, tt.f.SNI, got, tt.want)
		}
	}
}

// TestMatchContacts: an indicator's contacts count conversations (one
// conversation captured at three points is one), sum each one's counted
// point, and keep a group, candidates and a host process apart.
func TestMatchContacts(t *testing.T) {
	a := netip.MustParseAddr
	ap := netip.MustParseAddrPort
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	idx := func(i int) *int { return &i }
	flows := []traffic.Flow{
		{Container: "aaaa", Role: traffic.PointVeth, Interface: "veth1", Client: a("172.18.0.2"), ClientPort: 40000, Server: a("198.51.100.7"), ServerPort: 443, ContainerSide: "client", PacketsToServer: 5, PacketsToClient: 4},
		{Container: "aaaa", Role: traffic.PointBridge, Interface: "br-1", Client: a("172.18.0.2"), ClientPort: 40000, Server: a("198.51.100.7"), ServerPort: 443, ContainerSide: "client", PacketsToServer: 5, PacketsToClient: 4},
		{Container: "aaaa", Role: traffic.PointUplink, Interface: "eth0", Client: a("192.0.2.10"), ClientPort: 61000, Server: a("198.51.100.7"), ServerPort: 443, ContainerSide: "client", PacketsToServer: 5, PacketsToClient: 4,
			Original: &traffic.FlowTuple{Src: a("172.18.0.2"), SPort: 40000, Dst: a("198.51.100.7"), DPort: 443}},
	}
	tr := &traffic.Result{Flows: flows, Contacts: []traffic.Contact{
		{Container: "aaaa", ContainerName: "web-1", Proto: "tcp", Local: ap("172.18.0.2:40000"), Remote: ap("198.51.100.7:443"), First: t0, Last: t0.Add(time.Second), Exact: true,
			PacketsToRemote: 5, PacketsFromRemote: 4, Rules: []string{traffic.RuleVeth}, Confidence: traffic.ConfidenceHigh,
			Sources: []traffic.ContactSource{{Kind: traffic.SourceCapture, Flow: idx(0)}, {Kind: traffic.SourceCapture, Flow: idx(1)}, {Kind: traffic.SourceCapture, Flow: idx(2)}}},
		{Container: "aaaa", ContainerName: "web-1", Proto: "tcp", Local: ap("172.18.0.2:40002"), Remote: ap("198.51.100.7:443"), First: t0.Add(time.Minute), Last: t0.Add(time.Minute), Dating: "socket ESTABLISHED at the snapshot",
			Process: &traffic.Process{PID: 7, Comm: "curl"}, Rules: []string{traffic.RuleNamespaceSocket}, Confidence: traffic.ConfidenceHigh, Sources: []traffic.ContactSource{{Kind: traffic.SourceSocket}}},
		{Group: []traffic.ContainerRef{{ID: "bbbb", Name: "app-1"}, {ID: "cccc", Name: "sidecar-1"}}, Proto: "tcp", Local: ap("172.18.0.5:40003"), Remote: ap("198.51.100.7:443"), First: t0,
			Rules: []string{traffic.RuleNamespaceSocket}, Confidence: traffic.ConfidenceMedium},
		{Candidates: []traffic.Candidate{{ID: "dddd", Name: "gone-1"}, {ID: "eeee", Name: "benign-1"}}, Proto: "tcp", Local: ap("172.18.0.9:40004"), Remote: ap("198.51.100.7:443"), First: t0,
			Rules: []string{traffic.RuleConntrackHolder}, Confidence: traffic.ConfidenceLow},
		{Container: "ffff", Proto: "tcp", Local: ap("172.18.0.6:40005"), Remote: ap("203.0.113.1:443"), First: t0},
	}}
	ind, err := indicator.Parse("198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	hits := Match(nil, tr, []indicator.Indicator{ind})
	if len(hits) != 1 || len(hits[0].Contacts) != 3 {
		t.Fatalf("Match = %+v, want one hit with 3 entries (web-1, the group, the candidates)", hits)
	}
	h := hits[0]
	var web Contact
	var whos []string
	for _, c := range h.Contacts {
		if c.Container == "aaaa" {
			web = c
		} else {
			whos = append(whos, c.Who)
		}
	}
	if web.Container != "aaaa" || web.Conversations != 2 || web.PacketsToIOC != 5 || web.PacketsFrom != 4 || len(web.Points) != 3 || web.Exact || len(web.Processes) != 1 {
		t.Errorf("web-1: %d conversations, packets %d/%d, %d points, exact %v, processes %+v; want 2, 5/4, 3, estimated, curl",
			web.Conversations, web.PacketsToIOC, web.PacketsFrom, len(web.Points), web.Exact, web.Processes)
	}
	if !slices.Contains(whos, "group app-1, sidecar-1 (shared network namespace)") || !slices.ContainsFunc(whos, func(s string) bool { return strings.HasPrefix(s, "candidates gone-1 or benign-1") }) {
		t.Errorf("entries %q, want the group and the candidates named", whos)
	}
	if !slices.Equal(h.Containers, []string{"aaaa"}) || h.Unattributed {
		t.Errorf("containers %v unattributed %v, want [aaaa] alone: a group or candidates are no certainty", h.Containers, h.Unattributed)
	}
	// The translated address of the uplink's flow matches too.
	host, _ := indicator.Parse("192.0.2.10")
	if hs := Match(nil, tr, []indicator.Indicator{host}); len(hs[0].Contacts) != 1 || hs[0].Contacts[0].Conversations != 1 {
		t.Errorf("Match(the host's translated address) = %+v, want web-1's one conversation", hs[0].Contacts)
	}
}

// TestMatchOwnEnd: a socket on this host whose local address is the
// indicator's, on the server side of its conversation, is the indicator's
// own end (a simulated C2's accepted connection, a sinkhole's), not a
// contact with it; a conversation the holder of the address began, or one
// with the indicator as the remote end, is.
func TestMatchOwnEnd(t *testing.T) {
	ap := netip.MustParseAddrPort
	c2 := "198.18.7.2"
	tests := []struct {
		name string
		k    traffic.Contact
		want bool // named in the answer
	}{
		{"the C2's accepted connection, its peer the host after NAT",
			traffic.Contact{Process: &traffic.Process{PID: 40, Comm: "c2"}, Proto: "tcp", Side: "server", Local: ap(c2 + ":4444"), Remote: ap("198.18.7.1:40000"), Rules: []string{traffic.RuleHost}}, false},
		{"a container's service at the indicator's address, a client's conversation",
			traffic.Contact{Container: "aaaa", ContainerName: "web-1", Proto: "tcp", Side: "server", Local: ap(c2 + ":443"), Remote: ap("198.19.0.9:50000"), Rules: []string{traffic.RuleNamespaceSocket}}, false},
		{"a beacon's conversation with the C2",
			traffic.Contact{Container: "bbbb", ContainerName: "beacon-1", Proto: "tcp", Side: "client", Local: ap("198.19.0.3:40000"), Remote: ap(c2 + ":4444"), Rules: []string{traffic.RuleNamespaceSocket}}, true},
		{"the C2 connecting in to a container's service",
			traffic.Contact{Container: "cccc", ContainerName: "api-1", Proto: "tcp", Side: "server", Local: ap("198.19.0.4:8080"), Remote: ap(c2 + ":51000"), Rules: []string{traffic.RuleNamespaceSocket}}, true},
		{"a conversation the holder of the indicator's address began",
			traffic.Contact{Process: &traffic.Process{PID: 41, Comm: "relay"}, Proto: "udp", Side: "client", Local: ap(c2 + ":5000"), Remote: ap("203.0.113.5:53"), Rules: []string{traffic.RuleHost}}, true},
		{"the indicator at both ends",
			traffic.Contact{Process: &traffic.Process{PID: 42, Comm: "self"}, Proto: "tcp", Side: "server", Local: ap(c2 + ":4444"), Remote: ap(c2 + ":41000"), Rules: []string{traffic.RuleHost}}, true},
	}
	ind, err := indicator.Parse(c2)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		tr := &traffic.Result{Contacts: []traffic.Contact{tt.k}}
		hits := Match(nil, tr, []indicator.Indicator{ind})
		if len(hits) != 1 {
			t.Fatalf("Match(%s) = %d hits, want 1", tt.name, len(hits))
		}
		if got := len(hits[0].Contacts) == 1; got != tt.want {
			t.Errorf("Match(%s %s → %s, side %s) names %+v, want named %v", tt.name, tt.k.Local, tt.k.Remote, tt.k.Side, hits[0].Contacts, tt.want)
		}
	}
}

// TestMatchC2SocketAlone is the collection TestContactsHostNetworkE2E's
// --capture 0 run made once on a loaded machine: the simulated C2 runs in a
// namespace of the host, read after the beacon's. A beacon connection that
// began after the conntrack snapshot and after the beacon namespace's
// socket table is in neither; only the C2's accepted socket has it, its
// peer the host's address after NAT. The fusion keeps that socket as a
// conversation of its own (the C2 process's, the server side); the answer
// for the C2 names the beacon from its earlier conversation, never the C2
// process.
func TestMatchC2SocketAlone(t *testing.T) {
	beacon := &model.Container{ID: "aaaa000000000000", Name: "beacon-1", State: "running", NetNS: 7001}
	hostNS := &model.Namespace{Inode: 7000, Host: true}
	beaconNS := &model.Namespace{Inode: 7001, Containers: []string{beacon.ID}, Sockets: []model.HostSocket{
		{Proto: "tcp", LocalIP: "198.19.0.3", LocalPort: 39000, RemoteIP: "198.18.7.2", RemotePort: 4444, State: "ESTABLISHED", PIDs: []int{100}},
	}}
	c2NS := &model.Namespace{Inode: 7002, Sockets: []model.HostSocket{
		{Proto: "tcp", LocalIP: "198.18.7.2", LocalPort: 4444, RemoteIP: "0.0.0.0", State: "LISTEN", PIDs: []int{200}},
		{Proto: "tcp", LocalIP: "198.18.7.2", LocalPort: 4444, RemoteIP: "198.18.7.1", RemotePort: 41000, State: "ESTABLISHED", PIDs: []int{200}},
	}}
	h := &model.Host{Containers: []*model.Container{beacon}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS, beaconNS, c2NS},
		Processes: []model.HostProcess{{PID: 100, Comm: "workload", ContainerID: beacon.ID}, {PID: 200, Comm: "c2"}}}
	h.Index()
	tr := traffic.Attribute(h, nil, traffic.Options{})
	alone := slices.IndexFunc(tr.Contacts, func(k traffic.Contact) bool { return k.Local.Port() == 4444 })
	if alone < 0 || tr.Contacts[alone].Side != "server" || tr.Contacts[alone].Named() {
		t.Fatalf("contacts %+v, want the C2's accepted socket as a conversation of its own, the server side, no container's", tr.Contacts)
	}
	ind, err := indicator.Parse("198.18.7.2")
	if err != nil {
		t.Fatal(err)
	}
	hits := Match(h, tr, []indicator.Indicator{ind})
	if len(hits) != 1 || len(hits[0].Contacts) != 1 || hits[0].Contacts[0].Container != beacon.ID {
		t.Fatalf("Match(198.18.7.2) = %+v, want beacon-1 alone", hits)
	}
}
