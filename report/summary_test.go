package report

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
)

func hostileResult() *analyze.Result {
	name := "evil\x1b]0;owned\x07\x1b[2J<script>"
	dst := netip.MustParseAddr("198.51.100.7")
	return &analyze.Result{
		Warning: "UNVERIFIED: hash mismatch",
		Version: analyze.ResultVersion,
		Bundle:  analyze.BundleInfo{Root: "r", Case: "C\x1b[31m", Host: "h", Verified: false, VerificationError: "bad\x1b[0m"},
		Host:    analyze.HostInfo{Destinations: []netip.Addr{dst}},
		Containers: []*model.Container{{ID: "0123456789abcdef", Name: name, State: "running", NetworkMode: "bridge",
			Endpoints: []model.Endpoint{{Network: "n\x1b[1m", IP: netip.MustParseAddr("172.17.0.2")}}}},
		Paths: []*netpath.Path{{Kind: netpath.PathEgress, ContainerName: name, Dst: dst, OutIface: "eth0", NAT: true, Verdict: "accept",
			FinalSrc: netip.MustParseAddr("192.0.2.2"),
			Hops:     []netpath.Hop{{Kind: netpath.HopVeth, Iface: "veth\x1b[2K", Text: "t\x1b[2K", Evidence: []model.Evidence{{Member: "m\x1b[2K", Line: 3}}}}}},
		Visibility: []netpath.VisibilityRow{{ContainerName: name, Dst: dst, Iface: "br-0123456789ab", Visible: netpath.VisibleYes,
			Src: netip.MustParseAddr("172.17.0.2"), As: "container"}},
		Missing: []string{"x\x1b[0m"},
	}
}

// TestSummaryHostile: the first line warns of an unverified bundle, and no
// value can put an escape sequence on the analyst's terminal.
func TestSummaryHostile(t *testing.T) {
	var b bytes.Buffer
	if err := Summary(&b, hostileResult()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, "WARNING: UNVERIFIED") {
		t.Errorf("first line = %q, want the warning", first)
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("Summary printed a raw escape:\n%q", out)
	}
	for _, want := range []string{`evil\x1b]0;owned\x07`, "br-0123456789ab", "yes 172.17.0.2", `x\x1b[0m`} {
		if !strings.Contains(out, want) {
			t.Errorf("Summary lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := PathDetail(&b, hostileResult().Paths[0]); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), `evidence: m\x1b[2K line 3`) {
		t.Errorf("PathDetail = %q", b.String())
	}
}

// TestSummaryAnswerHostile: the headline answer, built from hostile
// sockets, processes and findings, prints no raw escape either.
func TestSummaryAnswerHostile(t *testing.T) {
	res := hostileResult()
	esc := "\x1b]0;owned\x07\x1b[2J"
	res.Answer = []analyze.IndicatorAnswer{{IOC: "198.51.100.7" + esc, Kind: "ip", Who: []analyze.AnswerContact{{
		Container: "0123456789abcdef", ContainerName: res.Containers[0].Name, Rules: []string{"veth"}, Confidence: "high",
		Path: "veth" + esc, Processes: []analyze.AnswerProcess{{PID: 7, Cmdline: "sh -c " + esc, Socket: "tcp" + esc}},
		Findings: []analyze.AnswerFinding{{ID: "x", Severity: "high", Title: "t" + esc}}}}},
		{IOC: "c2.evil.example", Kind: "domain", Who: []analyze.AnswerContact{}, NotSeen: "not seen" + esc}}
	var b bytes.Buffer
	if err := Summary(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("the answer printed a raw escape:\n%q", out)
	}
	if !strings.Contains(out, "ANSWER\n") || !strings.Contains(out, "process:   pid 7 sh -c ") || !strings.Contains(out, "c2.evil.example (domain): not seen") {
		t.Errorf("the answer lacks its lines:\n%s", out)
	}
}

// TestSummaryAnswerDemo: on the demo with its indicators the terminal
// output opens with the answer: the beacon, the pid holding the socket to
// the C2, the path out of the C2 link, and integrity in one line, before
// the bundle's details.
func TestSummaryAnswerDemo(t *testing.T) {
	res := reportDemoResult(t)
	var b bytes.Buffer
	if err := Summary(&b, res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	head, _, ok := strings.Cut(out, "\nanalysis:  ")
	if !ok || !strings.HasPrefix(head, "ANSWER\n") {
		t.Fatalf("the summary does not open with the answer:\n%.600s", out)
	}
	c2Link := analyzetest.Scenario(t, "host", 8)
	for _, want := range []string{"who:       dce-beacon-", "process:   pid 18133 ", "ESTABLISHED", "path:      dce-beacon-", "→ " + c2Link + " as ", "confidence high", "reverse-shell-process", "integrity: verified · signer SHA256:"} {
		if !strings.Contains(head, want) {
			t.Errorf("the answer lacks %q:\n%s", want, head)
		}
	}
}

// TestSummaryWidth: fitted to a terminal's width, no line of the summary's
// tables is wider than it (the cells wrap), and every container is still
// named; at width 0 the tables keep their natural width.
func TestSummaryWidth(t *testing.T) {
	res := reportDemoResult(t)
	for _, width := range []int{100, 120} {
		var b strings.Builder
		if err := SummaryWidth(&b, res, width); err != nil {
			t.Fatal(err)
		}
		tables := false
		for i, line := range strings.Split(b.String(), "\n") {
			if !strings.HasPrefix(line, "┌") && !strings.HasPrefix(line, "│") && !strings.HasPrefix(line, "├") && !strings.HasPrefix(line, "└") {
				continue
			}
			tables = true
			if n := utf8.RuneCountInString(line); n > width {
				t.Errorf("width %d: line %d is %d wide: %s", width, i+1, n, line)
			}
		}
		if !tables {
			t.Fatalf("width %d: no table in the summary", width)
		}
		for _, c := range res.Containers {
			if !strings.Contains(b.String(), c.Name) {
				t.Errorf("width %d: the summary lost container %s", width, c.Name)
			}
		}
	}
	var natural strings.Builder
	if err := Summary(&natural, res); err != nil {
		t.Fatal(err)
	}
	wide := 0
	for _, line := range strings.Split(natural.String(), "\n") {
		wide = max(wide, utf8.RuneCountInString(line))
	}
	if wide <= 120 {
		t.Errorf("the natural summary is %d wide: the test fits nothing", wide)
	}
}
