package flow

import (
	"net/netip"
	"testing"

	"github.com/dockcase/dockcase/internal/packet"
)

// TestFlowIndex inserts keys that differ in one field at a time through
// several growths, finds every one at its slot, and after an eviction finds
// only the flows still live.
func TestFlowIndex(t *testing.T) {
	tab := NewTable("index", "", Options{MaxFlows: 1 << 20})
	var keys []Key
	a4, b4 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	for i := range 20000 {
		port := uint16(i)
		k4, _ := NewKey(i%3, packet.IPProtoTCP, a4, b4, port, 443)
		k6, _ := NewKey(0, packet.IPProtoUDP, a6, b6, 53, port)
		keys = append(keys, k4, k6)
	}
	for i := range keys {
		idx, isNew := tab.lookup(&keys[i], int64(i), uint64(i+1))
		if !isNew || idx != uint32(i) {
			t.Fatalf("key %d (%v): slot %d new %v, want slot %d new", i, keys[i], idx, isNew, i)
		}
	}
	if tab.Len() != len(keys) || 2*tab.index.n > len(tab.index.entries) {
		t.Fatalf("Len %d, index %d of %d entries; want %d, at most half full", tab.Len(), tab.index.n, len(tab.index.entries), len(keys))
	}
	tab.lastOK = false
	for i := range keys {
		if idx, ok := tab.index.find(tab, &keys[i], tab.index.hash(&keys[i])); !ok || idx != uint32(i) {
			t.Fatalf("find key %d: slot %d, %v", i, idx, ok)
		}
	}
	// Evict the even slots by hand, as evict does, and rebuild.
	for i := 0; i < len(keys); i += 2 {
		*tab.slot(uint32(i)) = state{}
	}
	tab.index.rebuild(len(tab.index.entries), func(slot uint32) bool { return tab.slot(slot).bits&stateLive != 0 })
	for i := range keys {
		_, ok := tab.index.find(tab, &keys[i], tab.index.hash(&keys[i]))
		if ok != (i%2 == 1) {
			t.Fatalf("after eviction, find key %d = %v, want %v", i, ok, i%2 == 1)
		}
	}
}
