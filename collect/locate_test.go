package collect

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/docker/docker/api/types/container"
)

func TestParseTarget(t *testing.T) {
	pfx := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, p := range s {
			out = append(out, netip.MustParsePrefix(p))
		}
		return out
	}
	tests := []struct {
		in       string
		prefixes []netip.Prefix
		domain   string
		bad      bool
	}{
		{in: "198.51.100.7", prefixes: pfx("198.51.100.7/32")},
		{in: " 198.51.100.7 ", prefixes: pfx("198.51.100.7/32")},
		{in: "2001:db8::7", prefixes: pfx("2001:db8::7/128")},
		{in: "::ffff:198.51.100.7", prefixes: pfx("198.51.100.7/32")},
		{in: "198.51.100.0/24", prefixes: pfx("198.51.100.0/24")},
		{in: "198.51.100.7/30", prefixes: pfx("198.51.100.4/30")},
		{in: "2001:db8::/32", prefixes: pfx("2001:db8::/32")},
		{in: "::ffff:198.51.100.0/120", prefixes: pfx("198.51.100.0/24")},
		{in: "evil.example", domain: "evil.example"},
		{in: "C2.Evil.Example.", domain: "c2.evil.example"},
		{in: "localhost", domain: "localhost"},
		{in: "xn--bcher-kva.example", domain: "xn--bcher-kva.example"},
		{in: "", bad: true},
		{in: "1.2.3.4.5", bad: true},
		{in: "300.1.1.1", bad: true},
		{in: "198.51.100.0/33", bad: true},
		{in: "198.51.100.0/x", bad: true},
		{in: "fe80::1%eth0", bad: true},
		{in: "evil example", bad: true},
		{in: "-evil.example", bad: true},
		{in: "evil..example", bad: true},
		{in: "evil.example;rm -rf /", bad: true},
		{in: "\x1b[31mred.example", bad: true},
		{in: strings.Repeat("a.", 130) + "example", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if tt.bad {
			var te *TargetError
			if !errors.As(err, &te) {
				t.Errorf("ParseTarget(%q) = %+v, %v, want a *TargetError", tt.in, got, err)
			}
			continue
		}
		if err != nil || got.Domain != tt.domain || !reflect.DeepEqual(got.Prefixes, tt.prefixes) {
			t.Errorf("ParseTarget(%q) = %+v, %v, want domain %q prefixes %v", tt.in, got, err, tt.domain, tt.prefixes)
		}
	}
}

// TestResolveTarget resolves through an injected resolver: no DNS query
// leaves the machine.
func TestResolveTarget(t *testing.T) {
	hosts := map[string][]netip.Addr{
		"c2.evil.example": {netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("::ffff:198.51.100.7"),
			netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("198.51.100.9")},
		"empty.example": {},
	}
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		a, ok := hosts[host]
		if !ok {
			return nil, fmt.Errorf("%s: no such host", host)
		}
		return a, nil
	}
	tests := []struct {
		in   string
		want []netip.Prefix
		err  bool
	}{
		{in: "c2.evil.example", want: []netip.Prefix{
			netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("198.51.100.9/32"), netip.MustParsePrefix("2001:db8::7/128")}},
		{in: "empty.example", err: true},
		{in: "nx.example", err: true},
		{in: "198.51.100.1", want: []netip.Prefix{netip.MustParsePrefix("198.51.100.1/32")}},
	}
	for _, tt := range tests {
		tg, err := ParseTarget(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ResolveTarget(context.Background(), tg, resolve)
		if (err != nil) != tt.err || (!tt.err && !reflect.DeepEqual(got.Prefixes, tt.want)) {
			t.Errorf("ResolveTarget(%q) = %v, %v, want %v (error %v)", tt.in, got.Prefixes, err, tt.want, tt.err)
		}
	}
}

