package collect_test

import (
	"bufio"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect"
	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/dockcase/dockcase/collect/host"
	"github.com/dockcase/dockcase/collect/socksample"
	"github.com/docker/docker/api/types/container"
)

// samplesHold is how long the signalled containers keep their connection:
// more than the sampler's interval, so at least one round sees it.
const samplesHold = 4 * time.Second

// TestSocketSamplesE2E collects with a 20 s capture while containers open a
// TCP connection to the scenario's C2 only after the snapshot's namespaces
// step, and close it again within the window: one on its own network, and
// one of a container:X pair whose other member never connects. The
// snapshot's socket tables lack both connections; capture/socket-samples.json
// has each, seen inside the window, owned by the right container's process,
// and the model gives each to that container alone.
func TestSocketSamplesE2E(t *testing.T) {
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	c2 := netip.AddrPortFrom(sc.C2Addr, sc.C2TCPPort)
	connectCmd := func(role string) []string {
		return []string{"/workload", "-name", "dce-" + role + "-" + sc.ID, "-connect-on-usr1", c2.String(), "-hold", samplesHold.String()}
	}
	solo := sc.StartContainer(t, "sampled", e2etest.ContainerSpec{Cmd: connectCmd("sampled")})
	// Both members of the pair could connect; only the joiner is told to.
	owner := sc.StartContainer(t, "pairowner", e2etest.ContainerSpec{Cmd: connectCmd("pairowner")})
	joiner := sc.StartContainer(t, "pairjoiner", e2etest.ContainerSpec{Cmd: connectCmd("pairjoiner"),
		Adjust: func(cfg *container.Config, hc *container.HostConfig) {
			hc.NetworkMode = container.NetworkMode("container:" + owner.ID)
		}})
	soloNS, err := host.NetNSInode(solo.Pid)
	if err != nil {
		t.Fatal(err)
	}
	pairNS, err := host.NetNSInode(owner.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if ns, err := host.NetNSInode(joiner.Pid); err != nil || ns != pairNS {
		t.Fatalf("the joiner is in namespace %d (%v), not its owner's %d", ns, err, pairNS)
	}

	out := filepath.Join(t.TempDir(), "case.tar.zst")
	cmd := exec.Command(dockcaseBinary(t), "collect", "--case", "IR-SAMPLES", "--no-images", "--capture", "20s",
		"--events-since", "10m", "--out", out)
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// The connections open once the namespaces step has read the socket
	// tables: the step after it starting says so.
	var stderr strings.Builder
	signalled := false
	sc2 := bufio.NewScanner(stderrPipe)
	for sc2.Scan() {
		line := sc2.Text()
		stderr.WriteString(line + "\n")
		if !signalled && strings.Contains(line, "] firewall") {
			signalled = true
			for _, c := range []e2etest.Container{solo, joiner} {
				if err := syscall.Kill(c.Pid, syscall.SIGUSR1); err != nil {
					t.Errorf("signal %s (pid %d): %v", c.Name, c.Pid, err)
				}
			}
		}
	}
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if !signalled {
		t.Fatalf("collect never started the firewall step: exit %d\n%s", code, stderr.String())
	}
	b := openBundle(t, out)
	checkGaps(t, sc, code, stderr.String(), b.Manifest.Gaps)

	var nsStep, capStep *bundle.StepRecord
	for i, s := range b.Steps {
		switch s.Name {
		case "namespaces":
			nsStep = &b.Steps[i]
		case "capture":
			capStep = &b.Steps[i]
		}
	}
	if nsStep == nil || capStep == nil {
		t.Fatalf("custody log without the namespaces or the capture step: %+v", b.Steps)
	}
	var doc socksample.Samples
	readJSON(t, b, "capture/socket-samples.json", &doc)
	if doc.IntervalMS != socksample.DefaultInterval.Milliseconds() || doc.Rounds < 5 || doc.Ended.Sub(doc.Started) < 15*time.Second {
		t.Errorf("socket samples: interval %d ms, %d rounds over %s; want %s, about 10 rounds over 20 s",
			doc.IntervalMS, doc.Rounds, doc.Ended.Sub(doc.Started), socksample.DefaultInterval)
	}
	if d, ok := capStep.Detail.(map[string]any); !ok || d["socket_sample_rounds"] != float64(doc.Rounds) || d["socket_samples"] != float64(len(doc.Sockets)) {
		t.Errorf("the capture step's detail %v does not count the socket samples (%d rounds, %d sockets)", capStep.Detail, doc.Rounds, len(doc.Sockets))
	}
	if !slices.ContainsFunc(capStep.Called, func(c bundle.Call) bool { return strings.Contains(c.Ref, "NETLINK_SOCK_DIAG") }) {
		t.Errorf("the capture step's calls do not name the socket tables: %+v", capStep.Called)
	}

	// What each container logged of its connection: when it opened and
	// closed, from which local address.
	conn := func(t *testing.T, c e2etest.Container) (local string, opened, closed time.Time) {
		t.Helper()
		for _, e := range sc.Events(t, c) {
			switch e.Kind {
			case "connect":
				local, opened = e.Local, e.Time
			case "close":
				closed = e.Time
			case "connect-error":
				t.Errorf("%s could not connect: %s", c.Name, e.Err)
			}
		}
		if opened.IsZero() || closed.IsZero() {
			t.Fatalf("%s logged no connection opened and closed: %+v", c.Name, sc.Events(t, c))
		}
		return local, opened, closed
	}
	// The sampler's round time is taken before the tables are read, so a
	// sighting may date a moment before the connect returned.
	const slack = time.Second
	check := func(t *testing.T, c e2etest.Container, netns uint64) {
		t.Helper()
		local, opened, closed := conn(t, c)
		if !opened.After(nsStep.Ended) || closed.After(doc.Ended) {
			t.Fatalf("%s connected %s–%s: not between the namespaces step's end %s and the window's end %s",
				c.Name, opened, closed, nsStep.Ended, doc.Ended)
		}
		var snap []collect.SocketRecord
		readJSON(t, b, "netns/"+strconv.FormatUint(netns, 10)+"/sockets.json", &snap)
		for _, s := range snap {
			if s.RemoteIP == sc.C2Addr.String() && s.RemotePort == sc.C2TCPPort {
				t.Errorf("the snapshot already has a socket of %s to the C2: %+v; the test opens it too early", c.Name, s)
			}
		}
		var got *socksample.Socket
		for i, s := range doc.Sockets {
			if s.NetNS == netns && s.Inode != 0 && s.Remote == c2.String() && s.Local == local {
				got = &doc.Sockets[i]
			}
		}
		if got == nil {
			t.Fatalf("no sampled socket %s → %s in namespace %d of %s", local, c2, netns, c.Name)
		}
		if got.Proto != "tcp" || !slices.Contains(got.States, "ESTABLISHED") || got.Sightings < 1 ||
			got.First.Before(doc.Started) || got.Last.After(doc.Ended) ||
			got.First.Before(opened.Add(-slack)) || got.Last.After(closed.Add(slack)) {
			t.Errorf("sampled socket of %s = %+v; want tcp, ESTABLISHED, seen within %s–%s (window %s–%s)",
				c.Name, got, opened, closed, doc.Started, doc.Ended)
		}
		t.Logf("%s connected %s–%s; sampled %s → %s %v, first %s, last %s, %d sighting(s), owners %+v",
			c.Name, opened.Format(time.TimeOnly), closed.Format(time.TimeOnly), got.Local, got.Remote, got.States,
			got.First.Format(time.TimeOnly), got.Last.Format(time.TimeOnly), got.Sightings, got.Owners)
		if len(got.Owners) != 1 || got.Owners[0].PID != c.Pid || got.Owners[0].Comm != "workload" ||
			got.Owners[0].Container != c.ID || !slices.Contains(got.Owners[0].Cmdline, "-connect-on-usr1") {
			t.Errorf("owners of %s's socket = %+v; want pid %d, comm workload, container %s", c.Name, got.Owners, c.Pid, c.ID)
		}
	}
	t.Run("own namespace", func(t *testing.T) { check(t, solo, soloNS) })
	t.Run("shared namespace", func(t *testing.T) {
		check(t, joiner, pairNS)
		for _, s := range doc.Sockets {
			for _, o := range s.Owners {
				if o.Container == owner.ID && s.Remote == c2.String() {
					t.Errorf("a socket to the C2 owned by %s, which never connected: %+v", owner.Name, s)
				}
			}
		}
		i := slices.IndexFunc(doc.Namespaces, func(n socksample.Namespace) bool { return n.Inode == pairNS })
		if i < 0 || !slices.Contains(doc.Namespaces[i].Containers, owner.ID) || !slices.Contains(doc.Namespaces[i].Containers, joiner.ID) {
			t.Errorf("the shared namespace %d is not listed with both containers: %+v", pairNS, doc.Namespaces)
		}
	})

	t.Run("model", func(t *testing.T) {
		h, err := model.Load(b)
		if err != nil {
			t.Fatal(err)
		}
		if h.SocketSampling == nil || h.SocketSampling.Rounds != doc.Rounds || h.ReadErrors[model.MemberSocketSamples] != nil {
			t.Fatalf("model: sampling %+v, read error %v", h.SocketSampling, h.ReadErrors[model.MemberSocketSamples])
		}
		for _, c := range []e2etest.Container{solo, joiner} {
			found := false
			for _, s := range h.SightingsOf(c.ID) {
				if s.Remote == c2 && s.Inode != 0 {
					found = true
					if s.By != model.SightingByOwner || !slices.Equal(s.Containers, []string{c.ID}) || s.Evidence.Member != model.MemberSocketSamples || s.Evidence.Pointer == "" {
						t.Errorf("model's sighting of %s = %+v", c.Name, s)
					}
				}
			}
			if !found {
				t.Errorf("model: no sighting of %s's connection to %s", c.Name, c2)
			}
		}
		for _, s := range h.SightingsOf(owner.ID) {
			if s.Remote == c2 && s.Inode != 0 {
				t.Errorf("model gives %s a connection it never made: %+v", owner.Name, s)
			}
		}
	})
}
