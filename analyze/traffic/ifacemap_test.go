package traffic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestIfaceMapVanishedInterface reads a capture/interfaces.json in which a
// container's veth vanished between discovery and the bind of its ring, as
// the collector records it: pcapng_interface_id -1, a removed time and no
// error, and a "removed" change. Nothing of it was captured and nothing of
// it is missing: it must not be a problem of the analysis, and its
// container must not be given to a captured interface.
func TestIfaceMapVanishedInterface(t *testing.T) {
	web, gone := strings.Repeat("a", 64), strings.Repeat("b", 64)
	const start, removed, end = "2026-01-02T03:04:05Z", "2026-01-02T03:04:07Z", "2026-01-02T03:04:35Z"
	captured := map[string]any{"pcapng_interface_id": 0, "ifindex": 7, "name": "veth1", "role": "veth", "bridge": "br-1",
		"container_id": web, "container_name": "web-1"}
	vanished := map[string]any{"pcapng_interface_id": -1, "ifindex": 9, "name": "veth2", "role": "veth", "bridge": "br-1",
		"container_id": gone, "container_name": "gone-1"}
	iface := func(m map[string]any, extra map[string]any) map[string]any {
		out := map[string]any{"kind": "veth", "description": "veth", "link_type": 1, "added": start, "captured": 0, "kernel_received": 0, "kernel_dropped": 0}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	doc, err := json.Marshal(map[string]any{
		"started": start, "ended": end, "mode": "auto", "filter": "", "snaplen": 262144, "max_bytes": 1 << 30, "stop_reason": "duration",
		"bytes": 0, "packets": 0, "kernel_received": 0, "kernel_dropped": 0,
		"interfaces": []any{iface(captured, nil), iface(vanished, map[string]any{"added": removed, "removed": removed})},
		"changes": []any{
			map[string]any{"time": start, "event": "start", "map": []any{captured}},
			map[string]any{"time": removed, "event": "removed", "interface": vanished},
			map[string]any{"time": end, "event": "end", "map": []any{captured}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := newAttributor(model.LoadSource(model.MemSource{model.MemberCaptureInterfaces: doc}))
	if len(a.problems) != 0 {
		t.Errorf("problems = %q, want none", a.problems)
	}
	if pi := a.ifaceMap[0]; len(a.ifaceMap) != 1 || pi == nil || pi.role != PointVeth || pi.container != web {
		t.Errorf("interface map = %v (0: %+v), want only pcapng interface 0, the veth of %.12s", a.ifaceMap, pi, web)
	}
}