func TestTargetOrient(t *testing.T) {
	tuple := func(src string, sport uint16, dst string, dport uint16) ConntrackTuple {
		return ConntrackTuple{Src: src, SrcPort: sport, Dst: dst, DstPort: dport}
	}
	ap := netip.MustParseAddrPort
	target, _ := ParseTarget("198.18.7.2")
	wide, _ := ParseTarget("198.18.7.0/30")
	tests := []struct {
		name      string
		orig, rep ConntrackTuple
		want      FlowEnds
		ok        bool
		wide      bool // target the /30 instead of the address
	}{
		{name: "masqueraded beacon",
			orig: tuple("198.19.3.2", 40000, "198.18.7.2", 4444), rep: tuple("198.18.7.2", 4444, "198.18.7.1", 40000),
			want: FlowEnds{Local: ap("198.19.3.2:40000"), Remote: ap("198.18.7.2:4444"), NAT: ap("198.18.7.1:40000"), Direction: "outbound"}, ok: true},
		{name: "masquerade with port change",
			orig: tuple("198.19.3.2", 40000, "198.18.7.2", 4444), rep: tuple("198.18.7.2", 4444, "198.18.7.1", 1025),
			want: FlowEnds{Local: ap("198.19.3.2:40000"), Remote: ap("198.18.7.2:4444"), NAT: ap("198.18.7.1:1025"), Direction: "outbound"}, ok: true},
		{name: "host process, no NAT",
			orig: tuple("198.18.7.1", 5000, "198.18.7.2", 53), rep: tuple("198.18.7.2", 53, "198.18.7.1", 5000),
			want: FlowEnds{Local: ap("198.18.7.1:5000"), Remote: ap("198.18.7.2:53"), Direction: "outbound"}, ok: true},
		{name: "inbound to a published port",
			orig: tuple("198.18.7.2", 51000, "10.0.0.5", 8080), rep: tuple("172.17.0.3", 80, "198.18.7.2", 51000),
			want: FlowEnds{Local: ap("172.17.0.3:80"), Remote: ap("198.18.7.2:51000"), NAT: ap("10.0.0.5:8080"), Direction: "inbound"}, ok: true},
		{name: "DNATed to the target",
			orig: tuple("172.17.0.3", 33000, "10.9.9.9", 443), rep: tuple("198.18.7.2", 443, "172.17.0.3", 33000),
			want: FlowEnds{Local: ap("172.17.0.3:33000"), Remote: ap("198.18.7.2:443"), NAT: ap("10.9.9.9:443"), Direction: "outbound"}, ok: true},
		{name: "both ends in the target: the opener is local",
			orig: tuple("198.18.7.1", 5000, "198.18.7.2", 4444), rep: tuple("198.18.7.2", 4444, "198.18.7.1", 5000),
			want: FlowEnds{Local: ap("198.18.7.1:5000"), Remote: ap("198.18.7.2:4444"), Direction: "outbound"}, ok: true, wide: true},
		{name: "multicast from the target",
			orig: tuple("198.18.7.2", 0, "224.0.0.22", 0), rep: tuple("224.0.0.22", 0, "198.18.7.2", 0)},
		{name: "unrelated",
			orig: tuple("172.17.0.3", 33000, "10.9.9.9", 443), rep: tuple("10.9.9.9", 443, "10.0.0.5", 33000)},
		{name: "garbage address",
			orig: tuple("x", 1, "198.18.7.2", 2), rep: tuple("198.18.7.2", 2, "y", 1)},
	}
	for _, tt := range tests {
		tg := target
		if tt.wide {
			tg = wide
		}
		got, ok := tg.Orient(ConntrackEntry{Original: tt.orig, Reply: tt.rep})
		if ok != tt.ok || got != tt.want {
			t.Errorf("Orient(%s: %+v / %+v) = %+v, %v, want %+v, %v", tt.name, tt.orig, tt.rep, got, ok, tt.want, tt.ok)
		}
	}
}

// locateBin builds cmd/dockcase once, statically, as responders get it.
var locateBin struct {
	once sync.Once
	path string
	err  error
}

