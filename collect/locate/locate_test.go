package locate

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
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

	"github.com/dockcase/dockcase/collect/capture"
	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/dockcase/dockcase/collect/host"
	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/docker/docker/api/types/container"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/dns/dnsmessage"
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
		// Parsed as internal/indicator parses an IOC: defanged text, URLs
		// and wildcards are targets; a label that starts or ends with a
		// hyphen is not a name; a mapped prefix is the IPv4 one, and one
		// shorter than /96 an error.
		{in: "-evil.example", bad: true},
		{in: "evil[.]example", domain: "evil.example"},
		{in: "*.evil.example", domain: "evil.example"},
		{in: "hxxps://evil.example/x", domain: "evil.example"},
		{in: "hxxp://198[.]51[.]100[.]7:8080/x%20y", prefixes: pfx("198.51.100.7/32")},
		{in: "::ffff:10.0.0.0/104", prefixes: pfx("10.0.0.0/8")},
		{in: "::ffff:10.0.0.0/95", bad: true},
		{in: "http://[fe80::1%25eth0]/", bad: true},
		{in: "fe80::1%eth0/64", bad: true},
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
	tuple := func(src string, sport uint16, dst string, dport uint16) host.ConntrackTuple {
		return host.ConntrackTuple{Src: src, SrcPort: sport, Dst: dst, DstPort: dport}
	}
	ap := netip.MustParseAddrPort
	target, _ := ParseTarget("198.18.7.2")
	wide, _ := ParseTarget("198.18.7.0/30")
	tests := []struct {
		name      string
		orig, rep host.ConntrackTuple
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
		got, ok := tg.Orient(host.ConntrackEntry{Original: tt.orig, Reply: tt.rep})
		if ok != tt.ok || got != tt.want {
			t.Errorf("Orient(%s: %+v / %+v) = %+v, %v, want %+v, %v", tt.name, tt.orig, tt.rep, got, ok, tt.want, tt.ok)
		}
	}
}

