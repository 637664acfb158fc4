package firewall

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadPodmanRuleset(t *testing.T, backend string, nft bool) *Ruleset {
	t.Helper()
	name := filepath.Join("testdata", "podman", backend, "iptables.save")
	parse := ParseIPTablesSave
	if nft {
		name, parse = filepath.Join("testdata", "podman", backend, "nft.json"), ParseNftJSON
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rs, err := parse(f)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return rs
}

// TestSourceNATWalksJumps follows packets through the real nat tables of a
// Podman host, whose POSTROUTING jumps by source address into a chain per
// container (CNI) or per network (netavark), and masquerades marked packets
// apart: each container's path cites its own chain and never another's,
// and never the masquerade of marked (port-forwarded) packets.
func TestSourceNATWalksJumps(t *testing.T) {
	const (
		cniBeacon = "CNI-a93864aea95a6318473ebc0d"
		cniQuiet  = "CNI-37c8fb17b75b4e27081c3b7e"
		cniPub    = "CNI-be2157837943adb0b35a0553"
		navNet1   = "NETAVARK-5B27CCCFAB62D"
		navNet2   = "NETAVARK-764296B92F645"
	)
	outside := netip.MustParseAddr("198.18.0.9")
	tests := []struct {
		name      string
		backend   string
		bridge    string
		src, dst  string
		noMark    bool
		wantChain string   // the chain of the MASQUERADE; "" for no NAT
		wantJumps []string // the chains the walk entered, in order
		notCited  []string // chains no step may name
		uncertain string   // a chain of an uncertain rule; "" for none
	}{
		{name: "cni beacon", backend: "cni", bridge: "cni-podman1", src: "198.18.73.2", noMark: true,
			wantChain: cniBeacon, wantJumps: []string{"CNI-HOSTPORT-MASQ", cniBeacon}, notCited: []string{cniQuiet, cniPub}},
		{name: "cni quiet", backend: "cni", bridge: "cni-podman1", src: "198.18.73.3", noMark: true,
			wantChain: cniQuiet, wantJumps: []string{"CNI-HOSTPORT-MASQ", cniQuiet}, notCited: []string{cniBeacon, cniPub}},
		{name: "cni container unknown to the rules", backend: "cni", bridge: "cni-podman1", src: "198.18.73.9", noMark: true,
			wantJumps: []string{"CNI-HOSTPORT-MASQ"}, notCited: []string{cniBeacon, cniQuiet, cniPub}},
		{name: "cni own subnet", backend: "cni", bridge: "cni-podman1", src: "198.18.73.2", dst: "198.18.73.3", noMark: true,
			wantJumps: []string{"CNI-HOSTPORT-MASQ", cniBeacon}, notCited: []string{cniQuiet}},
		{name: "cni multicast", backend: "cni", bridge: "cni-podman1", src: "198.18.73.3", dst: "224.0.0.251", noMark: true,
			wantJumps: []string{"CNI-HOSTPORT-MASQ", cniQuiet}, notCited: []string{cniBeacon}},
		{name: "cni mark unknown", backend: "cni", bridge: "cni-podman1", src: "198.18.73.2",
			wantChain: cniBeacon, wantJumps: []string{"CNI-HOSTPORT-MASQ", cniBeacon}, notCited: []string{cniQuiet}, uncertain: "CNI-HOSTPORT-MASQ"},
		{name: "netavark beacon", backend: "netavark", bridge: "podman1", src: "198.18.71.5", noMark: true,
			wantChain: navNet1, wantJumps: []string{"NETAVARK-HOSTPORT-MASQ", navNet1}, notCited: []string{navNet2}},
		{name: "netavark quiet", backend: "netavark", bridge: "podman2", src: "198.18.72.3", noMark: true,
			wantChain: navNet2, wantJumps: []string{"NETAVARK-HOSTPORT-MASQ", navNet2}, notCited: []string{navNet1}},
		{name: "netavark mark unknown", backend: "netavark", bridge: "podman2", src: "198.18.72.3",
			wantChain: navNet2, wantJumps: []string{"NETAVARK-HOSTPORT-MASQ", navNet2}, notCited: []string{navNet1}, uncertain: "NETAVARK-HOSTPORT-MASQ"},
	}
	for _, tt := range tests {
		for _, nft := range []bool{false, true} {
			rs := loadPodmanRuleset(t, tt.backend, nft)
			dst := outside
			if tt.dst != "" {
				dst = netip.MustParseAddr(tt.dst)
			}
			p := Probe{In: tt.bridge, Out: "eth0", Src: netip.MustParseAddr(tt.src), Dst: dst, NoMark: tt.noMark}
			got := rs.SourceNAT(p)
			name := tt.name + map[bool]string{false: " (iptables-save)", true: " (nft json)"}[nft]
			switch {
			case tt.wantChain == "" && got.Rule != nil:
				t.Errorf("%s: SourceNAT = %s, want no NAT", name, got.Rule.Raw)
			case tt.wantChain != "" && (got.Rule == nil || got.Rule.Chain != tt.wantChain || got.Rule.Target.Name != "MASQUERADE"):
				t.Errorf("%s: SourceNAT = %+v, want the MASQUERADE of %s", name, got.Rule, tt.wantChain)
			}
			var jumps []string
			for _, s := range got.Steps {
				if v, ok := strings.CutPrefix(s.Action, "jump "); ok {
					jumps = append(jumps, v)
				}
				for _, c := range tt.notCited {
					if s.Ref.Chain == c || strings.Contains(s.Action, c) {
						t.Errorf("%s: step %q in %s cites %s", name, s.Action, s.Ref.Chain, c)
					}
				}
			}
			if !slices.Equal(jumps, tt.wantJumps) {
				t.Errorf("%s: jumps = %q, want %q", name, jumps, tt.wantJumps)
			}
			var unsure []string
			for _, u := range got.Uncertain {
				unsure = append(unsure, u.Chain)
			}
			if want := []string{tt.uncertain}; (tt.uncertain == "" && len(unsure) > 0) || (tt.uncertain != "" && !slices.Equal(unsure, want)) {
				t.Errorf("%s: uncertain in %q, want %q", name, unsure, tt.uncertain)
			}
		}
	}
}

// TestSourceNATConditionalJumps checks the conditions of jumps the Podman
// dumps do not have: an interface with "!", a protocol and port, an ipset
// (uncertain: the branch is returned apart, never taken), RETURN, a goto,
// and a mark set on the way.
func TestSourceNATConditionalJumps(t *testing.T) {
	const dump = `*mangle
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -i br-mark -j MARK --set-xmark 0x10/0x10
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:BY-IFACE - [0:0]
:BY-PORT - [0:0]
:BY-SET - [0:0]
:BY-MARK - [0:0]
:GOTO - [0:0]
:TAIL - [0:0]
-A POSTROUTING -m set --match-set blocked src -j BY-SET
-A POSTROUTING ! -o eth0 -j BY-IFACE
-A POSTROUTING -p tcp --dport 443 -j BY-PORT
-A POSTROUTING -m mark --mark 0x10/0x10 -j BY-MARK
-A POSTROUTING -s 10.9.0.0/16 -g GOTO
-A POSTROUTING -j TAIL
-A BY-SET -j MASQUERADE
-A BY-IFACE -j MASQUERADE
-A BY-PORT -j SNAT --to-source 192.0.2.1
-A BY-MARK -j SNAT --to-source 192.0.2.2
-A GOTO -s 10.9.1.0/24 -j RETURN
-A GOTO -j SNAT --to-source 192.0.2.3
-A TAIL -s 10.0.0.0/8 -j MASQUERADE
COMMIT
`
	rs, err := ParseIPTablesSave(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		p         Probe
		wantChain string
		wantRaw   string
		uncertain bool
	}{
		{"leaves by eth0, any port", Probe{In: "br-a", Out: "eth0", Src: netip.MustParseAddr("10.1.0.2")}, "TAIL", "-A TAIL -s 10.0.0.0/8 -j MASQUERADE", true},
		{"leaves by another interface", Probe{In: "br-a", Out: "wg0", Src: netip.MustParseAddr("10.1.0.2")}, "BY-IFACE", "", true},
		{"tcp 443", Probe{In: "br-a", Out: "eth0", Src: netip.MustParseAddr("10.1.0.2"), Proto: "tcp", DPort: 443}, "BY-PORT", "", true},
		{"udp 443", Probe{In: "br-a", Out: "eth0", Src: netip.MustParseAddr("10.1.0.2"), Proto: "udp", DPort: 443}, "TAIL", "", true},
		{"marked in mangle", Probe{In: "br-mark", Out: "eth0", Src: netip.MustParseAddr("10.1.0.2"), NoMark: true}, "BY-MARK", "", true},
		{"not marked", Probe{In: "br-a", Out: "eth0", Src: netip.MustParseAddr("10.1.0.2"), NoMark: true}, "TAIL", "", true},
		{"goto returns past the caller's rest", Probe{In: "br-a", Out: "eth0", Src: netip.MustParseAddr("10.9.1.2"), NoMark: true}, "", "", true},
		{"goto", Probe{In: "br-a", Out: "eth0", Src: netip.MustParseAddr("10.9.2.2"), NoMark: true}, "GOTO", "", true},
		{"outside every rule", Probe{In: "br-a", Out: "eth0", Src: netip.MustParseAddr("172.16.0.2"), NoMark: true}, "", "", true},
	}
	for _, tt := range tests {
		tt.p.Dst = netip.MustParseAddr("198.18.0.9")
		got := rs.SourceNAT(tt.p)
		chain := ""
		if got.Rule != nil {
			chain = got.Rule.Chain
		}
		if chain != tt.wantChain || (tt.wantRaw != "" && got.Rule.Raw != tt.wantRaw) {
			t.Errorf("%s: SourceNAT(%+v) in chain %q, want %q", tt.name, tt.p, chain, tt.wantChain)
		}
		setUnsure := slices.ContainsFunc(got.Uncertain, func(r RuleRef) bool { return strings.Contains(r.Raw, "--match-set") })
		if setUnsure != tt.uncertain {
			t.Errorf("%s: ipset jump uncertain = %v, want %v (uncertain %+v)", tt.name, setUnsure, tt.uncertain, got.Uncertain)
		}
		if got.Rule != nil && got.Rule.Chain == "BY-SET" {
			t.Errorf("%s: the uncertain ipset branch was taken", tt.name)
		}
	}
}

// TestSourceNATDocker checks that the walk finds Docker's masquerade of the
// user-defined network in every layout, as the dump-order lookup did.
func TestSourceNATDocker(t *testing.T) {
	for _, tc := range layoutCases {
		rs := loadRuleset(t, tc.file, tc.nft)
		if tc.ipsets {
			rs.InferDockerIPSets()
		}
		got := rs.SourceNAT(Probe{In: tc.bridgeA, Out: tc.uplink, Src: netip.MustParseAddr(tc.containerA), Dst: netip.MustParseAddr(tc.outside), NoMark: true})
		if got.Rule == nil || got.Rule.Target.Name != "MASQUERADE" {
			t.Errorf("%s: SourceNAT = %+v, want a MASQUERADE", tc.file, got.Rule)
			continue
		}
		if m, ok := firstMatch(got.Rule, MatchSource); ok && matchText(m) != tc.subnetA {
			t.Errorf("%s: SourceNAT = %s, want the masquerade of %s", tc.file, got.Rule.Raw, tc.subnetA)
		}
		// Within its own bridge nothing is masqueraded.
		if own := rs.SourceNAT(Probe{In: tc.bridgeA, Out: tc.bridgeA, Src: netip.MustParseAddr(tc.containerA), Dst: netip.MustParseAddr(tc.containerA), NoMark: true}); own.Rule != nil {
			t.Errorf("%s: SourceNAT towards its own bridge = %s, want none", tc.file, own.Rule.Raw)
		}
	}
}

// TestNetavarkNftables follows packets through netavark's native nftables
// table (constructed fixture: see testdata/podman/README.md), alone and
// merged with a host's iptables-save dump, as the model merges them.
func TestNetavarkNftables(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "podman", "netavark-nft", "nft.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := ParseNftJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	nv := doc.Netavark()
	if nv == nil || len(nv.Tables) != 1 || nv.Tables[0].Family != "inet" {
		t.Fatalf("Netavark() = %+v, want table inet netavark", nv)
	}
	if rs := loadRuleset(t, "docker-29-nftables.json", true); rs.Netavark() != nil {
		t.Errorf("Netavark() of Docker's nftables dump = %+v, want nil", rs.Netavark())
	}
	cni := loadPodmanRuleset(t, "cni", false)
	for _, tt := range []struct {
		name      string
		rs        *Ruleset
		bridge    string
		src       string
		wantChain string
	}{
		{"beacon", nv, "podman1", "198.18.71.5", "nv_db64a472_198_18_71_0_nm24"},
		{"quiet", nv, "podman2", "198.18.72.3", "nv_1f5e3266_198_18_72_0_nm24"},
		{"quiet, merged with another host's iptables", Merge(cni, nv), "podman2", "198.18.72.3", "nv_1f5e3266_198_18_72_0_nm24"},
	} {
		p := Probe{In: tt.bridge, Out: "eth0", Src: netip.MustParseAddr(tt.src), Dst: netip.MustParseAddr("198.18.0.9"), NoMark: true}
		got := tt.rs.SourceNAT(p)
		if got.Rule == nil || got.Rule.Chain != tt.wantChain || got.Rule.Target.Name != "MASQUERADE" || got.Rule.Path == "" {
			t.Errorf("%s: SourceNAT = %+v, want the masquerade of %s", tt.name, got.Rule, tt.wantChain)
		}
		if len(got.Uncertain) != 0 {
			t.Errorf("%s: uncertain %+v, want none (the mark is known)", tt.name, got.Uncertain)
		}
		v := tt.rs.ForwardVerdict(tt.bridge, "eth0", p.Src, p.Dst, "tcp", 443)
		if v.Verdict != "accept" || v.DecidedBy == nil || v.DecidedBy.Table != netavarkTable {
			t.Errorf("%s: ForwardVerdict = %s by %+v, want accept by netavark's FORWARD", tt.name, v.Verdict, v.DecidedBy)
		}
	}
	// Beside Docker's iptables, whose FORWARD policy is DROP, the packet
	// is dropped before it is masqueraded, as the kernel would.
	docker := Merge(loadRuleset(t, "docker-28.0.1.iptables", false), nv)
	src, dst := netip.MustParseAddr("198.18.72.3"), netip.MustParseAddr("198.18.0.9")
	if v := docker.ForwardVerdict("podman2", "eth0", src, dst, "tcp", 443); v.Verdict != "drop" || v.DecidedBy == nil || v.DecidedBy.Policy != "DROP" {
		t.Errorf("beside Docker: ForwardVerdict = %s by %+v, want Docker's FORWARD policy DROP", v.Verdict, v.DecidedBy)
	}
	if got := docker.SourceNAT(Probe{In: "podman2", Out: "eth0", Src: src, Dst: dst, NoMark: true}); got.Rule != nil {
		t.Errorf("beside Docker: SourceNAT = %s, want none (dropped in forward)", got.Rule.Raw)
	}
	// A published port's packet is marked on its way in; it is masqueraded
	// by the mark rule, whose mark the walk cannot follow through nft's
	// "meta mark set meta mark | 0x2000": uncertain, and never silently
	// taken.
	p := Probe{In: "lo", Out: "podman1", Src: netip.MustParseAddr("127.0.0.1"), Dst: netip.MustParseAddr("127.0.0.1"), Proto: "tcp", DPort: 18080, DstLocal: true, NoMark: true}
	got := nv.SourceNAT(p)
	if got.Rule != nil && got.Rule.Chain == "POSTROUTING" {
		t.Errorf("published port: SourceNAT took the mark rule %s although the mark is unknown", got.Rule.Raw)
	}
	if !slices.ContainsFunc(got.Uncertain, func(r RuleRef) bool { return r.Chain == "POSTROUTING" }) {
		t.Errorf("published port: uncertain %+v, want the mark rule of POSTROUTING", got.Uncertain)
	}
}
