package analyze_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	"github.com/docker/docker/api/types/network"
)

// The end-to-end tests of this file prove issue 15's contacts on the real
// engine for a macvlan network, a shared namespace (container:X), an IPv6
// bridge network and a name resolved through Docker's embedded DNS: each
// collects the host with a capture, runs `dockcase analyze --ioc … --json`
// and scores the document's answer for the indicator against the
// containers the test made talk to it, printing precision and recall.

// caseAnswer is the part of the dockcase-analysis/v2 document the tests
// read: the headline answer per indicator, the IOC hits and the contacts.
type caseAnswer struct {
	Answer []struct {
		IOC     string      `json:"ioc"`
		Kind    string      `json:"kind"`
		Who     []answerWho `json:"who"`
		NotSeen string      `json:"not_seen"`
	} `json:"answer"`
	IOCs []struct {
		IOC          string   `json:"ioc"`
		Containers   []string `json:"containers"`
		Unattributed bool     `json:"unattributed"`
	} `json:"iocs"`
	Contacts []struct {
		Container  string         `json:"container"`
		Group      []containerRef `json:"group"`
		Candidates []candidateRef `json:"candidates"`
		Process    *struct {
			PID       int    `json:"pid"`
			Container string `json:"container"`
		} `json:"process"`
		Proto   string   `json:"proto"`
		Local   string   `json:"local"`
		Remote  string   `json:"remote"`
		Rules   []string `json:"rules"`
		Sources []struct {
			Kind      string `json:"kind"`
			Interface string `json:"interface"`
			Role      string `json:"role"`
			State     string `json:"state"`
		} `json:"sources"`
	} `json:"contacts"`
	DNS []struct {
		QName     string   `json:"qname"`
		Answers   []string `json:"answers"`
		Interface string   `json:"interface"`
	} `json:"dns"`
	Missing []string `json:"missing"`
}

type containerRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type candidateRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Certain bool   `json:"certain"`
	Reason  string `json:"reason"`
}

// answerWho is one entry of an indicator's answer.
type answerWho struct {
	Container     string         `json:"container"`
	ContainerName string         `json:"container_name"`
	Who           string         `json:"who"`
	Group         []containerRef `json:"group"`
	Candidates    []candidateRef `json:"candidates"`
	Rules         []string       `json:"rules"`
	Confidence    string         `json:"confidence"`
	Conversations int            `json:"conversations"`
	Lookups       int            `json:"dns_lookups"`
	Path          string         `json:"path"`
	Processes     []struct {
		PID     int    `json:"pid"`
		Cmdline string `json:"cmdline"`
		Socket  string `json:"socket"`
	} `json:"processes"`
}

// named is who an indicator's answer names: the containers it names with
// certainty (alone or as a namespace group's members), the owners of the
// processes it names, the candidates (named, not certain) with their
// reasons, and the entries naming no container (the host, unknown).
type named struct {
	certain    map[string]bool
	group      map[string]bool // certain through a namespace group
	candidates map[string]string
	others     []string
}

// answerFor returns the answer's entries for indicator ioc; it fails t
// when the document has no answer for it.
func (d *caseAnswer) answerFor(t *testing.T, ioc string) []answerWho {
	t.Helper()
	for _, a := range d.Answer {
		if a.IOC == ioc {
			if len(a.Who) == 0 {
				t.Errorf("indicator %s: the answer names nobody: %s", ioc, a.NotSeen)
			}
			return a.Who
		}
	}
	t.Fatalf("no answer for the indicator %s", ioc)
	return nil
}

func whoNames(who []answerWho) named {
	n := named{certain: map[string]bool{}, group: map[string]bool{}, candidates: map[string]string{}}
	for _, w := range who {
		if w.Container != "" {
			n.certain[w.Container] = true
		}
		for _, g := range w.Group {
			n.group[g.ID] = true
		}
		for _, c := range w.Candidates {
			if c.Certain {
				n.certain[c.ID] = true
			} else {
				n.candidates[c.ID] = c.Reason
			}
		}
		if w.Container == "" && len(w.Group) == 0 && len(w.Candidates) == 0 {
			n.others = append(n.others, fmt.Sprintf("%q rules %v (%d conversations)", w.Who, w.Rules, w.Conversations))
		}
	}
	return n
}

