package firewall

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/collect/e2etest"
)

// layoutCase describes what a user checks in one Docker rule layout: the
// masquerade of the user-defined network, the DNAT of its published port,
// and three forwarding verdicts.
type layoutCase struct {
	file       string
	nft        bool
	wantLayout string
	// ipsets: the layout needs Docker's ipset members inferred.
	ipsets bool

	bridgeA, bridgeB string // user-defined bridge and another Docker bridge
	subnetA          string
	containerA       string // container on bridgeA with a published port
	containerB       string // container on bridgeB
	uplink           string
	outside          string // an address beyond the uplink
	masqCounters     *PacketCounters

	hostIP        string // address the port is published on ("" = all)
	hostPort      uint16
	containerPort uint16
	// xtHidesNAT: iptables-nft JSON shows xt targets without arguments.
	xtHidesNAT bool

	// Chains (and, for policies, the word "policy") that must decide the
	// bridge A → bridge B and the outside → unpublished port verdicts.
	isolationChain   string
	unpublishedChain string
	unpublishedByPol bool
}

var layoutCases = []layoutCase{
	{
		file: "docker-20.10-live.iptables", wantLayout: LayoutLegacy,
		bridgeA: "br-62229c0407a8", bridgeB: "dcf-br-b", subnetA: "172.29.10.0/24",
		containerA: "172.29.10.2", containerB: "172.29.11.2", uplink: "eth0", outside: "100.64.7.7",
		masqCounters: &PacketCounters{}, hostPort: 18080, containerPort: 80,
		isolationChain: "DOCKER-ISOLATION-STAGE-2", unpublishedChain: "FORWARD", unpublishedByPol: true,
	},
	{
		file: "docker-20.10-live-nocounters.iptables", wantLayout: LayoutLegacy,
		bridgeA: "br-62229c0407a8", bridgeB: "dcf-br-b", subnetA: "172.29.10.0/24",
		containerA: "172.29.10.2", containerB: "172.29.11.2", uplink: "eth0", outside: "100.64.7.7",
		hostPort: 18080, containerPort: 80,
		isolationChain: "DOCKER-ISOLATION-STAGE-2", unpublishedChain: "FORWARD", unpublishedByPol: true,
	},
	{
		file: "docker-20.10-live-iptables-nft.json", nft: true, wantLayout: LayoutLegacy,
		bridgeA: "br-62229c0407a8", bridgeB: "dcf-br-b", subnetA: "172.29.10.0/24",
		containerA: "172.29.10.2", containerB: "172.29.11.2", uplink: "eth0", outside: "100.64.7.7",
		masqCounters: &PacketCounters{}, hostPort: 18080, containerPort: 80, xtHidesNAT: true,
		isolationChain: "DOCKER-ISOLATION-STAGE-2", unpublishedChain: "FORWARD", unpublishedByPol: true,
	},
	{
		file: "docker-27.iptables", wantLayout: LayoutBridgeDrop,
		bridgeA: "bridge1", bridgeB: "docker0", subnetA: "192.0.2.0/24",
		containerA: "192.0.2.2", containerB: "172.17.0.2", uplink: "eth0", outside: "100.64.7.7",
		masqCounters: &PacketCounters{Packets: 12, Bytes: 720}, hostPort: 8080, containerPort: 80,
		isolationChain: "DOCKER-ISOLATION-STAGE-2", unpublishedChain: "DOCKER",
	},
	{
		file: "docker-28.0.0.iptables", wantLayout: LayoutIPSet, ipsets: true,
		bridgeA: "bridge1", bridgeB: "docker0", subnetA: "192.0.2.0/24",
		containerA: "192.0.2.2", containerB: "172.17.0.2", uplink: "eth0", outside: "100.64.7.7",
		masqCounters: &PacketCounters{Packets: 5, Bytes: 300}, hostPort: 8080, containerPort: 80,
		isolationChain: "DOCKER-ISOLATION-STAGE-2", unpublishedChain: "DOCKER",
	},
	{
		file: "docker-28.0.1.iptables", wantLayout: LayoutDockerForward,
		bridgeA: "bridge1", bridgeB: "docker0", subnetA: "192.0.2.0/24",
		containerA: "192.0.2.2", containerB: "172.17.0.2", uplink: "eth0", outside: "100.64.7.7",
		masqCounters: &PacketCounters{Packets: 9, Bytes: 540}, hostPort: 8080, containerPort: 80,
		isolationChain: "DOCKER-ISOLATION-STAGE-2", unpublishedChain: "PREROUTING",
	},
	{
		file: "docker-29.iptables", wantLayout: LayoutDockerForward,
		bridgeA: "bridge1", bridgeB: "docker0", subnetA: "192.0.2.0/24",
		containerA: "192.0.2.2", containerB: "172.17.0.2", uplink: "eth0", outside: "100.64.7.7",
		masqCounters: &PacketCounters{Packets: 21, Bytes: 1260}, hostIP: "203.0.113.5", hostPort: 8080, containerPort: 80,
		isolationChain: "DOCKER", unpublishedChain: "PREROUTING",
	},
	{
		file: "docker-29-nftables.json", nft: true, wantLayout: LayoutNftables,
		bridgeA: "bridge1", bridgeB: "docker0", subnetA: "192.0.2.0/24",
		containerA: "192.0.2.2", containerB: "172.17.0.2", uplink: "eth0", outside: "100.64.7.7",
		masqCounters: &PacketCounters{Packets: 17, Bytes: 1020}, hostPort: 8080, containerPort: 80,
		isolationChain: "filter-forward-in__docker0", unpublishedChain: "raw-PREROUTING",
	},
}

