package netpath

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/model"
)

// demoScenario is testdata/demo/scenario.txt: what the end-to-end harness
// put in the demo bundle.
type demoScenario struct {
	c2, c2Host         netip.Addr
	c2Link             string
	network            string
	subnet             netip.Prefix
	bridge             string
	beacon, beaconName string
	beaconIP           netip.Addr
	bridged            string
	stopped            string
}

func readDemoScenario(t testing.TB) demoScenario {
	t.Helper()
	f, err := os.Open(filepath.Join(analyzetest.DemoDir(), "scenario.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s demoScenario
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) < 2 {
			continue
		}
		switch {
		case w[0] == "C2":
			s.c2 = netip.MustParseAddr(w[1])
		case w[0] == "host" && len(w) >= 9:
			s.c2Host, s.c2Link = netip.MustParseAddr(w[6]), w[8]
		case w[0] == "network" && len(w) >= 5:
			s.network, s.subnet, s.bridge = w[1], netip.MustParsePrefix(w[2]), w[4]
		case w[0] == "beacon" && len(w) >= 4:
			s.beaconName, s.beacon, s.beaconIP = w[1], w[2], netip.MustParseAddr(w[3])
		case w[0] == "bridge" && len(w) >= 3:
			s.bridged = w[2]
		case w[0] == "stopped" && len(w) >= 3:
			s.stopped = w[2]
		}
	}
	if !s.c2.IsValid() || s.bridge == "" || s.beacon == "" || s.c2Link == "" {
		t.Fatalf("scenario.txt not understood: %+v", s)
	}
	return s
}

// TestDemoBeaconPath checks the answer to the case's question on the real
// bundle: the beacon's path names its real veth, its br- bridge, the
// MASQUERADE rule with counters and the C2 link with the host's address.
func TestDemoBeaconPath(t *testing.T) {
	s := readDemoScenario(t)
	h, err := model.Load(analyzetest.OpenDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Missing) != 0 {
		t.Errorf("Missing = %q, want nothing for the complete demo bundle", h.Missing)
	}
	p, err := Egress(h, s.beaconName, s.c2)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("path: %s", p.Summary())
	if len(p.Unknown) > 0 {
		t.Errorf("Path(%s, %s).Unknown = %q, want none", s.beaconName, s.c2, p.Unknown)
	}
	kinds := []string{}
	for _, hop := range p.Hops {
		kinds = append(kinds, hop.Kind)
		if len(hop.Evidence) == 0 {
			t.Errorf("hop %q cites no evidence", hop.Text)
		}
		for _, e := range hop.Evidence {
			if e.Member == "" || len(e.SHA256) != 64 || (e.Pointer == "" && e.Line == 0) {
				t.Errorf("hop %q: evidence %+v lacks member, hash or place", hop.Text, e)
			}
		}
	}
	want := []string{HopContainerIf, HopVeth, HopBridge, HopRoute, HopForward, HopNAT, HopOut}
	if !slices.Equal(kinds, want) {
		t.Fatalf("hop kinds = %v, want %v", kinds, want)
	}
	// The veth is the real one: its ifindex is the container eth0's iflink
	// and its iflink the eth0's ifindex.
	beacon, _ := h.ContainerByID(s.beacon)
	ns, _ := h.Namespace(beacon.NetNS)
	eth0 := ns.LinkByName("eth0")
	veth := h.HostNS.Link(p.Hops[1].Ifindex)
	if eth0 == nil || veth == nil || veth.Index != eth0.Iflink || veth.Iflink != eth0.Index || veth.Name != p.Hops[1].Iface {
		t.Errorf("veth hop %+v does not pair with the container's eth0 %+v", p.Hops[1], eth0)
	}
	if veth != nil && veth.Master != s.bridge {
		t.Errorf("veth %s master = %q, want %q", veth.Name, veth.Master, s.bridge)
	}
	if p.Hops[2].Iface != s.bridge {
		t.Errorf("bridge hop = %q, want %q", p.Hops[2].Iface, s.bridge)
	}
	nat := p.Hops[5]
	wantRule := fmt.Sprintf("-A POSTROUTING -s %s ! -o %s -j MASQUERADE", s.subnet, s.bridge)
	if !strings.Contains(nat.Text, wantRule) || nat.Counters == nil || nat.Counters.Packets == 0 {
		t.Errorf("NAT hop = %q counters %v, want %q with nonzero counters", nat.Text, nat.Counters, wantRule)
	}
	if nat.Evidence[0].Member != "host/firewall/iptables-save.txt" || nat.Evidence[0].Line == 0 {
		t.Errorf("NAT evidence = %+v, want a line of host/firewall/iptables-save.txt", nat.Evidence[0])
	}
	route := p.Hops[3]
	if c2Net := netip.PrefixFrom(s.c2Host, 30).Masked(); !strings.Contains(route.Text, c2Net.String()+" dev "+s.c2Link) {
		t.Errorf("route hop = %q, want the C2 /30 via %s", route.Text, s.c2Link)
	}
	if p.OutIface != s.c2Link || p.FinalSrc != s.c2Host || !p.NAT || p.Src != s.beaconIP {
		t.Errorf("out = %s src %s→%s nat %v, want %s src %s→%s nat true", p.OutIface, p.Src, p.FinalSrc, p.NAT, s.c2Link, s.beaconIP, s.c2Host)
	}
}

