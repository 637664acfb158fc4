//go:build linux && !portable

package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"golang.org/x/crypto/ssh"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/contain"
	"github.com/dockcase/dockcase/collect/e2etest"
)

// containTestTimeout bounds each engine call of the test's own setup.
const containTestTimeout = time.Minute

// TestContainRelease runs the responder's workflow against the real engine:
// a container on two user-defined networks (static IPv4 and IPv6 and an
// alias on one, a static IPv4 and an alias on the other) is collected, the
// commands' refusals change nothing, contain pauses and disconnects it,
// release gives it back its networks with the same addresses, MAC and
// aliases, and the custody log holds the signed events that say so. Then a
// second containment whose address another container took meanwhile is
// released partly (exit 3), saying what it could not restore. No traffic is
// sent: the workload only sleeps.
func TestContainRelease(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("collect needs root")
	}
	img := e2etest.WorkloadImage(t)
	cli := e2etest.DockerClient(t)
	id := containRandHex(3)
	netA, subA, sub6A := containNetwork(t, cli, "dce-ct-a-"+id, true)
	netB, subB, _ := containNetwork(t, cli, "dce-ct-b-"+id, false)
	ipA, ip6A, ipB := containAddr(subA, 77), containAddr(sub6A, 77), containAddr(subB, 66)
	aliasA, aliasB := "dce-web-"+id, "dce-webb-"+id

	web := containRun(t, cli, img, "dce-ct-web-"+id, netA, &network.EndpointSettings{
		IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ipA, IPv6Address: ip6A}, Aliases: []string{aliasA},
	}, map[string]*network.EndpointSettings{netB: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ipB}, Aliases: []string{aliasB}}})
	reName := "dce-ct-re-" + id
	re := containRun(t, cli, img, reName, netB, &network.EndpointSettings{}, nil)
	before := containInspect(t, cli, web)

	dir := t.TempDir()
	key := filepath.Join(dir, "responder")
	fp := containKey(t, key)
	path := filepath.Join(dir, "case.tar.zst")
	out, code := containMain(t, "collect", "--case", "CT-"+id, "--out", path, "--no-images", "--capture", "0", "--key", key, "--containers", web+","+re)
	if code != exitOK && code != exitGaps {
		t.Fatalf("collect: exit %d\n%s", code, out)
	}

	t.Run("refusals", func(t *testing.T) {
		logBefore, _ := os.ReadFile(bundle.CustodyPath(path))
		tampered := filepath.Join(t.TempDir(), "case.tar.zst")
		data, _ := os.ReadFile(path)
		data[len(data)/2] ^= 0x20
		os.WriteFile(tampered, data, 0o644)
		late := containRun(t, cli, img, "dce-ct-late-"+id, netB, &network.EndpointSettings{}, nil)
		// The name the bundle knows, now on another container.
		ctx, cancel := context.WithTimeout(context.Background(), containTestTimeout)
		defer cancel()
		if err := cli.ContainerRemove(ctx, re, container.RemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		re2 := containRun(t, cli, img, reName, netB, &network.EndpointSettings{}, nil)
		for _, tt := range []struct {
			args     []string
			wantCode int
			wantErr  string
		}{
			{[]string{"contain", "--by", "t", "--reason", "r", web}, exitUsage, "--bundle is required"},
			{[]string{"contain", "--bundle", path, "--reason", "r", web}, exitUsage, "--by is required"},
			{[]string{"contain", "--bundle", path, "--by", "t", web}, exitUsage, "--reason is required"},
			{[]string{"contain", "--bundle", path, "--by", "t", "--reason", "r"}, exitUsage, "requires at least 1 arg"},
			{[]string{"release", "--bundle", path, "--by", "t"}, exitUsage, "requires at least 1 arg"},
			{[]string{"contain", "--bundle", tampered, "--by", "t", "--reason", "r", web}, exitIntegrity, ""},
			{[]string{"contain", "--bundle", path, "--by", "t", "--reason", "r", "--fingerprint", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", web}, exitIntegrity, "not a trusted signer"},
			// Every container is checked before any is touched: web stays.
			{[]string{"contain", "--bundle", path, "--by", "t", "--reason", "r", web, late}, exitError, "is not in the bundle"},
			{[]string{"contain", "--bundle", path, "--by", "t", "--reason", "r", web, reName}, exitError, "container name \"" + reName + "\" is now container " + re2[:12]},
			{[]string{"contain", "--bundle", path, "--by", "t", "--reason", "r", re}, exitError, "is no longer on this engine"},
			{[]string{"release", "--bundle", path, "--by", "t", web}, exitError, "no contained event in the custody log"},
		} {
			out, code := containMain(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantErr) {
				t.Errorf("dockcase %s: exit %d, want %d saying %q\n%s", strings.Join(tt.args, " "), code, tt.wantCode, tt.wantErr, out)
			}
		}
		out, code := containMain(t, "contain", "--bundle", path, "--by", "t", "--reason", "r", "--dry-run", web)
		if code != exitOK || !strings.Contains(out, "plan: contain dce-ct-web-"+id) || !strings.Contains(out, `disconnect from "`+netA+`" (ipv4 `+ipA) {
			t.Errorf("contain --dry-run: exit %d, want 0 and the plan\n%s", code, out)
		}
		if logAfter, _ := os.ReadFile(bundle.CustodyPath(path)); !bytes.Equal(logBefore, logAfter) {
			t.Errorf("the refusals and the dry run changed the custody log:\n%s", logAfter)
		}
		if now := containInspect(t, cli, web); now.State.Status != "running" || len(now.NetworkSettings.Networks) != 2 {
			t.Errorf("after the refusals and the dry run the container is %s on %d networks, want running on 2", now.State.Status, len(now.NetworkSettings.Networks))
		}
	})

	out, code = containMain(t, "contain", "--bundle", path, "--by", "tester", "--reason", "beacons to the C2 (test)", "--key", key, "--fingerprint", fp, "dce-ct-web-"+id)
	if code != exitOK {
		t.Fatalf("contain: exit %d, want 0\n%s", code, out)
	}
	for _, want := range []string{"paused (was running)", `disconnected from "` + netA + `" (ipv4 ` + ipA + ", ipv6 " + ip6A, `disconnected from "` + netB + `" (ipv4 ` + ipB, "signed by " + fp} {
		if !strings.Contains(out, want) {
			t.Errorf("contain's output lacks %q:\n%s", want, out)
		}
	}
	if now := containInspect(t, cli, web); now.State.Status != "paused" || len(now.NetworkSettings.Networks) != 0 {
		t.Fatalf("after contain the container is %s on networks %v, want paused on none", now.State.Status, now.NetworkSettings.Networks)
	}

	out, code = containMain(t, "release", "--bundle", path, "--by", "tester", "--key", key, "--fingerprint", fp, web)
	if code != exitOK || !strings.Contains(out, "unpaused") || strings.Contains(out, "NOT RESTORED") {
		t.Fatalf("release: exit %d, want 0, unpaused, everything restored\n%s", code, out)
	}
	after := containInspect(t, cli, web)
	if after.State.Status != "running" {
		t.Errorf("after release the container is %s, want running", after.State.Status)
	}
	for _, n := range []string{netA, netB} {
		was, now := before.NetworkSettings.Networks[n], after.NetworkSettings.Networks[n]
		if now == nil {
			t.Errorf("after release the container is not on %s", n)
			continue
		}
		if now.IPAddress != was.IPAddress || now.GlobalIPv6Address != was.GlobalIPv6Address || now.MacAddress != was.MacAddress || !containSubset(was.Aliases, now.Aliases) {
			t.Errorf("on %s after release: ipv4 %s ipv6 %q mac %s aliases %q; before: %s %q %s %q", n, now.IPAddress, now.GlobalIPv6Address, now.MacAddress, now.Aliases, was.IPAddress, was.GlobalIPv6Address, was.MacAddress, was.Aliases)
		}
	}
	if got := after.NetworkSettings.Networks[netA]; got != nil && (got.IPAddress != ipA || got.GlobalIPv6Address != ip6A) {
		t.Errorf("on %s: %s %s, want the static %s %s", netA, got.IPAddress, got.GlobalIPv6Address, ipA, ip6A)
	}

	recs := containCustody(t, path, fp)
	var actions []string
	for _, r := range recs {
		actions = append(actions, r.Action)
		if !r.Trusted {
			t.Errorf("custody event %d (%s) is not signed by the trusted key %s", r.Seq, r.Action, fp)
		}
	}
	if want := "collected contained contained released released"; strings.Join(actions, " ") != want {
		t.Errorf("custody actions %q, want %q", actions, want)
	}
	if len(recs) == 5 {
		plan, ok := contain.ParseNote(recs[1].Note)
		if !ok || plan.Step != contain.StepPlan || plan.Container != web || plan.Reason != "beacons to the C2 (test)" || len(plan.Networks) != 2 ||
			plan.Networks[0].Network != netA || plan.Networks[0].IPv4 != ipA || plan.Networks[0].IPv6 != ip6A || plan.Networks[0].MAC != before.NetworkSettings.Networks[netA].MacAddress || !containSubset([]string{aliasA}, plan.Networks[0].Aliases) {
			t.Errorf("the contained plan event's note = %+v, want the container, the reason and both networks with addresses, MAC and aliases", plan)
		}
		done, ok := contain.ParseNote(recs[4].Note)
		if !ok || done.Step != contain.StepDone || done.Undoes != recs[2].Seq || !done.Pause || len(done.Changed) != 2 || len(done.Failed)+len(done.Unrestored) != 0 {
			t.Errorf("the released done event's note = %+v, want both networks joined, unpaused, undoing event %d", done, recs[2].Seq)
		}
	}
	if out, code := containMain(t, "release", "--bundle", path, "--by", "tester", web); code != exitError || !strings.Contains(out, "released by event 5 already") {
		t.Errorf("a second release: exit %d, want 1 saying it was released already\n%s", code, out)
	}

	// Contained again, then another container takes its address on netB:
	// release reconnects it without, and says so.
	if out, code := containMain(t, "contain", "--bundle", path, "--by", "tester", "--reason", "again", "--key", key, web); code != exitOK {
		t.Fatalf("second contain: exit %d\n%s", code, out)
	}
	containRun(t, cli, img, "dce-ct-squat-"+id, netB, &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ipB}}, nil)
	out, code = containMain(t, "release", "--bundle", path, "--by", "tester", "--key", key, web)
	if code != exitGaps || !strings.Contains(out, `NOT RESTORED: network "`+netB+`": static IPv4 `+ipB+` not restored`) {
		t.Errorf("release with its address taken: exit %d, want 3 saying the address was not restored\n%s", code, out)
	}
	now := containInspect(t, cli, web)
	if b := now.NetworkSettings.Networks[netB]; now.State.Status != "running" || b == nil || b.IPAddress == ipB || !containSubset([]string{aliasB}, b.Aliases) {
		t.Errorf("after the partial release: %s, on %s as %+v; want running, on it with another address and its alias", now.State.Status, netB, b)
	}
	if a := now.NetworkSettings.Networks[netA]; a == nil || a.IPAddress != ipA {
		t.Errorf("after the partial release, on %s as %+v, want %s", netA, a, ipA)
	}
	recs = containCustody(t, path, fp)
	if last, ok := contain.ParseNote(recs[len(recs)-1].Note); !ok || recs[len(recs)-1].Action != contain.ActionReleased || len(last.Unrestored) == 0 {
		t.Errorf("the last custody event = %s %+v, want released saying what was not restored", recs[len(recs)-1].Action, last)
	}
}

