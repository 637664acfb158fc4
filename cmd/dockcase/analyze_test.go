package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/analyze/triage"
)

// tamperedDemo writes a copy of the demo bundle in which one firewall rule
// was edited (same length, so only the hash betrays it): the shape of an
// attacker rewriting evidence after collection.
func tamperedDemo(t *testing.T) string {
	t.Helper()
	in, err := os.Open(analyzetest.DemoBundle())
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := zstd.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out bytes.Buffer
	zw, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	tr, tw := tar.NewReader(zr), tar.NewWriter(zw)
	edited := false
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(hdr.Name, "host/firewall/iptables-save.txt") {
			data = bytes.Replace(data, []byte("-j MASQUERADE"), []byte("-j ACCEPT    "), 1)
			edited = true
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if !edited {
		t.Fatal("the demo bundle has no iptables-save.txt to tamper with")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tampered.tar.zst")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAnalyzeTampered(t *testing.T) {
	path := tamperedDemo(t)
	signers := "--allowed-signers=" + filepath.Join(analyzetest.DemoDir(), "allowed_signers")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"analyze", signers, path}, nil, &stdout, &stderr); code != exitIntegrity {
		t.Fatalf("analyze tampered bundle: exit %d, want %d\nstderr: %s", code, exitIntegrity, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("analyze of a refused bundle printed results:\n%s", stdout.String())
	}
	for _, args := range [][]string{
		{"analyze", signers, "--allow-unverified", path},
		{"path", signers, "--allow-unverified", path, analyzetest.Scenario(t, "beacon", 1), "--to", analyzetest.Scenario(t, "C2", 1)},
	} {
		stdout.Reset()
		stderr.Reset()
		code := Main(args, nil, &stdout, &stderr)
		first, _, _ := strings.Cut(stdout.String(), "\n")
		// Piped, path's tab-separated lines start with a # line.
		if !strings.HasPrefix(strings.TrimPrefix(first, "# "), "WARNING: UNVERIFIED") {
			t.Errorf("%v: first line %q, want the UNVERIFIED warning (exit %d, stderr %s)", args[:1], first, code, stderr.String())
		}
	}
	jsonPath := filepath.Join(t.TempDir(), "out.json")
	Main([]string{"analyze", signers, "--allow-unverified", "--json", jsonPath, path}, nil, io.Discard, io.Discard)
	data, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("{\n  \"warning\": \"UNVERIFIED")) {
		t.Errorf("JSON starts %q, want the warning as its first key", data[:min(len(data), 60)])
	}
	var res struct {
		Bundle struct {
			Verified bool   `json:"verified"`
			Error    string `json:"verification_error"`
		} `json:"bundle"`
	}
	if err := json.Unmarshal(data, &res); err != nil || res.Bundle.Verified || res.Bundle.Error == "" {
		t.Errorf("bundle section = %+v (%v), want verified false with the error", res.Bundle, err)
	}
}

// demoAnalysis runs analyze --json - on the demo bundle with extra flags
// and decodes the document.
func demoAnalysis(t *testing.T, extra ...string) *analyze.Result {
	t.Helper()
	signers := "--allowed-signers=" + filepath.Join(analyzetest.DemoDir(), "allowed_signers")
	var stdout, stderr bytes.Buffer
	args := append([]string{"analyze", signers, "--json", "-"}, extra...)
	if code := Main(append(args, analyzetest.DemoBundle()), nil, &stdout, &stderr); code != exitOK && code != exitGaps {
		t.Fatalf("%v: exit %d\nstderr: %s", args, code, stderr.String())
	}
	var res analyze.Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decode analysis: %v", err)
	}
	return &res
}

// TestTimelineIsTheAnalysisTimeline checks that dockcase timeline prints
// the events of the analysis document's timeline, the captured traffic
// included: both come from one Case.
func TestTimelineIsTheAnalysisTimeline(t *testing.T) {
	domain := analyzetest.Scenario(t, "C2", 5)
	res := demoAnalysis(t, "--ioc", domain)
	var want bytes.Buffer
	if err := timeline.WriteCSV(&want, res.Timeline); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range res.Timeline {
		kinds[e.Kind]++
	}
	if kinds[timeline.FlowFirst] == 0 || kinds[timeline.DNSQuery] == 0 {
		t.Fatalf("the analysis timeline has no traffic events: %v", kinds)
	}
	signers := "--allowed-signers=" + filepath.Join(analyzetest.DemoDir(), "allowed_signers")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"timeline", signers, "--ioc", domain, "--csv", "-", analyzetest.DemoBundle()}, nil, &stdout, &stderr); code != exitGaps { // the demo collection is partial
		t.Fatalf("timeline --csv -: exit %d\nstderr: %s", code, stderr.String())
	}
	if got := stdout.String(); got != want.String() {
		t.Errorf("timeline --csv - differs from the analysis timeline:\n got %d lines\nwant %d lines", strings.Count(got, "\n"), strings.Count(want.String(), "\n"))
	}
	ts := filepath.Join(t.TempDir(), "timeline.jsonl")
	if code := Main([]string{"timeline", signers, "--ioc", domain, "--timesketch", ts, analyzetest.DemoBundle()}, nil, io.Discard, &stderr); code != exitGaps {
		t.Fatalf("timeline --timesketch: exit %d\nstderr: %s", code, stderr.String())
	}
	var wantTS bytes.Buffer
	if err := timeline.WriteTimesketch(&wantTS, res.Timeline); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(ts); err != nil || !bytes.Equal(got, wantTS.Bytes()) {
		t.Errorf("timeline --timesketch differs from the analysis timeline (%v): %d bytes, want %d", err, len(got), wantTS.Len())
	}
}

// TestFindingsIOCIsAnalyzeIOC checks that findings --ioc flags the same
// contacts as analyze --ioc: the C2's domain, seen only in the captures'
// DNS, and its address.
func TestFindingsIOCIsAnalyzeIOC(t *testing.T) {
	addr, domain := analyzetest.Scenario(t, "C2", 1), analyzetest.Scenario(t, "C2", 5)
	iocFindings := func(fs []triage.Finding) []triage.Finding {
		var out []triage.Finding
		for _, f := range fs {
			if f.ID == "ioc-contact" {
				out = append(out, f)
			}
		}
		return out
	}
	res := demoAnalysis(t, "--ioc", domain, "--ioc", addr)
	want := iocFindings(res.Findings)
	var lookup bool
	for _, f := range want {
		lookup = lookup || strings.Contains(f.Title, "Lookup of IOC domain "+domain)
	}
	if !lookup {
		t.Fatalf("analyze --ioc %s found no lookup of it: %+v", domain, want)
	}
	signers := "--allowed-signers=" + filepath.Join(analyzetest.DemoDir(), "allowed_signers")
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"findings", signers, "--json", "--ioc", domain, "--ioc", addr, analyzetest.DemoBundle()}, nil, &stdout, &stderr); code != exitGaps { // the demo collection is partial
		t.Fatalf("findings --ioc: exit %d\nstderr: %s", code, stderr.String())
	}
	var doc findingsDoc
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	got := iocFindings(doc.Findings)
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Errorf("findings --ioc gave %d IOC findings, analyze --ioc %d:\n got %s\nwant %s", len(got), len(want), gj, wj)
	}
	// The indicators are parsed as analyze parses them: a bad one is a
	// usage error.
	if code := Main([]string{"findings", signers, "--ioc", "not an indicator", analyzetest.DemoBundle()}, nil, io.Discard, io.Discard); code != exitUsage {
		t.Errorf("findings --ioc 'not an indicator': exit %d, want %d", code, exitUsage)
	}
}