func locateBinary(t *testing.T) string {
	t.Helper()
	locateBin.once.Do(func() {
		root, err := e2etest.RepoRoot()
		if err != nil {
			locateBin.err = err
			return
		}
		dir, err := os.MkdirTemp("", "dcl-bin-")
		if err != nil {
			locateBin.err = err
			return
		}
		// The test that builds it removes it: TestLocateE2E, before its subtests.
		t.Cleanup(func() { os.RemoveAll(dir) })
		locateBin.path = filepath.Join(dir, "dockcase")
		cmd := exec.Command("go", "build", "-o", locateBin.path, "./cmd/dockcase")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			locateBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if locateBin.err != nil {
		t.Fatal(locateBin.err)
	}
	return locateBin.path
}

// locateRun runs the binary and returns its exit code, stdout and stderr.
func locateRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(locateBinary(t), args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), stdout.String(), stderr.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

// TestLocateE2E runs locate against the real scenario. NewScenario skips it
// without root or Docker (fails it under CI=true).
func TestLocateE2E(t *testing.T) {
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	locateBinary(t)
	sc.WaitContact(t, 20*time.Second, func(e e2etest.Event) bool { return e.Proto == "tcp" })
	sc.WaitContact(t, 20*time.Second, func(e e2etest.Event) bool { return e.Proto == "udp" })
	// A few beacons more, so that earlier connections are closed and in
	// TIME_WAIT.
	time.Sleep(3 * sc.Interval)

	t.Run("address", func(t *testing.T) {
		target, err := ParseTarget(sc.C2Addr.String())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		cs, errs := Locate(context.Background(), target, LocateOptions{})
		took := time.Since(start)
		t.Logf("Locate(%s) took %v: %d contacts", sc.C2Addr, took, len(cs))
		if took > 2*time.Second {
			t.Errorf("Locate took %v, want at most 2s", took)
		}
		for _, err := range errs {
			t.Errorf("Locate gap: %v", err)
		}
		locateCheckBeacon(t, sc, cs)
	})

	t.Run("prefix", func(t *testing.T) {
		target, err := ParseTarget(sc.C2Prefix.String())
		if err != nil {
			t.Fatal(err)
		}
		cs, errs := Locate(context.Background(), target, LocateOptions{})
		for _, err := range errs {
			t.Errorf("Locate gap: %v", err)
		}
		locateCheckBeacon(t, sc, cs)
	})

	t.Run("command", func(t *testing.T) {
		start := time.Now()
		code, stdout, stderr := locateRun(t, "locate", "--json", sc.C2Addr.String())
		took := time.Since(start)
		t.Logf("dockcase locate took %v", took)
		if code != 0 {
			t.Fatalf("dockcase locate --json %s: exit %d, want 0\nstderr:\n%s", sc.C2Addr, code, stderr)
		}
		if took > 2*time.Second {
			t.Errorf("dockcase locate took %v, want at most 2s", took)
		}
		var cs []Contact
		if err := json.Unmarshal([]byte(stdout), &cs); err != nil {
			t.Fatalf("stdout is not a JSON array of contacts: %v\n%s", err, stdout)
		}
		locateCheckBeacon(t, sc, cs)
		want := "--containers " + sc.Beacon.Name + " --capture 120s"
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not suggest %q:\n%s", want, stderr)
		}

		// Not a terminal: tab-separated lines, the beacon's among them.
		code, stdout, stderr = locateRun(t, "locate", sc.C2Addr.String())
		if code != 0 {
			t.Fatalf("dockcase locate %s: exit %d, want 0\nstderr:\n%s", sc.C2Addr, code, stderr)
		}
		t.Logf("dockcase locate %s:\n%s%s", sc.C2Addr, stdout, stderr)
		found := false
		for line := range strings.Lines(stdout) {
			f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
			if len(f) != 12 {
				t.Errorf("line %q has %d fields, want 12", line, len(f))
				continue
			}
			found = found || (f[1] == sc.Beacon.Name && strings.HasPrefix(f[4], sc.Beacon.IP.String()+":"))
		}
		if !found {
			t.Errorf("no line names %s with its address %s:\n%s", sc.Beacon.Name, sc.Beacon.IP, stdout)
		}

		// On a terminal: a table. script(1) gives the binary a pty.
		if script, err := exec.LookPath("script"); err == nil {
			cmdline := locateBinary(t) + " locate " + sc.C2Addr.String()
			out, err := exec.Command(script, "-qec", cmdline, "/dev/null").CombinedOutput()
			if err != nil {
				t.Fatalf("script -qec %q: %v\n%s", cmdline, err, out)
			}
			if !strings.Contains(string(out), "CONTAINER ADDR") || !strings.Contains(string(out), sc.Beacon.Name) || strings.Contains(string(out), "\t") {
				t.Errorf("on a terminal, want a table naming %s, got:\n%s", sc.Beacon.Name, out)
			}
		}

		// An address nobody talks to: exit 1.
		nobody := netip.AddrFrom4([4]byte{198, 18, sc.C2Prefix.Addr().As4()[2], 3}) // the /30's broadcast
		if code, _, stderr := locateRun(t, "locate", nobody.String()); code != 1 {
			t.Errorf("dockcase locate %s: exit %d, want 1\nstderr:\n%s", nobody, code, stderr)
		}
		if code, _, stderr := locateRun(t, "locate", "1.2.3.4.5"); code != 2 {
			t.Errorf("dockcase locate 1.2.3.4.5: exit %d, want 2\nstderr:\n%s", code, stderr)
		}
	})

	var late e2etest.Container
	t.Run("watch", func(t *testing.T) {
		cmd := exec.Command(locateBinary(t), "locate", "--watch", "20s", "--json", sc.C2Addr.String())
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		type seen struct {
			c  Contact
			at time.Time
		}
		lines := make(chan seen, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var c Contact
				if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
					t.Errorf("watch line is not a contact: %v: %q", err, sc.Text())
					continue
				}
				lines <- seen{c, time.Now()}
			}
		}()

		time.Sleep(3 * time.Second)
		late = sc.StartBeacon(t, "dcl-late")
		ready := time.Now()
		deadline := time.After(15 * time.Second)
		var got []Contact
		var lateSeen *seen
	wait:
		for {
			select {
			case s, ok := <-lines:
				if !ok {
					break wait
				}
				got = append(got, s.c)
				if s.c.ContainerID == late.ID {
					lateSeen = &s
					break wait
				}
			case <-deadline:
				break wait
			}
		}
		if lateSeen == nil {
			t.Fatalf("the beacon %s started during the watch was not reported; contacts: %+v\nstderr:\n%s", late.Name, got, stderr.String())
		}
		t.Logf("%s reported %v after it was ready: %+v", late.Name, lateSeen.at.Sub(ready), lateSeen.c)
		c := lateSeen.c
		if c.ContainerName != late.Name || c.Network != sc.NetworkName || c.Local.Addr() != late.IP || c.Remote.Addr() != sc.C2Addr ||
			len(c.Sources) == 0 || c.Sources[0] != SourceConntrackEvent {
			t.Errorf("late beacon contact = %+v, want %s from %s to %s by %s", c, late.Name, late.IP, sc.C2Addr, SourceConntrackEvent)
		}
		if d := lateSeen.at.Sub(ready); d > 3*time.Second {
			t.Errorf("late beacon reported %v after it started beaconing, want within 3s", d)
		}
		// The running beacon came first, from the snapshot.
		if len(got) == 0 || got[0].ContainerID != sc.Beacon.ID {
			t.Errorf("first contact of the watch = %+v, want the running beacon %s", got, sc.Beacon.Name)
		}
		for range lines {
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("dockcase locate --watch 20s: exit %d, want 0\nstderr:\n%s", code, stderr.String())
		}
	})

	t.Run("host network", func(t *testing.T) { testLocateHostNetwork(t, sc) })

	t.Run("another event source", func(t *testing.T) {
		// The shape a packet source will have: it reports a flow of the
		// published container, which never talks to the C2, so only this
		// source can make WatchLocate report it.
		local := netip.AddrPortFrom(sc.Published.IP, 40000)
		src := locateTestSource{ev: FlowEvent{Source: "packet", Kind: "new", Proto: "tcp", Local: local,
			Remote: netip.AddrPortFrom(sc.C2Addr, sc.C2TCPPort), Direction: "outbound", State: "SYN"}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		target, _ := ParseTarget(sc.C2Addr.String())
		var got []Contact
		errs := WatchLocate(ctx, target, LocateOptions{Sources: []FlowSource{src, ConntrackEvents()}}, func(c Contact) {
			got = append(got, c)
			if c.Local == local {
				cancel()
			}
		})
		for _, err := range errs {
			t.Errorf("WatchLocate gap: %v", err)
		}
		i := slices.IndexFunc(got, func(c Contact) bool { return c.Local == local })
		if i < 0 {
			t.Fatalf("the source's flow was not reported; contacts:\n%s", locateDump(got))
		}
		if c := got[i]; c.ContainerName != sc.Published.Name || c.Network != sc.NetworkName || !slices.Equal(c.Sources, []string{"packet"}) {
			t.Errorf("source's flow reported as %+v, want %s on %s from source packet", c, sc.Published.Name, sc.NetworkName)
		}
		if !slices.ContainsFunc(got[:i], func(c Contact) bool { return c.ContainerID == sc.Beacon.ID }) {
			t.Errorf("the snapshot before the source's flow did not name the beacon; contacts:\n%s", locateDump(got))
		}
	})

	t.Run("stopped container", func(t *testing.T) {
		if late.ID == "" {
			t.Skip("the watch test did not start the second beacon")
		}
		timeout := 1
		if err := sc.Client().ContainerStop(context.Background(), late.ID, container.StopOptions{Timeout: &timeout}); err != nil {
			t.Fatal(err)
		}
		target, _ := ParseTarget(sc.C2Addr.String())
		cs, errs := Locate(context.Background(), target, LocateOptions{})
		for _, err := range errs {
			t.Errorf("Locate gap: %v", err)
		}
		var mine []Contact
		for _, c := range cs {
			if c.Local.Addr() == late.IP {
				mine = append(mine, c)
			}
		}
		if len(mine) == 0 {
			t.Fatalf("no contact from the stopped container's address %s; contacts: %+v", late.IP, cs)
		}
		t.Logf("%d flows of the stopped container, first: %+v", len(mine), mine[0])
		for _, c := range mine {
			if !slices.Equal(c.Sources, []string{SourceConntrack}) {
				t.Errorf("contact %+v: sources %v, want only conntrack (the container is gone)", c, c.Sources)
			}
			if c.Network != sc.NetworkName {
				t.Errorf("contact %+v: network %q, want %q", c, c.Network, sc.NetworkName)
			}
			if c.ContainerName != late.Name || !strings.HasPrefix(c.Note, "inferred") {
				t.Errorf("contact %+v: want %s named as inferred", c, late.Name)
			}
		}
	})
}

