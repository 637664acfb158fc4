package model

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// windowFixture is a bundle whose snapshot knows container known, and whose
// capture window saw container gone created, started, connected, dying
// and removed, with one malformed line and the snapshot's last event
// again (the overlap second).
func windowFixture(t *testing.T) (src MemSource, known, gone, netID string, t0 time.Time) {
	t.Helper()
	known, gone, netID = strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := func(at time.Time, typ, action, actor string, attrs map[string]string) string {
		b, err := json.Marshal(map[string]any{"Type": typ, "Action": action, "Actor": map[string]any{"ID": actor, "Attributes": attrs},
			"time": at.Unix(), "timeNano": at.UnixNano()})
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	overlap := ev(t0, "container", "start", known, map[string]string{"name": "web"})
	snapshot := ev(t0.Add(-time.Minute), "container", "create", known, map[string]string{"name": "web"}) + overlap
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	window := overlap +
		ev(at(2), "container", "create", gone, map[string]string{"name": "ephemeral"}) +
		ev(at(3), "network", "connect", netID, map[string]string{"container": gone, "name": "app-net"}) +
		ev(at(3).Add(time.Millisecond), "container", "start", gone, map[string]string{"name": "ephemeral"}) +
		"{not json\n" +
		ev(at(9), "container", "die", gone, map[string]string{"name": "ephemeral", "exitCode": "137"}) +
		ev(at(9).Add(time.Millisecond), "network", "disconnect", netID, map[string]string{"container": gone, "name": "app-net"}) +
		ev(at(10), "container", "destroy", gone, map[string]string{"name": "ephemeral"})
	inspect := func(id, name, ip, mac string, started time.Time) []byte {
		b, err := json.Marshal(map[string]any{"Id": id, "Name": "/" + name, "Created": started.Format(time.RFC3339Nano),
			"State":      map[string]any{"Status": "running", "Pid": 4242, "StartedAt": started.Format(time.RFC3339Nano)},
			"HostConfig": map[string]any{"NetworkMode": "app-net"}, "Config": map[string]any{"Image": "workload"},
			"NetworkSettings": map[string]any{"Networks": map[string]any{"app-net": map[string]any{
				"NetworkID": netID, "IPAddress": ip, "IPPrefixLen": 24, "Gateway": "172.30.0.1", "MacAddress": mac}}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	netns, err := json.Marshal(map[string]any{"taken": at(3).Format(time.RFC3339Nano), "pid": 4242, "netns_inode": 4026532999,
		"links": []any{
			map[string]any{"name": "lo", "ifindex": 1, "kind": "device", "addrs": []string{"127.0.0.1/8"}},
			map[string]any{"name": "eth0", "ifindex": 2, "iflink": 57, "kind": "veth", "mac": "02:42:AC:1E:00:05", "addrs": []string{"172.30.0.5/24"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := json.Marshal([]map[string]any{{"id": known, "name": "web", "state": "running", "pid": 100}})
	nets, _ := json.Marshal([]map[string]any{{"Name": "app-net", "Id": netID, "Driver": "bridge",
		"IPAM": map[string]any{"Config": []any{map[string]any{"Subnet": "172.30.0.0/24", "Gateway": "172.30.0.1"}}}}})
	index, _ := json.Marshal(map[string]any{"since": t0, "ended": at(20), "events": 7, "containers": []any{
		map[string]any{"id": gone, "name": "ephemeral", "events": []string{"create", "start", "die", "destroy"},
			"inspect": "capture/containers/" + gone + "/inspect.json", "netns": "capture/containers/" + gone + "/netns.json"},
		map[string]any{"id": strings.Repeat("d", 64), "name": "blink", "events": []string{"create", "start", "destroy"},
			"missed": "removed before it could be inspected"},
	}})
	src = MemSource{
		MemberContainers: list,
		MemberNetworks:   nets,
		"docker/containers/" + known + "/inspect.json": inspect(known, "web", "172.30.0.2", "02:42:ac:1e:00:02", t0),
		MemberEvents:       []byte(snapshot),
		MemberWindowEvents: []byte(window),
		MemberWindowIndex:  index,
		"capture/containers/" + gone + "/inspect.json":  inspect(gone, "ephemeral", "172.30.0.5", "02:42:ac:1e:00:05", at(3)),
		"capture/containers/" + gone + "/netns.json":    netns,
		"capture/containers/" + known + "/inspect.json": inspect(known, "web-renamed", "172.30.0.9", "02:42:ac:1e:00:09", t0),
	}
	return src, known, gone, netID, t0
}

func TestLoadWindow(t *testing.T) {
	src, known, gone, _, t0 := windowFixture(t)
	h := LoadSource(src)

	// Events: the snapshot's two, and the window's six well-formed lines
	// but the overlap.
	if len(h.EngineEvents) != 2+6 {
		t.Fatalf("EngineEvents = %d, want 8: %+v", len(h.EngineEvents), h.EngineEvents)
	}
	var window []string
	for _, e := range h.EngineEvents {
		if e.Member == MemberWindowEvents {
			window = append(window, fmt.Sprintf("%d %s %s", e.Line, e.Type, e.Action))
		} else if e.Member != MemberEvents {
			t.Errorf("event %+v cites member %q", e, e.Member)
		}
	}
	want := "2 container create,3 network connect,4 container start,6 container die,7 network disconnect,8 container destroy"
	if got := strings.Join(window, ","); got != want {
		t.Errorf("window events (line type action) = %s, want %s", got, want)
	}
	starts := 0
	for _, e := range h.Events {
		if e.Container == known && e.Action == "start" {
			starts++
		}
	}
	if starts != 1 {
		t.Errorf("the overlap second's start of web is in Events %d times, want once", starts)
	}
	if err := h.ReadErrors[MemberWindowEvents]; err == nil || !strings.Contains(err.Error(), "line 5") {
		t.Errorf("ReadErrors[%s] = %v, want the malformed line 5 named", MemberWindowEvents, err)
	}

	c, ok := h.Container(gone)
	if !ok {
		t.Fatalf("the window's container is not in the model: %+v", h.Containers)
	}
	if c.SeenIn != SeenInCaptureWindow || c.Name != "ephemeral" || c.State != "removed" || c.NetNS != 4026532999 {
		t.Errorf("window container = seen in %q, name %q, state %q, netns %d; want %q, ephemeral, removed, 4026532999",
			c.SeenIn, c.Name, c.State, c.NetNS, SeenInCaptureWindow)
	}
	if len(c.HostVeths) != 1 || c.HostVeths[0].HostIndex != 57 || c.HostVeths[0].Name != "eth0" || c.HostVeths[0].Evidence.Pointer != "/links/1" {
		t.Errorf("HostVeths = %+v, want eth0, host ifindex 57, citing /links/1", c.HostVeths)
	}
	if got, ev, ok := h.ContainerOfHostVeth(57); !ok || got != c || ev.Member != "capture/containers/"+gone+"/netns.json" {
		t.Errorf("ContainerOfHostVeth(57) = %v, %+v, %v; want the window's container citing its netns.json", got, ev, ok)
	}
	if _, _, ok := h.ContainerOfHostVeth(58); ok {
		t.Errorf("ContainerOfHostVeth(58) found a container; none has it")
	}
	if n, _ := h.Network("app-net"); n == nil || len(n.Containers) != 2 {
		t.Errorf("network app-net containers = %+v, want web and ephemeral", n)
	}
	// The snapshot's container keeps the snapshot's inspect.
	if k, _ := h.Container(known); k == nil || k.SeenIn != "" || k.Name != "web" {
		t.Errorf("known container = %+v, want web from the snapshot, not the window", k)
	}
	if len(h.Containers) != 2 {
		t.Errorf("%d containers, want 2", len(h.Containers))
	}

	// The address was the window's container's from its connect to its
	// disconnect, and no one's after.
	addr := netip.MustParseAddr("172.30.0.5")
	l, ok := h.Owner(addr, t0.Add(5*time.Second))
	if !ok || l.Container != gone || !l.From.Equal(t0.Add(3*time.Second)) || !l.To.Equal(t0.Add(9*time.Second+time.Millisecond)) {
		t.Errorf("Owner(%v, t0+5s) = %+v, %v; want ephemeral from t0+3s to t0+9.001s", addr, l, ok)
	}
	if l, ok := h.Owner(addr, t0.Add(15*time.Second)); ok {
		t.Errorf("Owner(%v, t0+15s) = %+v, want none: the container was removed", addr, l)
	}

	missed := false
	for _, m := range h.Missing {
		if strings.Contains(m, "blink") && strings.Contains(m, "removed before it could be inspected") {
			missed = true
		}
	}
	if !missed {
		t.Errorf("Missing = %q, want the container the window could not inspect", h.Missing)
	}
}

// TestLoadWindowAbsent: a bundle from before the capture window has none
// of its members, and that is not recorded as missing.
func TestLoadWindowAbsent(t *testing.T) {
	src, _, gone, _, _ := windowFixture(t)
	for m := range src {
		if strings.HasPrefix(m, "capture/") {
			delete(src, m)
		}
	}
	h := LoadSource(src)
	for _, m := range h.Missing {
		if strings.Contains(m, "capture/") {
			t.Errorf("Missing has %q for a bundle without a capture window", m)
		}
	}
	if _, ok := h.Container(gone); ok || len(h.EngineEvents) != 2 || len(h.ReadErrors) != 0 {
		t.Errorf("without the window: container found %v, %d events, read errors %v; want none, 2, none", ok, len(h.EngineEvents), h.ReadErrors)
	}
}

// FuzzLoadWindow loads the capture window's members from arbitrary bytes:
// whatever they hold, Load does not fail or panic, and every event it
// keeps cites a line of the member.
func FuzzLoadWindow(f *testing.F) {
	id := strings.Repeat("b", 64)
	f.Add([]byte("{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\""+id+"\"},\"timeNano\":1}\n{"), []byte(`{"Id":"`+id+`"}`),
		[]byte(`{"links":[{"kind":"veth","ifindex":2,"iflink":2}]}`), []byte(`{"containers":[{"missed":"x"}]}`))
	f.Fuzz(func(t *testing.T, events, inspect, netns, index []byte) {
		h := LoadSource(MemSource{MemberWindowEvents: events, MemberWindowIndex: index,
			windowContainersDir + id + "/inspect.json": inspect, windowContainersDir + id + "/netns.json": netns})
		for _, e := range h.EngineEvents {
			if e.Member != MemberWindowEvents || e.Line < 1 {
				t.Fatalf("event %+v cites no line of %s", e, MemberWindowEvents)
			}
		}
	})
}
