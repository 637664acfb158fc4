package main

import (
	"bytes"
	"encoding/csv"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/flow"
)

// readCSV runs flows on the demo with --csv on stdout (and extra flags) and
// returns its rows keyed by the header's names.
func flowsCSV(t *testing.T, points bool) []map[string]string {
	t.Helper()
	trust := trustOptions{allowedSigners: filepath.Join(analyzetest.DemoDir(), "allowed_signers")}
	fo := &flowsOptions{analyze: analyzeOptions{trust: trust, traffic: trafficOptions{maxFlows: flow.DefaultMaxFlows}}, points: points, output: outputFlags{csv: "-"}}
	var out, errs bytes.Buffer
	if err := runFlows(fo, analyzetest.DemoBundle(), &out, &errs); err != nil && exitCode(err) != exitGaps {
		t.Fatalf("flows: %v\n%s", err, errs.String())
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("flows --csv: %d records, %v", len(recs), err)
	}
	var rows []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, k := range recs[0] {
			m[k] = r[i]
		}
		rows = append(rows, m)
	}
	return rows
}

// TestFlowsConversations lists the demo's conversations: one row each,
// however many capture points saw it. The rows seen on the beacon's veth
// are as many as tshark's TCP/UDP conversations on that interface, and
// every per-point flow (flows --points) is in exactly one row.
func TestFlowsConversations(t *testing.T) {
	tshark := analyzetest.Tshark(t)
	rows := flowsCSV(t, false)
	points := flowsCSV(t, true)
	veth := ""
	for _, p := range points {
		if p["role"] == "veth" {
			veth = p["interface"]
		}
	}
	if veth == "" {
		t.Fatal("flows --points: no flow on a veth")
	}
	onVeth, pointsInRows := 0, 0
	type tuple struct{ proto, local, remote, first string }
	seen := map[tuple]bool{}
	for _, r := range rows {
		k := tuple{r["proto"], r["local"], r["remote"], r["first"]}
		if seen[k] {
			t.Errorf("conversation %v listed twice", k)
		}
		seen[k] = true
		ifaces := strings.Fields(r["points"])
		pointsInRows += len(ifaces)
		if slices.Contains(ifaces, veth) && (r["proto"] == "tcp" || r["proto"] == "udp") {
			onVeth++
		}
		if r["counted_at"] != "" && !slices.Contains(ifaces, r["counted_at"]) {
			t.Errorf("row %v counted at %q, not one of its points", k, r["counted_at"])
		}
		if r["who"] == "" || r["rules"] == "" || r["confidence"] == "" {
			t.Errorf("row %v: who %q rules %q confidence %q, want all three", k, r["who"], r["rules"], r["confidence"])
		}
	}
	if pointsInRows != len(points) {
		t.Errorf("the conversations' points number %d, flows --points lists %d flows: each flow is in one conversation", pointsInRows, len(points))
	}

	want := analyzetest.TsharkConversations(t, tshark, analyzetest.DemoCapture(t), veth)
	t.Logf("flows: %d conversations (%d seen on %s, tshark counts %d there); flows --points: %d rows", len(rows), onVeth, veth, want, len(points))
	if onVeth != want || want == 0 {
		t.Errorf("conversations seen on %s = %d, tshark counts %d there", veth, onVeth, want)
	}
	if len(rows) >= len(points) {
		t.Errorf("%d conversations for %d per-point flows: a conversation seen at several points is one row", len(rows), len(points))
	}
}
