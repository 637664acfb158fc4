package collect_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/capture"
	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/docker/docker/api/types/container"
)

// TestCaptureWindowE2E collects with a 20 s capture and, once the docker
// step is over (the snapshot no longer lists containers), starts a
// container that beacons to the C2 over TCP and UDP and removes it before
// the capture ends. The bundle must hold its create, start, die and
// destroy events, its inspect and its namespace's links, and the analysis
// must attribute its packets to it by name.
func TestCaptureWindowE2E(t *testing.T) {
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	dir := t.TempDir()
	out := filepath.Join(dir, "window.tar.zst")
	cmd := exec.Command(dockcaseBinary(t), "collect", "--case", "IR-WINDOW", "--no-images", "--capture", "20s",
		"--events-since", "10m", "--out", out)
	pr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var stderr strings.Builder
	snapshotDone := make(chan struct{})
	readDone := make(chan struct{})
	e2etest.Start(t, cmd)
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			stderr.WriteString(sc.Text() + "\n")
			mu.Unlock()
			// Printed when the snapshot steps are done and the capture
			// still runs.
			if strings.Contains(sc.Text(), "waiting for the capture to end") {
				once.Do(func() { close(snapshotDone) })
			}
		}
	}()
	select {
	case <-snapshotDone:
	case <-time.After(20 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the snapshot steps did not end within the capture:\n%s", stderr.String())
	}

	name := "dce-win-" + sc.ID
	w := sc.StartBeacon(t, "win")
	// A loaded machine may start capturing the new veth a while after the
	// container: its TCP and UDP beacons are awaited once the collector
	// says it captures the veth.
	winVeth := sc.ContainerVeth(t, w.ID)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		captured := strings.Contains(stderr.String(), "capture: "+winVeth+" (")
		mu.Unlock()
		if captured {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("collect did not capture %s, the window container's veth, in 15 s\n%s", winVeth, stderr.String())
		}
	}
	since := time.Now()
	sc.WaitContact(t, 8*time.Second, func(e e2etest.Event) bool {
		return e.Proto == "tcp" && e.Time.After(since) && strings.Contains(e.Data, "name="+name+" ")
	})
	sc.WaitContact(t, 8*time.Second, func(e e2etest.Event) bool {
		return e.Proto == "udp" && e.Time.After(since) && strings.Contains(e.Data, "name="+name+" ")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sc.Client().ContainerRemove(ctx, w.ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatalf("docker rm -f %s: %v", name, err)
	}
	removed := time.Now()
	<-readDone
	if err := cmd.Wait(); err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	code := cmd.ProcessState.ExitCode()
	if code != 0 && code != 3 {
		t.Fatalf("collect: exit %d\n%s", code, stderr.String())
	}
	b := openBundle(t, out)
	checkGaps(t, sc, code, stderr.String(), b.Manifest.Gaps)
	if b.Manifest.Finished.Before(removed) {
		t.Fatalf("the collection finished at %v, before the container was removed at %v", b.Manifest.Finished, removed)
	}
	if b.Has("docker/containers/" + w.ID + "/inspect.json") {
		t.Fatalf("the snapshot inspected %s: it was created too early to be a container of the capture window", name)
	}

	// Its events, verbatim from the engine.
	data, err := b.ReadFile("capture/docker-events.jsonl", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for line := range bytes.Lines(data) {
		var e struct {
			Type, Action string
			Actor        struct{ ID string }
		}
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("capture/docker-events.jsonl: %q: %v", line, err)
		}
		if e.Type == "container" && e.Actor.ID == w.ID {
			actions = append(actions, e.Action)
		}
	}
	for _, a := range []string{"create", "start", "die", "destroy"} {
		if !slices.Contains(actions, a) {
			t.Errorf("capture/docker-events.jsonl: the container's events are %q, without %q", actions, a)
		}
	}

	// Its inspect and its namespace at its start.
	var ins struct {
		Name  string
		State struct{ Pid int }
	}
	readJSON(t, b, "capture/containers/"+w.ID+"/inspect.json", &ins)
	if ins.Name != "/"+name || ins.State.Pid != w.Pid {
		t.Errorf("the window's inspect: name %q, pid %d; want /%s, %d", ins.Name, ins.State.Pid, name, w.Pid)
	}
	var ns struct {
		PID        int    `json:"pid"`
		NetNSInode uint64 `json:"netns_inode"`
		Links      []struct {
			Name   string   `json:"name"`
			Iflink int      `json:"iflink"`
			Kind   string   `json:"kind"`
			MAC    string   `json:"mac"`
			Addrs  []string `json:"addrs"`
		} `json:"links"`
		Error string `json:"error"`
	}
	readJSON(t, b, "capture/containers/"+w.ID+"/netns.json", &ns)
	hostIndex := 0
	for _, l := range ns.Links {
		for _, a := range l.Addrs {
			if p, err := netip.ParsePrefix(a); err == nil && p.Addr() == w.IP && l.Kind == "veth" {
				hostIndex = l.Iflink
				if !strings.EqualFold(l.MAC, w.MAC) {
					t.Errorf("netns.json: %s has MAC %s, the engine gave %s", l.Name, l.MAC, w.MAC)
				}
			}
		}
	}
	if ns.PID != w.Pid || ns.NetNSInode == 0 || hostIndex == 0 || ns.Error != "" {
		t.Errorf("netns.json = %+v; want pid %d, an inode, a veth holding %v with its host end's ifindex, no error", ns, w.Pid, w.IP)
	}
	var idx struct {
		Containers []struct {
			ID, Inspect, NetNS, Missed string
		}
	}
	readJSON(t, b, "capture/containers/index.json", &idx)
	if !slices.ContainsFunc(idx.Containers, func(c struct{ ID, Inspect, NetNS, Missed string }) bool {
		return c.ID == w.ID && c.Inspect != "" && c.NetNS != "" && c.Missed == ""
	}) {
		t.Errorf("capture/containers/index.json does not list %s as inspected: %+v", name, idx.Containers)
	}
	var streamed bool
	for _, s := range b.Steps {
		for _, c := range s.Called {
			if s.Name == "capture" && strings.HasPrefix(c.Ref, "GET /events?since=") && c.Error == "" {
				streamed = true
			}
		}
	}
	if !streamed {
		t.Errorf("the capture step's custody record has no events stream call")
	}
	checkCaptureEnd(t, b)

	// The capture saw its veth; the model knows the container from the
	// window and maps the veth to it.
	var res capture.Result
	readJSON(t, b, "capture/interfaces.json", &res)
	veth, named := "", ""
	for _, it := range res.Interfaces {
		if it.Index == hostIndex && it.Role == capture.RoleVeth && it.BlockID >= 0 {
			veth, named = it.Name, it.Description
		}
	}
	if veth == "" {
		t.Fatalf("interfaces.json has no captured veth of ifindex %d: %+v", hostIndex, res.Interfaces)
	}
	h, err := model.Load(b)
	if err != nil {
		t.Fatal(err)
	}
	mc, ok := h.Container(w.ID)
	if !ok || mc.SeenIn != model.SeenInCaptureWindow || mc.Name != name || mc.State != "removed" {
		t.Fatalf("model: container %s = %+v; want it seen in the capture window, removed", name, mc)
	}
	if c, _, ok := h.ContainerOfHostVeth(hostIndex); !ok || c != mc {
		t.Errorf("model: ContainerOfHostVeth(%d) = %v, %v; want %s", hostIndex, c, ok, name)
	}

	// The analysis attributes its packets to it, by name.
	stdout, code, aerr := findE2ERun(t, "analyze", "--json", "-", out)
	if code != 0 && code != 3 {
		t.Fatalf("analyze: exit %d\n%s", code, aerr)
	}
	var doc struct {
		Flows []struct {
			ContainerName string     `json:"container_name"`
			Rule          string     `json:"rule"`
			Interface     string     `json:"interface"`
			Proto         string     `json:"proto"`
			Client        netip.Addr `json:"client"`
			Server        netip.Addr `json:"server"`
		} `json:"flows"`
	}
	if err := json.Unmarshal(stdout, &doc); err != nil {
		t.Fatalf("analyze --json: %v", err)
	}
	onVeth := map[string]bool{}
	afterNAT := 0
	for _, f := range doc.Flows {
		if f.Server != sc.C2Addr {
			continue
		}
		if f.Client == w.IP {
			if f.ContainerName != name {
				t.Errorf("flow %s %v → %v on %s attributed to %q by rule %q, want %s", f.Proto, f.Client, f.Server, f.Interface, f.ContainerName, f.Rule, name)
			}
			if f.Interface == veth && f.Rule == "veth" {
				onVeth[f.Proto] = true
			}
		} else if f.ContainerName == name {
			afterNAT++
		}
	}
	if !onVeth["tcp"] || !onVeth["udp"] {
		t.Errorf("no TCP and UDP flow to the C2 on %s attributed to %s by its veth: %v", veth, name, onVeth)
	}
	t.Logf("%s: veth %s (ifindex %d, the capture's description %q), flows after NAT attributed to it: %d", name, veth, hostIndex, named, afterNAT)
}

// TestCaptureWindowRefusedE2E collects through a proxy of the real
// engine's socket that refuses the event stream (GET /events without
// until) but answers the docker step's bounded read: the refusal is a gap
// of the capture step, the capture and the collection go on.
func TestCaptureWindowRefusedE2E(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the capture window e2e needs root")
		}
		t.Skip("the capture window e2e needs root (capture, docker)")
	}
	e2etest.RequireDocker(t)
	sock, refused := refusingEngine(t, "event stream", func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, "/events") && r.URL.Query().Get("until") == ""
	})

	out := filepath.Join(t.TempDir(), "case.tar.zst")
	code, stderr := run(t, "collect", "--case", "IR-NOWINDOW", "--no-images", "--capture", "3s", "--docker-host", "unix://"+sock, "--out", out)
	if code != 3 {
		t.Fatalf("collect with the event stream refused: exit %d, want 3\n%s", code, stderr)
	}
	if refused.Load() == 0 {
		t.Fatal("the collector never asked for the event stream")
	}
	b := openBundle(t, out)
	gap := false
	for _, g := range b.Manifest.Gaps {
		gap = gap || strings.HasPrefix(g, "capture: partial:") && strings.Contains(g, "event stream refused by the test's proxy")
	}
	if !gap {
		t.Errorf("no capture gap naming the refusal: %q", b.Manifest.Gaps)
	}
	for _, m := range []string{"capture/capture.pcapng", "capture/interfaces.json", "docker/events.jsonl", "docker/stats.json", "capture/containers/index.json"} {
		if !b.Has(m) {
			t.Errorf("member %s missing: the capture or the collection did not go on", m)
		}
	}
	if m, ok := b.Manifest.Member("capture/docker-events.jsonl"); !ok || !strings.Contains(m.Note, "incomplete") || !strings.Contains(m.Note, "refused") {
		t.Errorf("capture/docker-events.jsonl in the manifest: %+v, %v; want it noted incomplete with the refusal", m, ok)
	}
	var idx struct{ Error string }
	readJSON(t, b, "capture/containers/index.json", &idx)
	if !strings.Contains(idx.Error, "refused") {
		t.Errorf("capture/containers/index.json error = %q, want the refusal", idx.Error)
	}
	checkCaptureEnd(t, b)
}