// score logs precision and recall of the predicted set against the truth
// (container ids; names gives them names for the log) and fails t unless
// both are 1. Every id in benign must be absent from predicted and from
// the candidates.
func score(t *testing.T, label string, truth, predicted map[string]bool, candidates map[string]string, benign []e2etest.Container, names map[string]string) {
	t.Helper()
	var tp, fp, fn []string
	for id := range predicted {
		if truth[id] {
			tp = append(tp, names[id])
		} else {
			fp = append(fp, nameOr(names[id], id))
		}
	}
	for id := range truth {
		if !predicted[id] {
			fn = append(fn, names[id])
		}
	}
	slices.Sort(tp)
	slices.Sort(fp)
	slices.Sort(fn)
	precision, recall := 0.0, 0.0
	if len(tp)+len(fp) > 0 {
		precision = float64(len(tp)) / float64(len(tp)+len(fp))
	}
	if len(tp)+len(fn) > 0 {
		recall = float64(len(tp)) / float64(len(tp)+len(fn))
	}
	var cands []string
	for id, why := range candidates {
		cands = append(cands, fmt.Sprintf("%s (%s)", nameOr(names[id], id), why))
	}
	slices.Sort(cands)
	t.Logf("%s: precision %.2f recall %.2f (TP %v, FP %v, FN %v); candidates, not certain: %v", label, precision, recall, tp, fp, fn, cands)
	if precision != 1 || recall != 1 {
		t.Errorf("%s: precision %.2f recall %.2f, want 1 and 1", label, precision, recall)
	}
	for _, b := range benign {
		if predicted[b.ID] {
			t.Errorf("%s: the benign container %s is named", label, b.Name)
		}
		if why, ok := candidates[b.ID]; ok {
			t.Errorf("%s: the benign container %s is a candidate: %s", label, b.Name, why)
		}
	}
}

// nameOr is a container's name, else its id.
func nameOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// collectCase runs `dockcase collect` with a capture of capture on the
// host, then `dockcase analyze --ioc … --json` on the bundle, and returns
// the document. Missing items about the scenario's own containers fail t.
func collectCase(t *testing.T, sc *e2etest.Scenario, capture time.Duration, iocs ...string) *caseAnswer {
	t.Helper()
	bin := e2etest.DockcaseBinary(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "case.tar.zst")
	cmd := exec.Command(bin, "collect", "--case", "IR-CONTACTS", "--no-images", "--events-since", "10m",
		"--capture", capture.String(), "--out", out)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	e2etest.Start(t, cmd)
	if err := cmd.Wait(); err != nil && cmd.ProcessState.ExitCode() != 3 {
		t.Fatalf("collect: %v\n%s", err, stderr.String())
	}
	jsonOut := filepath.Join(dir, "analysis.json")
	args := []string{"analyze", out, "--json", jsonOut}
	for _, i := range iocs {
		args = append(args, "--ioc", i)
	}
	code, errText := runBin(t, bin, args...)
	// No trust anchor: 5; 3 when something stays unknown (other packages'
	// tests start and remove containers while we collect).
	if code != 5 && code != 3 {
		t.Fatalf("analyze exit %d\n%s", code, errText)
	}
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatalf("analyze exit %d: %v\n%s", code, err, errText)
	}
	var doc caseAnswer
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	ours := []string{"-" + sc.ID}
	for _, c := range sc.Containers() {
		ours = append(ours, c.ID[:12])
	}
	for _, m := range doc.Missing {
		for _, o := range ours {
			if strings.Contains(m, o) {
				t.Errorf("missing from the bundle, about this scenario (%s): %s", o, m)
			}
		}
	}
	return &doc
}

