package collect_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect"
	"github.com/dockcase/dockcase/collect/capture"
	"github.com/dockcase/dockcase/collect/docker"
	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/dockcase/dockcase/collect/host"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// TestPodmanE2E runs the scenario on a rootful Podman, once per network
// backend (netavark, CNI), each with its own storage and service; collects
// it through Podman's Docker-compatible API with a capture; and checks
// what the collector owes a Podman host: the engine recorded with its own
// info and networks, the beacon's processes tied to it by their libpod
// cgroup, its veth captured and the Podman bridge taken as a bridge (not an
// uplink), the engine's event history in the bundle, no exec in any
// container during the collection (Podman's top would exec ps in it), the
// commit saved under the name Podman gave it; then that the analysis names
// the beacon, and only it, for the C2.
func TestPodmanE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: -short")
	}
	for _, backend := range e2etest.PodmanBackends {
		t.Run(backend, func(t *testing.T) { testPodman(t, backend) })
	}
}

func testPodman(t *testing.T, backend string) {
	engineHost := e2etest.RequirePodman(t, backend)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{EngineHost: engineHost})
	if !sc.Podman {
		t.Fatalf("the engine at %s does not say it is Podman", engineHost)
	}
	caseID := "IR-PODMAN-" + backend
	t.Cleanup(func() { removePodmanCaseImages(t, sc, "ir-podman-"+backend) })
	sc.WaitContact(t, 20*time.Second, func(e e2etest.Event) bool { return e.Proto == "tcp" })
	sc.WaitContact(t, 20*time.Second, func(e e2etest.Event) bool { return e.Proto == "udp" })
	// The compatible top execs /bin/ps in the container when the image has
	// one: give the beacon one, so that a collector asking the engine's top
	// leaves an exec in the events.
	putPS(t, sc)

	out := filepath.Join(t.TempDir(), "case.tar.zst")
	collectStart := time.Now()
	code, stderr, late := collectWithLate(t, sc, "collect", "--case", caseID, "--docker-host", engineHost, "--capture", "10s", "--out", out)
	collectEnd := time.Now()
	b := openBundle(t, out)
	checkGaps(t, sc, code, stderr, b.Manifest.Gaps)

	t.Run("engine", func(t *testing.T) { checkPodmanEngine(t, b, sc, backend) })
	t.Run("processes", func(t *testing.T) { checkPodmanProcesses(t, b, sc) })
	t.Run("capture", func(t *testing.T) { checkPodmanCapture(t, b, sc) })
	t.Run("capture window", func(t *testing.T) { checkPodmanWindow(t, b, late) })
	t.Run("events", func(t *testing.T) { checkPodmanEvents(t, b, sc) })
	t.Run("no exec", func(t *testing.T) { checkNoExec(t, sc, collectStart, collectEnd) })
	t.Run("commit", func(t *testing.T) { checkPodmanCommit(t, b, sc, "ir-podman-"+backend) })
	t.Run("analyze", func(t *testing.T) { checkPodmanAnalysis(t, out, sc, late) })
}

func checkPodmanEngine(t *testing.T, b *bundle.Bundle, sc *e2etest.Scenario, backend string) {
	var eng docker.Engine
	readJSON(t, b, "docker/engine.json", &eng)
	if eng.Name != docker.EnginePodman || eng.Version == "" || eng.APIVersion == "" || eng.EngineAPIVersion == "" {
		t.Errorf("docker/engine.json = %+v, want podman with its version and both API versions", eng)
	}
	var info struct {
		Host struct {
			NetworkBackend string `json:"networkBackend"`
		} `json:"host"`
	}
	readJSON(t, b, "podman/info.json", &info)
	if info.Host.NetworkBackend != backend {
		t.Errorf("podman/info.json: network backend %q, want %q", info.Host.NetworkBackend, backend)
	}
	var nets []struct {
		Name             string `json:"name"`
		NetworkInterface string `json:"network_interface"`
	}
	readJSON(t, b, "podman/networks.json", &nets)
	if !slices.ContainsFunc(nets, func(n struct {
		Name             string `json:"name"`
		NetworkInterface string `json:"network_interface"`
	}) bool {
		return n.Name == sc.NetworkName && n.NetworkInterface == sc.BridgeName
	}) {
		t.Errorf("podman/networks.json lacks %s on bridge %s: %+v", sc.NetworkName, sc.BridgeName, nets)
	}
}

