package netpath

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/firewall"
	"github.com/dockcase/dockcase/analyze/model"
)

// TestNATChainPerContainer gives the demo host the nat table of a CNI host
// (testdata/podman/cni of analyze/firewall): POSTROUTING jumps into one
// chain per container, by the container's address, the published
// container's chain first, and masquerades marked packets apart. Each
// container's path cites the masquerade of its own chain; the beacon's
// never cites the other's, nor the masquerade of marked packets.
func TestNATChainPerContainer(t *testing.T) {
	s := readDemoScenario(t)
	h, err := model.Load(analyzetest.OpenDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	published, publishedName := analyzetest.Scenario(t, "published", 3), analyzetest.Scenario(t, "published", 1)
	chain := map[string]string{s.beaconName: "CNI-a93864aea95a6318473ebc0d", "published": "CNI-37c8fb17b75b4e27081c3b7e"}
	var b strings.Builder
	b.WriteString("*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:CNI-HOSTPORT-MASQ - [0:0]\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n:%s - [0:0]\n", chain["published"], chain[s.beaconName])
	b.WriteString("-A POSTROUTING -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ\n")
	fmt.Fprintf(&b, "-A POSTROUTING -s %s/32 -j %s\n", published, chain["published"])
	fmt.Fprintf(&b, "-A POSTROUTING -s %s/32 -j %s\n", s.beaconIP, chain[s.beaconName])
	b.WriteString("-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE\n")
	for _, c := range []string{chain["published"], chain[s.beaconName]} {
		fmt.Fprintf(&b, "-A %s -d %s -j ACCEPT\n-A %s ! -d 224.0.0.0/4 -j MASQUERADE\n", c, s.subnet, c)
	}
	b.WriteString("COMMIT\n")
	rs, err := firewall.ParseIPTablesSave(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	h.Firewall4 = rs
	for _, tt := range []struct{ container, own, other string }{
		{s.beaconName, chain[s.beaconName], chain["published"]},
		{publishedName, chain["published"], chain[s.beaconName]},
	} {
		p, err := Egress(h, tt.container, s.c2)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(p.Hops, func(hp Hop) bool { return hp.Kind == HopNAT })
		if i < 0 {
			t.Errorf("%s: no NAT hop in %s", tt.container, p.Summary())
			continue
		}
		nat := p.Hops[i]
		if want := fmt.Sprintf("-A %s ! -d 224.0.0.0/4 -j MASQUERADE", tt.own); !strings.Contains(nat.Text, want) || nat.Evidence[0].Line == 0 {
			t.Errorf("%s: NAT hop %q (evidence %+v), want %q with its line", tt.container, nat.Text, nat.Evidence, want)
		}
		for _, hp := range p.Hops {
			if strings.Contains(hp.Text, tt.other) || strings.Contains(hp.Text, "CNI-HOSTPORT-MASQ") {
				t.Errorf("%s: hop %q cites %s or the marked packets' masquerade", tt.container, hp.Text, tt.other)
			}
		}
		for _, n := range p.Notes {
			if strings.Contains(n, tt.other) || strings.Contains(n, "--mark") {
				t.Errorf("%s: note %q cites %s or the marked packets' masquerade", tt.container, n, tt.other)
			}
		}
	}
}