func loadRuleset(t testing.TB, file string, nft bool) *Ruleset {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "firewall", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rs *Ruleset
	if nft {
		rs, err = ParseNftJSON(f)
	} else {
		rs, err = ParseIPTablesSave(f)
	}
	if err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
	return rs
}

func TestFirewallDockerLayouts(t *testing.T) {
	for _, tc := range layoutCases {
		t.Run(tc.file, func(t *testing.T) {
			rs := loadRuleset(t, tc.file, tc.nft)
			if tc.ipsets {
				if got := rs.InferDockerIPSets(); len(got) != 1 || got[0] != dockerExtBridgesV4 {
					t.Errorf("InferDockerIPSets() = %v, want [%s]", got, dockerExtBridgesV4)
				}
			}
			if got := rs.Layout(); got != tc.wantLayout {
				t.Errorf("Layout() = %q, want %q", got, tc.wantLayout)
			}
			checkMasquerade(t, rs, tc)
			checkDNAT(t, rs, tc)
			checkVerdicts(t, rs, tc)
		})
	}
}

func checkMasquerade(t *testing.T, rs *Ruleset, tc layoutCase) {
	t.Helper()
	var found *NATRule
	masq := rs.Masquerades()
	for i, n := range masq {
		if n.Source == tc.subnetA {
			found = &masq[i]
		}
	}
	if found == nil {
		t.Fatalf("Masquerades() = %+v, want one with source %s", masq, tc.subnetA)
	}
	if found.Kind != "MASQUERADE" || found.OutIface != tc.bridgeA || !found.OutNegated {
		t.Errorf("masquerade of %s = kind %q out %q negated %v, want MASQUERADE ! -o %s", tc.subnetA, found.Kind, found.OutIface, found.OutNegated, tc.bridgeA)
	}
	if found.Ref.Raw == "" || (found.Ref.Line == 0 && found.Ref.Path == "") {
		t.Errorf("masquerade evidence = %+v, want raw text and a line or JSON path", found.Ref)
	}
	if !tc.nft && !strings.Contains(found.Ref.Raw, "-s "+tc.subnetA+" ! -o "+tc.bridgeA+" -j MASQUERADE") {
		t.Errorf("masquerade raw = %q, want the iptables-save text", found.Ref.Raw)
	}
	if tc.masqCounters == nil {
		if found.Ref.Counters != nil {
			t.Errorf("masquerade counters = %+v, want none (dump without -c)", found.Ref.Counters)
		}
	} else if found.Ref.Counters == nil || *found.Ref.Counters != *tc.masqCounters {
		t.Errorf("masquerade counters = %+v, want %+v", found.Ref.Counters, tc.masqCounters)
	}
}

func checkDNAT(t *testing.T, rs *Ruleset, tc layoutCase) {
	t.Helper()
	var found *DNATRule
	ports := rs.PublishedPorts()
	for i, d := range ports {
		if d.HostPort == tc.hostPort {
			found = &ports[i]
		}
	}
	if found == nil {
		t.Fatalf("PublishedPorts() = %+v, want host port %d", ports, tc.hostPort)
	}
	if found.Proto != "tcp" || found.InIface != tc.bridgeA || !found.InNegated || found.HostIP != tc.hostIP {
		t.Errorf("DNAT = proto %q in %q negated %v host %q, want tcp ! -i %s host %q", found.Proto, found.InIface, found.InNegated, found.HostIP, tc.bridgeA, tc.hostIP)
	}
	if tc.xtHidesNAT {
		if found.ContainerIP != "" {
			t.Errorf("DNAT container from xt target = %q, want empty (nft hides xt arguments)", found.ContainerIP)
		}
		return
	}
	if found.ContainerIP != tc.containerA || found.ContainerPort != tc.containerPort {
		t.Errorf("DNAT to = %s:%d, want %s:%d", found.ContainerIP, found.ContainerPort, tc.containerA, tc.containerPort)
	}
}

