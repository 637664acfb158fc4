package traffic

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"
)

// TestFlowsBenchMode is the attribution timing mode scripts/bench-flows.sh
// runs from analyze's test binary: DOCKCASE_FLOWS_BENCH=attribution reads
// the comma-separated files in DOCKCASE_FLOWS_BENCH_FILES and attributes
// every flow to a container. The other modes (walk, walk2, touch, pipeline)
// are analyze/flow's TestFlowsBenchMode; this one needs the host model. It
// prints one line of figures in the same form; it asserts only that the
// files read, that the flows are attributed and fused into contacts.
func TestFlowsBenchMode(t *testing.T) {
	run := pcapngtest.StartBench(t)
	if run.Mode != "attribution" {
		t.Fatalf("DOCKCASE_FLOWS_BENCH=%q: want attribution (walk, walk2, touch and pipeline: the analyze/flow test binary)", run.Mode)
	}
	files := run.Files
	var packets, flows uint64
	var inputs []flow.Input
	for _, f := range files {
		inputs = append(inputs, flow.Input{Member: f, Open: func() (io.ReadCloser, error) { return os.Open(f) }})
	}
	set := flow.ReadAll(inputs, flow.Options{MaxFlows: pcapngtest.BenchMaxFlows(t)})
	for _, c := range set.Captures {
		if c.Err != nil {
			t.Fatal(c.Err)
		}
		for _, p := range c.Points {
			packets += p.Counts.Packets
		}
	}
	flows = uint64(len(set.Flows))
	a := flowsBenchAttributor(set)
	tr := a.attribute(set)
	fuse(a.h, tr) // the contacts are part of the attribution Attribute does
	if n := tr.Unattributed(); n > len(tr.Flows)/2 {
		t.Fatalf("attribution: %d of %d flows unattributed: the bench host does not match gencapture", n, len(tr.Flows))
	}
	if len(tr.Contacts) == 0 || len(tr.Contacts) > len(tr.Flows) {
		t.Fatalf("attribution: %d contacts of %d flows", len(tr.Contacts), len(tr.Flows))
	}
	rules := map[string]int{}
	for i := range tr.Flows {
		rules[tr.Flows[i].Role+" "+tr.Flows[i].Rule]++
	}
	t.Logf("%d flows (%v), %d contacts", len(tr.Flows), rules, len(tr.Contacts))
	run.Report(packets, flows)
}

// flowsBenchAttributor returns an attributor for the host that
// scripts/gencapture pretends to capture: 50 running containers on two
// bridged networks (172.20.0.0/16 and 172.21.0.0/16), captured on the bridge
// "br-gen0", and the uplink "eth0" with the address 192.0.2.10 that
// masquerades them. Flows on the uplink have no conntrack entry, so they are
// attributed by correlation with the bridge's, the costliest rule.
func flowsBenchAttributor(set *flow.Set) *attributor {
	start := time.Unix(1704067200, 0).Add(-time.Hour)
	h := &model.Host{HostNS: &model.Namespace{Host: true, Links: []*model.Link{
		{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}},
		{Name: "br-gen0", Kind: "bridge", Addrs: []netip.Prefix{netip.MustParsePrefix("172.20.0.1/16"), netip.MustParsePrefix("172.21.0.1/16")}},
	}}}
	var leases []model.Lease
	for i := range 50 {
		c := &model.Container{ID: fmt.Sprintf("%064x", i+1), Name: fmt.Sprintf("gen-%d", i), State: "running", StartedAt: start}
		h.Containers = append(h.Containers, c)
		addr := netip.AddrFrom4([4]byte{172, byte(20 + i%2), 0, byte(2 + i/2)})
		leases = append(leases, model.Lease{Addr: addr, Container: c.ID, ContainerName: c.Name, From: start})
	}
	h.Index()
	h.SetLeases(leases)
	h.Namespaces = []*model.Namespace{h.HostNS}
	a := newAttributor(h)
	for _, c := range set.Captures {
		for _, p := range c.Points {
			role := PointOther
			switch p.Name {
			case "br-gen0":
				role = PointBridge
			case "eth0":
				role = PointUplink
			}
			a.points[p] = &pointInfo{role: role}
		}
	}
	return a
}
