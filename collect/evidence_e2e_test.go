package collect_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/collect"
	"github.com/dockcase/dockcase/collect/capture"
	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/dockcase/dockcase/collect/host"
	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// macvlanLink is a test veth whose host end, without an address, is the
// parent of a macvlan network; its other end, in a namespace of the
// test's own, holds 198.18.<n>.2 of a /30 picked by e2etest.LinkPrefix.
type macvlanLink struct {
	ns, parent, peer string
	prefix           netip.Prefix
	nsAddr, ctAddr   netip.Addr
}

func ipRun(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return errors.New("ip " + strings.Join(args, " ") + ": " + err.Error() + ": " + strings.TrimSpace(string(out)))
	}
	return nil
}

// newMacvlanLink makes the link and the namespace; both are removed at
// the end of the test, also on failure.
func newMacvlanLink(t *testing.T, id string) *macvlanLink {
	t.Helper()
	m := &macvlanLink{ns: "dce-mv-" + id, parent: "dcemvh" + id, peer: "dcemvp" + id}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", m.parent).Run()
		exec.Command("ip", "netns", "del", m.ns).Run()
	})
	p, release, err := e2etest.LinkPrefix()
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	a := p.Addr().As4()
	m.prefix = p
	m.ctAddr = netip.AddrFrom4([4]byte{a[0], a[1], a[2], 1})
	m.nsAddr = netip.AddrFrom4([4]byte{a[0], a[1], a[2], 2})
	for _, args := range [][]string{
		{"netns", "add", m.ns},
		{"link", "add", m.parent, "type", "veth", "peer", "name", m.peer, "netns", m.ns},
		{"link", "set", m.parent, "up"},
		{"-n", m.ns, "link", "set", "lo", "up"},
		{"-n", m.ns, "addr", "add", m.nsAddr.String() + "/30", "dev", m.peer},
		{"-n", m.ns, "link", "set", m.peer, "up"},
	} {
		if err := ipRun(args...); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel must know macvlan: probe it on the test's own link.
	probe := "dcemvq" + id
	if err := ipRun("link", "add", "link", m.parent, "name", probe, "type", "macvlan", "mode", "bridge"); err != nil {
		t.Skipf("this kernel has no macvlan: %v", err)
	}
	ipRun("link", "del", probe)
	return m
}

