package e2etest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	"github.com/vishvananda/netlink"
)

// Defaults of ScenarioOptions.
const (
	// DefaultDomain is the C2's domain with the scenario's ID in front
	// (c2-<ID>.evil.example): scenarios of tests running side by side must
	// not see each other's lookups, since captures see every bridge.
	DefaultDomain   = "evil.example"
	DefaultTCPPort  = 4444
	DefaultUDPPort  = 5555
	DefaultInterval = 500 * time.Millisecond
)

const (
	// LabelScenario is the label on every container and network of a
	// scenario; its value is the scenario's ID. Cleanup finds leftovers by it.
	LabelScenario = "dce.scenario"
	// LabelRole is the label holding a container's role in the scenario.
	LabelRole = "dce.role"

	// httpPort is the port the HTTP-serving containers listen on.
	httpPort = 8080
	// dnsPort is where the C2's DNS server listens: the port resolv.conf
	// implies, since a nameserver line has no port.
	dnsPort = 53

	// setupTimeout bounds the whole scenario start-up.
	setupTimeout = 60 * time.Second
	// cleanupTimeout bounds the teardown, which must finish even when the
	// engine is slow, so the next test run starts clean.
	cleanupTimeout = 60 * time.Second
	// listenerReadyTimeout bounds the wait for the C2 listener's ready line.
	listenerReadyTimeout = 10 * time.Second
	// containerReadyTimeout bounds the wait for a started container's
	// workload to log that it is ready.
	containerReadyTimeout = 20 * time.Second
	// stopTimeoutSeconds is the grace period of the stopped container: the
	// workload exits on SIGTERM at once.
	stopTimeoutSeconds = 2

	// maxC2LogBytes bounds the read of the C2 log. A line is at most about
	// 600 bytes (data is capped by the workload); this holds hours of beacons.
	maxC2LogBytes = 64 << 20
	// maxContainerLogBytes bounds the read of one container's log.
	maxContainerLogBytes = 16 << 20
	// maxAddrPicks bounds the tries to find a free C2 /30 or bridge /24.
	maxAddrPicks = 20
)

// ScenarioOptions tunes the scenario; the zero value is the scenario.
type ScenarioOptions struct {
	// Domain is the name the C2's DNS server answers with the C2 address and
	// the beaconing container looks up every interval. Default
	// c2-<ID>.DefaultDomain.
	Domain string
	// TCPPort and UDPPort are the C2 listener's beacon ports.
	TCPPort, UDPPort uint16
	// Interval is the time between beacons and between lookups.
	Interval time.Duration
	// BeaconArgs are appended to the beaconing container's command line after
	// its flags. The workload ignores them, so a test can give the process a
	// command line of any shape (a reverse shell, say) without it doing more.
	BeaconArgs []string
	// EngineHost is the engine the scenario runs its containers on
	// (unix:///run/dce-podman-netavark.sock, say); "" is the Docker engine
	// of RequireDocker. An engine whose version answer names Podman gets
	// Podman's ways: the ulimits its containers need on hosts with low hard
	// limits, its bridge names from its own network data, and the NETAVARK*
	// and CNI-* chains it leaves in the host's tables removed at cleanup.
	EngineHost string
}

// Container is one container of the scenario as it was when it started.
type Container struct {
	Role    string // "beacon", "bridge", "published", "stopped", or the name given to StartBeacon/StartContainer
	Name    string // dce-<role>-<scenario ID>
	ID      string
	Network string // network name: the scenario's dce-net-<ID>, or "bridge" for the default bridge
	IP      netip.Addr
	Gateway netip.Addr
	MAC     string
	Pid     int      // host PID of the main process while it ran (the stopped container's too)
	Cmd     []string // the command line it was started with
	// HostPort is the port published on 127.0.0.1 for the container's HTTP
	// port 8080; zero unless the container publishes it.
	HostPort uint16
}

// ContainerSpec describes a container a test adds with StartContainer.
type ContainerSpec struct {
	// Cmd is the command line; the default is the idle workload.
	Cmd []string
	// DefaultBridge puts the container on docker0 instead of the scenario's
	// user-defined network.
	DefaultBridge bool
	// IP, when valid, is the container's fixed address on the scenario's
	// user-defined network (docker run --ip); it must be in Subnet.
	IP netip.Addr
	// Adjust, when set, changes the create request before it is sent
	// (capabilities, mounts, PID mode, ports). The image, the C2 as only DNS
	// server and the scenario labels are enforced afterwards.
	Adjust func(*container.Config, *container.HostConfig)
}

