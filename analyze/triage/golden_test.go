package triage_test

import (
	"encoding/json"
	"flag"
	"net/netip"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/internal/indicator"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// demoIOCs is the demo scenario's C2 address as an indicator list.
func demoIOCs(t testing.TB) (netip.Addr, *indicator.Set) {
	t.Helper()
	c2 := netip.MustParseAddr(analyzetest.Scenario(t, "C2", 1))
	i, err := indicator.Parse(c2.String())
	if err != nil {
		t.Fatal(err)
	}
	return c2, indicator.NewSet([]indicator.Indicator{i})
}

// TestGoldenFindingsDemo runs the triage rules over the committed demo
// bundle and compares them with the golden file; the demo's beacon
// container must show its contact with the C2's ports.
func TestGoldenFindingsDemo(t *testing.T) {
	b := analyzetest.OpenDemo(t)
	h, err := model.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	addr, iocs := demoIOCs(t)
	c2 := addr.String()
	fs := triage.Run(h, triage.Input{IOCs: iocs}, triage.Options{})
	js, err := json.MarshalIndent(fs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	analyzetest.Golden(t, *update, "findings_demo.json", append(js, '\n'))

	var ioc, panics bool
	for _, f := range fs {
		if f.ID == "ioc-contact" && strings.HasPrefix(f.ContainerName, "dce-beacon-") && strings.Contains(f.Title, c2) {
			ioc = true
		}
		if f.ID == "internal-rule-panic" {
			panics = true
		}
		for _, e := range f.Evidence {
			if m, ok := b.Manifest.Member(e.Member); ok && m.SHA256 != e.SHA256 {
				t.Errorf("finding %s cites %s with sha256 %s, the manifest says %s", f.ID, e.Member, e.SHA256, m.SHA256)
			}
		}
		if f.ContainerName != "" && !strings.HasPrefix(f.ContainerName, "dce-beacon-") && triage.SeverityRank(f.Severity) > triage.SeverityRank(triage.SeverityLow) {
			t.Errorf("demo container %s, which did nothing wrong, has %s finding %s %q", f.ContainerName, f.Severity, f.ID, f.Title)
		}
	}
	if !ioc || panics {
		t.Errorf("demo findings: beacon's IOC contact found %v, a rule panicked %v", ioc, panics)
	}
}