// testLocateHostNetwork runs a beacon in a container on the host's network:
// its flows carry the host's address, so only the socket's owner and that
// process's cgroup can name the container.
func testLocateHostNetwork(t *testing.T, sc *e2etest.Scenario) {
	c2 := sc.C2Addr.String()
	hostNet := sc.StartContainer(t, "dcl-hostnet", e2etest.ContainerSpec{
		Cmd: []string{"/workload", "-name", "dcl-hostnet",
			"-beacon-tcp", fmt.Sprintf("%s:%d", c2, sc.C2TCPPort),
			"-beacon-udp", fmt.Sprintf("%s:%d", c2, sc.C2UDPPort), "-interval", sc.Interval.String()},
		Adjust: func(cfg *container.Config, hc *container.HostConfig) { hc.NetworkMode = "host" },
	})
	sc.WaitContact(t, 10*time.Second, func(e e2etest.Event) bool {
		return e.Proto == "udp" && strings.Contains(e.Data, "name=dcl-hostnet ")
	})
	target, _ := ParseTarget(c2)
	cs, errs := Locate(context.Background(), target, LocateOptions{})
	for _, err := range errs {
		t.Errorf("Locate gap: %v", err)
	}
	var udp bool
	for _, c := range cs {
		if c.Local.Addr() != sc.HostAddr {
			continue
		}
		if c.ContainerID != hostNet.ID || c.ContainerName != hostNet.Name || c.Network != NetworkHost {
			if c.PID == 0 && c.Proto == "tcp" {
				continue // a connection closed before its owner was read: not attributable
			}
			t.Errorf("host-network flow %+v: want container %s on network %q", c, hostNet.Name, NetworkHost)
			continue
		}
		if c.Proto == "udp" {
			udp = true
			if c.PID != hostNet.Pid {
				t.Errorf("host-network udp flow %+v: want pid %d", c, hostNet.Pid)
			}
		}
	}
	if !udp {
		t.Errorf("no udp flow of the host-network container %s from %s; contacts:\n%s", hostNet.Name, sc.HostAddr, locateDump(cs))
	}
}