// locateBin is the dockcase binary the e2e tests run, built by locateBinary
// once per test process, statically, as responders get it, and removed by
// TestMain after every test has run:
// -count=N runs TestLocateE2E N times in one process, so a cleanup of the
// test that built it would leave the later runs a path that is gone.
var locateBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if locateBin.dir != "" {
		os.RemoveAll(locateBin.dir)
	}
	os.Exit(code)
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
		locateBin.dir = dir
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
		cs, errs := Run(context.Background(), target, Options{})
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
		cs, errs := Run(context.Background(), target, Options{})
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

		// An address nobody talks to: exit 0, and stderr says so.
		nobody := netip.AddrFrom4([4]byte{198, 18, sc.C2Prefix.Addr().As4()[2], 3}) // the /30's broadcast
		if code, _, stderr := locateRun(t, "locate", nobody.String()); code != 0 || !strings.Contains(stderr, "no container in contact with") {
			t.Errorf("dockcase locate %s: exit %d, want 0 and a stderr line\nstderr:\n%s", nobody, code, stderr)
		}
		if code, _, stderr := locateRun(t, "locate", "1.2.3.4.5"); code != 2 {
			t.Errorf("dockcase locate 1.2.3.4.5: exit %d, want 2\nstderr:\n%s", code, stderr)
		}
	})

	var late, udpOnly e2etest.Container
	t.Run("watch", func(t *testing.T) {
		cmd := exec.Command(locateBinary(t), "locate", "--watch", "20s", "--json", sc.C2Addr.String())
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		e2etest.Start(t, cmd)
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

		var got []Contact
		// next reads contacts, keeping them in got, until one of container
		// id comes or the time until is up (nil then).
		next := func(id string, until time.Time) *seen {
			timeout := time.After(time.Until(until))
			for {
				select {
				case s, ok := <-lines:
					if !ok {
						return nil
					}
					got = append(got, s.c)
					if s.c.ContainerID == id {
						return &s
					}
				case <-timeout:
					return nil
				}
			}
		}
		// sourcesOf gathers the sources of container id's contacts, from
		// first on, until both default sources have shown or until passes.
		// Its first contact usually carries both (they merge within a
		// window), but on a loaded machine the capture of a new veth may
		// start after the first packets: a later contact carries them.
		sourcesOf := func(id string, first Contact, until time.Time) []string {
			sources := map[string]bool{}
			for c := &first; c != nil; {
				for _, src := range c.Sources {
					sources[src] = true
				}
				if sources[SourceConntrackEvent] && sources[SourcePacket] {
					break
				}
				c = nil
				if s := next(id, until); s != nil {
					c = &s.c
				}
			}
			return slices.Sorted(maps.Keys(sources))
		}

		time.Sleep(3 * time.Second)
		late = sc.StartBeacon(t, "dcl-late")
		ready := time.Now()
		lateSeen := next(late.ID, ready.Add(15*time.Second))
		if lateSeen == nil {
			t.Fatalf("the beacon %s started during the watch was not reported; contacts: %+v\nstderr:\n%s", late.Name, got, stderr.String())
		}
		t.Logf("%s reported %v after it was ready: %+v", late.Name, lateSeen.at.Sub(ready), lateSeen.c)
		c := lateSeen.c
		if c.ContainerName != late.Name || c.Network != sc.NetworkName || c.Local.Addr() != late.IP || c.Remote.Addr() != sc.C2Addr {
			t.Errorf("late beacon contact = %+v, want %s from %s to %s", c, late.Name, late.IP, sc.C2Addr)
		}
		if d := lateSeen.at.Sub(ready); d > 3*time.Second {
			t.Errorf("late beacon reported %v after it started beaconing, want within 3s", d)
		}
		if srcs := sourcesOf(late.ID, c, time.Now().Add(10*time.Second)); !slices.Contains(srcs, SourceConntrackEvent) || !slices.Contains(srcs, SourcePacket) {
			t.Errorf("the late beacon's contacts came from %v, want both %s and %s", srcs, SourceConntrackEvent, SourcePacket)
		}

		// A beacon over UDP only, no connection to track the state of.
		udpOnly = sc.StartContainer(t, "dcw-udp", e2etest.ContainerSpec{Cmd: []string{"/workload", "-name", "dce-dcw-udp-" + sc.ID,
			"-beacon-udp", netip.AddrPortFrom(sc.C2Addr, sc.C2UDPPort).String(), "-interval", sc.Interval.String()}})
		ready = time.Now()
		udpSeen := next(udpOnly.ID, ready.Add(10*time.Second))
		if udpSeen == nil {
			t.Fatalf("the UDP-only beacon %s started during the watch was not reported; contacts: %+v\nstderr:\n%s", udpOnly.Name, got, stderr.String())
		}
		t.Logf("%s reported %v after it was ready: %+v", udpOnly.Name, udpSeen.at.Sub(ready), udpSeen.c)
		if c := udpSeen.c; c.ContainerName != udpOnly.Name || c.Proto != "udp" || c.Local.Addr() != udpOnly.IP ||
			c.Remote != netip.AddrPortFrom(sc.C2Addr, sc.C2UDPPort) {
			t.Errorf("UDP-only beacon contact = %+v, want %s udp from %s to %s:%d", c, udpOnly.Name, udpOnly.IP, sc.C2Addr, sc.C2UDPPort)
		}
		if d := udpSeen.at.Sub(ready); d > 3*time.Second {
			t.Errorf("UDP-only beacon reported %v after it started beaconing, want within 3s", d)
		}
		if srcs := sourcesOf(udpOnly.ID, udpSeen.c, time.Now().Add(10*time.Second)); !slices.Contains(srcs, SourcePacket) {
			t.Errorf("the UDP-only beacon's contacts came from %v, want %s among them", srcs, SourcePacket)
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

	t.Run("packet source", func(t *testing.T) { testLocatePacketSource(t, sc, late, udpOnly) })

	// --no-packets leaves conntrack events as the only live source: a
	// beacon started during the watch still shows, and nothing comes from
	// packets.
	t.Run("watch without packets", func(t *testing.T) {
		cmd := exec.Command(locateBinary(t), "locate", "--watch", "10s", "--no-packets", "--json", sc.C2Addr.String())
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		e2etest.Start(t, cmd)
		time.Sleep(2 * time.Second)
		quiet := sc.StartBeacon(t, "dcn-late")
		if err := cmd.Wait(); err != nil {
			t.Fatalf("dockcase locate --watch 10s --no-packets: %v\nstderr:\n%s", err, stderr.String())
		}
		found := false
		for line := range strings.Lines(stdout.String()) {
			var c Contact
			if err := json.Unmarshal([]byte(line), &c); err != nil {
				t.Errorf("watch line is not a contact: %v: %q", err, line)
				continue
			}
			if slices.Contains(c.Sources, SourcePacket) {
				t.Errorf("contact from packets under --no-packets: %+v", c)
			}
			if c.ContainerID == quiet.ID && slices.Contains(c.Sources, SourceConntrackEvent) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s, started during the watch, not reported from conntrack events:\n%s\nstderr:\n%s", quiet.Name, stdout.String(), stderr.String())
		}
	})

	t.Run("domain watch", func(t *testing.T) { testLocateDomainWatch(t, sc) })

	t.Run("host network", func(t *testing.T) { testLocateHostNetwork(t, sc) })

	t.Run("another event source", func(t *testing.T) {
		// The shape a packet source will have: it reports a flow of the
		// published container, which never talks to the C2, so only this
		// source can make Watch report it.
		local := netip.AddrPortFrom(sc.Published.IP, 40000)
		src := locateTestSource{ev: FlowEvent{Source: "packet", Kind: "new", Proto: "tcp", Local: local,
			Remote: netip.AddrPortFrom(sc.C2Addr, sc.C2TCPPort), Direction: "outbound", State: "SYN"}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		target, _ := ParseTarget(sc.C2Addr.String())
		var got []Contact
		errs := Watch(ctx, target, Options{Sources: []FlowSource{src, ConntrackEvents()}}, func(c Contact) {
			got = append(got, c)
			if c.Local == local {
				cancel()
			}
		})
		for _, err := range errs {
			t.Errorf("Watch gap: %v", err)
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
		cs, errs := Run(context.Background(), target, Options{})
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
	cs, errs := Run(context.Background(), target, Options{})
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

// locateTestFrame serializes layers into one frame with gopacket, the
// independent encoder the parser is checked against.
func locateTestFrame(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(buf.Bytes())
}

func TestLocateParsePacket(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: et}
	}
	v4 := func(src, dst string, proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	}
	v6 := func(src, dst string, next layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	}
	syn := &layers.TCP{SrcPort: 40000, DstPort: 4444, SYN: true, DataOffset: 5}
	synack := &layers.TCP{SrcPort: 4444, DstPort: 40000, SYN: true, ACK: true, DataOffset: 5}
	udp := &layers.UDP{SrcPort: 41000, DstPort: 5555}
	ap := netip.MustParseAddrPort
	frag := v4("198.19.3.2", "198.18.7.2", layers.IPProtocolUDP)
	frag.FragOffset = 185
	hopByHop := &layers.IPv6HopByHop{Options: []*layers.IPv6HopByHopOption{{OptionType: 1, OptionData: []byte{0, 0, 0, 0}}}}
	hopByHop.NextHeader = layers.IPProtocolTCP
	ipv4TCP := locateTestFrame(t, eth(layers.EthernetTypeIPv4), v4("198.19.3.2", "198.18.7.2", layers.IPProtocolTCP), syn)
	// Since locate reads packets through internal/packet: three stacked
	// VLAN tags (locate's own parser stopped at two), an IPv6 AH header
	// (it walked only hop-by-hop, routing, destination and fragment
	// headers) and an IPv4 total length that ends before the ports, with
	// link padding after it (it read the ports from the padding).
	threeTags := locateTestFrame(t, eth(layers.EthernetTypeDot1Q),
		&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 8, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 9, Type: layers.EthernetTypeIPv4}, v4("198.19.3.2", "198.18.7.2", layers.IPProtocolUDP), udp)
	ah := locateTestFrame(t, eth(layers.EthernetTypeIPv6), v6("2001:db8::2", "2001:db8:7::2", layers.IPProtocolIPv6HopByHop), hopByHop, syn)
	ah[14+6] = 51 // AH, whose 8 bytes have the layout of this hop-by-hop header: length (0+2)*4
	shortIP := slices.Clone(ipv4TCP)
	shortIP[14+3] = 22 // total length: the IP header and 2 bytes
	tests := []struct {
		name string
		lt   pcapng.LinkType
		data []byte
		want locatePacket
		ok   bool
	}{
		{name: "ethernet ipv4 tcp syn", lt: pcapng.LinkTypeEthernet, data: ipv4TCP,
			want: locatePacket{proto: 6, src: ap("198.19.3.2:40000"), dst: ap("198.18.7.2:4444"), tcpFlags: packet.TCPFlagSYN}, ok: true},
		{name: "ethernet ipv4 tcp syn-ack", lt: pcapng.LinkTypeEthernet,
			data: locateTestFrame(t, eth(layers.EthernetTypeIPv4), v4("198.18.7.2", "198.18.7.1", layers.IPProtocolTCP), synack),
			want: locatePacket{proto: 6, src: ap("198.18.7.2:4444"), dst: ap("198.18.7.1:40000"), tcpFlags: packet.TCPFlagSYN | packet.TCPFlagACK}, ok: true},
		{name: "802.1Q ipv4 udp", lt: pcapng.LinkTypeEthernet,
			data: locateTestFrame(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4},
				v4("198.19.3.2", "198.18.7.2", layers.IPProtocolUDP), udp),
			want: locatePacket{proto: 17, src: ap("198.19.3.2:41000"), dst: ap("198.18.7.2:5555")}, ok: true},
		{name: "raw ipv6 udp", lt: pcapng.LinkTypeRaw,
			data: locateTestFrame(t, v6("2001:db8::2", "2001:db8:7::2", layers.IPProtocolUDP), udp),
			want: locatePacket{proto: 17, src: ap("[2001:db8::2]:41000"), dst: ap("[2001:db8:7::2]:5555")}, ok: true},
		{name: "ipv6 hop-by-hop then tcp", lt: pcapng.LinkTypeEthernet,
			data: locateTestFrame(t, eth(layers.EthernetTypeIPv6), v6("2001:db8::2", "2001:db8:7::2", layers.IPProtocolIPv6HopByHop),
				hopByHop, syn),
			want: locatePacket{proto: 6, src: ap("[2001:db8::2]:40000"), dst: ap("[2001:db8:7::2]:4444"), tcpFlags: packet.TCPFlagSYN}, ok: true},
		{name: "ipv4 fragment after the first", lt: pcapng.LinkTypeEthernet,
			data: locateTestFrame(t, eth(layers.EthernetTypeIPv4), frag, gopacket.Payload(make([]byte, 16)))},
		{name: "icmp", lt: pcapng.LinkTypeEthernet,
			data: locateTestFrame(t, eth(layers.EthernetTypeIPv4), v4("198.19.3.2", "198.18.7.2", layers.IPProtocolICMPv4),
				&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})},
		{name: "arp", lt: pcapng.LinkTypeEthernet,
			data: locateTestFrame(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: 1, Protocol: 0x800, HwAddressSize: 6, ProtAddressSize: 4,
				SourceHwAddress: mac, SourceProtAddress: []byte{1, 2, 3, 4}, DstHwAddress: mac, DstProtAddress: []byte{1, 2, 3, 5}})},
		{name: "truncated in the tcp header", lt: pcapng.LinkTypeEthernet, data: ipv4TCP[:14+20+10]},
		{name: "truncated in the ip header", lt: pcapng.LinkTypeEthernet, data: ipv4TCP[:14+12]},
		{name: "ipv4 header length below 20", lt: pcapng.LinkTypeRaw, data: append([]byte{0x44}, ipv4TCP[15:]...)},
		{name: "empty", lt: pcapng.LinkTypeRaw},
		{name: "three vlan tags", lt: pcapng.LinkTypeEthernet, data: threeTags,
			want: locatePacket{proto: 17, src: ap("198.19.3.2:41000"), dst: ap("198.18.7.2:5555")}, ok: true},
		{name: "ipv6 ah then tcp", lt: pcapng.LinkTypeEthernet, data: ah,
			want: locatePacket{proto: 6, src: ap("[2001:db8::2]:40000"), dst: ap("[2001:db8:7::2]:4444"), tcpFlags: packet.TCPFlagSYN}, ok: true},
		{name: "ip length ends before the ports", lt: pcapng.LinkTypeEthernet, data: shortIP},
		{name: "tcp cut before its flags", lt: pcapng.LinkTypeRaw, data: ipv4TCP[14 : 14+20+13]},
		{name: "tcp up to its flags", lt: pcapng.LinkTypeRaw, data: ipv4TCP[14 : 14+20+14],
			want: locatePacket{proto: 6, src: ap("198.19.3.2:40000"), dst: ap("198.18.7.2:4444"), tcpFlags: packet.TCPFlagSYN}, ok: true},
		{name: "unknown link type", lt: 999, data: ipv4TCP},
	}
	for _, tt := range tests {
		got, ok := locateParsePacket(tt.data, tt.lt)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("locateParsePacket(%s, %x) = %v, %v, want %v, %v", tt.name, tt.data, got, ok, tt.want, tt.ok)
		}
	}
	// The DNS answers are read from the UDP payload alone: not the link
	// padding of a short frame after it.
	dns := locateTestFrame(t, eth(layers.EthernetTypeIPv4), v4("198.18.7.53", "198.18.7.2", layers.IPProtocolUDP),
		&layers.UDP{SrcPort: 53, DstPort: 41000}, gopacket.Payload("ab"))
	dns = append(dns, make([]byte, 60-len(dns))...)
	if _, payload, ok := locateParseL4(dns, pcapng.LinkTypeEthernet); !ok || string(payload) != "ab" {
		t.Errorf("locateParseL4(padded udp) = %q, %v, want %q, true", payload, ok, "ab")
	}
}

