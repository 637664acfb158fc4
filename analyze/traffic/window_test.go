package traffic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestIfaceMapWindowContainer: a veth the capture could not name (its
// container came and went between two of its scans) is named by the
// container whose namespace the capture window read, by the host end's
// ifindex.
func TestIfaceMapWindowContainer(t *testing.T) {
	id := strings.Repeat("e", 64)
	ifaces, _ := json.Marshal(map[string]any{"interfaces": []any{
		map[string]any{"pcapng_interface_id": 0, "ifindex": 57, "name": "veth9", "kind": "veth", "role": "veth",
			"description": "veth on bridge br-1 (container not yet known)"},
		map[string]any{"pcapng_interface_id": 1, "ifindex": 58, "name": "veth8", "kind": "veth", "role": "veth"},
	}})
	inspect, _ := json.Marshal(map[string]any{"Id": id, "Name": "/ephemeral", "State": map[string]any{"Status": "running", "Pid": 9}})
	netns, _ := json.Marshal(map[string]any{"pid": 9, "netns_inode": 4026533000,
		"links": []any{map[string]any{"name": "eth0", "ifindex": 2, "iflink": 57, "kind": "veth"}}})
	h := model.LoadSource(model.MemSource{
		model.MemberCaptureInterfaces:                ifaces,
		"capture/containers/" + id + "/inspect.json": inspect,
		"capture/containers/" + id + "/netns.json":   netns,
	})
	a := newAttributor(h)
	pi := a.ifaceMap[0]
	if pi == nil || pi.container != id || pi.containerName != "ephemeral" || len(pi.evidence) == 0 ||
		pi.evidence[len(pi.evidence)-1].Member != "capture/containers/"+id+"/netns.json" {
		t.Fatalf("interface 0 = %+v, want the veth of ephemeral citing its window netns.json", pi)
	}
	if pi := a.ifaceMap[1]; pi == nil || pi.container != "" {
		t.Errorf("interface 1 = %+v, want no container", pi)
	}
}