func checkVerdicts(t *testing.T, rs *Ruleset, tc layoutCase) {
	t.Helper()
	a := netip.MustParseAddr
	// Container → outside.
	v := rs.ForwardVerdict(tc.bridgeA, tc.uplink, a(tc.containerA), a(tc.outside), "tcp", 443)
	if v.Verdict != "accept" {
		t.Errorf("ForwardVerdict(%s→%s) = %s by %+v, want accept; steps %s", tc.bridgeA, tc.uplink, v.Verdict, v.DecidedBy, stepsText(v))
	}
	// Bridge A → bridge B.
	v = rs.ForwardVerdict(tc.bridgeA, tc.bridgeB, a(tc.containerA), a(tc.containerB), "tcp", 80)
	if v.Verdict != "drop" || v.DecidedBy == nil || v.DecidedBy.Chain != tc.isolationChain || v.DecidedBy.Policy != "" {
		t.Errorf("ForwardVerdict(%s→%s) = %s by %+v, want drop by a rule in %s; steps %s", tc.bridgeA, tc.bridgeB, v.Verdict, v.DecidedBy, tc.isolationChain, stepsText(v))
	}
	// Outside → a container port that is not published.
	v = rs.ForwardVerdict(tc.uplink, tc.bridgeA, a(tc.outside), a(tc.containerA), "tcp", 22)
	want := "a rule"
	ok := v.Verdict == "drop" && v.DecidedBy != nil && v.DecidedBy.Chain == tc.unpublishedChain
	if tc.unpublishedByPol {
		want = "the policy"
		ok = ok && v.DecidedBy.Policy == "DROP"
	} else {
		ok = ok && v.DecidedBy.Policy == ""
	}
	if !ok {
		t.Errorf("ForwardVerdict(%s→%s:22) = %s by %+v, want drop by %s of %s; steps %s", tc.uplink, tc.bridgeA, v.Verdict, v.DecidedBy, want, tc.unpublishedChain, stepsText(v))
	}
	if tc.xtHidesNAT {
		return
	}
	// Outside → the published port on the host: DNAT then accept.
	host := tc.hostIP
	if host == "" {
		host = "192.0.2.200"
	}
	p := Probe{In: tc.uplink, Out: tc.bridgeA, Src: a(tc.outside), Dst: a(host), Proto: "tcp", DPort: tc.hostPort, DstLocal: true}
	v = rs.Evaluate(p)
	wantNAT := fmt.Sprintf("%s:%d", tc.containerA, tc.containerPort)
	if v.Verdict != "accept" || v.NATDest != wantNAT {
		t.Errorf("Evaluate(%+v) = %s nat %q, want accept nat %q; steps %s", p, v.Verdict, v.NATDest, wantNAT, stepsText(v))
	}
}

func stepsText(v Verdict) string {
	var b strings.Builder
	for _, s := range v.Steps {
		fmt.Fprintf(&b, "\n\t%s/%s #%d %q: %s", s.Ref.Table, s.Ref.Chain, s.Ref.Position, s.Ref.Raw, s.Action)
	}
	return b.String()
}

