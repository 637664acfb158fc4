package analyze_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/docker/docker/api/types/container"
)

// caDoc is the part of the dockcase-analysis/v2 document these end-to-end
// tests read, from the binary's --json output as a user's script would:
// the headline answer, the IOC hits and the contacts.
type caDoc struct {
	Answer []struct {
		IOC string `json:"ioc"`
		Who []struct {
			Container     string `json:"container"`
			ContainerName string `json:"container_name"`
			Who           string `json:"who"`
			Group         []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"group"`
			Candidates []caCandidate `json:"candidates"`
			Rules      []string      `json:"rules"`
			Confidence string        `json:"confidence"`
			Dating     string        `json:"dating"`
			Processes  []struct {
				PID     int    `json:"pid"`
				Cmdline string `json:"cmdline"`
				Socket  string `json:"socket"`
			} `json:"processes"`
		} `json:"who"`
		NotSeen string `json:"not_seen"`
	} `json:"answer"`
	IOCs []struct {
		IOC          string   `json:"ioc"`
		Containers   []string `json:"containers"`
		Unattributed bool     `json:"unattributed"`
	} `json:"iocs"`
	Contacts []caContact `json:"contacts"`
	Missing  []string    `json:"missing"`
}

type caCandidate struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Certain bool   `json:"certain"`
	Reason  string `json:"reason"`
}

type caContact struct {
	Container     string        `json:"container"`
	ContainerName string        `json:"container_name"`
	Candidates    []caCandidate `json:"candidates"`
	Process       *struct {
		PID     int      `json:"pid"`
		Cmdline []string `json:"cmdline"`
	} `json:"process"`
	Proto   string   `json:"proto"`
	Local   string   `json:"local"`
	Remote  string   `json:"remote"`
	Rules   []string `json:"rules"`
	Reason  string   `json:"reason"`
	Dating  string   `json:"dating"`
	Sources []struct {
		Kind  string `json:"kind"`
		State string `json:"state"`
	} `json:"sources"`
}

// sourceKinds lists the kinds of the contact's sources, each once.
func (c caContact) sourceKinds() []string {
	var out []string
	for _, s := range c.Sources {
		if !slices.Contains(out, s.Kind) {
			out = append(out, s.Kind)
		}
	}
	return out
}

// caRequire fails (under CI=true) or skips the test without the tools it
// needs besides the engine, which NewScenario checks.
func caRequire(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: -short")
	}
	for _, tool := range []string{"conntrack", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// caCollect runs `dockcase collect` with the capture given and returns the
// bundle's path; exit 3 (gaps: other tests' containers come and go on this
// engine) is accepted.
func caCollect(t *testing.T, bin, caseID, capture string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), caseID+".tar.zst")
	start := time.Now()
	if code, errText := runBin(t, bin, "collect", "--case", caseID, "--no-images", "--capture", capture, "--out", out); code != 0 && code != 3 {
		t.Fatalf("collect --capture %s: exit %d\n%s", capture, code, errText)
	}
	t.Logf("collect --capture %s: %v", capture, time.Since(start).Round(time.Millisecond))
	return out
}

// caAnalyze runs `dockcase analyze BUNDLE --ioc IOC --json FILE` and
// decodes the document.
func caAnalyze(t *testing.T, bin, bundlePath, ioc string) *caDoc {
	t.Helper()
	jsonOut := filepath.Join(t.TempDir(), "analysis.json")
	code, errText := runBin(t, bin, "analyze", bundlePath, "--ioc", ioc, "--json", jsonOut)
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatalf("analyze exit %d: %v\n%s", code, err, errText)
	}
	if code != 3 && code != 5 { // no trust anchor: 5, or 3 with gaps
		t.Errorf("analyze exit %d, want 5 or 3\n%s", code, errText)
	}
	var doc caDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("decode %s: %v", jsonOut, err)
	}
	for _, m := range doc.Missing {
		t.Logf("the analysis reports missing: %s", m)
	}
	return &doc
}

// caScore is who the answer for one indicator names, scored against the
// ground truth.
type caScore struct {
	certain    map[string]bool          // containers named alone
	candidates map[string][]caCandidate // containers named as candidates, with their reasons
	others     []string                 // groups, host processes, host / unknown: named, not containers
	tp, fp, fn int
}

// caPrecisionRecall scores the answer for ioc: truth are the containers the
// test made talk to it, benign those it did not (id → name, both).
// The containers named alone are scored; candidates are logged apart and, with
// candidatesCount, count as named for the score (the issue allows a
// candidate where the evidence cannot separate holders). It logs precision
// and recall and fails the test unless both are 1.0 and no benign
// container is named at all, certain or candidate.
func caPrecisionRecall(t *testing.T, doc *caDoc, ioc string, truth, benign map[string]string, candidatesCount bool) caScore {
	t.Helper()
	s := caScore{certain: map[string]bool{}, candidates: map[string][]caCandidate{}}
	found := false
	for _, a := range doc.Answer {
		if a.IOC != ioc {
			continue
		}
		found = true
		if len(a.Who) == 0 {
			t.Errorf("answer for %s names nobody: %s", ioc, a.NotSeen)
		}
		for _, w := range a.Who {
			t.Logf("answer for %s: %s rules %v, confidence %s, dating %q", ioc, cmp.Or(w.ContainerName, w.Who), w.Rules, w.Confidence, w.Dating)
			switch {
			case w.Container != "":
				s.certain[w.Container] = true
			case len(w.Candidates) > 0:
				for _, c := range w.Candidates {
					s.candidates[c.ID] = append(s.candidates[c.ID], c)
				}
			default:
				s.others = append(s.others, fmt.Sprintf("%q rules %v", w.Who, w.Rules))
			}
			for _, g := range w.Group {
				t.Errorf("answer for %s names a namespace group member %s (%s): no container here shares a namespace", ioc, g.Name, g.ID)
			}
		}
	}
	if !found {
		t.Fatalf("no answer for %s in the document", ioc)
	}
	named := map[string]bool{}
	for id := range s.certain {
		named[id] = true
	}
	if candidatesCount {
		for id := range s.candidates {
			named[id] = true
		}
	}
	for id := range named {
		if _, ok := truth[id]; ok {
			s.tp++
		} else {
			s.fp++
		}
	}
	for id := range truth {
		if !named[id] {
			s.fn++
		}
	}
	precision, recall := ratio(s.tp, s.tp+s.fp), ratio(s.tp, s.tp+s.fn)
	var certain, cands []string
	for id := range s.certain {
		certain = append(certain, caName(id, truth, benign))
	}
	for id, cs := range s.candidates {
		for _, c := range cs {
			cands = append(cands, fmt.Sprintf("%s (%s)", caName(id, truth, benign), c.Reason))
		}
	}
	slices.Sort(certain)
	slices.Sort(cands)
	t.Logf("IOC %s: precision %.2f, recall %.2f (TP %d, FP %d, FN %d); named alone %v; candidates %v; not containers %v",
		ioc, precision, recall, s.tp, s.fp, s.fn, certain, cands, s.others)
	if precision != 1 || recall != 1 {
		t.Errorf("IOC %s: precision %.2f, recall %.2f, want 1.00 and 1.00; truth %v", ioc, precision, recall, slices.Sorted(maps.Values(truth)))
	}
	// Nothing but containers talked to the C2 here: the host's own
	// entries (a host process, host / unknown) would be wrong, such as the
	// C2's listener named for the far end of a beacon's conversation.
	if len(s.others) > 0 {
		t.Errorf("IOC %s: the answer names what is not a container: %v", ioc, s.others)
	}
	if !candidatesCount && len(s.candidates) > 0 {
		t.Errorf("IOC %s: candidates %v where the evidence separates every holder", ioc, cands)
	}
	for id, name := range benign {
		if s.certain[id] || len(s.candidates[id]) > 0 {
			t.Errorf("IOC %s: the benign container %s (%.12s) is named (certain %v, candidate %v)", ioc, name, id, s.certain[id], len(s.candidates[id]) > 0)
		}
	}
	return s
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// caName names a container for the log: its name when the test knows it.
func caName(id string, maps ...map[string]string) string {
	for _, m := range maps {
		if n, ok := m[id]; ok {
			return n
		}
	}
	return id[:min(12, len(id))]
}

// caConversationScore logs precision and recall over conversations: truth
// are the tuples (proto, local) the test made with the C2; predicted the
// contacts with the C2 that name the container id (certain, or as a
// candidate when candidatesCount). It fails the test unless both are 1.0.
func caConversationScore(t *testing.T, doc *caDoc, c2 netip.Addr, id, name string, truth []string, candidatesCount bool) {
	t.Helper()
	var predicted []string
	for _, k := range doc.Contacts {
		r, err := netip.ParseAddrPort(k.Remote)
		if err != nil || r.Addr() != c2 {
			continue
		}
		if k.Container == id || (candidatesCount && slices.ContainsFunc(k.Candidates, func(c caCandidate) bool { return c.ID == id })) {
			key := k.Proto + " " + k.Local
			if !slices.Contains(predicted, key) {
				predicted = append(predicted, key)
			}
		}
	}
	tp := 0
	for _, p := range predicted {
		if slices.Contains(truth, p) {
			tp++
		}
	}
	precision, recall := ratio(tp, len(predicted)), ratio(tp, len(truth))
	slices.Sort(predicted)
	t.Logf("conversations of %s with %s: precision %.2f, recall %.2f (%d named, %d made, %d both)", name, c2, precision, recall, len(predicted), len(truth), tp)
	if precision != 1 || recall != 1 {
		t.Errorf("conversations of %s with %s: precision %.2f, recall %.2f, want 1.00 and 1.00\nnamed %v\nmade  %v", name, c2, precision, recall, predicted, truth)
	}
}

// caStartHolder starts a host-network container whose workload opens one
// TCP connection to the C2 and holds it idle, and returns it with the
// session's local end (the host's address, as the socket table has it).
func caStartHolder(t *testing.T, sc *e2etest.Scenario) (e2etest.Container, netip.AddrPort) {
	t.Helper()
	name := "dce-hold-" + sc.ID
	hold := sc.StartContainer(t, "hold", e2etest.ContainerSpec{
		// The trailing words are ignored by the workload: the command line
		// of a reverse shell, which the answer must show.
		Cmd: []string{"/workload", "-name", name, "-hold-tcp", netip.AddrPortFrom(sc.C2Addr, sc.C2TCPPort).String(),
			"sh", "-i"},
		Adjust: func(cfg *container.Config, hc *container.HostConfig) { hc.NetworkMode = "host" },
	})
	for _, e := range sc.Events(t, hold) {
		if e.Kind == "connect" {
			local, err := netip.ParseAddrPort(e.Local)
			if err != nil {
				t.Fatalf("held session's local end %q: %v", e.Local, err)
			}
			sc.WaitContact(t, 10*time.Second, func(c e2etest.Event) bool { return strings.Contains(c.Data, "name="+name+" ") })
			return hold, local
		}
	}
	t.Fatalf("the host-network holder logged no connect: %+v", sc.Events(t, hold))
	return e2etest.Container{}, netip.AddrPort{}
}

// TestContactsHostNetworkE2E is the host network mode with an idle
// held session: a container on the host's network holds one TCP
// connection to the C2 without a packet during the capture, beside a
// benign host-network container and the scenario's bridge beacon. The
// answer for the C2 must name the holder and its process (pid, command
// line) from the host namespace's socket and its owner's cgroup, and the
// beacon; nobody else. The same incident is then collected with
// --capture 0: the answer names the same two, from the sockets and
// conntrack alone.
func TestContactsHostNetworkE2E(t *testing.T) {
	caRequire(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	bin := e2etest.DockcaseBinary(t)
	idle := sc.StartContainer(t, "hostidle", e2etest.ContainerSpec{
		Adjust: func(cfg *container.Config, hc *container.HostConfig) { hc.NetworkMode = "host" },
	})
	hold, session := caStartHolder(t, sc)
	if session.Addr() != sc.HostAddr {
		t.Fatalf("the held session leaves from %s, want the host's %s on the C2 link", session, sc.HostAddr)
	}
	t.Logf("held session %s → %s:%d by %s (pid %d)", session, sc.C2Addr, sc.C2TCPPort, hold.Name, hold.Pid)
	truth := map[string]string{sc.Beacon.ID: sc.Beacon.Name, hold.ID: hold.Name}
	benign := map[string]string{idle.ID: idle.Name, sc.Published.ID: sc.Published.Name, sc.Bridge.ID: sc.Bridge.Name, sc.Stopped.ID: sc.Stopped.Name}
	c2 := sc.C2Addr.String()
	held := []string{"tcp " + session.String()}

	for _, capture := range []string{"8s", "0"} {
		t.Run("capture="+capture, func(t *testing.T) {
			doc := caAnalyze(t, bin, caCollect(t, bin, "IR-HOSTNET", capture), c2)
			caPrecisionRecall(t, doc, c2, truth, benign, false)
			caConversationScore(t, doc, sc.C2Addr, hold.ID, hold.Name, held, false)

			// The holder's answer: from the host namespace's socket, its
			// owner's cgroup; its process with pid and command line.
			var found bool
			for _, a := range doc.Answer {
				for _, w := range a.Who {
					if a.IOC != c2 || w.Container != hold.ID {
						continue
					}
					found = true
					if !slices.Contains(w.Rules, "host-socket") {
						t.Errorf("holder's answer rules %v, want host-socket (the host namespace's socket, its owner's cgroup)", w.Rules)
					}
					i := slices.IndexFunc(w.Processes, func(p struct {
						PID     int    `json:"pid"`
						Cmdline string `json:"cmdline"`
						Socket  string `json:"socket"`
					}) bool {
						return p.PID == hold.Pid
					})
					if i < 0 {
						t.Errorf("holder's answer processes %+v, want pid %d", w.Processes, hold.Pid)
						continue
					}
					p := w.Processes[i]
					t.Logf("holder's answer: rules %v, confidence %s, process %d %q, socket %q, dating %q", w.Rules, w.Confidence, p.PID, p.Cmdline, p.Socket, w.Dating)
					if want := strings.Join(hold.Cmd, " "); p.Cmdline != want {
						t.Errorf("holder's process command line %q, want %q", p.Cmdline, want)
					}
					if !strings.Contains(p.Socket, session.String()) || !strings.Contains(p.Socket, "ESTABLISHED") {
						t.Errorf("holder's process socket %q, want %s ESTABLISHED", p.Socket, session)
					}
				}
			}
			if !found {
				t.Errorf("the answer for %s does not name the holder %s", c2, hold.Name)
			}
			// The session is silent: only the snapshot's socket (and
			// conntrack) saw it, never the capture.
			for _, k := range doc.Contacts {
				if k.Proto != "tcp" || k.Local != session.String() {
					continue
				}
				kinds := k.sourceKinds()
				t.Logf("held session contact: sources %v, rules %v, reason %q", kinds, k.Rules, k.Reason)
				if !slices.Contains(kinds, "socket") || slices.Contains(kinds, "capture") {
					t.Errorf("held session's sources %v, want the socket and no capture (it was idle)", kinds)
				}
				if k.Process == nil || k.Process.PID != hold.Pid {
					t.Errorf("held session's process %+v, want pid %d", k.Process, hold.Pid)
				}
			}
		})
	}
}

// TestContactsAddressReuseE2E is the container removed before the
// collection whose address a later benign container reuses: a beacon with
// a fixed address talks to the C2 a few times and is removed; a benign
// container started with the same address 3 s later then talks only to a second,
// benign host in the C2's namespace. The collection follows at once, the
// removed beacon's conntrack entries still in TIME_WAIT. The answer for
// the C2 must name the removed beacon (a candidate, with its reason, or
// certain), each of its conversations, and never the benign container.
func TestContactsAddressReuseE2E(t *testing.T) {
	const reuseAfter = 3 * time.Second
	caRequire(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	bin := e2etest.DockcaseBinary(t)
	remote := sc.AddRemote(t, 8443)
	a := sc.Subnet.Addr().As4()
	ip := netip.AddrFrom4([4]byte{a[0], a[1], a[2], 250})

	goneName := "dce-gone-" + sc.ID
	gone := sc.StartContainer(t, "gone", e2etest.ContainerSpec{IP: ip, Cmd: []string{"/workload", "-name", goneName,
		"-beacon-tcp", netip.AddrPortFrom(sc.C2Addr, sc.C2TCPPort).String(),
		"-beacon-udp", netip.AddrPortFrom(sc.C2Addr, sc.C2UDPPort).String(),
		"-interval", sc.Interval.String()}})
	if gone.IP != ip {
		t.Fatalf("the beacon has address %s, want %s", gone.IP, ip)
	}
	ofGone := func(e e2etest.Event) bool { return strings.Contains(e.Data, "name="+goneName+" ") }
	sc.WaitContact(t, 10*time.Second, func(e e2etest.Event) bool { return ofGone(e) && e.Proto == "udp" })
	for seq := range 4 { // a few TCP beacons, each a conversation
		sc.WaitContact(t, 10*time.Second, func(e e2etest.Event) bool {
			return ofGone(e) && e.Proto == "tcp" && strings.Contains(e.Data, " seq="+strconv.Itoa(seq)+" ")
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sc.Client().ContainerRemove(ctx, gone.ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatalf("docker rm -f %s: %v", gone.Name, err)
	}
	removed := time.Now()
	// Ground truth: the beacon's conversations as the C2 saw them, after
	// masquerade (the port is kept: one tuple each), by (proto, port).
	var made []string
	for _, e := range sc.Contacts() {
		if !ofGone(e) {
			continue
		}
		r := e.RemoteAddr()
		if r.Addr() != sc.HostAddr {
			t.Fatalf("the C2 saw the beacon from %s, want the masquerade address %s", r, sc.HostAddr)
		}
		key := e.Proto + " " + netip.AddrPortFrom(ip, r.Port()).String()
		if !slices.Contains(made, key) {
			made = append(made, key)
		}
	}

	// The reuse comes seconds later, as a recreated service's does: beyond
	// the second a conntrack entry's date is sure to (its remaining timeout
	// is whole seconds). Within that second the evidence could not
	// separate the two, and both would rightly be candidates.
	time.Sleep(time.Until(removed.Add(reuseAfter)))
	reuseName := "dce-reuse-" + sc.ID
	reuse := sc.StartContainer(t, "reuse", e2etest.ContainerSpec{IP: ip, Cmd: []string{"/workload", "-name", reuseName,
		"-beacon-tcp", remote.Addr.String(), "-interval", sc.Interval.String()}})
	if reuse.IP != ip {
		t.Fatalf("the reusing container has address %s, want %s", reuse.IP, ip)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n := 0
		for _, e := range remote.Contacts() {
			if strings.Contains(e.Data, "name="+reuseName+" ") {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the reusing container did not reach %s in 10 s: %+v", remote.Addr, sc.Events(t, reuse))
		}
	}
	for _, e := range sc.Contacts() {
		if strings.Contains(e.Data, "name="+reuseName+" ") {
			t.Fatalf("the C2 saw the benign container: %+v", e)
		}
	}
	t.Logf("%s (%.12s) made %d conversations with the C2 from %s, removed; %s (%.12s) reuses %s %v later, talks to %s",
		gone.Name, gone.ID, len(made), ip, reuse.Name, reuse.ID, ip, time.Since(removed).Round(time.Millisecond), remote.Addr)

	c2 := sc.C2Addr.String()
	doc := caAnalyze(t, bin, caCollect(t, bin, "IR-REUSE", "4s"), c2)
	truth := map[string]string{sc.Beacon.ID: sc.Beacon.Name, gone.ID: gone.Name}
	benign := map[string]string{reuse.ID: reuse.Name, sc.Published.ID: sc.Published.Name, sc.Bridge.ID: sc.Bridge.Name, sc.Stopped.ID: sc.Stopped.Name}
	s := caPrecisionRecall(t, doc, c2, truth, benign, true)
	for _, c := range s.candidates[gone.ID] {
		if c.Reason == "" {
			t.Errorf("the removed beacon is a candidate without a reason: %+v", c)
		}
	}
	t.Logf("the removed beacon %s: named alone %v, candidate %v; the reusing %s: named alone %v, candidate %v",
		gone.Name, s.certain[gone.ID], len(s.candidates[gone.ID]) > 0, reuse.Name, s.certain[reuse.ID], len(s.candidates[reuse.ID]) > 0)
	caConversationScore(t, doc, sc.C2Addr, gone.ID, gone.Name, made, true)
	for _, k := range doc.Contacts {
		if k.Container == gone.ID || slices.ContainsFunc(k.Candidates, func(c caCandidate) bool { return c.ID == gone.ID }) {
			t.Logf("a conversation of the removed beacon: %s %s → %s, rules %v, sources %v, reason %q", k.Proto, k.Local, k.Remote, k.Rules, k.sourceKinds(), k.Reason)
			break
		}
	}

	// The reusing container's own conversations are its, not the C2's.
	var its int
	for _, k := range doc.Contacts {
		if k.Remote == remote.Addr.String() {
			its++
			if k.Container != reuse.ID && !slices.ContainsFunc(k.Candidates, func(c caCandidate) bool { return c.ID == reuse.ID }) {
				t.Errorf("a conversation with the benign host %s is not the reusing container's: %s %s, container %q candidates %+v, reason %q",
					remote.Addr, k.Proto, k.Local, k.ContainerName, k.Candidates, k.Reason)
			}
		}
	}
	if its == 0 {
		t.Errorf("no conversation with the benign host %s in the contacts", remote.Addr)
	}
	t.Logf("%d conversations of %s with the benign host %s", its, reuse.Name, remote.Addr)
}