// containMain runs dockcase and returns its stdout and stderr together.
func containMain(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, strings.NewReader(""), &stdout, &stderr)
	return stdout.String() + stderr.String(), code
}

func containRandHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// containKey writes an unencrypted Ed25519 key and returns its fingerprint.
func containKey(t *testing.T, path string) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "responder")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.FingerprintSHA256(s.PublicKey())
}

// containNetwork creates a bridge network with a private subnet that no
// network of the engine and no route of the host holds (and, when ipv6, a
// ULA /64), removed when the test ends. The subnets carry no traffic.
func containNetwork(t *testing.T, cli *client.Client, name string, ipv6 bool) (string, netip.Prefix, netip.Prefix) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), containTestTimeout)
	defer cancel()
	var lastErr error
	for range 20 {
		sub := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(200 + mrand.IntN(50)), byte(mrand.IntN(256)), 0}), 24)
		if containRouted(t, sub) {
			continue
		}
		var sub6 netip.Prefix
		ipam := &network.IPAM{Config: []network.IPAMConfig{{Subnet: sub.String()}}}
		if ipv6 {
			sub6 = netip.MustParsePrefix(fmt.Sprintf("fd00:dce:%x::/64", mrand.IntN(1<<16)))
			ipam.Config = append(ipam.Config, network.IPAMConfig{Subnet: sub6.String()})
		}
		resp, err := cli.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", EnableIPv6: &ipv6, IPAM: ipam})
		if err != nil {
			lastErr = err // most likely a subnet another network took: try another
			continue
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), containTestTimeout)
			defer cancel()
			if err := cli.NetworkRemove(ctx, resp.ID); err != nil {
				t.Errorf("remove network %s: %v", name, err)
			}
		})
		return name, sub, sub6
	}
	t.Fatalf("create network %s: %v", name, lastErr)
	return "", netip.Prefix{}, netip.Prefix{}
}

