package firewall

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseNftJSONDocker29(t *testing.T) {
	rs := loadRuleset(t, "docker-29-nftables.json", true)
	tbl := rs.Table("ip", "docker-bridges")
	if tbl == nil {
		t.Fatalf("ParseNftJSON: no table ip docker-bridges in %+v", rs.Tables)
	}
	fwd := tbl.Chain("filter-FORWARD")
	if fwd == nil || fwd.Hook != "forward" || fwd.Priority != 0 || fwd.Policy != "ACCEPT" || fwd.Type != "filter" {
		t.Fatalf("filter-FORWARD = %+v, want forward hook, priority 0, policy ACCEPT", fwd)
	}
	if raw := tbl.Chain("raw-PREROUTING"); raw == nil || raw.Priority != -300 {
		t.Errorf("raw-PREROUTING = %+v, want priority -300", raw)
	}
	m := tbl.mapNamed("filter-forward-in-jumps")
	if m == nil || m.Type != "ifname" || m.Data != "verdict" || len(m.Elems) != 2 ||
		m.Elems[1].Key != "bridge1" || m.Elems[1].Verdict == nil || m.Elems[1].Verdict.Name != "filter-forward-in__bridge1" {
		t.Errorf("map filter-forward-in-jumps = %+v, want bridge1 → jump filter-forward-in__bridge1", m)
	}
	tests := []struct {
		chain    string
		position int
		wantRaw  string
	}{
		{"filter-FORWARD", 1, "oifname vmap @filter-forward-in-jumps"},
		{"nat-prerouting-and-output", 1, `iifname != "bridge1" tcp dport 8080 counter dnat to 192.0.2.2:80 comment "DNAT"`},
		{"raw-PREROUTING", 1, `ip daddr 192.0.2.2 iifname != "bridge1" counter drop comment "DROP DIRECT ACCESS"`},
		{"filter-forward-in__bridge1", 1, "ct state established,related counter accept"},
		{"nat-postrouting-out__bridge1", 1, `oifname != "bridge1" ip saddr 192.0.2.0/24 counter masquerade comment "MASQUERADE"`},
		{"nat-OUTPUT", 1, "ip daddr != 127.0.0.0/8 fib daddr type local counter jump nat-prerouting-and-output"},
	}
	for _, tt := range tests {
		c := tbl.Chain(tt.chain)
		if c == nil || len(c.Rules) < tt.position {
			t.Errorf("chain %s missing or short: %+v", tt.chain, c)
			continue
		}
		r := c.Rules[tt.position-1]
		if r.Raw != tt.wantRaw {
			t.Errorf("ParseNftJSON rule %s#%d raw = %q, want %q", tt.chain, tt.position, r.Raw, tt.wantRaw)
		}
		if !strings.HasPrefix(r.Path, "nftables[") || r.Handle == 0 || len(r.Unknown) != 0 {
			t.Errorf("ParseNftJSON rule %s#%d path %q handle %d unknown %q, want a path, a handle and nothing unknown", tt.chain, tt.position, r.Path, r.Handle, r.Unknown)
		}
	}
	// The verdict trace names the vmap dispatch and the per-network chain.
	v := rs.ForwardVerdict("bridge1", "docker0", netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("172.17.0.2"), "tcp", 80)
	var actions []string
	for _, s := range v.Steps {
		actions = append(actions, s.Action)
	}
	joined := strings.Join(actions, " | ")
	if !strings.Contains(joined, "vmap @filter-forward-in-jumps → jump filter-forward-in__docker0") || !strings.HasSuffix(joined, "drop") {
		t.Errorf("ForwardVerdict(bridge1→docker0) steps = %q, want the vmap jump then drop", joined)
	}
}