// locateTestSource reports one flow, then waits for the end of the watch.
type locateTestSource struct{ ev FlowEvent }

func (s locateTestSource) Name() string { return "test" }

func (s locateTestSource) Run(ctx context.Context, t Target, out chan<- FlowEvent) error {
	ev := s.ev
	ev.Time = time.Now().UTC()
	select {
	case out <- ev:
	case <-ctx.Done():
	}
	<-ctx.Done()
	return nil
}

// locateCheckBeacon asserts that the contacts name the beacon, over TCP and
// UDP, with its process, a TIME_WAIT flow of an ended connection among them,
// and no other container.
func locateCheckBeacon(t *testing.T, sc *e2etest.Scenario, cs []Contact) {
	t.Helper()
	var tcpLive, udp, timeWait, merged bool
	for _, c := range cs {
		if c.ContainerID != "" && c.ContainerID != sc.Beacon.ID {
			t.Errorf("contact names container %s (%s), not the beacon: %+v", c.ContainerName, c.ContainerID, c)
			continue
		}
		if c.ContainerID == "" {
			continue
		}
		if c.ContainerName != sc.Beacon.Name || c.Local.Addr() != sc.Beacon.IP || c.Remote.Addr() != sc.C2Addr || c.Network != sc.NetworkName {
			t.Errorf("beacon contact = %+v, want %s (%s on %s) → %s", c, sc.Beacon.Name, sc.Beacon.IP, sc.NetworkName, sc.C2Addr)
		}
		merged = merged || (slices.Contains(c.Sources, SourceConntrack) && slices.Contains(c.Sources, SourceSocket))
		switch {
		case c.Proto == "tcp" && c.Remote.Port() == sc.C2TCPPort && c.State == "ESTABLISHED":
			tcpLive = true
			// A connection lives one beacon interval: it may close between
			// the socket table read and the owner scan, and then has no
			// process. The UDP socket lives on and must have one.
			if c.PID != 0 && (c.PID != sc.Beacon.Pid || len(c.Cmdline) == 0 || c.Cmdline[0] != "/workload") {
				t.Errorf("established beacon flow %+v: want pid %d running /workload", c, sc.Beacon.Pid)
			}
			// A connection opened between the conntrack dump and the socket
			// read is only in the socket table.
			if slices.Contains(c.Sources, SourceConntrack) && c.NAT.Addr() != sc.HostAddr {
				t.Errorf("established beacon flow %+v: NAT %s, want the masquerade address %s", c, c.NAT, sc.HostAddr)
			}
		case c.Proto == "tcp" && c.State == "TIME_WAIT" && slices.Contains(c.Sources, SourceConntrack):
			timeWait = true
		case c.Proto == "udp" && c.Remote.Port() == sc.C2UDPPort:
			udp = true
			if c.PID != sc.Beacon.Pid || len(c.Cmdline) == 0 || c.Cmdline[0] != "/workload" {
				t.Errorf("udp beacon flow %+v: want pid %d running /workload", c, sc.Beacon.Pid)
			}
		}
	}
	if !tcpLive || !udp || !timeWait || !merged {
		t.Errorf("beacon contacts: established tcp %v, udp %v, ended tcp in TIME_WAIT %v, a flow from both conntrack and a socket %v; want all; contacts:\n%s",
			tcpLive, udp, timeWait, merged, locateDump(cs))
	}
}

func locateDump(cs []Contact) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %+v\n", c)
	}
	return b.String()
}