// containRouted reports whether a host route overlaps p.
func containRouted(t *testing.T, p netip.Prefix) bool {
	out, err := exec.Command("ip", "-4", "-o", "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for _, w := range f {
			if q, err := netip.ParsePrefix(w); err == nil && q.Overlaps(p) {
				return true
			}
			if a, err := netip.ParseAddr(w); err == nil && p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// containAddr is the n-th address of a prefix; "" for the zero prefix.
func containAddr(p netip.Prefix, n int) string {
	if !p.IsValid() {
		return ""
	}
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a.String()
}

// containRun creates and starts a sleeping workload container on network
// netName with ep, then connects it to more; it is removed when the test
// ends.
func containRun(t *testing.T, cli *client.Client, img, name, netName string, ep *network.EndpointSettings, more map[string]*network.EndpointSettings) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), containTestTimeout)
	defer cancel()
	cfg := &container.Config{Image: img, Cmd: []string{"/workload", "-name", name, "-quiet"}, Labels: map[string]string{"dce.test": "contain"}}
	hc := &container.HostConfig{NetworkMode: container.NetworkMode(netName), DNS: []string{"127.0.0.1"}}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: ep}}
	resp, err := cli.ContainerCreate(ctx, cfg, hc, nc, nil, name)
	if resp.ID != "" {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), containTestTimeout)
			defer cancel()
			if err := cli.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true}); err != nil && !client.IsErrNotFound(err) {
				t.Errorf("remove container %s: %v", name, err)
			}
		})
	}
	if err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	for n, es := range more {
		if err := cli.NetworkConnect(ctx, n, resp.ID, es); err != nil {
			t.Fatalf("connect %s to %s: %v", name, n, err)
		}
	}
	if err := cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		t.Fatalf("start container %s: %v", name, err)
	}
	return resp.ID
}