func checkPodmanProcesses(t *testing.T, b *bundle.Bundle, sc *e2etest.Scenario) {
	var procs []host.Process
	readJSON(t, b, "host/processes.json", &procs)
	ours := map[string]bool{}
	for _, c := range sc.Containers() {
		ours[c.ID] = true
	}
	var beacon *host.Process
	for i, p := range procs {
		if p.PID == sc.Beacon.Pid {
			beacon = &procs[i]
		}
		if p.Comm == "conmon" && ours[p.ContainerID] {
			t.Errorf("conmon (pid %d) is tied to container %.12s: it is the container's monitor on the host", p.PID, p.ContainerID)
		}
	}
	if beacon == nil || beacon.ContainerID != sc.Beacon.ID {
		t.Fatalf("the beacon's process (pid %d) = %+v, want it tied to %s", sc.Beacon.Pid, beacon, sc.Beacon.ID)
	}
	member := "docker/containers/" + sc.Beacon.ID + "/top.json"
	var top struct {
		Titles    []string
		Processes [][]string
	}
	readJSON(t, b, member, &top)
	pid := slices.Index(top.Titles, "PID")
	if pid < 0 || !slices.ContainsFunc(top.Processes, func(p []string) bool { return p[pid] == strconv.Itoa(sc.Beacon.Pid) }) {
		t.Errorf("%s = %+v, want the beacon's pid %d", member, top, sc.Beacon.Pid)
	}
	for _, m := range b.Members() {
		if m.Path == member && m.Source.Kind != "file" {
			t.Errorf("%s source = %+v, want the host's /proc", member, m.Source)
		}
	}
}

func checkPodmanCapture(t *testing.T, b *bundle.Bundle, sc *e2etest.Scenario) {
	var res capture.Result
	readJSON(t, b, "capture/interfaces.json", &res)
	if res.Packets == 0 {
		t.Errorf("capture: no packets (stop %q)", res.StopReason)
	}
	var veth, bridge *capture.Interface
	for i, it := range res.Interfaces {
		switch {
		case it.Role == capture.RoleVeth && it.Container == sc.Beacon.ID:
			veth = &res.Interfaces[i]
		case it.Name == sc.BridgeName:
			bridge = &res.Interfaces[i]
		}
	}
	if veth == nil || veth.Bridge != sc.BridgeName || veth.BlockID < 0 {
		t.Errorf("interfaces.json: the beacon's veth = %+v, want one on %s, captured; interfaces %+v", veth, sc.BridgeName, res.Interfaces)
	}
	if bridge == nil || bridge.Role != capture.RoleBridge || bridge.Network != sc.NetworkName {
		t.Errorf("interfaces.json: %s = %+v, want the bridge of %s", sc.BridgeName, bridge, sc.NetworkName)
	}
}

