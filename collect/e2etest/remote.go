package e2etest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Remote is a second host of the outside world, inside the scenario's C2
// namespace: an address other than the C2's, with a TCP listener that
// answers beacons as the C2's does. Tests use it as the benign destination
// a container talks to instead of the C2.
type Remote struct {
	Addr netip.AddrPort
	log  string
	s    *Scenario
}

// AddRemote adds a Remote on port: the .2 of a /30 of 198.18.0.0/16 of its
// own (picked under LinkPrefix's lock, so no other test takes it), put on
// the C2 side of the veth and routed from the host through the C2 address.
// The route is checked before the listener starts: `ip route get` for the
// address must name the scenario's veth, via the C2 address. t.Cleanup
// stops the listener and deletes the route; the address goes with the
// namespace.
func (s *Scenario) AddRemote(t testing.TB, port uint16) *Remote {
	t.Helper()
	r, err := s.addRemote(t, port)
	if err != nil {
		t.Fatalf("scenario %s: remote: %v", s.ID, err)
	}
	return r
}

func (s *Scenario) addRemote(t testing.TB, port uint16) (*Remote, error) {
	p, release, err := LinkPrefix()
	if err != nil {
		return nil, err
	}
	a := p.Addr().As4()
	addr := netip.AddrFrom4([4]byte{a[0], a[1], a[2], 2})
	route := []string{"route", "add", addr.String() + "/32", "via", s.C2Addr.String(), "dev", s.HostVeth}
	_, err = ipCmd("-n", s.NetNS, "addr", "add", addr.String()+"/32", "dev", s.C2Veth)
	if err == nil {
		_, err = ipCmd(route...)
	}
	release() // the route is in the main table: the next picker sees it
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if _, err := ipCmd("route", "del", addr.String()+"/32", "via", s.C2Addr.String(), "dev", s.HostVeth); err != nil {
			if _, lerr := os.Stat(filepath.Join("/sys/class/net", s.HostVeth)); lerr == nil {
				t.Errorf("scenario %s: remote %s: %v", s.ID, addr, err) // gone with the veth otherwise
			}
		}
	})
	out, err := ipCmd("route", "get", addr.String())
	if err != nil {
		return nil, err
	}
	if dev, via := routeGetFields(out); dev != s.HostVeth || via != s.C2Addr.String() {
		return nil, fmt.Errorf("ip route get %s = %q, want dev %s via %s; refusing to send anything", addr, strings.TrimSpace(out), s.HostVeth, s.C2Addr)
	}

	r := &Remote{Addr: netip.AddrPortFrom(addr, port), s: s}
	dir := t.TempDir()
	bin := filepath.Join(dir, "workload")
	if err := os.WriteFile(bin, workloadBinary(t), 0o755); err != nil {
		return nil, err
	}
	r.log = filepath.Join(dir, "remote.log")
	logf, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command("ip", "netns", "exec", s.NetNS, bin, "-name", "remote",
		"-listen-tcp", net.JoinHostPort(addr.String(), strconv.Itoa(int(port))))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start listener: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	// Registered after the route's: cleanups run last first, so the
	// listener stops before its route goes.
	t.Cleanup(func() {
		select {
		case <-exited:
			return
		default:
		}
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("scenario %s: kill remote listener (pid %d): %v", s.ID, cmd.Process.Pid, err)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("scenario %s: remote listener (pid %d) did not exit", s.ID, cmd.Process.Pid)
		}
	})
	for deadline := time.Now().Add(listenerReadyTimeout); time.Now().Before(deadline); {
		evs, err := readEvents(r.log, maxC2LogBytes)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if e.Kind == "ready" {
				return r, nil
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(r.log)
			return nil, fmt.Errorf("listener exited: %s", bytes.TrimSpace(b))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("listener not ready after %v", listenerReadyTimeout)
}

// Contacts returns what the remote's listener logged so far: one Event of
// Kind "contact" per TCP beacon line. A log it cannot read is reported with
// Errorf on the scenario's test and gives no contacts.
func (r *Remote) Contacts() []Event {
	evs, err := readEvents(r.log, maxC2LogBytes)
	if err != nil {
		r.s.t.Errorf("scenario %s: remote %s: %v", r.s.ID, r.Addr, err)
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