func containInspect(t *testing.T, cli *client.Client, id string) container.InspectResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), containTestTimeout)
	defer cancel()
	ins, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return ins
}

// containCustody checks the custody log, trusting fp.
func containCustody(t *testing.T, path, fp string) []bundle.CustodyRecord {
	t.Helper()
	sum, err := bundle.FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(bundle.CustodyPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := bundle.VerifyCustody(f, sum, bundle.Trust{Fingerprint: fp})
	if err != nil {
		t.Fatalf("custody chain: %v", err)
	}
	return recs
}

func containSubset(sub, of []string) bool {
	for _, s := range sub {
		found := false
		for _, o := range of {
			found = found || o == s
		}
		if !found {
			return false
		}
	}
	return true
}

// TestBundleContainers checks that contain reads the container list of a
// plain and of an age-encrypted bundle, the same, without extracting it.
func TestBundleContainers(t *testing.T) {
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(dir, "lab.txt")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	plain, err := os.ReadFile(analyzetest.DemoBundle())
	if err != nil {
		t.Fatal(err)
	}
	encPath := filepath.Join(dir, "demo.tar.zst.age")
	var enc bytes.Buffer
	w, err := age.Encrypt(&enc, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	os.WriteFile(encPath, enc.Bytes(), 0o644)

	o := &containmentOptions{bundle: analyzetest.DemoBundle()}
	want, err := o.bundleContainers(io.Discard)
	if err != nil || len(want) == 0 {
		t.Fatalf("bundleContainers(demo) = %d containers, %v; want the demo's", len(want), err)
	}
	o = &containmentOptions{bundle: encPath}
	o.identity = idFile
	got, err := o.bundleContainers(io.Discard)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("bundleContainers(encrypted demo) = %d containers, %v; want the %d of the plain one", len(got), err, len(want))
	}
	o.identity = ""
	if _, err := o.bundleContainers(io.Discard); err == nil || !strings.Contains(err.Error(), "--identity") {
		t.Errorf("bundleContainers(encrypted demo) without --identity = %v, want an error naming --identity", err)
	}
}