// logAnswer logs the answer's entries for a reader of a failure.
func logAnswer(t *testing.T, ioc string, who []answerWho) {
	t.Helper()
	for _, w := range who {
		var procs []string
		for _, p := range w.Processes {
			procs = append(procs, fmt.Sprintf("%d %q %s", p.PID, p.Cmdline, p.Socket))
		}
		t.Logf("answer %s: %s %q who %q group %v candidates %v rules %v %s, %d conversations, %d lookups, path %q, processes %v",
			ioc, w.Container, w.ContainerName, w.Who, w.Group, w.Candidates, w.Rules, w.Confidence, w.Conversations, w.Lookups, w.Path, procs)
	}
}

// requireE2E skips the test under -short and without conntrack (fails it
// under CI=true).
func requireE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: -short")
	}
	if _, err := exec.LookPath("conntrack"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("conntrack not installed")
		}
		t.Skip("conntrack not installed")
	}
}

// nameMap gives the scenario's containers' names by id.
func nameMap(sc *e2etest.Scenario) map[string]string {
	m := map[string]string{}
	for _, c := range sc.Containers() {
		m[c.ID] = c.Name
	}
	return m
}

// ipCmd runs ip with args; failure fails t.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
}

// beaconArgs is the workload's command line beaconing to c2 over TCP and
// UDP every 300 ms.
func beaconArgs(name string, c2 netip.Addr) []string {
	return []string{"/workload", "-name", name, "-interval", "300ms",
		"-beacon-tcp", netip.AddrPortFrom(c2, e2etest.DefaultTCPPort).String(),
		"-beacon-udp", netip.AddrPortFrom(c2, e2etest.DefaultUDPPort).String()}
}