// TestParseNftJSONIPv6 checks an ip6 table is used for IPv6 probes only.
func TestParseNftJSONIPv6(t *testing.T) {
	doc := `{"nftables":[
{"table":{"family":"ip6","name":"docker-bridges","handle":1}},
{"chain":{"family":"ip6","table":"docker-bridges","name":"filter-FORWARD","handle":1,"type":"filter","hook":"forward","prio":0,"policy":"drop"}},
{"rule":{"family":"ip6","table":"docker-bridges","chain":"filter-FORWARD","handle":2,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip6","field":"saddr"}},"right":{"prefix":{"addr":"fd00:1::","len":64}}}},{"match":{"op":"==","left":{"meta":{"key":"oifname"}},"right":"eth*"}},{"accept":null}]}}
]}`
	rs, err := ParseNftJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	v := rs.ForwardVerdict("br-1", "eth0", netip.MustParseAddr("fd00:1::2"), netip.MustParseAddr("2001:db8::1"), "tcp", 443)
	if v.Verdict != "accept" || v.DecidedBy == nil || v.DecidedBy.Handle != 2 {
		t.Errorf("ForwardVerdict(v6 out by eth* wildcard) = %s by %+v, want accept by handle 2", v.Verdict, v.DecidedBy)
	}
	v = rs.ForwardVerdict("br-1", "eth0", netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.9.9.9"), "tcp", 443)
	if v.Verdict != "accept" || v.DecidedBy != nil {
		t.Errorf("ForwardVerdict(v4 through ip6-only ruleset) = %s by %+v, want accept with no deciding rule", v.Verdict, v.DecidedBy)
	}
}

func TestParseNftJSONMalformed(t *testing.T) {
	tests := []struct {
		in       string
		wantPath string
		wantMsg  string
	}{
		{`{"nftables":[{"table":{"family":"ip","name":"t"}},{"chain":{"family":"ip","table":"t"}}]}`, "nftables[1]", "bad chain"},
		{`{"nftables":[{"table":{"family":"ip","name":"t"}},{"rule":{"family":"ip","table":"t","chain":"c","expr":[]}}]}`, "nftables[1]", "unlisted chain"},
		{`{"nftables":[{"table":{"family":"ip","name":"t"}},{"chain":{"family":"ip","table":"t","name":"c"}},{"rule":{"family":"ip","table":"t","chain":"c","expr":[{"match":{"op":"==","left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"not-an-ip"}}]}}]}`, "nftables[2].rule.expr[0]", "bad address"},
		{`{"nftables":[{"table":{"family":"ip","name":"t"},"chain":{}}]}`, "nftables[0]", "2 keys"},
		{`{"nftables":[{"chain":{"family":"ip","table":"ghost","name":"c","hook":"forward","prio":"bogus"}}]}`, "nftables[0]", "unlisted table"},
		{`{"nftables":[{"table":{"family":"ip","name":"t"}},{"map":{"family":"ip","table":"t","name":"m","type":"ifname","map":"verdict","elem":[["a","b","c"]]}}]}`, "nftables[1]", "3 parts"},
	}
	for _, tt := range tests {
		rs, err := ParseNftJSON(strings.NewReader(tt.in))
		var re *RulesetError
		if !errors.As(err, &re) {
			t.Errorf("ParseNftJSON(%q) error = %v, want *RulesetError", tt.in, err)
			continue
		}
		if re.First.Path != tt.wantPath || !strings.Contains(re.First.Msg, tt.wantMsg) {
			t.Errorf("ParseNftJSON(%q) = %s %q, want %s containing %q", tt.in, re.First.Path, re.First.Msg, tt.wantPath, tt.wantMsg)
		}
		if rs == nil {
			t.Errorf("ParseNftJSON(%q) returned no partial ruleset", tt.in)
		}
	}
	if _, err := ParseNftJSON(strings.NewReader(`{"nftables":[`)); err == nil || errors.As(err, new(*RulesetError)) {
		t.Errorf("ParseNftJSON(truncated JSON) error = %v, want a JSON syntax error", err)
	}
}

// TestParseNftJSONUnknownKept checks an expression the model does not map
// is kept verbatim and makes the rule uncertain rather than matching.
func TestParseNftJSONUnknownKept(t *testing.T) {
	doc := `{"nftables":[
{"table":{"family":"inet","name":"f"}},
{"chain":{"family":"inet","table":"f","name":"fwd","type":"filter","hook":"forward","prio":-10,"policy":"accept"}},
{"rule":{"family":"inet","table":"f","chain":"fwd","handle":4,"expr":[{"match":{"op":"==","left":{"meta":{"key":"skuid"}},"right":42}},{"drop":null}]}}
]}`
	rs, err := ParseNftJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	r := rs.Tables[0].Chains[0].Rules[0]
	if len(r.Unknown) != 1 || !strings.Contains(r.Unknown[0], `"skuid"`) {
		t.Errorf("rule unknown = %q, want the meta skuid expression", r.Unknown)
	}
	v := rs.ForwardVerdict("a", "b", netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), "udp", 53)
	if v.Verdict != "accept" || len(v.Uncertain) != 1 || v.Uncertain[0].Handle != 4 {
		t.Errorf("ForwardVerdict = %s uncertain %+v, want accept with handle 4 uncertain", v.Verdict, v.Uncertain)
	}
}

func FuzzParseNftJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "firewall", "*.json"))
	podman, _ := filepath.Glob(filepath.Join("testdata", "podman", "*", "nft.json"))
	files = append(files, podman...)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"nftables":[{"table":{"family":"ip","name":"t"}},{"chain":{"family":"ip","table":"t","name":"c","hook":"forward","prio":0}},{"rule":{"family":"ip","table":"t","chain":"c","expr":[{"vmap":{"key":{"meta":{"key":"oifname"}},"data":"@m"}}]}},{"map":{"family":"ip","table":"t","name":"m","type":"ifname","map":"verdict","elem":[["x",{"goto":{"target":"c"}}]]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := ParseNftJSON(strings.NewReader(string(data)))
		if rs == nil {
			t.Fatalf("ParseNftJSON returned nil ruleset (err %v)", err)
		}
		var re *RulesetError
		if errors.As(err, &re) && re.First.Path == "" {
			t.Errorf("problem without a JSON path: %v", err)
		}
		rs.Masquerades()
		rs.PublishedPorts()
		Merge(rs, rs.Netavark())
		rs.Forward()
		for _, out := range []string{"x", "docker0", "eth0"} {
			rs.Evaluate(Probe{In: "bridge1", Out: out, Src: netip.MustParseAddr("192.0.2.2"), Dst: netip.MustParseAddr("172.17.0.2"), Proto: "tcp", DPort: 80, DstLocal: true})
			rs.SourceNAT(Probe{In: "bridge1", Out: out, Src: netip.MustParseAddr("192.0.2.2"), Dst: netip.MustParseAddr("198.18.0.9"), NoMark: true})
		}
	})
}
