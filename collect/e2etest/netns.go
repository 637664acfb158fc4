package e2etest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// NetnsWorkload is the workload binary running in a network namespace the
// test made (a C2 listener beside the scenario's, on a link of the test's
// own): its events are read from its log as the scenario's C2's are.
type NetnsWorkload struct {
	NetNS string
	Pid   int
	log   string
}

// RunInNetns starts the workload in the network namespace netns with the
// given flags (-listen-tcp, -listen-udp, -dns-serve …) and waits for its
// ready line. The test's cleanup kills it by its PID; a workload that fails
// to start fails t with its log.
func RunInNetns(t testing.TB, netns string, args ...string) *NetnsWorkload {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "workload")
	if err := os.WriteFile(bin, workloadBinary(t), 0o755); err != nil {
		t.Fatalf("workload in %s: %v", netns, err)
	}
	w := &NetnsWorkload{NetNS: netns, log: filepath.Join(dir, "workload.log")}
	logf, err := os.Create(w.log)
	if err != nil {
		t.Fatalf("workload in %s: %v", netns, err)
	}
	defer logf.Close() // the child holds its own descriptor
	// ip netns exec execs the command: the PID is the workload's.
	cmd := exec.Command("ip", append([]string{"netns", "exec", netns, bin}, args...)...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("workload in %s: %v", netns, err)
	}
	w.Pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
			return
		default:
		}
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("kill the workload in %s (pid %d): %v", netns, w.Pid, err)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("the workload in %s (pid %d) did not exit", netns, w.Pid)
		}
	})
	for deadline := time.Now().Add(listenerReadyTimeout); time.Now().Before(deadline); {
		evs, err := readEvents(w.log, maxC2LogBytes)
		if err != nil {
			t.Fatalf("workload in %s: %v", netns, err)
		}
		for _, e := range evs {
			if e.Kind == "ready" {
				return w
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(w.log)
			t.Fatalf("workload in %s exited: %s", netns, bytes.TrimSpace(b))
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("workload in %s not ready after %v", netns, listenerReadyTimeout)
	return nil
}

// Contacts returns the contacts the workload's listeners logged so far
// (Kind "contact"); a log it cannot read fails t.
func (w *NetnsWorkload) Contacts(t testing.TB) []Event {
	t.Helper()
	evs, err := readEvents(w.log, maxC2LogBytes)
	if err != nil {
		t.Fatalf("workload in %s: %v", w.NetNS, err)
	}
	var out []Event
	for _, e := range evs {
		if e.Kind == "contact" {
			out = append(out, e)
		}
	}
	return out
}

// CheckRoute asserts that `ip route get dst`, run in the network namespace
// of process pid (0: the host's), resolves to the link dev through the
// gateway via ("" for none: the address is on the link): a test calls it
// before anything is sent to an address it added. It fails t otherwise.
func CheckRoute(t testing.TB, pid int, dst, dev, via string) {
	t.Helper()
	args := []string{"route", "get", dst}
	name := "ip"
	if pid != 0 {
		name = "nsenter"
		args = append([]string{"-t", fmt.Sprint(pid), "-n", "ip"}, args...)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	if d, v := routeGetFields(string(out)); d != dev || v != via {
		t.Fatalf("ip route get %s (pid %d's namespace) = %q, want dev %s via %q; refusing to send anything",
			dst, pid, strings.TrimSpace(string(out)), dev, via)
	}
}

// CreateNetwork creates a Docker network for the test with the scenario's
// label, removed by the scenario's Cleanup. Without an IPv4 subnet in
// opts.IPAM it is given a free 198.19.<m>.0/24 (gateway .1) beside the
// IPv6 configs opts holds. It returns the network's ID and IPv4 subnet.
func (s *Scenario) CreateNetwork(t testing.TB, name string, opts network.CreateOptions) (string, netip.Prefix) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if opts.IPAM == nil {
		opts.IPAM = &network.IPAM{}
	}
	opts.Labels = map[string]string{LabelScenario: s.ID}
	given := netip.Prefix{}
	for _, c := range opts.IPAM.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil && p.Addr().Is4() {
			given = p
		}
	}
	base := opts.IPAM.Config
	for i := 0; i < maxAddrPicks; i++ {
		subnet := given
		if !given.IsValid() {
			m := scenarioRandByte(1, 254)
			subnet = netip.MustParsePrefix(fmt.Sprintf("198.19.%d.0/24", m))
			if used, err := hostPrefixInUse(subnet); err != nil {
				t.Fatalf("scenario %s: network %s: %v", s.ID, name, err)
			} else if used != "" {
				continue
			}
			gw := netip.AddrFrom4([4]byte{198, 19, byte(m), 1})
			opts.IPAM.Config = append(slices.Clone(base), network.IPAMConfig{Subnet: subnet.String(), Gateway: gw.String()})
		}
		resp, err := s.cli.NetworkCreate(ctx, name, opts)
		if err != nil && !given.IsValid() && strings.Contains(err.Error(), "overlap") {
			continue // another network took this subnet since we looked
		}
		if err != nil {
			t.Fatalf("scenario %s: create network %s: %v", s.ID, name, err)
		}
		s.mu.Lock()
		s.networkIDs = append(s.networkIDs, resp.ID)
		s.mu.Unlock()
		return resp.ID, subnet
	}
	t.Fatalf("scenario %s: create network %s: no free 198.19.<m>.0/24", s.ID, name)
	return "", netip.Prefix{}
}

// Exec runs cmd in the running container c, detached: the process is the
// container's (its cgroup names it) and ends with it. It fails t on error.
func (s *Scenario) Exec(t testing.TB, c Container, cmd ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	resp, err := s.cli.ContainerExecCreate(ctx, c.ID, container.ExecOptions{Cmd: cmd, Detach: true})
	if err != nil {
		t.Fatalf("scenario %s: exec in %s: %v", s.ID, c.Name, err)
	}
	if err := s.cli.ContainerExecStart(ctx, resp.ID, container.ExecStartOptions{Detach: true}); err != nil {
		t.Fatalf("scenario %s: exec in %s: %v", s.ID, c.Name, err)
	}
}

// ContainerVeth returns the name of the host end of a running container's
// veth: the interface whose index the container's eth0 gives as its link.
func (s *Scenario) ContainerVeth(t testing.TB, id string) string {
	t.Helper()
	ins, err := s.cli.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if ins.State == nil || ins.State.Pid == 0 {
		t.Fatalf("container %.12s is not running", id)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/sys/class/net/eth0/iflink", ins.State.Pid))
	if err != nil {
		t.Fatalf("veth of container %.12s: %v", id, err)
	}
	var index int
	if _, err := fmt.Sscan(string(b), &index); err != nil {
		t.Fatalf("veth of container %.12s: iflink %q: %v", id, b, err)
	}
	l, err := net.InterfaceByIndex(index)
	if err != nil {
		t.Fatalf("veth of container %.12s: interface %d: %v", id, index, err)
	}
	return l.Name
}