// waitContacts waits until the listener has logged a TCP and a UDP
// contact from from (any port), failing t after 20 s.
func waitContacts(t *testing.T, contacts func() []e2etest.Event, from netip.Addr) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		seen := map[string]bool{}
		for _, e := range contacts() {
			if e.RemoteAddr().Addr().Unmap() == from {
				seen[e.Proto] = true
			}
		}
		if seen["tcp"] && seen["udp"] {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no TCP and UDP contact from %s at the C2 in 20 s (seen %v)", from, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestContactsMacvlanE2E: a container on a macvlan network whose parent is
// a test veth without a host address beacons to a C2 in the namespace at
// the veth's other end. Nothing of it crosses a bridge or NAT: its sockets
// in its own namespace and the captured parent name it.
func TestContactsMacvlanE2E(t *testing.T) {
	requireE2E(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	ns, parent, peer := "dce-mv-"+sc.ID, "dcemvh"+sc.ID, "dcemvp"+sc.ID
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", parent).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	// The scenario's containers go before the link (cleanups run last
	// first): a macvlan endpoint whose parent vanished is the engine's to
	// clean up otherwise.
	t.Cleanup(sc.Cleanup)
	p, release, err := e2etest.LinkPrefix()
	if err != nil {
		t.Fatal(err)
	}
	a := p.Addr().As4()
	ctAddr := netip.AddrFrom4([4]byte{a[0], a[1], a[2], 1})
	c2 := netip.AddrFrom4([4]byte{a[0], a[1], a[2], 2})
	ipCmd(t, "netns", "add", ns)
	ipCmd(t, "link", "add", parent, "type", "veth", "peer", "name", peer, "netns", ns)
	ipCmd(t, "link", "set", parent, "up")
	ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	ipCmd(t, "-n", ns, "addr", "add", c2.String()+"/30", "dev", peer)
	ipCmd(t, "-n", ns, "link", "set", peer, "up")
	release()
	if err := exec.Command("ip", "link", "add", "link", parent, "name", "dcemvq"+sc.ID, "type", "macvlan", "mode", "bridge").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("this kernel has no macvlan: %v", err)
		}
		t.Skipf("this kernel has no macvlan: %v", err)
	}
	ipCmd(t, "link", "del", "dcemvq"+sc.ID)
	lis := e2etest.RunInNetns(t, ns, "-name", "mvc2",
		"-listen-tcp", netip.AddrPortFrom(c2, e2etest.DefaultTCPPort).String(),
		"-listen-udp", netip.AddrPortFrom(c2, e2etest.DefaultUDPPort).String())

	netName := "dce-mv-" + sc.ID
	sc.CreateNetwork(t, netName, network.CreateOptions{
		Driver:  "macvlan",
		Options: map[string]string{"parent": parent, "macvlan_mode": "bridge"},
		IPAM:    &network.IPAM{Config: []network.IPAMConfig{{Subnet: p.String(), Gateway: c2.String()}}},
	})
	mv := sc.StartContainer(t, "macvlan", e2etest.ContainerSpec{
		Adjust: func(cfg *container.Config, hc *container.HostConfig) { hc.NetworkMode = container.NetworkMode(netName) },
	})
	if mv.IP != ctAddr {
		t.Fatalf("the macvlan container has %v, want %v", mv.IP, ctAddr)
	}
	// The C2 is on the container's own link: nothing else routes it.
	e2etest.CheckRoute(t, mv.Pid, c2.String(), "eth0", "")
	sc.Exec(t, mv, beaconArgs("dce-mvbeacon-"+sc.ID, c2)...)
	waitContacts(t, func() []e2etest.Event { return lis.Contacts(t) }, ctAddr)

	doc := collectCase(t, sc, 6*time.Second, c2.String())
	who := doc.answerFor(t, c2.String())
	logAnswer(t, c2.String(), who)
	n := whoNames(who)
	for id := range n.group {
		n.certain[id] = true
	}
	benign := []e2etest.Container{sc.Beacon, sc.Published, sc.Bridge, sc.Stopped}
	score(t, "macvlan "+c2.String(), map[string]bool{mv.ID: true}, n.certain, n.candidates, benign, nameMap(sc))
	if len(n.others) > 0 {
		t.Errorf("the answer for %s names others too: %v", c2, n.others)
	}
	// Its evidence: sockets in its own namespace and the captured parent.
	var socket, onParent bool
	for _, k := range doc.Contacts {
		if k.Container != mv.ID || !strings.HasPrefix(k.Remote, c2.String()+":") {
			continue
		}
		for _, s := range k.Sources {
			socket = socket || (s.Kind == "socket" && (s.State == "ESTABLISHED" || s.State == "TIME_WAIT"))
			onParent = onParent || (s.Kind == "capture" && s.Interface == parent)
		}
	}
	if !socket || !onParent {
		t.Errorf("the macvlan container's contacts with %s: from its sockets %v, captured on the parent %s %v; want both", c2, socket, parent, onParent)
	}
}