// FuzzLocateParsePacket feeds the parser hostile frames: it must neither
// panic nor read past them, and what it returns must be TCP or UDP.
func FuzzLocateParsePacket(f *testing.F) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	f.Add(locateTestFrame(f, &layers.Ethernet{SrcMAC: mac, DstMAC: mac, EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 19, 0, 2}, DstIP: net.IP{198, 18, 0, 2}},
		&layers.UDP{SrcPort: 1, DstPort: 2}), uint8(0))
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 0, 64}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, raw uint8) {
		lt := pcapng.LinkTypeEthernet
		if raw&1 == 1 {
			lt = pcapng.LinkTypeRaw
		}
		p, ok := locateParsePacket(data, lt)
		if ok && (p.proto != 6 && p.proto != 17 || !p.src.Addr().IsValid() || !p.dst.Addr().IsValid()) {
			t.Errorf("locateParsePacket(%x) = %v, ok, want a TCP or UDP flow", data, p)
		}
	})
}

func TestLocatePacketFilter(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"198.51.100.7", "host 198.51.100.7"},
		{"198.51.100.0/24", "net 198.51.100.0/24"},
		{"2001:db8::/32", "net 2001:db8::/32"},
		{"2001:db8::7", "host 2001:db8::7"},
	}
	for _, tt := range tests {
		tg, err := ParseTarget(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		got := locatePacketFilter(tg)
		if got != tt.want {
			t.Errorf("locatePacketFilter(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if err := capture.CheckFilter(got); err != nil {
			t.Errorf("locatePacketFilter(%q) = %q, which does not compile: %v", tt.in, got, err)
		}
	}
	two := Target{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.7/32"), netip.MustParsePrefix("2001:db8::7/128")}}
	if got, want := locatePacketFilter(two), "host 198.51.100.7 or host 2001:db8::7"; got != want {
		t.Errorf("locatePacketFilter(%v) = %q, want %q", two.Prefixes, got, want)
	}
	// A domain's answers come in too, and the addresses they add.
	dom := Target{Domain: "c2.evil.example", Prefixes: two.Prefixes[:1], live: newLocateLive()}
	if !dom.addAnswered(netip.MustParseAddr("198.18.7.2")) || dom.addAnswered(netip.MustParseAddr("198.18.7.2")) {
		t.Errorf("addAnswered(198.18.7.2) twice: want true, then false")
	}
	got := locatePacketFilter(dom)
	if want := "host 198.51.100.7 or host 198.18.7.2 or (udp and src port 53)"; got != want {
		t.Errorf("locatePacketFilter(%s + answer) = %q, want %q", dom.Domain, got, want)
	}
	if err := capture.CheckFilter(got); err != nil {
		t.Errorf("locatePacketFilter(%s) = %q, which does not compile: %v", dom.Domain, got, err)
	}
	if !dom.Contains(netip.MustParseAddr("198.18.7.2")) || dom.Contains(netip.MustParseAddr("198.18.7.3")) {
		t.Errorf("Contains after addAnswered(198.18.7.2): want 198.18.7.2 only")
	}
}

// testLocatePacketSource runs the packet source alone while the beacons
// run: each flow is seen on the container's veth (naming the container),
// on the network's bridge, and on the C2 link, an uplink where the
// masqueraded flow is traced back to the container through conntrack.
func testLocatePacketSource(t *testing.T, sc *e2etest.Scenario, others ...e2etest.Container) {
	target, _ := ParseTarget(sc.C2Addr.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := make(chan FlowEvent, 1024)
	runErr := make(chan error, 1)
	start := time.Now()
	go func() { runErr <- PacketEvents().Run(ctx, target, events) }()
	ours := map[netip.Addr]bool{sc.Beacon.IP: true}
	for _, c := range others {
		if c.IP.IsValid() {
			ours[c.IP] = true
		}
	}
	var veth, bridge, uplink, udp *FlowEvent
	var all []FlowEvent
wait:
	for veth == nil || bridge == nil || uplink == nil || udp == nil {
		select {
		case ev := <-events:
			all = append(all, ev)
			if ev.Source != SourcePacket || ev.Remote.Addr() != sc.C2Addr || !ours[ev.Local.Addr()] {
				t.Errorf("packet event %+v: want a flow of a scenario beacon to %s by %s", ev, sc.C2Addr, SourcePacket)
				continue
			}
			if ev.Local.Addr() != sc.Beacon.IP {
				continue
			}
			switch {
			case ev.ContainerID == sc.Beacon.ID && veth == nil:
				veth = &ev
			case ev.Iface == sc.BridgeName && ev.ContainerID == "" && bridge == nil:
				bridge = &ev
			case ev.Iface == sc.HostVeth && uplink == nil && ev.Proto == "tcp":
				uplink = &ev
				t.Logf("first uplink flow after %v: %+v", time.Since(start), ev)
			}
			if ev.Proto == "udp" && ev.Remote.Port() == sc.C2UDPPort && udp == nil {
				udp = &ev
			}
		case <-ctx.Done():
			break wait
		}
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Errorf("PacketEvents().Run: %v", err)
	}
	if veth == nil || bridge == nil || uplink == nil || udp == nil {
		t.Fatalf("packet events of %s: veth %v, bridge %s %v, uplink %s %v, udp %v; want all; events:\n%+v",
			sc.Beacon.Name, veth != nil, sc.BridgeName, bridge != nil, sc.HostVeth, uplink != nil, udp != nil, all)
	}
	if uplink.NAT.Addr() != sc.HostAddr || uplink.Direction != "outbound" || !strings.Contains(uplink.Note, "NAT reversed through conntrack") {
		t.Errorf("uplink flow %+v: want NAT %s reversed through conntrack to %s, outbound", uplink, sc.HostAddr, sc.Beacon.IP)
	}
	if veth.Direction != "outbound" || veth.Remote.Port() != sc.C2TCPPort && veth.Remote.Port() != sc.C2UDPPort && veth.Remote.Port() != sc.C2DNSPort {
		t.Errorf("veth flow %+v: want outbound to a C2 port", veth)
	}
}

// testLocateDomainWatch watches the scenario's domain with a resolver that
// gives a decoy address nobody talks to (no query leaves the machine): the
// beacon's lookups, answered by the C2's DNS server, must add the C2's
// address, and the beacon's flows to it must then be reported.
func testLocateDomainWatch(t *testing.T, sc *e2etest.Scenario) {
	decoy := netip.AddrFrom4([4]byte{198, 18, sc.C2Prefix.Addr().As4()[2], 3}) // the /30's broadcast
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host != sc.Domain {
			return nil, fmt.Errorf("%s: no such host", host)
		}
		return []netip.Addr{decoy}, nil
	}
	target, err := ParseTarget(sc.Domain)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var log locateSyncBuffer
	var got []Contact
	start := time.Now()
	var at time.Duration
	errs := Watch(ctx, target, Options{Resolve: resolve, Log: &log}, func(c Contact) {
		got = append(got, c)
		if c.ContainerID == sc.Beacon.ID && c.Remote.Addr() == sc.C2Addr && at == 0 {
			at = time.Since(start)
			cancel()
		}
	})
	for _, err := range errs {
		t.Errorf("Watch gap: %v", err)
	}
	t.Logf("log:\n%s", log.String())
	if at == 0 {
		t.Fatalf("no contact of %s with %s after its DNS answer; contacts:\n%s", sc.Beacon.Name, sc.C2Addr, locateDump(got))
	}
	t.Logf("%s's flow to %s reported %v after the watch started", sc.Beacon.Name, sc.C2Addr, at)
	want := fmt.Sprintf("%s is %s: added to the target", sc.Domain, sc.C2Addr)
	if !strings.Contains(log.String(), want) {
		t.Errorf("log does not say %q:\n%s", want, log.String())
	}
}

// locateSyncBuffer is a strings.Builder safe for the watch's goroutines.
type locateSyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *locateSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *locateSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLocateDNSAnswers(t *testing.T) {
	name := func(s string) dnsmessage.Name { return dnsmessage.MustNewName(s) }
	type rr struct {
		owner, cname string
		addr         string
	}
	msg := func(h dnsmessage.Header, answers ...rr) []byte {
		b := dnsmessage.NewBuilder(nil, h)
		b.EnableCompression()
		if err := b.StartQuestions(); err != nil {
			t.Fatal(err)
		}
		if err := b.Question(dnsmessage.Question{Name: name("c2.evil.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}); err != nil {
			t.Fatal(err)
		}
		if err := b.StartAnswers(); err != nil {
			t.Fatal(err)
		}
		for _, a := range answers {
			rh := dnsmessage.ResourceHeader{Name: name(a.owner), Class: dnsmessage.ClassINET, TTL: 60}
			var err error
			switch ip := netip.MustParseAddr(cmp.Or(a.addr, "0.0.0.0")); {
			case a.cname != "":
				err = b.CNAMEResource(rh, dnsmessage.CNAMEResource{CNAME: name(a.cname)})
			case ip.Is4():
				err = b.AResource(rh, dnsmessage.AResource{A: ip.As4()})
			default:
				err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: ip.As16()})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		out, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	resp := dnsmessage.Header{ID: 1, Response: true}
	addrs := func(s ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	full := msg(resp, rr{owner: "c2.evil.example.", addr: "198.18.7.2"}, rr{owner: "c2.evil.example.", addr: "2001:db8::7"})
	tests := []struct {
		name string
		msg  []byte
		want []netip.Addr
	}{
		{"a and aaaa", full, addrs("198.18.7.2", "2001:db8::7")},
		{"through a cname, in any order", msg(resp, rr{owner: "cdn.example.", addr: "198.18.7.9"},
			rr{owner: "C2.Evil.Example.", cname: "cdn.example."}), addrs("198.18.7.9")},
		{"another name", msg(resp, rr{owner: "other.example.", addr: "198.18.7.3"}), nil},
		{"a cname loop", msg(resp, rr{owner: "c2.evil.example.", cname: "a.example."}, rr{owner: "a.example.", cname: "c2.evil.example."}), nil},
		{"not a response", msg(dnsmessage.Header{ID: 1}, rr{owner: "c2.evil.example.", addr: "198.18.7.2"}), nil},
		{"nxdomain", msg(dnsmessage.Header{ID: 1, Response: true, RCode: dnsmessage.RCodeNameError}), nil},
		{"cut in the second record", full[:len(full)-4], addrs("198.18.7.2")},
		{"garbage", []byte("\x00\x01not dns"), nil},
		// The target is a domain as an indicator is: the names under it too.
		{"a name under the domain", msg(resp, rr{owner: "www.c2.evil.example.", addr: "198.18.7.4"},
			rr{owner: "notc2.evil.example.", addr: "198.18.7.5"}), addrs("198.18.7.4")},
		{"a cname from a name under the domain", msg(resp, rr{owner: "cdn.example.", addr: "198.18.7.9"},
			rr{owner: "api.c2.evil.example.", cname: "cdn.example."}), addrs("198.18.7.9")},
	}
	target, err := ParseTarget("*.c2.evil[.]example")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		got := locateDNSAnswers(tt.msg, target.MatchName)
		if !slices.Equal(got, tt.want) {
			t.Errorf("locateDNSAnswers(%s, %x) = %v, want %v", tt.name, tt.msg, got, tt.want)
		}
	}
}