// TestEvidenceE2E collects a host with a container on a macvlan network
// whose parent has no address, and a container spinning a core: the
// capture has the parent (role parent, the network in its description)
// and the macvlan container's packets on it; docker/stats.json has the
// scenario's containers in both samples, and the spinning one is found
// pegging a core; host/conntrack-sysctl.json holds conntrack's clock.
func TestEvidenceE2E(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("collect needs root")
	}
	e2etest.RequireDocker(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	m := newMacvlanLink(t, sc.ID)
	// The scenario's containers go before the link: a macvlan endpoint
	// whose parent vanished is the engine's to clean up otherwise.
	t.Cleanup(sc.Cleanup)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	netName := "dce-mv-" + sc.ID
	resp, err := sc.Client().NetworkCreate(ctx, netName, network.CreateOptions{
		Driver:  "macvlan",
		Options: map[string]string{"parent": m.parent, "macvlan_mode": "bridge"},
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{
			Subnet: m.prefix.String(), Gateway: m.nsAddr.String(),
		}}},
		Labels: map[string]string{e2etest.LabelScenario: sc.ID},
	})
	if err != nil {
		t.Fatalf("create the macvlan network: %v", err)
	}
	t.Cleanup(func() { sc.Client().NetworkRemove(context.Background(), resp.ID) })
	mv := sc.StartContainer(t, "macvlan", e2etest.ContainerSpec{
		Cmd: []string{"/workload", "-name", "dce-macvlan-" + sc.ID, "-beacon-udp", netip.AddrPortFrom(m.nsAddr, 9).String(), "-interval", "200ms"},
		Adjust: func(cfg *container.Config, hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode(netName)
		},
	})
	if mv.IP != m.ctAddr {
		t.Fatalf("the macvlan container has %v, want %v", mv.IP, m.ctAddr)
	}
	// Limited to a fifth of a core, which it keeps busy even on a loaded
	// machine: the rule flags 80% of a core, or of a smaller limit.
	spin := sc.StartContainer(t, "spin", e2etest.ContainerSpec{Cmd: []string{"/workload", "-name", "dce-spin-" + sc.ID, "-spin"},
		Adjust: func(cfg *container.Config, hc *container.HostConfig) { hc.NanoCPUs = 200_000_000 }})

	dir := t.TempDir()
	out := filepath.Join(dir, "case.tar.zst")
	code, stderr := run(t, "collect", "--case", "IR-EVIDENCE", "--no-images", "--capture", "6s", "--events-since", "10m", "--out", out)
	if code != 0 && code != 3 {
		t.Fatalf("collect: exit %d\n%s", code, stderr)
	}
	b := openBundle(t, out)
	for _, g := range b.Manifest.Gaps {
		if strings.HasPrefix(g, "stats") || strings.HasPrefix(g, "conntrack") {
			t.Errorf("gap %q", g)
		}
	}

	t.Run("macvlan parent", func(t *testing.T) {
		var res capture.Result
		readJSON(t, b, "capture/interfaces.json", &res)
		var parent *capture.Interface
		for i, it := range res.Interfaces {
			if it.Name == m.parent {
				parent = &res.Interfaces[i]
			}
		}
		if parent == nil {
			t.Fatalf("the macvlan parent %s was not captured: %+v", m.parent, res.Interfaces)
		}
		if parent.Role != capture.RoleParent || parent.Network != netName || !strings.Contains(parent.Description, "macvlan network "+netName) || parent.BlockID < 0 {
			t.Errorf("parent interface = %+v, want role %q, network %q named in the description, captured", parent, capture.RoleParent, netName)
		}
		data, err := b.ReadFile("capture/capture.pcapng", 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapng.NewReader(bytes.NewReader(data), "capture.pcapng")
		if err != nil {
			t.Fatal(err)
		}
		beacons := 0
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ifs := r.Interfaces()
			if rec.Interface >= len(ifs) || ifs[rec.Interface].Name != m.parent {
				continue
			}
			if !strings.Contains(ifs[rec.Interface].Description, netName) {
				t.Errorf("the parent's interface block says %q, not the network %s", ifs[rec.Interface].Description, netName)
			}
			var p packet.Packet
			if packet.Decode(rec.LinkType, rec.Data, &p) == nil && p.Src == m.ctAddr && p.Dst == m.nsAddr && p.DstPort == 9 {
				beacons++
			}
		}
		if beacons == 0 {
			t.Errorf("no UDP beacon from %s to %s on the parent %s in the capture", m.ctAddr, m.nsAddr, m.parent)
		}
	})

	t.Run("macvlan path", func(t *testing.T) {
		h, err := model.Load(b)
		if err != nil {
			t.Fatal(err)
		}
		p, err := netpath.Egress(h, mv.ID, m.nsAddr)
		if err != nil {
			t.Fatal(err)
		}
		var hop *netpath.Hop
		for i := range p.Hops {
			if p.Hops[i].Kind == netpath.HopParent {
				hop = &p.Hops[i]
			}
		}
		if hop == nil || hop.Iface != m.parent || p.OutIface != m.parent {
			t.Fatalf("path of the macvlan container: hops %+v, out %q; want the parent %s", p.Hops, p.OutIface, m.parent)
		}
		cited := false
		for _, e := range hop.Evidence {
			cited = cited || e.Member == model.MemberCaptureInterfaces
		}
		if !cited || !slices.ContainsFunc(p.Notes, func(n string) bool { return strings.Contains(n, "the capture covered the parent "+m.parent) }) {
			t.Errorf("the parent hop does not say the capture covered it: evidence %+v, notes %q", hop.Evidence, p.Notes)
		}
		if ci := h.CaptureInterfaceNamed(m.parent); ci == nil || ci.Role != model.CaptureRoleParent || ci.Network != netName {
			t.Errorf("model's capture interface %s = %+v", m.parent, ci)
		}
	})

	t.Run("stats", func(t *testing.T) {
		var rec collect.StatsRecord
		readJSON(t, b, "docker/stats.json", &rec)
		if len(rec.Samples) != 2 || rec.Samples[0].Moment != collect.StatsAtSnapshot || rec.Samples[1].Moment != collect.StatsAtCaptureEnd {
			t.Fatalf("docker/stats.json: %d samples, want the snapshot's and the capture end's", len(rec.Samples))
		}
		for _, c := range []e2etest.Container{sc.Beacon, sc.Published, mv, spin} {
			for _, s := range rec.Samples {
				found := false
				for _, cs := range s.Containers {
					if cs.ID == c.ID && cs.Error == "" && bytes.Contains(cs.Stats, []byte(`"cpu_stats"`)) {
						found = true
					}
				}
				if !found {
					t.Errorf("no %s stats of container %s", s.Moment, c.Name)
				}
			}
		}
		stdout, code, stderr := findE2ERun(t, "findings", out, "--json")
		if code != 5 && code != 3 {
			t.Fatalf("findings: exit %d\n%s", code, stderr)
		}
		pegged := map[string]bool{}
		var doc findE2EDoc
		if err := json.Unmarshal(stdout, &doc); err != nil {
			t.Fatalf("findings --json: %v", err)
		}
		for _, f := range doc.Findings {
			if f.ID == "cpu-pegged" {
				pegged[f.Container] = true
			}
		}
		if !pegged[spin.ID] {
			t.Errorf("the spinning container %s is not found pegging a core: %v", spin.Name, pegged)
			for _, s := range rec.Samples {
				for _, cs := range s.Containers {
					if cs.ID == spin.ID {
						t.Logf("%s sample of %s: %s", s.Moment, spin.Name, cs.Stats)
					}
				}
			}
		}
		if pegged[sc.Beacon.ID] || pegged[mv.ID] {
			t.Errorf("an idle container is found pegging a core: %v", pegged)
		}
	})

	t.Run("stats refused", func(t *testing.T) { testStatsRefused(t, mv) })

	t.Run("conntrack clock", func(t *testing.T) {
		var sys host.ConntrackSysctl
		readJSON(t, b, "host/conntrack-sysctl.json", &sys)
		if sys.Values["nf_conntrack_tcp_timeout_established"] <= 0 || len(sys.Missing) != 0 || sys.Taken.IsZero() {
			t.Errorf("host/conntrack-sysctl.json = %+v", sys)
		}
	})
}