// collectWithLate runs the collector and, once its capture runs (the
// processes step started), a second beacon: the capture window's event
// stream must see it start on Podman as on Docker.
func collectWithLate(t *testing.T, sc *e2etest.Scenario, args ...string) (int, string, e2etest.Container) {
	t.Helper()
	cmd := exec.Command(dockcaseBinary(t), args...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	e2etest.Start(t, cmd)
	var stderr strings.Builder
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		lines := bufio.NewScanner(pipe)
		seen := false
		for lines.Scan() {
			stderr.WriteString(lines.Text() + "\n")
			if !seen && strings.Contains(lines.Text(), "] processes") {
				seen = true
				close(started)
			}
		}
	}()
	select {
	case <-started:
	case <-done:
		cmd.Wait()
		t.Fatalf("collect ended before its processes step\n%s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("collect did not reach its processes step in 30 s")
	}
	late := sc.StartBeacon(t, "late")
	<-done // the pipe is read to its end before Wait closes it
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String(), late
}

func checkPodmanWindow(t *testing.T, b *bundle.Bundle, late e2etest.Container) {
	var idx collect.WindowIndex
	readJSON(t, b, "capture/containers/index.json", &idx)
	var wc *collect.WindowContainer
	for _, c := range idx.Containers {
		if c.ID == late.ID {
			wc = c
		}
	}
	if wc == nil || !slices.Contains(wc.Events, "start") || wc.Inspect == "" || wc.NetNS == "" {
		t.Errorf("capture/containers/index.json: the container started during the capture = %+v, want its start, inspect and namespace (index %+v)", wc, idx)
	}
	var res capture.Result
	readJSON(t, b, "capture/interfaces.json", &res)
	if !slices.ContainsFunc(res.Interfaces, func(it capture.Interface) bool { return it.Role == capture.RoleVeth && it.Container == late.ID }) {
		t.Errorf("interfaces.json: no veth of %s, started during the capture", late.Name)
	}
}

func checkPodmanEvents(t *testing.T, b *bundle.Bundle, sc *e2etest.Scenario) {
	data, err := b.ReadFile("docker/events.jsonl", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	sc2 := bufio.NewScanner(bytes.NewReader(data))
	for sc2.Scan() {
		var ev struct {
			Action string `json:"Action"`
			Actor  struct {
				ID string `json:"ID"`
			} `json:"Actor"`
		}
		if err := json.Unmarshal(sc2.Bytes(), &ev); err != nil {
			t.Fatalf("docker/events.jsonl: %v", err)
		}
		if ev.Actor.ID == sc.Beacon.ID {
			actions[ev.Action] = true
		}
	}
	if !actions["create"] || !actions["start"] {
		t.Errorf("docker/events.jsonl: the beacon's actions %v, want its create and start (%d bytes of events)", actions, len(data))
	}
}

// checkNoExec reads the engine's events of the collection's time: no
// container may have had an exec. As a control, the compatible top of the
// beacon, which the collector must not ask, does leave one.
func checkNoExec(t *testing.T, sc *e2etest.Scenario, from, to time.Time) {
	execs := func(from, to time.Time) []string {
		t.Helper()
		q := url.Values{"since": {docker.UnixTime(from)}, "stream": {"false"}}
		body := podmanGet(t, sc, "/events", q)
		var out []string
		lines := bufio.NewScanner(bytes.NewReader(body))
		for lines.Scan() {
			var ev struct {
				Action   string `json:"Action"`
				TimeNano int64  `json:"timeNano"`
				Actor    struct {
					ID string `json:"ID"`
				} `json:"Actor"`
			}
			if json.Unmarshal(lines.Bytes(), &ev) == nil && strings.Contains(ev.Action, "exec") && ev.TimeNano <= to.UnixNano() {
				out = append(out, fmt.Sprintf("%s %.12s", ev.Action, ev.Actor.ID))
			}
		}
		return out
	}
	if got := execs(from, to); len(got) > 0 {
		t.Errorf("the engine's events during the collection hold execs: %q", got)
	}
	ctrl := time.Now()
	podmanGet(t, sc, "/containers/"+sc.Beacon.ID+"/top", nil)
	time.Sleep(200 * time.Millisecond)
	if got := execs(ctrl, time.Now()); len(got) == 0 {
		t.Errorf("control: the compatible top of the beacon left no exec in the events; the check above proves nothing")
	}
}

func checkPodmanCommit(t *testing.T, b *bundle.Bundle, sc *e2etest.Scenario, caseRepo string) {
	var commits []collect.CommitRecord
	readJSON(t, b, "preservation/commits.json", &commits)
	var beacon *collect.CommitRecord
	for i, c := range commits {
		if c.Error != "" {
			t.Errorf("commit of %s: %s", c.Name, c.Error)
		}
		if c.Container == sc.Beacon.ID {
			beacon = &commits[i]
		}
	}
	if beacon == nil {
		t.Fatalf("commits = %+v, want the beacon's", commits)
	}
	want := "dockcase/" + caseRepo + ":" + sc.Beacon.Name
	if beacon.ImageID == "" || !slices.ContainsFunc(beacon.Names, func(n string) bool { return strings.HasSuffix(n, want) }) {
		t.Errorf("the beacon's commit = %+v, want an image id and the engine's name of %s", beacon.CommitResult, want)
	}
	f, err := b.OpenMember(beacon.Member)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != beacon.SavedSize || fi.Size() < 1<<20 {
		t.Errorf("saved image %s: %v, %d bytes, commits.json says %d", beacon.Member, err, fi.Size(), beacon.SavedSize)
	}
}

// checkPodmanAnalysis runs analyze --ioc on the C2: the two beacons, the
// scenario's and the one started during the capture, are named; the quiet
// containers (published, on the default network) are not.
func checkPodmanAnalysis(t *testing.T, out string, sc *e2etest.Scenario, late e2etest.Container) {
	jsonOut := filepath.Join(t.TempDir(), "analysis.json")
	code, errText := run(t, "analyze", out, "--ioc", sc.C2Addr.String(), "--json="+jsonOut)
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatalf("analyze exit %d: %v\n%s", code, err, errText)
	}
	var doc struct {
		IOCs []struct {
			IOC        string   `json:"ioc"`
			Containers []string `json:"containers"`
			Contacts   []struct {
				Container string `json:"container"`
				Path      *struct {
					OutIface string `json:"out_iface"`
					Hops     []struct {
						Kind     string `json:"kind"`
						Iface    string `json:"iface"`
						Evidence []struct {
							Member string `json:"member"`
							Text   string `json:"text"`
						} `json:"evidence"`
					} `json:"hops"`
				} `json:"path"`
			} `json:"contacts"`
		} `json:"iocs"`
		Missing []string `json:"missing"`
		Answer  []struct {
			Who []struct {
				Container string `json:"container"`
				Processes []struct {
					PID int `json:"pid"`
				} `json:"processes"`
			} `json:"who"`
		} `json:"answer"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	// The beacon's process holds its sockets to the C2: tied to it by its
	// cgroup, the answer names it.
	var pids []int
	for _, a := range doc.Answer {
		for _, w := range a.Who {
			if w.Container == sc.Beacon.ID {
				for _, p := range w.Processes {
					pids = append(pids, p.PID)
				}
			}
		}
	}
	if !slices.Contains(pids, sc.Beacon.Pid) {
		t.Errorf("analyze --ioc %s: the beacon's processes in the answer %v, want its pid %d", sc.C2Addr, pids, sc.Beacon.Pid)
	}
	// The beacon's path: its veth, the Podman bridge by its own name (not a
	// made-up br-<id>), the masquerade of the backend's own chain for it
	// (NETAVARK-<hash> or CNI-<hash>, reached through its conditional
	// jump: never NETAVARK-HOSTPORT-MASQ, which takes marked packets
	// only), and out by the C2's link.
	var masq, bridge bool
	for _, h := range doc.IOCs {
		for _, c := range h.Contacts {
			if c.Container != sc.Beacon.ID || c.Path == nil {
				continue
			}
			if c.Path.OutIface != sc.HostVeth {
				t.Errorf("the beacon's path leaves by %q, want the C2 link %s", c.Path.OutIface, sc.HostVeth)
			}
			for _, hop := range c.Path.Hops {
				bridge = bridge || (hop.Kind == "bridge" && hop.Iface == sc.BridgeName)
				for _, e := range hop.Evidence {
					if hop.Kind == "nat" && strings.Contains(e.Text, "MASQUERADE") {
						masq = true
						if strings.Contains(e.Text, "HOSTPORT") || !(strings.Contains(e.Text, "NETAVARK-") || strings.Contains(e.Text, "CNI-")) {
							t.Errorf("the beacon's NAT hop cites %q (%s), want the masquerade of its network's own chain", e.Text, e.Member)
						}
					}
				}
			}
		}
	}
	if !bridge || !masq {
		t.Errorf("the beacon's path lacks the Podman bridge %s (%v) or a masquerade of its own chain (%v)", sc.BridgeName, bridge, masq)
	}
	for _, m := range doc.Missing {
		if strings.Contains(m, "bridge") || strings.Contains(m, "not tied") {
			t.Errorf("the analysis says it is missing %q, which the Podman bundle holds", m)
		}
	}
	want := []string{sc.Beacon.ID, late.ID}
	slices.Sort(want)
	var got []string
	if len(doc.IOCs) == 1 {
		got = slices.Sorted(slices.Values(doc.IOCs[0].Containers))
	}
	if !slices.Equal(got, want) {
		t.Errorf("analyze --ioc %s: %+v, want the beacons %.12s and %.12s (not %.12s nor %.12s)\n%s", sc.C2Addr, doc.IOCs,
			sc.Beacon.ID, late.ID, sc.Published.ID, sc.Bridge.ID, errText)
	}
}

// putPS copies the beacon's own binary into it as /bin/ps.
func putPS(t *testing.T, sc *e2etest.Scenario) {
	t.Helper()
	bin, err := os.ReadFile(fmt.Sprintf("/proc/%d/exe", sc.Beacon.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/ps", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	tw.Write(bin)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sc.Client().CopyToContainer(ctx, sc.Beacon.ID, "/", &buf, container.CopyToContainerOptions{}); err != nil {
		t.Fatalf("copy /bin/ps into the beacon: %v", err)
	}
}

// podmanGet is a raw GET on the scenario's engine, its body at most 64 MiB.
func podmanGet(t *testing.T, sc *e2etest.Scenario, path string, q url.Values) []byte {
	t.Helper()
	cli := sc.Client()
	u := "http://" + client.DummyHost + "/v" + cli.ClientVersion() + path + "?" + q.Encode()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("GET %s: %s %v: %s", path, resp.Status, err, body)
	}
	return body
}

// removePodmanCaseImages deletes the images the collector committed for a
// case; Podman names them docker.io/dockcase/<case>:<container>.
func removePodmanCaseImages(t *testing.T, sc *e2etest.Scenario, caseRepo string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	imgs, err := sc.Client().ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		t.Error(err)
		return
	}
	for _, img := range imgs {
		if slices.ContainsFunc(img.RepoTags, func(tag string) bool { return strings.Contains(tag, "dockcase/"+caseRepo+":") }) {
			if _, err := sc.Client().ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
				t.Errorf("remove %v: %v", img.RepoTags, err)
			}
		}
	}
}
