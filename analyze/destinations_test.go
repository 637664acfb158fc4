package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/internal/indicator"
)

func mustIndicators(t *testing.T, list ...string) []indicator.Indicator {
	t.Helper()
	var out []indicator.Indicator
	for _, s := range list {
		i, err := indicator.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, i)
	}
	return out
}

// TestDestinationsTowardsIndicators: with indicators and no --to the
// paths go towards the indicators (the C2's domain through the DNS answers
// the captures hold, an address as given, a CIDR's first host), and the
// beacon's path then leaves by the C2 link, not by the default route's
// interface; without indicators they go towards the default gateway.
func TestDestinationsTowardsIndicators(t *testing.T) {
	c2 := netip.MustParseAddr(analyzetest.Scenario(t, "C2", 1))
	domain := analyzetest.Scenario(t, "C2", 5)
	c2Link := analyzetest.Scenario(t, "host", 8)
	for _, tc := range []struct {
		name string
		opts Options
		want []netip.Addr
	}{
		{"domain", Options{IOCs: mustIndicators(t, domain)}, []netip.Addr{c2}},
		{"address", Options{IOCs: mustIndicators(t, c2.String())}, []netip.Addr{c2}},
		{"cidr and address", Options{IOCs: mustIndicators(t, "10.0.0.0/8", "198.51.100.7", domain)},
			[]netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("198.51.100.7"), c2}},
		{"to wins", Options{IOCs: mustIndicators(t, domain), To: []netip.Addr{netip.MustParseAddr("203.0.113.1")}}, []netip.Addr{netip.MustParseAddr("203.0.113.1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(analyzetest.OpenDemo(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Destinations(); !slices.Equal(got, tc.want) {
				t.Fatalf("Destinations() = %v, want %v", got, tc.want)
			}
		})
	}

	c, err := Open(analyzetest.OpenDemo(t), Options{IOCs: mustIndicators(t, domain)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Host.Destinations, []netip.Addr{c2}) {
		t.Errorf("the document's destinations are %v, want the C2 %v", res.Host.Destinations, c2)
	}
	var beacon *netpath.Path
	for _, p := range res.Paths {
		if p.Kind == netpath.PathEgress && strings.HasPrefix(p.ContainerName, "dce-beacon-") {
			beacon = p
		}
	}
	if beacon == nil || beacon.Dst != c2 || beacon.OutIface != c2Link {
		t.Fatalf("the beacon's path with --ioc %s: %+v, want towards %s out of %s", domain, beacon, c2, c2Link)
	}

	c, err = Open(analyzetest.OpenDemo(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Destinations(), []netip.Addr{netpath.DefaultDestination(c.Host())}; !slices.Equal(got, want) {
		t.Errorf("without indicators Destinations() = %v, want the default gateway %v", got, want)
	}
}