// TestContactsSharedNamespaceE2E: X is idle, Y joins X's network namespace
// (--network container:X) and its process beacons to the C2. The answer
// names the namespace group {X, Y}, and Y as the container whose process
// holds the socket; the scenario's beacon is named too, nobody else.
func TestContactsSharedNamespaceE2E(t *testing.T) {
	requireE2E(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	x := sc.StartContainer(t, "nsowner", e2etest.ContainerSpec{})
	y := sc.StartContainer(t, "nsjoiner", e2etest.ContainerSpec{
		Adjust: func(cfg *container.Config, hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode("container:" + x.ID)
		},
	})
	sc.Exec(t, y, beaconArgs("dce-nsbeacon-"+sc.ID, sc.C2Addr)...)
	waitContacts(t, sc.Contacts, sc.HostAddr)

	c2 := sc.C2Addr.String()
	doc := collectCase(t, sc, 6*time.Second, c2)
	who := doc.answerFor(t, c2)
	logAnswer(t, c2, who)
	n := whoNames(who)
	names := nameMap(sc)
	benign := []e2etest.Container{sc.Published, sc.Bridge, sc.Stopped}
	// The namespaces that talked: the beacon's, and X's shared with Y.
	inGroup := map[string]bool{}
	for id := range n.certain {
		inGroup[id] = true
	}
	for id := range n.group {
		inGroup[id] = true
	}
	score(t, "namespace group "+c2, map[string]bool{sc.Beacon.ID: true, x.ID: true, y.ID: true}, inGroup, n.candidates, benign, names)
	if len(n.others) > 0 {
		t.Errorf("the answer for %s names others too: %v", c2, n.others)
	}
	// Whose process made it: Y, never X alone.
	score(t, "process owner "+c2, map[string]bool{sc.Beacon.ID: true, y.ID: true}, n.certain, nil, append(benign, x), names)
	var owned bool
	for _, k := range doc.Contacts {
		if k.Process != nil && k.Process.Container == y.ID && strings.HasPrefix(k.Remote, c2+":") {
			owned = true
		}
	}
	if !owned {
		t.Errorf("no contact with %s has a process of %s", c2, y.Name)
	}
}

// TestContactsIPv6E2E: a user network with IPv6 on a ULA /64, the C2
// namespace given a ULA address on the scenario's C2 link, a container
// beaconing to that address: the answer for the IPv6 indicator names it,
// with its path.
func TestContactsIPv6E2E(t *testing.T) {
	requireE2E(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	// fdXX:XXXX:XXXX::/48, XX from the scenario's ID: the link is :1::/64,
	// the network :2::/64.
	id, err := strconv.ParseUint(sc.ID, 16, 24)
	if err != nil {
		t.Fatal(err)
	}
	ula := fmt.Sprintf("fd%02x:%04x:dce0", id>>16, id&0xffff)
	hostV6, c2V6 := netip.MustParseAddr(ula+":1::1"), netip.MustParseAddr(ula+":1::2")
	subnet, gw := ula+":2::/64", netip.MustParseAddr(ula+":2::1")
	ipCmd(t, "-6", "addr", "add", hostV6.String()+"/64", "dev", sc.HostVeth, "nodad")
	ipCmd(t, "-n", sc.NetNS, "-6", "addr", "add", c2V6.String()+"/64", "dev", sc.C2Veth, "nodad")
	// Without NAT66 (Docker's ip6tables is off by default) the C2 sees the
	// container's own address: route it back through the host.
	ipCmd(t, "-n", sc.NetNS, "-6", "route", "add", subnet, "via", hostV6.String())
	e2etest.CheckRoute(t, 0, c2V6.String(), sc.HostVeth, "")
	lis := e2etest.RunInNetns(t, sc.NetNS, "-name", "c2v6",
		"-listen-tcp", netip.AddrPortFrom(c2V6, e2etest.DefaultTCPPort).String(),
		"-listen-udp", netip.AddrPortFrom(c2V6, e2etest.DefaultUDPPort).String())

	netName := "dce-v6-" + sc.ID
	sc.CreateNetwork(t, netName, network.CreateOptions{
		Driver:     "bridge",
		EnableIPv6: ptr(true),
		IPAM:       &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet, Gateway: gw.String()}}},
	})
	v6 := sc.StartContainer(t, "v6beacon", e2etest.ContainerSpec{
		Adjust: func(cfg *container.Config, hc *container.HostConfig) { hc.NetworkMode = container.NetworkMode(netName) },
	})
	ins, err := sc.Client().ContainerInspect(context.Background(), v6.ID)
	if err != nil {
		t.Fatal(err)
	}
	ep := ins.NetworkSettings.Networks[netName]
	if ep == nil || ep.GlobalIPv6Address == "" {
		t.Fatalf("the IPv6 container has no IPv6 address on %s: %+v", netName, ep)
	}
	ctV6 := netip.MustParseAddr(ep.GlobalIPv6Address)
	e2etest.CheckRoute(t, v6.Pid, c2V6.String(), "eth0", gw.String())
	sc.Exec(t, v6, beaconArgs("dce-v6beacon-"+sc.ID, c2V6)...)
	waitContacts(t, func() []e2etest.Event { return lis.Contacts(t) }, ctV6)

	doc := collectCase(t, sc, 6*time.Second, c2V6.String())
	who := doc.answerFor(t, c2V6.String())
	logAnswer(t, c2V6.String(), who)
	n := whoNames(who)
	for id := range n.group {
		n.certain[id] = true
	}
	benign := []e2etest.Container{sc.Beacon, sc.Published, sc.Bridge, sc.Stopped}
	score(t, "IPv6 "+c2V6.String(), map[string]bool{v6.ID: true}, n.certain, n.candidates, benign, nameMap(sc))
	if len(n.others) > 0 {
		t.Errorf("the answer for %s names others too: %v", c2V6, n.others)
	}
	for _, w := range who {
		if w.Container == v6.ID && !strings.Contains(w.Path, "br-") {
			t.Errorf("the IPv6 beacon's path %q crosses no bridge", w.Path)
		}
	}
	var tcp, udp bool
	for _, k := range doc.Contacts {
		if k.Container == v6.ID && strings.HasPrefix(k.Remote, "["+c2V6.String()+"]:") {
			tcp = tcp || k.Proto == "tcp"
			udp = udp || k.Proto == "udp"
		}
	}
	if !tcp || !udp {
		t.Errorf("the IPv6 beacon's contacts with %s: tcp %v udp %v, want both", c2V6, tcp, udp)
	}
}