// TestDemoVisibility is the puzzle: the beacon is not on docker0 because
// its bridge is br-<id>, and the C2 link carries it as the host.
func TestDemoVisibility(t *testing.T) {
	s := readDemoScenario(t)
	h, err := model.Load(analyzetest.OpenDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]VisibilityRow{}
	for _, r := range Visibility(h, s.c2) {
		if r.Container == s.beacon {
			rows[r.Iface] = r
		}
	}
	d0, ok := rows["docker0"]
	if !ok || d0.Visible != VisibleNo || !strings.Contains(d0.Why, s.bridge) {
		t.Errorf("docker0 row = %+v, want not visible because the bridge is %s", d0, s.bridge)
	}
	if strings.Contains(d0.Why, "MASQUERADE rule") && !strings.Contains(d0.Why, "only the source") {
		t.Errorf("docker0 row blames the NAT rule: %q", d0.Why)
	}
	c2 := rows[s.c2Link]
	if c2.Visible != VisibleYes || c2.Src != s.c2Host || c2.As != "host" || c2.IfaceKind != IfaceUplink {
		t.Errorf("%s row = %+v, want visible as the host %s", s.c2Link, c2, s.c2Host)
	}
	br := rows[s.bridge]
	if br.Visible != VisibleYes || br.Src != s.beaconIP || br.As != "container" {
		t.Errorf("%s row = %+v, want visible with the container's %s", s.bridge, br, s.beaconIP)
	}
	if up := rows["eth0"]; up.Visible != VisibleNo {
		t.Errorf("eth0 row = %+v, want not visible: the route to the C2 leaves by %s", up, s.c2Link)
	}
	// The default-bridge container is on docker0.
	for _, r := range Visibility(h, s.c2) {
		if r.Container == s.bridged && r.Iface == "docker0" && r.Visible != VisibleYes {
			t.Errorf("bridge container on docker0 = %+v, want visible", r)
		}
	}
}

// TestDemoOwnership checks leases against the engine's events: the beacon
// holds its address from its network connect on, and not before.
func TestDemoOwnership(t *testing.T) {
	s := readDemoScenario(t)
	h, err := model.Load(analyzetest.OpenDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	l, ok := h.Owner(s.beaconIP, h.Collected)
	if !ok || l.Container != s.beacon || !l.To.IsZero() {
		t.Fatalf("Owner(%s, collected) = %+v, %v, want %s still holding it", s.beaconIP, l, ok, s.beacon)
	}
	if _, ok := h.Owner(s.beaconIP, l.From.Add(-time.Nanosecond)); ok {
		t.Errorf("Owner(%s, before its lease) = true, want false", s.beaconIP)
	}
	c, _ := h.ContainerByID(s.beacon)
	if l.From.After(c.StartedAt) {
		t.Errorf("lease from %s is after the container started %s", l.From, c.StartedAt)
	}
	// The stopped container's address is not in the bundle: its window is
	// recorded without one, and nobody owns an address then by guess.
	var window *model.Lease
	for i, x := range h.Leases() {
		if x.Container == s.stopped {
			window = &h.Leases()[i]
		}
	}
	if window == nil || window.Addr.IsValid() || window.To.IsZero() {
		t.Fatalf("stopped container's lease = %+v, want a closed window without address", window)
	}
	for _, x := range h.Leases() {
		if x.Addr.IsValid() {
			if got, ok := h.Owner(x.Addr, window.From); ok && got.From.After(window.From) {
				t.Errorf("Owner(%s, %s) = lease from %s", x.Addr, window.From, got.From)
			}
		}
	}
}