// Event is one line the workload logged: a contact seen by the C2 listener
// (Kind "contact", Proto "tcp", "udp" or "dns"), a lookup in a container (Kind
// "resolve", Data the name, Addrs the answer), and so on.
type Event struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"event"`
	Name   string    `json:"name"`
	Proto  string    `json:"proto"`
	Local  string    `json:"local"`
	Remote string    `json:"remote"`
	Data   string    `json:"data"`
	Addrs  []string  `json:"addrs"`
	Err    string    `json:"err"`
}

// RemoteAddr returns the parsed remote address, or the zero AddrPort.
func (e Event) RemoteAddr() netip.AddrPort {
	ap, _ := netip.ParseAddrPort(e.Remote)
	return ap
}

// Scenario is the running end-to-end scenario. Its fields are what tests
// assert on; they are set by NewScenario and not changed afterwards.
type Scenario struct {
	ID    string // random hex suffix of every name
	Image string // workload image reference

	// The C2 host: a network namespace joined to the host by a veth.
	NetNS     string     // dce-c2-<ID>
	HostVeth  string     // host side of the veth, dcec2h<ID>
	C2Veth    string     // C2 side, inside NetNS
	HostAddr  netip.Addr // 198.18.<n>.1, the masqueraded source the C2 sees
	C2Addr    netip.Addr // 198.18.<n>.2
	C2Prefix  netip.Prefix
	C2TCPPort uint16
	C2UDPPort uint16
	C2DNSPort uint16
	Domain    string // answered by the C2's DNS server with C2Addr
	Interval  time.Duration

	// The user-defined bridge network.
	NetworkID   string
	NetworkName string // dce-net-<ID>
	BridgeName  string // br-<first 12 of NetworkID>
	Subnet      netip.Prefix
	Gateway     netip.Addr

	Beacon    Container // on NetworkName, beaconing to the C2 over TCP and UDP, resolving Domain
	Published Container // on NetworkName, HTTP on 8080 published on 127.0.0.1:HostPort
	Bridge    Container // on the default bridge, serving HTTP, never contacted
	Stopped   Container // on the default bridge, started and stopped before NewScenario returns

	// EngineHost is ScenarioOptions.EngineHost; Podman says the engine
	// there is Podman.
	EngineHost string
	Podman     bool

	t        testing.TB
	cli      *client.Client
	firewall *FirewallSnapshot // before the scenario, on Podman
	// newBridges are Podman's bridges that did not exist before the
	// scenario: CNI leaves its bridges when their containers go.
	newBridges []string

	dir      string // temp dir: C2 binary and log
	c2Log    string
	c2Cmd    *exec.Cmd
	c2Exited chan struct{}

	mu         sync.Mutex
	containers []Container // started, in order
	createdIDs []string    // every ID the engine returned, for cleanup
	networkIDs []string

	cleanupOnce sync.Once
}

// NewScenario brings up the scenario of the end-to-end issue and registers
// its Cleanup with t.Cleanup before creating anything. It skips the test (or
// fails it under CI=true) without root or a Docker engine. The C2 route is
// checked before any container starts: `ip route get` for the C2 address must
// name the scenario's own veth.
func NewScenario(t testing.TB, opts ScenarioOptions) *Scenario {
	t.Helper()
	start := time.Now()
	if os.Geteuid() != 0 {
		skipOrFail(t, "the end-to-end scenario needs root (network namespaces, veth, docker), euid %d", os.Geteuid())
	}
	if _, err := exec.LookPath("ip"); err != nil {
		skipOrFail(t, "the end-to-end scenario needs the ip command (iproute2): %v", err)
	}
	var cli *client.Client
	if opts.EngineHost == "" {
		RequireDocker(t)
		cli = DockerClient(t)
	} else {
		var err error
		if cli, err = engineClient(opts.EngineHost); err != nil {
			skipOrFail(t, "engine %s unavailable: %v", opts.EngineHost, err)
		}
		t.Cleanup(func() { cli.Close() })
	}
	var phases []string
	last := start
	phase := func(name string) {
		phases = append(phases, fmt.Sprintf("%s %v", name, time.Since(last).Round(time.Millisecond)))
		last = time.Now()
	}
	s := &Scenario{
		t:          t,
		cli:        cli,
		EngineHost: opts.EngineHost,
		ID:         scenarioRandHex(3),
		Domain:     opts.Domain,
		C2TCPPort:  opts.TCPPort,
		C2UDPPort:  opts.UDPPort,
		C2DNSPort:  dnsPort,
		Interval:   opts.Interval,
	}
	if s.Domain == "" {
		s.Domain = "c2-" + s.ID + "." + DefaultDomain
	}
	if s.C2TCPPort == 0 {
		s.C2TCPPort = DefaultTCPPort
	}
	if s.C2UDPPort == 0 {
		s.C2UDPPort = DefaultUDPPort
	}
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	s.NetNS = "dce-c2-" + s.ID
	s.HostVeth = "dcec2h" + s.ID
	s.C2Veth = "dcec2c" + s.ID
	s.NetworkName = "dce-net-" + s.ID
	if opts.EngineHost != "" {
		vctx, vcancel := context.WithTimeout(context.Background(), pingTimeout)
		podman, err := isPodman(vctx, cli)
		vcancel()
		if err != nil {
			t.Fatalf("scenario %s: %v", s.ID, err)
		}
		s.Podman = podman
	}
	if s.Podman {
		// Before anything of ours reaches the engine: the chains that are
		// not in this snapshot are the scenario's to remove.
		fw, err := SnapshotFirewall()
		if err != nil {
			t.Fatalf("scenario %s: %v", s.ID, err)
		}
		s.firewall = fw
		bctx, bcancel := context.WithTimeout(context.Background(), pingTimeout)
		br, err := podmanBridge(bctx, cli, "podman")
		bcancel()
		if err != nil {
			t.Fatalf("scenario %s: the default network's bridge: %v", s.ID, err)
		}
		if _, err := netlink.LinkByName(br); err != nil {
			s.newBridges = append(s.newBridges, br)
		}
	}
	// Registered before the scenario's Cleanup, released after it: the
	// containers are gone when a test that wants the host alone starts.
	if err := shareHost(t); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Cleanup)

	// The image build (a go build, even when cached, takes seconds on a
	// loaded machine) overlaps the link and network setup.
	type imageResult struct {
		ref string
		err error
	}
	imageDone := make(chan imageResult, 1)
	go func() {
		ref, err := workloadImageIn(cli, opts.EngineHost)
		imageDone <- imageResult{ref, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := s.setupC2(); err != nil {
		t.Fatalf("scenario %s: %v", s.ID, err)
	}
	// The hard rule: nothing is sent to the C2 before its route is ours.
	if err := s.checkC2Route(); err != nil {
		t.Fatalf("scenario %s: %v", s.ID, err)
	}
	phase("c2 link")
	if err := s.createNetwork(ctx); err != nil {
		t.Fatalf("scenario %s: %v", s.ID, err)
	}
	phase("network")
	img := <-imageDone
	if img.err != nil {
		t.Fatalf("scenario %s: workload image: %v", s.ID, img.err)
	}
	s.Image = img.ref
	phase("image")
	if err := s.startC2Listener(); err != nil {
		t.Fatalf("scenario %s: %v", s.ID, err)
	}
	phase("c2 listener")
	if err := s.startRoles(ctx, opts); err != nil {
		t.Fatalf("scenario %s: %v", s.ID, err)
	}
	phase("containers")
	t.Logf("scenario %s up in %v (%s): C2 %s via %s, network %s (%s, %s)", s.ID,
		time.Since(start).Round(time.Millisecond), strings.Join(phases, ", "),
		s.C2Addr, s.HostVeth, s.NetworkName, s.Subnet, s.BridgeName)
	return s
}

// scenarioRandHex returns n random bytes as hex.
func scenarioRandHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

// scenarioRandByte returns a random number in [lo, hi].
func scenarioRandByte(lo, hi int) int {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return lo + int(binary.BigEndian.Uint16(b[:]))%(hi-lo+1)
}

// ipCmd runs the ip command and returns its output, the output being part of
// the error when it fails.
func ipCmd(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return string(out), nil
}

// hostPrefixInUse reports what on the host already overlaps p: an address
// or a route of the main table. Picking a free prefix keeps the scenario
// from shadowing, or being shadowed by, a network that is not ours.
func hostPrefixInUse(p netip.Prefix) (string, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		q, ok := ipNetPrefix(a.IPNet)
		if ok && q.Overlaps(p) {
			return "address " + q.String(), nil
		}
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue // the default route: every prefix overlaps it
		}
		q, ok := ipNetPrefix(r.Dst)
		if ok && q.Bits() > 0 && q.Overlaps(p) {
			return "route " + q.String(), nil
		}
	}
	return "", nil
}

func ipNetPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones).Masked(), true
}

// setupC2 creates the C2 namespace and its veth, on a /30 of 198.18.0.0/16
// that nothing on the host uses yet.
func (s *Scenario) setupC2() error {
	p, release, err := LinkPrefix()
	if err != nil {
		return fmt.Errorf("the C2 link: %w", err)
	}
	defer release() // once the host address is on the veth, below
	a := p.Addr().As4()
	s.C2Prefix = p
	s.HostAddr = netip.AddrFrom4([4]byte{a[0], a[1], a[2], 1})
	s.C2Addr = netip.AddrFrom4([4]byte{a[0], a[1], a[2], 2})
	steps := [][]string{
		{"netns", "add", s.NetNS},
		{"link", "add", s.HostVeth, "type", "veth", "peer", "name", s.C2Veth, "netns", s.NetNS},
		{"addr", "add", s.HostAddr.String() + "/30", "dev", s.HostVeth},
		{"link", "set", s.HostVeth, "up"},
		{"-n", s.NetNS, "link", "set", "lo", "up"},
		{"-n", s.NetNS, "addr", "add", s.C2Addr.String() + "/30", "dev", s.C2Veth},
		{"-n", s.NetNS, "link", "set", s.C2Veth, "up"},
		{"-n", s.NetNS, "route", "add", "default", "via", s.HostAddr.String()},
	}
	for _, args := range steps {
		if _, err := ipCmd(args...); err != nil {
			return fmt.Errorf("set up C2 link: %w", err)
		}
	}
	return nil
}

// checkC2Route asserts that the host routes the C2 address through the
// scenario's own veth, directly, and that no other link holds an address of
// the C2 /30 (two links on one prefix would make the route a coin toss).
func (s *Scenario) checkC2Route() error {
	out, err := ipCmd("route", "get", s.C2Addr.String())
	if err != nil {
		return fmt.Errorf("check C2 route: %w", err)
	}
	dev, via := routeGetFields(out)
	if dev != s.HostVeth || via != "" {
		return fmt.Errorf("check C2 route: ip route get %s = %q, want dev %s without a gateway; refusing to send anything",
			s.C2Addr, strings.TrimSpace(out), s.HostVeth)
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("check C2 route: %w", err)
	}
	for _, a := range addrs {
		q, ok := ipNetPrefix(a.IPNet)
		if !ok || !q.Overlaps(s.C2Prefix) {
			continue
		}
		if l, err := netlink.LinkByIndex(a.LinkIndex); err != nil || l.Attrs().Name != s.HostVeth {
			return fmt.Errorf("check C2 route: another link (index %d) holds an address in %s", a.LinkIndex, s.C2Prefix)
		}
	}
	return nil
}

// routeGetFields returns the dev and via fields of `ip route get` output.
func routeGetFields(out string) (dev, via string) {
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "dev":
			dev = f[i+1]
		case "via":
			via = f[i+1]
		}
	}
	return dev, via
}

// startC2Listener runs the workload in the C2 namespace as the TCP and UDP
// beacon listener and the DNS server, and waits for its ready line.
func (s *Scenario) startC2Listener() error {
	dir, err := os.MkdirTemp("", "dce-c2-"+s.ID+"-")
	if err != nil {
		return fmt.Errorf("start C2 listener: %w", err)
	}
	s.dir = dir
	bin := filepath.Join(dir, "workload")
	if err := os.WriteFile(bin, workloadBinary(s.t), 0o755); err != nil {
		return fmt.Errorf("start C2 listener: %w", err)
	}
	s.c2Log = filepath.Join(dir, "c2.log")
	logf, err := os.Create(s.c2Log)
	if err != nil {
		return fmt.Errorf("start C2 listener: %w", err)
	}
	defer logf.Close() // the child holds its own descriptor
	c2 := s.C2Addr.String()
	cmd := exec.Command("ip", "netns", "exec", s.NetNS, bin, "-name", "c2",
		"-listen-tcp", net.JoinHostPort(c2, strconv.Itoa(int(s.C2TCPPort))),
		"-listen-udp", net.JoinHostPort(c2, strconv.Itoa(int(s.C2UDPPort))),
		"-dns-serve", net.JoinHostPort(c2, strconv.Itoa(int(s.C2DNSPort))),
		"-dns-answer", s.Domain+"="+c2)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start C2 listener: %w", err)
	}
	s.c2Cmd = cmd
	s.c2Exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.c2Exited) }()

	deadline := time.Now().Add(listenerReadyTimeout)
	for time.Now().Before(deadline) {
		evs, err := readEvents(s.c2Log, maxC2LogBytes)
		if err != nil {
			return fmt.Errorf("start C2 listener: %w", err)
		}
		for _, e := range evs {
			if e.Kind == "ready" {
				return nil
			}
		}
		select {
		case <-s.c2Exited:
			b, _ := os.ReadFile(s.c2Log)
			return fmt.Errorf("C2 listener exited: %s", bytes.TrimSpace(b))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("C2 listener not ready after %v", listenerReadyTimeout)
}

// createNetwork creates the user-defined bridge network on a free
// 198.19.<m>.0/24.
func (s *Scenario) createNetwork(ctx context.Context) error {
	for i := 0; i < maxAddrPicks; i++ {
		m := scenarioRandByte(1, 254)
		subnet := netip.MustParsePrefix(fmt.Sprintf("198.19.%d.0/24", m))
		if used, err := hostPrefixInUse(subnet); err != nil {
			return err
		} else if used != "" {
			continue
		}
		gw := netip.AddrFrom4([4]byte{198, 19, byte(m), 1})
		resp, err := s.cli.NetworkCreate(ctx, s.NetworkName, network.CreateOptions{
			Driver: "bridge",
			IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet.String(), Gateway: gw.String()}}},
			Labels: map[string]string{LabelScenario: s.ID},
		})
		if err != nil {
			// Another network took this subnet since we looked: pick again.
			if strings.Contains(err.Error(), "overlap") {
				continue
			}
			return fmt.Errorf("create network %s: %w", s.NetworkName, err)
		}
		s.mu.Lock()
		s.networkIDs = append(s.networkIDs, resp.ID)
		s.mu.Unlock()
		s.NetworkID = resp.ID
		s.BridgeName = "br-" + resp.ID[:12]
		if s.Podman {
			if s.BridgeName, err = podmanBridge(ctx, s.cli, s.NetworkName); err != nil {
				return fmt.Errorf("create network %s: %w", s.NetworkName, err)
			}
			s.mu.Lock()
			s.newBridges = append(s.newBridges, s.BridgeName)
			s.mu.Unlock()
		}
		s.Subnet = subnet
		s.Gateway = gw
		return nil
	}
	return errors.New("create network: no free 198.19.<m>.0/24")
}

// startRoles starts the four containers of the scenario in parallel.
func (s *Scenario) startRoles(ctx context.Context, opts ScenarioOptions) error {
	type job struct {
		role string
		spec ContainerSpec
		stop bool
		dst  *Container
	}
	jobs := []job{
		{role: "beacon", spec: ContainerSpec{Cmd: append(s.beaconCmd("dce-beacon-"+s.ID), opts.BeaconArgs...)}, dst: &s.Beacon},
		{role: "published", spec: ContainerSpec{Cmd: s.httpCmd("dce-published-" + s.ID), Adjust: publishHTTP}, dst: &s.Published},
		{role: "bridge", spec: ContainerSpec{Cmd: s.httpCmd("dce-bridge-" + s.ID), DefaultBridge: true}, dst: &s.Bridge},
		{role: "stopped", spec: ContainerSpec{Cmd: []string{"/workload", "-name", "dce-stopped-" + s.ID}, DefaultBridge: true},
			stop: true, dst: &s.Stopped},
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.runContainer(ctx, j.role, j.spec)
			if err == nil && j.stop {
				err = s.stopContainer(ctx, c)
			}
			*j.dst = c
			errs[i] = err
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Scenario) beaconCmd(name string) []string {
	c2 := s.C2Addr.String()
	return []string{"/workload", "-name", name,
		"-beacon-tcp", net.JoinHostPort(c2, strconv.Itoa(int(s.C2TCPPort))),
		"-beacon-udp", net.JoinHostPort(c2, strconv.Itoa(int(s.C2UDPPort))),
		"-interval", s.Interval.String(),
		"-resolve", s.Domain}
}

func (s *Scenario) httpCmd(name string) []string {
	return []string{"/workload", "-name", name, "-serve", ":" + strconv.Itoa(httpPort)}
}

// publishHTTP publishes the HTTP port on loopback only, on a port the engine
// picks: nothing outside the machine can reach it.
func publishHTTP(cfg *container.Config, hc *container.HostConfig) {
	p := nat.Port(strconv.Itoa(httpPort) + "/tcp")
	cfg.ExposedPorts = nat.PortSet{p: struct{}{}}
	hc.PortBindings = nat.PortMap{p: {{HostIP: "127.0.0.1", HostPort: ""}}}
}

// StartBeacon starts one more container on the scenario's network that
// beacons to the C2 like the Beacon container, named dce-<name>-<ID> with role
// name, and returns it running. It fails t on error.
func (s *Scenario) StartBeacon(t testing.TB, name string) Container {
	t.Helper()
	return s.StartContainer(t, name, ContainerSpec{Cmd: s.beaconCmd("dce-" + name + "-" + s.ID)})
}

// StartContainer starts a container of the workload image named
// dce-<name>-<ID> with role name, with the C2 as its only DNS server, and
// returns it running. It fails t on error; the scenario's Cleanup removes
// the container.
func (s *Scenario) StartContainer(t testing.TB, name string, spec ContainerSpec) Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c, err := s.runContainer(ctx, name, spec)
	if err != nil {
		t.Fatalf("scenario %s: %v", s.ID, err)
	}
	return c
}

// runContainer creates and starts one container and records it for cleanup
// as soon as the engine returns its ID.
func (s *Scenario) runContainer(ctx context.Context, role string, spec ContainerSpec) (Container, error) {
	name := "dce-" + role + "-" + s.ID
	cmd := spec.Cmd
	if len(cmd) == 0 {
		cmd = []string{"/workload", "-name", name}
	}
	netName := s.NetworkName
	if spec.DefaultBridge {
		netName = "bridge"
	}
	cfg := &container.Config{Image: s.Image, Cmd: cmd}
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(netName)}
	if spec.Adjust != nil {
		spec.Adjust(cfg, hc)
	}
	// Enforced after Adjust: our image (nothing is pulled), the C2 as the
	// only resolver (no lookup leaves the machine), our labels (cleanup).
	cfg.Image = s.Image
	cfg.Labels = map[string]string{LabelScenario: s.ID, LabelRole: role}
	if !hc.NetworkMode.IsContainer() {
		// A container:X joiner has X's resolv.conf (the C2), and the
		// engine refuses DNS options with that mode.
		hc.DNS = []string{s.C2Addr.String()}
		hc.DNSSearch = []string{"."}
	}
	if s.Podman && hc.Ulimits == nil {
		// Podman's default limits exceed the hard ones of some hosts,
		// where the container then does not start.
		hc.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 4096, Hard: 4096}, {Name: "nproc", Soft: 4096, Hard: 4096}}
	}
	if hc.NetworkMode.IsHost() && slices.Contains(cfg.Cmd, "-resolve") {
		return Container{}, fmt.Errorf("container %s: -resolve in host network mode would use the host's resolvers", name)
	}
	var nc *network.NetworkingConfig
	if hc.NetworkMode == container.NetworkMode(s.NetworkName) {
		ep := &network.EndpointSettings{}
		if spec.IP.IsValid() {
			if !s.Subnet.Contains(spec.IP) {
				return Container{}, fmt.Errorf("container %s: address %s is not in the network's %s", name, spec.IP, s.Subnet)
			}
			ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: spec.IP.String()}
		}
		nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{s.NetworkName: ep}}
	} else if spec.IP.IsValid() {
		return Container{}, fmt.Errorf("container %s: a fixed address needs the scenario's network, not %s", name, hc.NetworkMode)
	}
	resp, err := s.cli.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if resp.ID != "" {
		s.mu.Lock()
		s.createdIDs = append(s.createdIDs, resp.ID)
		s.mu.Unlock()
	}
	if err != nil {
		return Container{}, fmt.Errorf("create container %s: %w", name, err)
	}
	if err := s.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		return Container{}, fmt.Errorf("start container %s: %w", name, err)
	}
	if err := s.waitReady(ctx, resp.ID); err != nil {
		return Container{}, fmt.Errorf("container %s: %w", name, err)
	}
	ins, err := s.cli.ContainerInspect(ctx, resp.ID)
	if err != nil {
		return Container{}, fmt.Errorf("inspect container %s: %w", name, err)
	}
	if ins.State == nil || !ins.State.Running {
		return Container{}, fmt.Errorf("container %s is not running after start: %s", name, s.containerLogTail(ctx, resp.ID))
	}
	c := Container{Role: role, Name: name, ID: resp.ID, Network: string(hc.NetworkMode), Pid: ins.State.Pid, Cmd: cmd}
	if ins.NetworkSettings != nil {
		ep := ins.NetworkSettings.Networks[string(hc.NetworkMode)]
		if ep == nil && len(ins.NetworkSettings.Networks) == 1 {
			// Podman's default network is "podman", which it gives a
			// container asking for "bridge".
			for n, e := range ins.NetworkSettings.Networks {
				c.Network, ep = n, e
			}
		}
		if ep != nil {
			c.IP, _ = netip.ParseAddr(ep.IPAddress)
			c.Gateway, _ = netip.ParseAddr(ep.Gateway)
			c.MAC = ep.MacAddress
		}
		for _, b := range ins.NetworkSettings.Ports[nat.Port(strconv.Itoa(httpPort)+"/tcp")] {
			if p, err := strconv.ParseUint(b.HostPort, 10, 16); err == nil {
				c.HostPort = uint16(p)
			}
		}
	}
	s.mu.Lock()
	s.containers = append(s.containers, c)
	s.mu.Unlock()
	return c, nil
}

// waitReady waits for the workload's ready line in the container's log:
// ContainerStart returns when the process exists, not when its listeners
// accept, and on a loaded machine the gap is long enough for a test to hit it.
func (s *Scenario) waitReady(ctx context.Context, id string) error {
	deadline := time.Now().Add(containerReadyTimeout)
	for {
		b, err := s.containerLog(ctx, id)
		if err != nil {
			return err
		}
		for _, e := range parseEvents(b) {
			switch e.Kind {
			case "ready":
				return nil
			case "fatal":
				return fmt.Errorf("workload failed: %q", e.Err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("workload not ready after %v: %q", containerReadyTimeout, s.containerLogTail(ctx, id))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for workload: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Scenario) stopContainer(ctx context.Context, c Container) error {
	timeout := stopTimeoutSeconds
	if err := s.cli.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &timeout}); err != nil {
		return fmt.Errorf("stop container %s: %w", c.Name, err)
	}
	ins, err := s.cli.ContainerInspect(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("inspect container %s: %w", c.Name, err)
	}
	if ins.State == nil || ins.State.Running {
		return fmt.Errorf("container %s still runs after stop", c.Name)
	}
	return nil
}

func (s *Scenario) containerLogTail(ctx context.Context, id string) string {
	b, err := s.containerLog(ctx, id)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// containerLog returns a container's stdout and stderr, interleaved.
func (s *Scenario) containerLog(ctx context.Context, id string) ([]byte, error) {
	rc, err := s.cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return nil, fmt.Errorf("container logs: %w", err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, io.LimitReader(rc, maxContainerLogBytes)); err != nil {
		return nil, fmt.Errorf("container logs: %w", err)
	}
	return buf.Bytes(), nil
}

// Containers returns every container the scenario started, in start order,
// including the stopped one and those added by StartBeacon and
// StartContainer.
func (s *Scenario) Containers() []Container {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.containers)
}

// Contacts returns what the C2 listener logged so far: one Event of Kind
// "contact" per TCP beacon line, UDP datagram and DNS query (Data "A name.").
// A log it cannot read is reported with Errorf on the scenario's test, which
// is safe from subtests, and gives no contacts.
func (s *Scenario) Contacts() []Event {
	evs, err := readEvents(s.c2Log, maxC2LogBytes)
	if err != nil {
		s.t.Errorf("scenario %s: %v", s.ID, err)
		return nil
	}
	var out []Event
	for _, e := range evs {
		if e.Kind == "contact" {
			out = append(out, e)
		}
	}
	return out
}

// WaitContact waits up to timeout for a C2 contact that match accepts and
// returns it; on timeout it fails t, listing the last contacts seen.
func (s *Scenario) WaitContact(t testing.TB, timeout time.Duration, match func(Event) bool) Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		cs := s.Contacts()
		for _, c := range cs {
			if match(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			if len(cs) > 10 {
				cs = cs[len(cs)-10:]
			}
			t.Fatalf("scenario %s: no matching C2 contact within %v; last contacts: %+v", s.ID, timeout, cs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Events returns what the workload in container c logged so far; it fails t
// when the engine does not give the log.
func (s *Scenario) Events(t testing.TB, c Container) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	b, err := s.containerLog(ctx, c.ID)
	if err != nil {
		t.Fatalf("scenario %s: container %s: %v", s.ID, c.Name, err)
	}
	return parseEvents(b)
}

// Client returns the Docker client the scenario uses.
func (s *Scenario) Client() *client.Client { return s.cli }

// readEvents parses the JSON lines of a workload log file.
func readEvents(path string, max int64) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read workload log: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read workload log: %w", err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("read workload log %s: more than %d bytes", path, max)
	}
	return parseEvents(b), nil
}

// parseEvents parses JSON lines, skipping lines that are not events (a
// partly written last line, a runtime message on stderr).
func parseEvents(b []byte) []Event {
	var out []Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Kind != "" {
			out = append(out, e)
		}
	}
	return out
}

// Cleanup removes everything the scenario created: containers, the network,
// the C2 listener process, the veth, the namespace and the temp dir. NewScenario
// registers it with t.Cleanup; a test may call it earlier (it runs once).
// Failures are reported with t.Errorf after trying every step.
func (s *Scenario) Cleanup() {
	s.cleanupOnce.Do(s.cleanup)
}

func (s *Scenario) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	var errs []error

	s.mu.Lock()
	ids := slices.Clone(s.createdIDs)
	netIDs := slices.Clone(s.networkIDs)
	s.mu.Unlock()
	if s.cli != nil {
		// Also by label: a create whose reply got lost still made a container.
		f := filters.NewArgs(filters.Arg("label", LabelScenario+"="+s.ID))
		if list, err := s.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: f}); err != nil {
			errs = append(errs, fmt.Errorf("list containers: %w", err))
		} else {
			for _, c := range list {
				if !slices.Contains(ids, c.ID) {
					ids = append(ids, c.ID)
				}
			}
		}
		for _, id := range ids {
			err := s.cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
			if err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %.12s: %w", id, err))
			}
		}
		if list, err := s.cli.NetworkList(ctx, network.ListOptions{Filters: f}); err != nil {
			errs = append(errs, fmt.Errorf("list networks: %w", err))
		} else {
			for _, n := range list {
				if !slices.Contains(netIDs, n.ID) {
					netIDs = append(netIDs, n.ID)
				}
			}
		}
		for _, id := range netIDs {
			if err := s.cli.NetworkRemove(ctx, id); err != nil && !cerrdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove network %.12s: %w", id, err))
			}
		}
	}

	if len(errs) == 0 {
		// CNI's bridge plugin leaves a bridge when its last container or
		// its network goes; only those the scenario brought are removed,
		// and only once its containers are gone.
		s.mu.Lock()
		bridges := slices.Clone(s.newBridges)
		s.mu.Unlock()
		for _, br := range bridges {
			if _, err := netlink.LinkByName(br); err == nil {
				if _, err := ipCmd("link", "del", br); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if s.firewall != nil {
		// After the containers and networks are gone: netavark and CNI
		// leave their chains and jumps behind them.
		if err := s.firewall.RestorePodmanRules(); err != nil {
			errs = append(errs, err)
		}
		if left, err := s.firewall.PodmanRulesLeft(); err != nil {
			errs = append(errs, err)
		} else if len(left) > 0 {
			errs = append(errs, fmt.Errorf("podman firewall rules left after cleanup: %q", left))
		}
	}
	if s.c2Cmd != nil && s.c2Cmd.Process != nil {
		select {
		case <-s.c2Exited:
		default:
			if err := s.c2Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("kill C2 listener (pid %d): %w", s.c2Cmd.Process.Pid, err))
			}
			select {
			case <-s.c2Exited:
			case <-time.After(10 * time.Second):
				errs = append(errs, fmt.Errorf("C2 listener (pid %d) did not exit", s.c2Cmd.Process.Pid))
			}
		}
	}

	if s.HostVeth != "" {
		if _, err := netlink.LinkByName(s.HostVeth); err == nil {
			if _, err := ipCmd("link", "del", s.HostVeth); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.NetNS != "" {
		if _, err := os.Stat(filepath.Join("/var/run/netns", s.NetNS)); err == nil {
			if _, err := ipCmd("netns", "del", s.NetNS); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.t.Errorf("scenario %s cleanup: %v", s.ID, err)
	}
}
