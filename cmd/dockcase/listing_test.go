package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/flow"
)

func TestFitWidths(t *testing.T) {
	cols := []column{{key: "time", keep: true}, {key: "container"}, {key: "message", text: true}, {key: "source"}}
	heads := []string{"TIME", "CONTAINER", "MESSAGE", "SOURCE"}
	cells := [][]string{{"2026-11-28 10:46:41", "dce-beacon-9cdee0", strings.TrimSpace(strings.Repeat("word ", 30)), "capture/capture.pcapng"}}
	natural := fitWidths(cols, heads, cells, 1000)
	if want := []int{19, 17, 149, 22}; !equalInts(natural, want) {
		t.Fatalf("fitWidths(…, 1000) = %v, want the natural widths %v", natural, want)
	}
	for _, tc := range []struct {
		width int
		want  []int
	}{
		// The free-text column gives first: the others keep their width.
		{120, []int{19, 17, 56, 22}},
		// Down to a third of the width; then the widest other column.
		{80, []int{19, 12, 26, 17}},
		// The time is never narrowed; at the smallest widths the table is
		// left wider than the terminal.
		{40, []int{19, 5, 8, 5}},
	} {
		got := fitWidths(cols, heads, cells, tc.width)
		if !equalInts(got, tc.want) {
			t.Errorf("fitWidths(…, %d) = %v, want %v", tc.width, got, tc.want)
		}
		total := 3 * columnGap
		for _, w := range got {
			total += w
		}
		if total > tc.width && tc.width >= 80 {
			t.Errorf("fitWidths(…, %d): %d columns wide", tc.width, total)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWriteTableFitsAndKeepsText(t *testing.T) {
	msg := "process 1050 started in host: line_io_tools/binary_backend --uid 0 --gid 0 --startup-timeout 60 --env HOME=/root"
	l := &listing{cols: []column{{key: "n", label: "#", num: true}, {key: "kind"}, {key: "message", text: true}, {key: "container_id"}}}
	l.add("7", "Process start", msg, "655b0f8c71a9f760140db82f1a6d6074f448a041b7cd1d8932f8c67754324c15")
	l.add("12", "", "short", "")
	for _, width := range []int{60, 80, 200} {
		var b bytes.Buffer
		if err := l.writeTable(&b, width); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if !strings.HasPrefix(lines[0], " #  KIND") {
			t.Errorf("width %d: header %q, want upper-case labels, the number right-aligned", width, lines[0])
		}
		for _, line := range lines {
			if n := utf8.RuneCountInString(line); n > width {
				t.Errorf("width %d: line of %d columns: %q", width, n, line)
			}
		}
		// The message's column: wrapped, every short word kept.
		for _, word := range strings.Fields(msg) {
			if len(word) <= minTextWidth && !strings.Contains(b.String(), word) {
				t.Errorf("width %d: the message lost %q:\n%s", width, word, b.String())
			}
		}
		if !regexp.MustCompile(`(?m)^12  -  +short`).MatchString(b.String()) && !strings.Contains(b.String(), "-") {
			t.Errorf("width %d: an empty cell is not shown as -:\n%s", width, b.String())
		}
		if width < 100 && !strings.Contains(b.String(), "…") {
			t.Errorf("width %d: the container id is not cut:\n%s", width, b.String())
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		s     string
		width int
		want  []string
	}{
		{"one two three", 7, []string{"one two", "three"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"host/conntrack.json", 12, []string{"host/", "conntrack.js", "on"}},
		{"a, b, c", 3, []string{"a,", "b,", "c"}},
		{"short", 10, []string{"short"}},
	} {
		if got := wrap(tc.s, tc.width); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tc.s, tc.width, got, tc.want)
		}
	}
}

func TestTSVCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\tb", `a\tb`},
		{"line1\nline2\r", `line1\nline2\r`},
		{`C:\tmp`, `C:\\tmp`},
		{"\x1b[31mred", `\x1b[31mred`},
	} {
		if got := tsvCell(tc.in); got != tc.want {
			t.Errorf("tsvCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	l := &listing{cols: []column{{key: "a"}, {key: "b"}}, warning: "UNVERIFIED: x\ty"}
	l.add("1\t2", "x\ny")
	var b bytes.Buffer
	if err := l.writeTSV(&b); err != nil {
		t.Fatal(err)
	}
	if want := "# WARNING: UNVERIFIED: x\\ty\na\tb\n1\\t2\tx\\ny\n"; b.String() != want {
		t.Errorf("writeTSV = %q, want %q", b.String(), want)
	}
}

func TestListingJSON(t *testing.T) {
	l := &listing{cols: []column{{key: "z_name"}, {key: "count", num: true}, {key: "pid", num: true}}, name: "rows", warning: "careful"}
	l.add("x", "12", "")
	l.add("y", "not a number", "3")
	data, err := json.Marshal(l.document())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"warning":"careful","rows":[{"z_name":"x","count":12,"pid":null},{"z_name":"y","count":"not a number","pid":3}]}`; string(data) != want {
		t.Errorf("document JSON = %s, want %s", data, want)
	}
}

// TestTerminalOutput runs the listing commands as on a terminal of 100
// columns: tables fitted to it, the human forms of path and verify.
func TestTerminalOutput(t *testing.T) {
	t.Setenv("COLUMNS", "100")
	tty := true
	trust := trustOptions{allowedSigners: filepath.Join(analyzetest.DemoDir(), "allowed_signers")}
	bundle := analyzetest.DemoBundle()
	beacon, c2 := analyzetest.Scenario(t, "beacon", 1), analyzetest.Scenario(t, "C2", 1)
	fits := func(name, out string) {
		t.Helper()
		for _, line := range strings.Split(out, "\n") {
			if n := utf8.RuneCountInString(line); n > 100 {
				t.Errorf("%s: a line of %d columns on a terminal of 100: %q", name, n, line)
			}
		}
	}

	var out, errs bytes.Buffer
	fo := &flowsOptions{analyze: analyzeOptions{trust: trust, traffic: trafficOptions{maxFlows: flow.DefaultMaxFlows}}, output: outputFlags{tty: &tty}}
	if err := runFlows(fo, bundle, &out, &errs); err != nil && exitCode(err) != exitGaps {
		t.Fatalf("flows: %v", err)
	}
	if !regexp.MustCompile(`^TIME +WHO +LOCAL +REMOTE +PKTS >/< +RULE +PROCESS +NAMES\n`).MatchString(out.String()) ||
		!strings.Contains(out.String(), beacon) || !regexp.MustCompile(`\n[0-9]+ conversations\n$`).MatchString(out.String()) {
		t.Errorf("flows on a terminal:\n%s", out.String())
	}
	fits("flows", out.String())

	out.Reset()
	po := &pathOptions{analyzeOptions: analyzeOptions{trust: trust, to: []string{c2}}, output: outputFlags{tty: &tty}}
	if err := runPath(po, bundle, beacon, &out, &errs); err != nil && exitCode(err) != exitGaps {
		t.Fatalf("path: %v", err)
	}
	for _, re := range []string{`(?m)^ 2\. \[veth\] veth[0-9a-f]+ \(host ifindex`, `evidence: host/firewall/iptables-save.txt line [0-9]+`,
		`(?m)^source as it leaves: 198\.18\.[0-9]+\.1 by dcec2h[0-9a-f]+ \(after NAT\)`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("path on a terminal: no match for %s in\n%s", re, out.String())
		}
	}

	out.Reset()
	vo := &verifyOptions{trustOptions: trust, output: outputFlags{tty: &tty}}
	if err := runVerify(vo, bundle, &out, &errs); err != nil && exitCode(err) != exitUntrusted {
		t.Fatalf("verify: %v", err)
	}
	for _, re := range []string{`^verified: `, `(?m)^  signer: +SHA256:\S+ \(trusted\)$`, `(?m)^  complete: NO: `, `(?m)^    chain intact: 1 event`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("verify on a terminal: no match for %s in\n%s", re, out.String())
		}
	}

	out.Reset()
	co := &custodyShowOptions{output: outputFlags{tty: &tty}}
	if err := runCustodyShow(co, bundle, &out, &errs); err != nil && exitCode(err) != exitUntrusted {
		t.Fatalf("custody show: %v", err)
	}
	if !regexp.MustCompile(`(?m)^#  TIME \(UTC\) +ACTION +BY +WHERE +NOTE +SIGNATURE\n1  2026-`).MatchString(out.String()) ||
		!regexp.MustCompile(`(?m)^chain intact: 1 event\(s\), head [0-9a-f]{64}$`).MatchString(out.String()) {
		t.Errorf("custody show on a terminal:\n%s", out.String())
	}
	fits("custody show", strings.SplitN(out.String(), "chain intact", 2)[0])

	out.Reset()
	io := &inspectOptions{trustOptions: trust, output: outputFlags{tty: &tty}}
	if err := runInspect(io, bundle, &out, &errs); err != nil {
		t.Fatalf("inspect: %v", err)
	}
	if !regexp.MustCompile(`(?m)^case: +DEMO-1$`).MatchString(out.String()) || !regexp.MustCompile(`(?m)^STEP +STATUS +TOOK +MEMBERS +ERROR$`).MatchString(out.String()) ||
		!regexp.MustCompile(`(?m)^MEMBER +BYTES +STEP +SOURCE +CHUNKS$`).MatchString(out.String()) {
		t.Errorf("inspect on a terminal:\n%s", out.String())
	}
	fits("inspect", out.String()[strings.Index(out.String(), "STEP"):])
}
