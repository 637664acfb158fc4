package analyze_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/bundle"
)

// TestGoldenFindingsDemo runs the triage rules over the committed demo
// bundle and compares them with the golden file; the demo's beacon
// container must show its contact with the C2's ports.
func TestGoldenFindingsDemo(t *testing.T) {
	b := analyzetest.OpenDemo(t)
	h, err := analyze.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	c2 := demoC2(t).String()
	fs := analyze.Findings(h, analyze.FindingOptions{IOCs: []string{c2}})
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
		if f.ContainerName != "" && !strings.HasPrefix(f.ContainerName, "dce-beacon-") && analyze.SeverityRank(f.Severity) > analyze.SeverityRank(analyze.SeverityLow) {
			t.Errorf("demo container %s, which did nothing wrong, has %s finding %s %q", f.ContainerName, f.Severity, f.ID, f.Title)
		}
	}
	if !ioc || panics {
		t.Errorf("demo findings: beacon's IOC contact found %v, a rule panicked %v", ioc, panics)
	}
}

// TestGoldenTimelineDemo builds the demo bundle's timeline, compares its
// Timesketch and CSV exports with the golden files, and checks what
// Timesketch's importer requires of each line.
func TestGoldenTimelineDemo(t *testing.T) {
	b := analyzetest.OpenDemo(t)
	h, err := analyze.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := bundle.FileSHA256(analyzetest.DemoBundle())
	if err != nil {
		t.Fatal(err)
	}
	fs := analyze.Findings(h, analyze.FindingOptions{IOCs: []string{demoC2(t).String()}})
	evs := analyze.BuildTimeline(h, analyze.TimelineOptions{BundleSHA256: sum, Findings: fs})
	var js, csv bytes.Buffer
	if err := analyze.WriteTimesketch(&js, evs); err != nil {
		t.Fatal(err)
	}
	if err := analyze.WriteTimelineCSV(&csv, evs); err != nil {
		t.Fatal(err)
	}
	analyzetest.Golden(t, *update, "findings_timeline_demo.jsonl", js.Bytes())
	analyzetest.Golden(t, *update, "findings_timeline_demo.csv", csv.Bytes())

	var last time.Time
	kinds := map[string]int{}
	tagged := 0
	for i, line := range strings.Split(strings.TrimSuffix(js.String(), "\n"), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		dt, _ := rec["datetime"].(string)
		at, err := time.Parse(time.RFC3339Nano, dt)
		if err != nil || rec["message"] == "" || rec["timestamp_desc"] == "" {
			t.Fatalf("line %d lacks message, timestamp_desc or an ISO 8601 datetime: %s", i+1, line)
		}
		if at.Before(last) {
			t.Errorf("line %d (%s) is before line %d (%s)", i+1, at, i, last)
		}
		last = at
		kinds[rec["timestamp_desc"].(string)]++
		if _, ok := rec["tag"]; ok {
			tagged++
		}
	}
	for _, k := range []string{analyze.TimeContainerCreated, analyze.TimeContainerStarted, analyze.TimeContainerFinished, analyze.TimeEngineEvent,
		analyze.TimeProcessStart, analyze.TimeCollectionStep, analyze.TimeHostClock, analyze.TimeCustody} {
		if kinds[k] == 0 {
			t.Errorf("the demo timeline has no %q event (kinds: %v)", k, kinds)
		}
	}
	// The host processes the rules flag (run from /tmp) are tagged.
	if tagged == 0 {
		t.Errorf("no timeline event carries a finding's tag")
	}
	// The demo host's clock was not synchronised: the timeline says so.
	if n := analyze.ClockNote(h); !strings.Contains(n, "NOT synchronised") || !strings.Contains(js.String(), "NOT synchronised") {
		t.Errorf("ClockNote() = %q; the timeline must carry it", n)
	}
}
