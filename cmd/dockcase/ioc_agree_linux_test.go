//go:build linux && !portable

package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/ioc"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/collect/locate"
	"github.com/dockcase/dockcase/internal/indicator"
)

// The IOC spellings the three matchers once disagreed on: a wildcard, a
// defanged domain, a defanged URL, an IPv4-mapped prefix, CIDRs of both
// families, an address.
var agreeLists = [][]string{
	{"*.evil.example"},
	{"evil[.]example"},
	{"hxxps://evil.example/x"},
	{"::ffff:10.0.0.0/104"},
	{"10.0.0.0/8"},
	{"198.18.0.1"},
	{"2001:db8:7::/48"},
	{"::ffff:198.18.0.1", "2001:db8:7::/48", "*.evil.example"},
	{"hxxp://198[.]18[.]0[.]1:8080/beacon", "C2.Evil.Example."},
}

// TestIOCMatchAgrees checks, for each list of indicators and each candidate
// address and name, that analyze's matching of a flow (indicator.Parse and
// ioc.MatchFlow) and locate's target (locate.ParseTarget, Contains and
// MatchName) give the same answer, and the right one.
func TestIOCMatchAgrees(t *testing.T) {
	local := netip.MustParseAddr("198.19.0.2") // the container's side: on no list
	addrs := map[string]map[string]bool{       // candidate → lists (by first entry) that match it
		"10.0.0.1":        {"::ffff:10.0.0.0/104": true, "10.0.0.0/8": true},
		"::ffff:10.1.2.3": {"::ffff:10.0.0.0/104": true, "10.0.0.0/8": true},
		"11.0.0.1":        {},
		"198.18.0.1":      {"198.18.0.1": true, "::ffff:198.18.0.1": true, "hxxp://198[.]18[.]0[.]1:8080/beacon": true},
		"198.18.0.2":      {},
		"2001:db8:7::9":   {"2001:db8:7::/48": true, "::ffff:198.18.0.1": true},
		"2001:db8:8::9":   {},
		"::ffff:10.0.0.0": {"::ffff:10.0.0.0/104": true, "10.0.0.0/8": true},
	}
	names := map[string]map[string]bool{
		"evil.example":        {"*.evil.example": true, "evil[.]example": true, "hxxps://evil.example/x": true, "::ffff:198.18.0.1": true},
		"c2.evil.example.":    {"*.evil.example": true, "evil[.]example": true, "hxxps://evil.example/x": true, "::ffff:198.18.0.1": true, "hxxp://198[.]18[.]0[.]1:8080/beacon": true},
		"WWW.C2.EVIL.EXAMPLE": {"*.evil.example": true, "evil[.]example": true, "hxxps://evil.example/x": true, "::ffff:198.18.0.1": true, "hxxp://198[.]18[.]0[.]1:8080/beacon": true},
		"notevil.example":     {},
		"evil.example.com":    {},
		"example":             {},
	}
	// What one refuses the other refuses, but for a zone: locate, which
	// watches every interface, cannot keep to one link (see ParseTarget).
	for _, s := range []string{"::ffff:10.0.0.0/95", "evil example", "1.2.3.4.5", "hxxps:///x", "*.198.18.0.1", ""} {
		_, err := indicator.Parse(s)
		_, terr := locate.ParseTarget(s)
		if err == nil || terr == nil {
			t.Errorf("%q: indicator.Parse: %v, locate.ParseTarget: %v; want both to refuse it", s, err, terr)
		}
	}
	for _, list := range agreeLists {
		var iocs []indicator.Indicator
		var targets []locate.Target
		for _, s := range list {
			ind, err := indicator.Parse(s)
			tg, terr := locate.ParseTarget(s)
			if err != nil || terr != nil {
				t.Fatalf("%q: indicator.Parse: %v, locate.ParseTarget: %v; want both to parse it", s, err, terr)
			}
			iocs, targets = append(iocs, ind), append(targets, tg)
		}
		for cand, want := range addrs {
			a := netip.MustParseAddr(cand)
			f := &traffic.Flow{Proto: "tcp", Client: local, ClientPort: 40000, Server: a, ServerPort: 443}
			var inAnalyze, inLocate bool
			for i := range list {
				inAnalyze = inAnalyze || ioc.MatchFlow(iocs[i], f)
				inLocate = inLocate || targets[i].Contains(a)
			}
			if inAnalyze != inLocate || inAnalyze != want[list[0]] {
				t.Errorf("list %q, address %s: analyze %v, locate %v, want %v", list, cand, inAnalyze, inLocate, want[list[0]])
			}
		}
		for cand, want := range names {
			f := &traffic.Flow{Proto: "tcp", Client: local, ClientPort: 40000, Server: netip.MustParseAddr("198.51.100.7"), ServerPort: 443, SNI: cand}
			var inAnalyze, inLocate bool
			for i := range list {
				inAnalyze = inAnalyze || ioc.MatchFlow(iocs[i], f)
				inLocate = inLocate || targets[i].MatchName(cand)
			}
			if inAnalyze != inLocate || inAnalyze != want[list[0]] {
				t.Errorf("list %q, name %s: analyze %v, locate %v, want %v", list, cand, inAnalyze, inLocate, want[list[0]])
			}
		}
	}
}