func TestFirewallForwardPolicy(t *testing.T) {
	tests := []struct {
		file         string
		nft          bool
		policy       string
		wantChains   []string
		directDrops  int
		minIsolation int
	}{
		{"docker-20.10-live.iptables", false, "DROP", []string{"DOCKER-USER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER"}, 0, 5},
		{"docker-27.iptables", false, "ACCEPT", []string{"DOCKER-USER", "DOCKER-ISOLATION-STAGE-2"}, 0, 4},
		{"docker-28.0.1.iptables", false, "DROP", []string{"DOCKER-FORWARD", "DOCKER-CT", "DOCKER-BRIDGE"}, 2, 4},
		{"docker-29.iptables", false, "DROP", []string{"DOCKER-FORWARD", "DOCKER-CT", "DOCKER-BRIDGE", "DOCKER-INTERNAL"}, 1, 4},
		{"docker-29-nftables.json", true, "ACCEPT", []string{"filter-FORWARD", "raw-PREROUTING", "filter-forward-in__bridge1"}, 1, 2},
	}
	for _, tt := range tests {
		rs := loadRuleset(t, tt.file, tt.nft)
		fp := rs.Forward()
		if fp.Policy != tt.policy {
			t.Errorf("Forward(%q).Policy = %q, want %q", tt.file, fp.Policy, tt.policy)
		}
		have := map[string]bool{}
		for _, c := range fp.Chains {
			have[c.Chain] = c.Role != ""
		}
		for _, c := range tt.wantChains {
			if !have[c] {
				t.Errorf("Forward(%q).Chains lacks %s with a role: %+v", tt.file, c, fp.Chains)
			}
		}
		if len(fp.DirectAccessDrops) != tt.directDrops {
			t.Errorf("Forward(%q).DirectAccessDrops = %d rules, want %d: %+v", tt.file, len(fp.DirectAccessDrops), tt.directDrops, fp.DirectAccessDrops)
		}
		if len(fp.Isolation) < tt.minIsolation {
			t.Errorf("Forward(%q).Isolation = %d rules, want at least %d: %+v", tt.file, len(fp.Isolation), tt.minIsolation, fp.Isolation)
		}
		if len(fp.BaseChains) == 0 {
			t.Errorf("Forward(%q).BaseChains is empty", tt.file)
		}
	}
}

// TestFirewallVerdictDetails covers verdicts beyond the three every layout
// must give: internal networks, DOCKER-USER, conntrack state and evidence.
func TestFirewallVerdictDetails(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		file      string
		nft       bool
		probe     Probe
		want      string
		wantChain string
		wantLine  int
	}{
		// An --internal network cannot reach the uplink (28.0.0: isolation stage 1).
		{"docker-28.0.0.iptables", false, Probe{In: "bridge2", Out: "eth0", Src: a("198.51.100.2"), Dst: a("100.64.7.7"), Proto: "udp", DPort: 53}, "drop", "DOCKER-ISOLATION-STAGE-1", 32},
		// Docker 29: the internal network's DOCKER-INTERNAL rule.
		{"docker-29.iptables", false, Probe{In: "br-5f3c1d2e9a7b", Out: "eth0", Src: a("198.51.100.2"), Dst: a("100.64.7.7"), Proto: "tcp", DPort: 443}, "drop", "DOCKER-INTERNAL", 43},
		// DOCKER-USER is evaluated first and its REJECT wins over the published port.
		{"docker-29.iptables", false, Probe{In: "eth0", Out: "bridge1", Src: a("203.0.113.9"), Dst: a("203.0.113.5"), Proto: "tcp", DPort: 8080, DstLocal: true}, "reject", "DOCKER-USER", 44},
		// Conntrack state does not help a packet addressed straight to the
		// container from outside: raw PREROUTING runs before conntrack (28+).
		{"docker-29.iptables", false, Probe{In: "eth0", Out: "bridge1", Src: a("100.64.7.7"), Dst: a("192.0.2.2"), Proto: "tcp", SPort: 443, DPort: 40000, CTState: "ESTABLISHED"}, "drop", "PREROUTING", 15},
		// Before 28 the same packet passes the conntrack rule in FORWARD.
		{"docker-20.10-live.iptables", false, Probe{In: "eth0", Out: "br-62229c0407a8", Src: a("100.64.7.7"), Dst: a("172.29.10.2"), Proto: "tcp", SPort: 443, DPort: 40000, CTState: "ESTABLISHED"}, "accept", "FORWARD", 26},
		// The loopback-only published port is not reachable from the uplink (raw drop).
		{"docker-28.0.1.iptables", false, Probe{In: "eth0", Out: "bridge1", Src: a("100.64.7.7"), Dst: a("127.0.0.1"), Proto: "udp", DPort: 5353, DstLocal: true}, "drop", "PREROUTING", 16},
		// Containers on the same bridge talk freely (ICC) in nftables.
		{"docker-29-nftables.json", true, Probe{In: "bridge1", Out: "bridge1", Src: a("192.0.2.3"), Dst: a("192.0.2.2"), Proto: "tcp", DPort: 5432}, "accept", "filter-forward-in__bridge1", 0},
	}
	for _, tt := range tests {
		rs := loadRuleset(t, tt.file, tt.nft)
		v := rs.Evaluate(tt.probe)
		if v.Verdict != tt.want || v.DecidedBy == nil || v.DecidedBy.Chain != tt.wantChain || v.DecidedBy.Line != tt.wantLine {
			t.Errorf("%s: Evaluate(%+v) = %s by %+v, want %s by %s line %d; steps %s", tt.file, tt.probe, v.Verdict, v.DecidedBy, tt.want, tt.wantChain, tt.wantLine, stepsText(v))
		}
	}
}

