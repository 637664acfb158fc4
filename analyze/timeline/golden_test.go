package timeline_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/internal/indicator"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// demoIOCs is the demo scenario's C2 address as an indicator list.
func demoIOCs(t testing.TB) *indicator.Set {
	t.Helper()
	c2 := netip.MustParseAddr(analyzetest.Scenario(t, "C2", 1))
	i, err := indicator.Parse(c2.String())
	if err != nil {
		t.Fatal(err)
	}
	return indicator.NewSet([]indicator.Indicator{i})
}

// TestGoldenTimelineDemo builds the demo bundle's timeline, compares its
// Timesketch and CSV exports with the golden files, and checks what
// Timesketch's importer requires of each line.
func TestGoldenTimelineDemo(t *testing.T) {
	b := analyzetest.OpenDemo(t)
	h, err := model.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := bundle.FileSHA256(analyzetest.DemoBundle())
	if err != nil {
		t.Fatal(err)
	}
	fs := triage.Run(h, triage.Input{IOCs: demoIOCs(t)}, triage.Options{})
	evs := timeline.Build(h, timeline.Input{BundleSHA256: sum, Findings: fs})
	var js, csv bytes.Buffer
	if err := timeline.WriteTimesketch(&js, evs); err != nil {
		t.Fatal(err)
	}
	if err := timeline.WriteCSV(&csv, evs); err != nil {
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
	for _, k := range []string{timeline.ContainerCreated, timeline.ContainerStarted, timeline.ContainerFinished, timeline.EngineEvent,
		timeline.ProcessStart, timeline.CollectionStep, timeline.HostClock, timeline.Custody} {
		if kinds[k] == 0 {
			t.Errorf("the demo timeline has no %q event (kinds: %v)", k, kinds)
		}
	}
	// The host processes the rules flag (run from /tmp) are tagged.
	if tagged == 0 {
		t.Errorf("no timeline event carries a finding's tag")
	}
	// The demo host's clock was not synchronised: the timeline says so.
	if n := timeline.ClockNote(h); !strings.Contains(n, "NOT synchronised") || !strings.Contains(js.String(), "NOT synchronised") {
		t.Errorf("ClockNote() = %q; the timeline must carry it", n)
	}
}