// TestIOCMatchAgreesOnDemo checks, for each indicator, that analyze's IOC
// answer, findings' ioc-contact findings (dockcase findings --ioc) and
// locate's target agree on whether the demo bundle's C2 (its address, and
// its domain, seen only in DNS) matches.
func TestIOCMatchAgreesOnDemo(t *testing.T) {
	c2 := netip.MustParseAddr(analyzetest.Scenario(t, "C2", 1))
	domain := analyzetest.Scenario(t, "C2", 5)
	if c2 != netip.MustParseAddr("198.18.185.2") || domain != "c2.evil.example" {
		t.Fatalf("the demo's C2 is %s %s: the table below names 198.18.185.2 and c2.evil.example", c2, domain)
	}
	signers := "--allowed-signers=" + filepath.Join(analyzetest.DemoDir(), "allowed_signers")
	for _, tc := range []struct {
		ioc  string
		want bool
	}{
		{"198.18.185.2", true},
		{"198[.]18[.]185[.]2", true},
		{"::ffff:198.18.185.2", true},
		{"hxxp://198[.]18[.]185[.]2:4444/x", true},
		{"198.18.0.0/15", true},
		{"::ffff:198.18.0.0/111", true},
		{"::ffff:10.0.0.0/104", false},
		{"10.0.0.0/8", false},
		{"198.18.0.1", false},
		{"2001:db8::/32", false},
		{"c2.evil.example", true},
		{"*.evil.example", true},
		{"evil[.]example", true},
		{"hxxps://evil.example/x", true},
		{"notevil.example", false},
		{"evil.example.com", false},
	} {
		res := demoAnalysis(t, "--ioc", tc.ioc)
		inAnalyze := false
		for _, h := range res.IOCs {
			inAnalyze = inAnalyze || len(h.Contacts) > 0
		}
		var stdout, stderr bytes.Buffer
		if code := Main([]string{"findings", signers, "--json", "--ioc", tc.ioc, analyzetest.DemoBundle()}, nil, &stdout, &stderr); code != exitOK && code != exitGaps {
			t.Fatalf("findings --ioc %s: exit %d (the demo is a partial collection: 3)\nstderr: %s", tc.ioc, code, stderr.String())
		}
		var doc findingsDoc
		if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		inFindings := false
		for _, f := range doc.Findings {
			inFindings = inFindings || f.ID == "ioc-contact"
		}
		tg, err := locate.ParseTarget(tc.ioc)
		if err != nil {
			t.Fatalf("locate.ParseTarget(%q): %v", tc.ioc, err)
		}
		inLocate := tg.Contains(c2) || tg.MatchName(domain)
		if inAnalyze != tc.want || inFindings != tc.want || inLocate != tc.want {
			t.Errorf("--ioc %s on the demo: analyze %v, findings %v, locate %v; want %v", tc.ioc, inAnalyze, inFindings, inLocate, tc.want)
		}
	}
}