func TestParseIPTablesSaveRules(t *testing.T) {
	tests := []struct {
		line  string
		check func(r *Rule) string
	}{
		{`[5:300] -A FORWARD -s 10.0.0.0/8 ! -d 192.168.1.1/32 -i br-+ ! -o eth0 -p tcp -m multiport --dports 80,443,8000:8100 -j ACCEPT`, func(r *Rule) string {
			if r.Counters == nil || r.Counters.Packets != 5 || r.Counters.Bytes != 300 {
				return fmt.Sprintf("counters %+v", r.Counters)
			}
			m, _ := firstMatch(r, MatchDest)
			if !m.Negate || m.Prefixes[0] != netip.MustParsePrefix("192.168.1.1/32") {
				return fmt.Sprintf("dest %+v", m)
			}
			m, _ = firstMatch(r, MatchInIface)
			if m.Values[0] != "br-+" || m.wildcard != "+" {
				return fmt.Sprintf("in iface %+v", m)
			}
			m, _ = firstMatch(r, MatchDPort)
			if len(m.Ports) != 3 || m.Ports[2] != (PortSpan{8000, 8100}) || m.Module != "multiport" {
				return fmt.Sprintf("dports %+v", m)
			}
			if r.Raw != `-A FORWARD -s 10.0.0.0/8 ! -d 192.168.1.1/32 -i br-+ ! -o eth0 -p tcp -m multiport --dports 80,443,8000:8100 -j ACCEPT` {
				return fmt.Sprintf("raw %q", r.Raw)
			}
			return ""
		}},
		{`-A DOCKER-USER -m comment --comment "block \"lab\" net" -m set ! --match-set bad src -j REJECT --reject-with icmp-port-unreachable`, func(r *Rule) string {
			if r.Comment != `block "lab" net` {
				return fmt.Sprintf("comment %q", r.Comment)
			}
			m, ok := firstMatch(r, MatchSet)
			if !ok || !m.Negate || m.Values[0] != "bad" || m.Values[1] != "src" {
				return fmt.Sprintf("set %+v", m)
			}
			if r.Target.Name != "REJECT" || r.Target.RejectWith != "icmp-port-unreachable" {
				return fmt.Sprintf("target %+v", r.Target)
			}
			return ""
		}},
		{`-A PREROUTING -m conntrack --ctstate DNAT --ctorigdstport 8080 -m physdev --physdev-in veth1 --physdev-is-bridged -g OTHER`, func(r *Rule) string {
			if m, _ := firstMatch(r, MatchCTOrigDstPort); len(m.Ports) != 1 || m.Ports[0].From != 8080 {
				return fmt.Sprintf("ctorigdstport %+v", m)
			}
			if m, _ := firstMatch(r, MatchPhysdevIn); len(m.Values) != 1 || m.Values[0] != "veth1" {
				return fmt.Sprintf("physdev %+v", m)
			}
			if !hasMatch(r, MatchPhysdevFlag) || r.Target.Name != "OTHER" || !r.Target.Goto {
				return fmt.Sprintf("physdev flag / goto %+v", r.Target)
			}
			return ""
		}},
		{`-A POSTROUTING -s 172.18.0.0/16 -o eth0 -m statistic --mode random --probability 0.5 -j SNAT --to-source 203.0.113.7:1024-65535 --random`, func(r *Rule) string {
			if len(r.Unknown) != 2 || r.Unknown[0] != "--mode random" || r.Unknown[1] != "--probability 0.5" {
				return fmt.Sprintf("unknown %q", r.Unknown)
			}
			if r.Target.ToSource != "203.0.113.7:1024-65535" || r.Target.Args[len(r.Target.Args)-1] != "--random" {
				return fmt.Sprintf("target %+v", r.Target)
			}
			return ""
		}},
		{`-A DOCKER -d 10.1.0.0/255.255.0.0 -p udp -m udp --sport 53 -j REDIRECT --to-ports 5353`, func(r *Rule) string {
			if m, _ := firstMatch(r, MatchDest); m.Prefixes[0] != netip.MustParsePrefix("10.1.0.0/16") {
				return fmt.Sprintf("dotted netmask %+v", m)
			}
			if m, _ := firstMatch(r, MatchSPort); len(m.Ports) != 1 || m.Ports[0].From != 53 {
				return fmt.Sprintf("sport %+v", m)
			}
			if r.Target.ToPorts != "5353" {
				return fmt.Sprintf("to-ports %+v", r.Target)
			}
			return ""
		}},
		{`-A DOCKER -d fd00:dead::2/128 ! -i br-1 -o br-1 -p tcp -m tcp --dport 80 -j ACCEPT`, func(r *Rule) string {
			if m, _ := firstMatch(r, MatchDest); !m.Prefixes[0].Addr().Is6() {
				return fmt.Sprintf("v6 dest %+v", m)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		in := "*filter\n:FORWARD ACCEPT [0:0]\n:DOCKER-USER - [0:0]\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n" + tt.line + "\nCOMMIT\n"
		rs, err := ParseIPTablesSave(strings.NewReader(in))
		if err != nil {
			t.Errorf("ParseIPTablesSave(%q) error %v", tt.line, err)
			continue
		}
		var rule *Rule
		rs.rules(func(_ *Table, _ *Chain, r *Rule) { rule = r })
		if rule == nil {
			t.Errorf("ParseIPTablesSave(%q) has no rule", tt.line)
			continue
		}
		if rule.Line != 7 || rule.Position != 1 {
			t.Errorf("ParseIPTablesSave(%q) rule at line %d position %d, want 7 and 1", tt.line, rule.Line, rule.Position)
		}
		if msg := tt.check(rule); msg != "" {
			b, _ := json.Marshal(rule)
			t.Errorf("ParseIPTablesSave(%q): wrong %s; rule %s", tt.line, msg, b)
		}
	}
}

func TestParseIPTablesSaveMalformed(t *testing.T) {
	tests := []struct {
		in       string
		wantLine int
		wantMsg  string
	}{
		{"*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m comment --comment \"open -j ACCEPT\nCOMMIT\n", 3, "unterminated quote"},
		{"-A FORWARD -j ACCEPT\n", 1, "rule outside a table"},
		{"*filter\n:FORWARD ACCEPT [x:0]\nCOMMIT\n", 2, "bad counters"},
		{"*filter\n:FORWARD ACCEPT [0:0]\n[1:2 -A FORWARD -j ACCEPT\nCOMMIT\n", 3, "bad counters"},
		{"*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s\nCOMMIT\n", 3, "needs 1 argument"},
		{"*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -s 10.0.0.300 -j DROP\nCOMMIT\n", 3, "bad address"},
		{"*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -p tcp --dport 99999 -j DROP\nCOMMIT\n", 3, "bad port"},
		{"*filter\n:FORWARD ACCEPT [0:0]\n-I FORWARD -j DROP\nCOMMIT\n", 3, "expected -A CHAIN"},
		{"*filter\n:FORWARD ACCEPT [0:0]\n-A NOPE -j DROP\nCOMMIT\n", 3, "undeclared chain"},
		{"*filter\n:FORWARD ACCEPT [0:0]\n", 2, "no COMMIT"},
		{"*filter\n:FORWARD\nCOMMIT\n", 2, "bad chain line"},
		{"*nat\n*filter\nCOMMIT\n", 2, "starts before COMMIT"},
	}
	for _, tt := range tests {
		rs, err := ParseIPTablesSave(strings.NewReader(tt.in))
		var re *RulesetError
		if !errors.As(err, &re) {
			t.Errorf("ParseIPTablesSave(%q) error = %v, want *RulesetError", tt.in, err)
			continue
		}
		if re.First.Line != tt.wantLine || !strings.Contains(re.First.Msg, tt.wantMsg) {
			t.Errorf("ParseIPTablesSave(%q) = line %d %q, want line %d containing %q", tt.in, re.First.Line, re.First.Msg, tt.wantLine, tt.wantMsg)
		}
		if rs == nil {
			t.Errorf("ParseIPTablesSave(%q) returned no partial ruleset", tt.in)
		}
	}
}

func TestParseIPTablesSaveLimits(t *testing.T) {
	long := "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m comment --comment " + strings.Repeat("x", maxIPTablesLineBytes) + " -j ACCEPT\nCOMMIT\n"
	_, err := ParseIPTablesSave(strings.NewReader(long))
	if !errors.Is(err, ErrRulesetTooLarge) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("ParseIPTablesSave(long line) error = %v, want ErrRulesetTooLarge at line 3", err)
	}
	many := "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD" + strings.Repeat(" -j", maxRuleTokens) + "\nCOMMIT\n"
	_, err = ParseIPTablesSave(strings.NewReader(many))
	var re *RulesetError
	if !errors.As(err, &re) || re.First.Line != 3 || !strings.Contains(re.First.Msg, "tokens") {
		t.Errorf("ParseIPTablesSave(too many tokens) error = %v, want a token-limit problem at line 3", err)
	}
}

// TestFirewallVerdictLoop feeds a jump loop, which a kernel would refuse but
// a forged dump can hold: the walk must stop and say so.
func TestFirewallVerdictLoop(t *testing.T) {
	in := "*filter\n:FORWARD DROP [0:0]\n:A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A A -j B\n-A B -j A\nCOMMIT\n"
	rs, err := ParseIPTablesSave(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	v := rs.ForwardVerdict("eth0", "eth1", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), "tcp", 80)
	if !v.Truncated || v.Verdict != "drop" {
		t.Errorf("ForwardVerdict(loop) = %s truncated %v, want drop (policy) and truncated", v.Verdict, v.Truncated)
	}
}

// TestFirewallUncertain checks that a condition the model cannot evaluate is
// reported, not silently taken as false.
func TestFirewallUncertain(t *testing.T) {
	in := "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m set --match-set blocked src -j DROP\n-A FORWARD -m owner --uid-owner 0 -j DROP\nCOMMIT\n"
	rs, err := ParseIPTablesSave(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	v := rs.ForwardVerdict("eth0", "eth1", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), "tcp", 80)
	if v.Verdict != "accept" || len(v.Uncertain) != 2 || v.Uncertain[0].Line != 3 || v.Uncertain[1].Line != 4 {
		t.Errorf("ForwardVerdict = %s uncertain %+v, want accept with lines 3 and 4 uncertain", v.Verdict, v.Uncertain)
	}
	rs.IPSets = map[string][]netip.Prefix{"blocked": {netip.MustParsePrefix("10.0.0.0/24")}}
	v = rs.ForwardVerdict("eth0", "eth1", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), "tcp", 80)
	if v.Verdict != "drop" || v.DecidedBy == nil || v.DecidedBy.Line != 3 {
		t.Errorf("ForwardVerdict with ipset = %s by %+v, want drop by line 3", v.Verdict, v.DecidedBy)
	}
}

// TestRulesetJSON checks that the model serialises (it ends up in the
// analysis document) with its evidence fields.
func TestRulesetJSON(t *testing.T) {
	rs := loadRuleset(t, "docker-27.iptables", false)
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"source":"iptables-save"`, `"family":"ipv4"`, `"policy":"ACCEPT"`, `"kind":"oif","negate":true,"values":["bridge1"]`, `"to_destination":"192.0.2.2:80"`, `"prefixes":["192.0.2.0/24"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("json.Marshal(ruleset) lacks %s", want)
		}
	}
}

