package analyze

import (
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/ioc"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// TestAnswerDemo: the demo's headline answer names the beacon container,
// the process holding the established socket to the C2 (its pid and
// command line), the conversations, the path out of the C2 link and the
// container's worst findings; an indicator nothing matched says so.
func TestAnswerDemo(t *testing.T) {
	c2, domain := analyzetest.Scenario(t, "C2", 1), analyzetest.Scenario(t, "C2", 5)
	beaconID := analyzetest.Scenario(t, "beacon", 2)
	c2Link := analyzetest.Scenario(t, "host", 8)
	c, err := Open(analyzetest.OpenDemo(t), Options{IOCs: mustIndicators(t, c2, domain, "203.0.113.99")})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Answer) != 3 {
		t.Fatalf("answer has %d entries, want 3 (one per indicator): %+v", len(res.Answer), res.Answer)
	}
	for _, a := range res.Answer[:2] {
		if len(a.Who) == 0 || a.Who[0].Container != beaconID {
			t.Fatalf("answer for %s: %+v, want the beacon %s first", a.IOC, a.Who, beaconID)
		}
		w := a.Who[0]
		if w.Conversations == 0 || w.Packets == 0 || w.Bytes == 0 || w.First.IsZero() || !w.Last.After(w.First) || w.Confidence != "high" {
			t.Errorf("answer for %s: conversations %d packets %d bytes %d, %v … %v, confidence %q", a.IOC, w.Conversations, w.Packets, w.Bytes, w.First, w.Last, w.Confidence)
		}
		if !strings.Contains(w.Path, "MASQUERADE") || !strings.Contains(w.Path, c2Link) || !strings.HasSuffix(w.Path, c2) {
			t.Errorf("answer for %s: path %q, want it through MASQUERADE out of %s to %s", a.IOC, w.Path, c2Link, c2)
		}
		if len(w.Processes) == 0 || !strings.Contains(w.Processes[0].Socket, "ESTABLISHED") || !strings.Contains(w.Processes[0].Cmdline, "-beacon-tcp") {
			t.Errorf("answer for %s: processes %+v, want the beacon's workload holding an established socket", a.IOC, w.Processes)
		}
		var shell bool
		for _, f := range w.Findings {
			shell = shell || f.ID == "reverse-shell-process"
			if f.ID == "ioc-contact" || f.Severity != "critical" && f.Severity != "high" {
				t.Errorf("answer for %s names finding %s (%s): want the worst findings, the contact itself left out", a.IOC, f.ID, f.Severity)
			}
		}
		if !shell || len(w.Findings) > maxAnswerFindings {
			t.Errorf("answer for %s: findings %+v, want the reverse shell among at most %d", a.IOC, w.Findings, maxAnswerFindings)
		}
	}
	if a := res.Answer[2]; len(a.Who) != 0 || !strings.HasPrefix(a.NotSeen, "not seen: ") {
		t.Errorf("answer for an unseen indicator: %+v", a)
	}
}

// TestAnswerWithoutCapture: the demo's model without its capture still
// answers who talked to the C2, from the sockets and the conntrack
// snapshot alone: the beacon, with the process holding its established
// session and times that say they are estimated.
func TestAnswerWithoutCapture(t *testing.T) {
	c2 := analyzetest.Scenario(t, "C2", 1)
	beaconID := analyzetest.Scenario(t, "beacon", 2)
	c, err := Open(analyzetest.OpenDemo(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := c.Host()
	tr := traffic.Attribute(h, nil, traffic.Options{})
	if len(tr.Flows) != 0 || len(tr.Contacts) == 0 {
		t.Fatalf("without a capture: %d flows, %d contacts; want none and some", len(tr.Flows), len(tr.Contacts))
	}
	res := &Result{IOCs: ioc.Match(h, tr, mustIndicators(t, c2)), Contacts: tr.Contacts, Processes: h.ContainerProcesses(), Sockets: h.ContainerSockets()}
	ans := Answer(res)
	if len(ans) != 1 || len(ans[0].Who) == 0 {
		t.Fatalf("answer without a capture: %+v, want the beacon", ans)
	}
	w := ans[0].Who[0]
	if w.Container != beaconID || w.Conversations == 0 || w.Dating == "" || w.Packets != 0 {
		t.Errorf("who = %s (%d conversations, %d packets, dating %q), want the beacon %s, estimated, no packets", w.Container, w.Conversations, w.Packets, w.Dating, beaconID)
	}
	if len(w.Processes) == 0 || !strings.Contains(w.Processes[0].Cmdline, "-beacon-tcp") || !strings.Contains(w.Processes[0].Socket, ":4444 ESTABLISHED") {
		t.Errorf("processes = %+v, want the beacon's workload holding its TCP session", w.Processes)
	}
	for _, o := range ans[0].Who[1:] {
		if o.Container != "" && o.Container != beaconID {
			t.Errorf("without a capture the answer also names %s (%v)", o.ContainerName, o.Rules)
		}
	}
}
