package model_test

import (
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/model"
)

// TestHoldersDemo reads the demo bundle: the container stopped during the
// collection is a candidate, not certain, for the bridge's addresses no
// lease records while it was attached, and never for the bridge container's
// own address. The demo host's clock is unsynchronised with the kernel's
// unset error (16 s) and no offset: the intervals are not widened.
func TestHoldersDemo(t *testing.T) {
	h, err := model.Load(analyzetest.OpenDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	var stopped, bridge *model.Lease
	for i, l := range h.Leases() {
		if strings.HasPrefix(l.ContainerName, "dce-stopped-") && !l.Addr.IsValid() && (stopped == nil || l.From.After(stopped.From)) {
			stopped = &h.Leases()[i]
		}
		if l.Network == "bridge" && l.Addr.IsValid() && l.To.IsZero() {
			bridge = &h.Leases()[i]
		}
	}
	if stopped == nil || bridge == nil || stopped.From.IsZero() || stopped.To.IsZero() {
		t.Fatalf("demo leases: stopped %+v, bridge %+v; want the stopped container's window and the bridge container's lease", stopped, bridge)
	}
	mid := stopped.From.Add(stopped.To.Sub(stopped.From) / 2)
	bh := h.Holders(bridge.Addr, mid, mid)
	if len(bh) == 0 || bh[0].Lease.Container != bridge.Container {
		t.Errorf("Holders(%s, %s) = %+v, want %s first", bridge.Addr, mid, bh, bridge.ContainerName)
	}
	for _, x := range bh {
		if x.Lease.Container == stopped.Container {
			t.Errorf("Holders(%s, %s) names the stopped container while %s held it: %s", bridge.Addr, mid, bridge.ContainerName, x.Reason)
		}
	}
	n, ok := h.Network("bridge")
	if !ok || len(n.Subnets) == 0 {
		t.Fatal("demo bundle without the bridge network's subnet")
	}
	free := n.Subnets[0].Addr().Next().Next().Next().Next().Next() // .5: no lease records it
	hs := h.Holders(free, mid, mid)
	var found bool
	for _, x := range hs {
		t.Logf("Holders(%s, %s): %s %s certain=%v: %s", free, mid, x.Lease.ContainerName, x.Match, x.Certain, x.Reason)
		if x.Lease.Container == stopped.Container {
			found = x.Match == model.MatchAttached && !x.Certain && strings.Contains(x.Reason, "address not recorded")
		}
		if x.Certain {
			t.Errorf("Holders(%s, %s) = %s certain, want candidates only", free, mid, x.Lease.ContainerName)
		}
	}
	if !found {
		t.Errorf("Holders(%s, %s) lacks the stopped container as an attached candidate", free, mid)
	}
}