func FuzzParseIPTablesSave(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "firewall", "*.iptables"))
	podman, _ := filepath.Glob(filepath.Join("testdata", "podman", "*", "iptables.save"))
	files = append(files, podman...)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m comment --comment \"a \\\" b\" -j ACCEPT\nCOMMIT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseIPTablesSave(strings.NewReader(string(data)))
		if rs == nil {
			t.Fatalf("ParseIPTablesSave returned nil ruleset (err %v)", err)
		}
		var re *RulesetError
		if errors.As(err, &re) && re.First.Line == 0 {
			t.Errorf("problem without a line number: %v", err)
		}
		// The interpretation must not panic on whatever was parsed.
		rs.Masquerades()
		rs.PublishedPorts()
		rs.Forward()
		rs.InferDockerIPSets()
		rs.Evaluate(Probe{In: "eth0", Out: "docker0", Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("172.17.0.2"), Proto: "tcp", DPort: 80, DstLocal: true})
		rs.SourceNAT(Probe{In: "docker0", Out: "eth0", Src: netip.MustParseAddr("172.17.0.2"), Dst: netip.MustParseAddr("10.0.0.1"), NoMark: true})
		if _, err := json.Marshal(rs); err != nil {
			t.Errorf("json.Marshal: %v", err)
		}
	})
}