// testStatsRefused collects through a proxy of the real engine's socket
// that refuses every stats request: the refusal is a gap, docker/stats.json
// says why for each container, and the collection goes on.
func testStatsRefused(t *testing.T, running e2etest.Container) {
	sock, _ := refusingEngine(t, "stats", func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/stats") })

	out := filepath.Join(t.TempDir(), "case.tar.zst")
	code, stderr := run(t, "collect", "--case", "IR-NOSTATS", "--no-images", "--capture", "0", "--docker-host", "unix://"+sock, "--out", out)
	if code != 3 {
		t.Fatalf("collect with stats refused: exit %d, want 3\n%s", code, stderr)
	}
	b := openBundle(t, out)
	gap := false
	for _, g := range b.Manifest.Gaps {
		gap = gap || strings.HasPrefix(g, "stats: partial:") && strings.Contains(g, "stats refused by the test's proxy")
	}
	if !gap {
		t.Errorf("no stats gap naming the refusal: %q", b.Manifest.Gaps)
	}
	for _, m := range []string{"docker/containers.json", "docker/networks.json", "docker/events.jsonl", "docker/stats.json"} {
		if !b.Has(m) {
			t.Errorf("member %s missing: the collection did not go on", m)
		}
	}
	var rec collect.StatsRecord
	readJSON(t, b, "docker/stats.json", &rec)
	found := false
	for _, s := range rec.Samples {
		for _, cs := range s.Containers {
			if cs.ID == running.ID {
				found = true
				if cs.Error == "" || cs.Stats != nil {
					t.Errorf("%s sample of %s: error %q, stats %s; want the refusal", s.Moment, running.Name, cs.Error, cs.Stats)
				}
			}
		}
	}
	if !found {
		t.Errorf("docker/stats.json does not list %s", running.Name)
	}
}
