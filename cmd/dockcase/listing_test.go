package main

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/flow"
)

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