// requireDocker skips when the real engine or the netfilter tools are
// absent, except under CI=true where their absence is a failure.
func requireDocker(t *testing.T) {
	t.Helper()
	skip := func(reason string) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %s", reason)
		}
		t.Skip(reason)
	}
	if os.Geteuid() != 0 {
		skip("not root: iptables-save needs CAP_NET_ADMIN")
	}
	for _, tool := range []string{"docker", "iptables-save", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip(tool + " not installed")
		}
	}
	if err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").Run(); err != nil {
		skip("no Docker engine: " + err.Error())
	}
}

func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestFirewallLiveDocker creates two user-defined networks and a container
// with a published port on the real engine, then checks that the parsed
// iptables-save and nft -j output show what the engine reports. It sends no
// traffic.
func TestFirewallLiveDocker(t *testing.T) {
	requireDocker(t)
	prefix := fmt.Sprintf("dcf-fwt-%d", os.Getpid())
	// The shared workload image, which other tests reuse: not removed here.
	// Without flags the workload idles, so the container stays up (its port
	// rules exist only while it runs) and sends nothing.
	image := e2etest.WorkloadImage(t)
	var nets [2]struct{ name, id, bridge, subnet string }
	for i := range nets {
		n := &nets[i]
		n.name = fmt.Sprintf("%s-n%d", prefix, i)
		n.id = runTool(t, "docker", "network", "create", "--driver", "bridge", n.name)
		t.Cleanup(func() { _ = exec.Command("docker", "network", "rm", n.name).Run() })
		n.bridge = "br-" + n.id[:12]
		n.subnet = runTool(t, "docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", n.name)
	}
	ctr := prefix + "-web"
	// --dns 127.0.0.1: the container must never use the host's resolvers.
	runTool(t, "docker", "run", "-d", "--name", ctr, "--network", nets[0].name, "--dns", "127.0.0.1", "-p", "127.0.0.1::80/tcp", image)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", ctr).Run() })
	ctrIP := netip.MustParseAddr(runTool(t, "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", ctr))
	hostAP := netip.MustParseAddrPort(runTool(t, "docker", "port", ctr, "80/tcp"))

	rs, err := ParseIPTablesSave(strings.NewReader(runTool(t, "iptables-save", "-c")))
	if err != nil {
		t.Fatalf("ParseIPTablesSave(live): %v", err)
	}
	found := false
	for _, n := range rs.Masquerades() {
		if n.Source == nets[0].subnet && n.OutIface == nets[0].bridge && n.OutNegated && n.Ref.Counters != nil {
			found = true
		}
	}
	if !found {
		t.Errorf("live Masquerades() = %+v, want -s %s ! -o %s with counters", rs.Masquerades(), nets[0].subnet, nets[0].bridge)
	}
	found = false
	for _, d := range rs.PublishedPorts() {
		if d.HostPort == hostAP.Port() && d.HostIP == hostAP.Addr().String() && d.ContainerIP == ctrIP.String() && d.ContainerPort == 80 && d.InIface == nets[0].bridge && d.InNegated {
			found = true
		}
	}
	if !found {
		t.Errorf("live PublishedPorts() = %+v, want %s → %s:80 with ! -i %s", rs.PublishedPorts(), hostAP, ctrIP, nets[0].bridge)
	}
	other := nets[1].subnet
	otherIP := netip.MustParsePrefix(other).Addr().Next().Next()
	v := rs.ForwardVerdict(nets[0].bridge, nets[1].bridge, ctrIP, otherIP, "tcp", 80)
	if v.Verdict != "drop" || v.DecidedBy == nil || !strings.HasPrefix(v.DecidedBy.Chain, "DOCKER") {
		t.Errorf("live ForwardVerdict(%s→%s) = %s by %+v, want drop by a Docker chain; steps %s", nets[0].bridge, nets[1].bridge, v.Verdict, v.DecidedBy, stepsText(v))
	}
	v = rs.ForwardVerdict(nets[0].bridge, "eth0", ctrIP, netip.MustParseAddr("100.64.7.7"), "tcp", 443)
	if v.Verdict != "accept" {
		t.Errorf("live ForwardVerdict(%s→eth0) = %s by %+v, want accept; steps %s", nets[0].bridge, v.Verdict, v.DecidedBy, stepsText(v))
	}

	// The same rules through nft's JSON (iptables-nft shows them as xt
	// expressions where it has no native form).
	nrs, err := ParseNftJSON(strings.NewReader(runTool(t, "nft", "-j", "list", "ruleset")))
	if err != nil {
		t.Fatalf("ParseNftJSON(live): %v", err)
	}
	found = false
	for _, n := range nrs.Masquerades() {
		if n.Source == nets[0].subnet && n.OutIface == nets[0].bridge && n.OutNegated {
			found = true
		}
	}
	if !found {
		t.Errorf("live nft Masquerades() = %+v, want saddr %s oifname != %s", nrs.Masquerades(), nets[0].subnet, nets[0].bridge)
	}
}