func ptr[T any](v T) *T { return &v }

// TestContactsEmbeddedDNSE2E: a container on the scenario's user network
// dials the scenario's domain: Docker's embedded resolver (127.0.0.11)
// forwards the lookup from the host's namespace to the C2's DNS server,
// and the container connects to the answer. The indicator is the domain;
// the answer names the container (and the scenario's beacon, which looks
// the domain up and beacons to its address), nobody else.
func TestContactsEmbeddedDNSE2E(t *testing.T) {
	requireE2E(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	r := sc.StartContainer(t, "resolver", e2etest.ContainerSpec{})
	// The scenario checked the C2's route on the host; the container
	// reaches it through its network's gateway.
	e2etest.CheckRoute(t, r.Pid, sc.C2Addr.String(), "eth0", sc.Gateway.String())
	sc.Exec(t, r, "/workload", "-name", "dce-dnsbeacon-"+sc.ID, "-interval", "300ms",
		"-beacon-tcp", sc.Domain+":"+strconv.Itoa(e2etest.DefaultTCPPort))
	sc.WaitContact(t, 20*time.Second, func(e e2etest.Event) bool {
		return e.Proto == "tcp" && strings.Contains(e.Data, "name=dce-dnsbeacon-"+sc.ID)
	})

	doc := collectCase(t, sc, 6*time.Second, sc.Domain)
	who := doc.answerFor(t, sc.Domain)
	logAnswer(t, sc.Domain, who)
	n := whoNames(who)
	for id := range n.group {
		n.certain[id] = true
	}
	benign := []e2etest.Container{sc.Published, sc.Bridge, sc.Stopped}
	score(t, "domain "+sc.Domain, map[string]bool{sc.Beacon.ID: true, r.ID: true}, n.certain, n.candidates, benign, nameMap(sc))
	// The embedded resolver's forwarding, from the host's namespace, is
	// the containers' lookups, not the host's.
	if len(n.others) > 0 {
		t.Errorf("the answer for %s names others too: %v", sc.Domain, n.others)
	}
	// The embedded resolver's forwarded lookup, answered on the C2 link.
	var forwarded bool
	for _, q := range doc.DNS {
		if q.Interface == sc.HostVeth && strings.EqualFold(strings.TrimSuffix(q.QName, "."), sc.Domain) &&
			slices.ContainsFunc(q.Answers, func(a string) bool { return strings.HasSuffix(a, " "+sc.C2Addr.String()) }) {
			forwarded = true
		}
	}
	if !forwarded {
		t.Errorf("no DNS answer for %s with %s captured on the C2 link %s", sc.Domain, sc.C2Addr, sc.HostVeth)
	}
	for _, w := range who {
		if w.Container == r.ID && w.Conversations == 0 {
			t.Errorf("the resolver is named for %s without a conversation with its address: %+v", sc.Domain, w)
		}
	}
}