// windowEndSlack is how long the capture step may take to end after the
// capture and the snapshot steps ended: the interfaces document, the
// members' close and the window's stop, on a loaded machine.
const windowEndSlack = 4 * time.Second

// checkCaptureEnd checks that the capture step was recorded soon after
// both the capture (interfaces.json's end) and the docker step (after which
// the collector waits for the capture) ended: the event stream did not
// delay it.
func checkCaptureEnd(t *testing.T, b *bundle.Bundle) {
	t.Helper()
	var res capture.Result
	readJSON(t, b, "capture/interfaces.json", &res)
	var docker, capt *bundle.StepRecord
	for i, s := range b.Steps {
		switch s.Name {
		case "docker":
			docker = &b.Steps[i]
		case "capture":
			capt = &b.Steps[i]
		}
	}
	if docker == nil || capt == nil {
		t.Fatalf("custody log without the docker or capture step: %+v", b.Steps)
	}
	from := res.Ended
	if docker.Ended.After(from) {
		from = docker.Ended
	}
	if d := capt.Ended.Sub(from); d > windowEndSlack {
		t.Errorf("the capture step ended %v after the capture and the snapshot: the event stream delayed it", d)
	} else {
		t.Logf("the capture step ended %v after the capture and the snapshot", d)
	}
}
