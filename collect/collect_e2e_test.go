package collect_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect"
	"github.com/dockcase/dockcase/collect/capture"
	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/dockcase/dockcase/collect/host"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
)

// dockcaseBinary builds cmd/dockcase once, statically, as responders get it.
func dockcaseBinary(t *testing.T) string {
	t.Helper()
	return e2etest.DockcaseBinary(t)
}

// run runs the binary and returns its exit code and stderr.
func run(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(dockcaseBinary(t), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String()
}

// unreadableGap matches the one gap this sandbox always has: PID 1 holds a
// capability outside root's bounding set here, so its /proc entries are
// closed to the collector. Any other gap fails the test.
var unreadableGap = regexp.MustCompile(`^(processes|namespaces): partial: .*permission denied`)

// checkGaps accepts the sandbox's unreadable PID 1 and, when the whole host
// was collected, gaps about other tests' containers (packages run side by
// side and stop or remove theirs while we collect); any other gap fails.
func checkGaps(t *testing.T, sc *e2etest.Scenario, code int, stderr string, gaps []string) {
	t.Helper()
	for _, g := range gaps {
		switch {
		case unreadableGap.MatchString(g):
		case foreignGap(sc, g):
			t.Logf("gap about another test's container: %s", g)
		default:
			t.Errorf("unexpected gap %q\nstderr:\n%s", g, stderr)
		}
	}
	if want := map[bool]int{true: 0, false: 3}[len(gaps) == 0]; code != want {
		t.Errorf("exit code %d with %d gap(s), want %d\nstderr:\n%s", code, len(gaps), want, stderr)
	}
}

// gapContainerID finds the container ids, full or short, a gap names.
var gapContainerID = regexp.MustCompile(`\b[0-9a-f]{12}(?:[0-9a-f]{52})?\b`)

// foreignGap reports whether every line of the gap g names a container and
// none of those is the scenario's.
func foreignGap(sc *e2etest.Scenario, g string) bool {
	ours := map[string]bool{strings.TrimPrefix(sc.BridgeName, "br-"): true} // the network's id looks like one
	for _, c := range sc.Containers() {
		ours[c.ID[:12]] = true
	}
	for line := range strings.Lines(g) {
		ids := gapContainerID.FindAllString(line, -1)
		if len(ids) == 0 {
			return false
		}
		for _, id := range ids {
			if ours[id[:12]] {
				return false
			}
		}
	}
	return true
}

// hostState is what collection must leave as it found it: the scenario's
// containers, its network and the firewall rules that name them. Packages
// run side by side on one engine, so the rest of the host changes under
// the test by other tests' hands.
type hostState struct {
	containers map[string]string // id → state
	networks   []string
	rules      string // iptables-save lines naming the scenario's bridge or addresses
}

func snapshotHost(t *testing.T, sc *e2etest.Scenario) hostState {
	t.Helper()
	ctx := context.Background()
	cs, err := sc.Client().ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]bool{}
	marks := []string{sc.BridgeName, sc.Subnet.String()}
	for _, c := range sc.Containers() {
		ours[c.ID] = true
		if c.IP.IsValid() {
			// As iptables-save writes them: "-d 172.17.0.2/32",
			// "--to-destination 172.17.0.2:8080" (not 172.17.0.23).
			marks = append(marks, c.IP.String()+"/", c.IP.String()+":")
		}
	}
	st := hostState{containers: map[string]string{}}
	for _, c := range cs {
		if ours[c.ID] {
			st.containers[c.ID] = c.State
		}
	}
	ns, err := sc.Client().NetworkList(ctx, network.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.Name == sc.NetworkName || n.Name == "bridge" {
			st.networks = append(st.networks, n.ID)
		}
	}
	sort.Strings(st.networks)
	for _, bin := range []string{"iptables-save", "ip6tables-save"} {
		out, err := exec.Command(bin).Output()
		if err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.HasPrefix(line, "#") && slices.ContainsFunc(marks, func(m string) bool { return strings.Contains(line, m) }) {
				st.rules += line + "\n"
			}
		}
	}
	if len(st.containers) != len(ours) || len(st.networks) != 2 || st.rules == "" {
		t.Fatalf("host state: %d of the scenario's %d containers, %d of its 2 networks, rules:\n%s", len(st.containers), len(ours), len(st.networks), st.rules)
	}
	return st
}

func openBundle(t *testing.T, path string) *bundle.Bundle {
	t.Helper()
	b, err := bundle.Open(path, bundle.OpenOptions{})
	if err != nil {
		t.Fatalf("bundle.Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func readJSON(t *testing.T, b *bundle.Bundle, member string, v any) {
	t.Helper()
	data, err := b.ReadFile(member, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", member, err)
	}
}

func TestCollectE2E(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("collect needs root")
	}
	e2etest.RequireDocker(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	sc.WaitContact(t, 20*time.Second, func(e e2etest.Event) bool { return e.Proto == "tcp" })
	sc.WaitContact(t, 20*time.Second, func(e e2etest.Event) bool { return e.Proto == "udp" })

	t.Run("snapshot", func(t *testing.T) { testSnapshot(t, sc) })
	t.Run("docker unreachable", testDockerUnreachable)
	t.Run("interrupted", func(t *testing.T) { testInterrupted(t, sc) })
	t.Run("full filesystem", testFullFilesystem)
	t.Run("stdout and encryption", testStdoutEncrypted)
	t.Run("capture", func(t *testing.T) { testCapture(t, sc) })
}

// testStdoutEncrypted streams an age-encrypted bundle to stdout, as
// responders do over ssh, and checks that only the lab's identity opens it.
func testStdoutEncrypted(t *testing.T) {
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(dir, "lab.key")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	out := filepath.Join(dir, "case.tar.zst.age")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockcaseBinary(t), "collect", "--case", "IR-STDOUT", "--capture", "0", "--no-images", "--recipient", id.Recipient().String(), "--out", "-")
	cmd.Dir = dir
	cmd.Stdout = f
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	f.Close()
	if code := cmd.ProcessState.ExitCode(); code != 0 && code != 3 {
		t.Fatalf("collect --out - exit %d: %v\n%s", code, err, stderr.String())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(left) != 0 {
		t.Errorf("collect --out - wrote files: %v", left)
	}
	if code, s := run(t, "verify", out); code != 1 || !strings.Contains(s, "--identity") {
		t.Errorf("verify of an encrypted bundle without identity = exit %d\n%s", code, s)
	}
	if code, s := run(t, "verify", "--identity", idFile, out); code != 5 && code != 3 { // no trust anchor: 5, or 3 for a partial collection
		t.Errorf("verify --identity = exit %d\n%s", code, s)
	}
	sum := regexp.MustCompile(`bundle sha256\s+([0-9a-f]{64})`).FindStringSubmatch(stderr.String())
	if got, _ := bundle.FileSHA256(out); sum == nil || got != sum[1] {
		t.Errorf("printed bundle sha256 %v, file's %s", sum, got)
	}
}

func testSnapshot(t *testing.T, sc *e2etest.Scenario) {
	before := snapshotHost(t, sc)
	dir := t.TempDir()
	out := filepath.Join(dir, "case.tar.zst")
	t.Cleanup(func() { removeCaseImages(t, sc, "ir-e2e") })
	code, stderr := run(t, "collect", "--case", "IR-E2E", "--capture", "0", "--examiner", "e2e test",
		"--containers", sc.Beacon.Name, "--events-since", "1h", "--out", out)
	after := snapshotHost(t, sc)

	b := openBundle(t, out)
	checkGaps(t, sc, code, stderr, b.Manifest.Gaps)

	// Nothing on the host changed but the commit image.
	for id, st := range before.containers {
		if after.containers[id] != st {
			t.Errorf("container %.12s was %s before collection, %s after", id, st, after.containers[id])
		}
	}
	if len(after.containers) != len(before.containers) || !slices.Equal(before.networks, after.networks) {
		t.Errorf("containers or networks changed: %d→%d containers, networks %v→%v", len(before.containers), len(after.containers), before.networks, after.networks)
	}
	if before.rules != after.rules {
		t.Errorf("firewall rules changed during collection:\nbefore:\n%s\nafter:\n%s", before.rules, after.rules)
	}

	// Standard tools.
	fp := regexp.MustCompile(`signer fingerprint\s+(SHA256:\S+)`).FindStringSubmatch(stderr)
	if fp == nil {
		t.Fatalf("no signer fingerprint on stderr:\n%s", stderr)
	}
	if code, s := run(t, "verify", "--fingerprint", fp[1], out); code != 0 && code != 3 { // 3 for a partial collection
		t.Errorf("dockcase verify = exit %d\n%s", code, s)
	}
	checkWithStandardTools(t, dir, out, b.Root)

	// Every step ran and produced its members.
	status := map[string]string{}
	for _, s := range b.Steps {
		status[s.Name] = s.Status
	}
	for _, s := range []string{"clock", "conntrack", "processes", "namespaces", "firewall", "docker", "stats", "preservation"} {
		if st := status[s]; st != bundle.StepOK && !(st == bundle.StepPartial && (s == "processes" || s == "namespaces")) {
			t.Errorf("step %s: status %q", s, st)
		}
	}
	if status["containment"] != bundle.StepSkipped {
		t.Errorf("containment ran without --pause/--isolate: %q", status["containment"])
	}
	for _, m := range []string{"host/clock.json", "host/conntrack.json", "host/conntrack-sysctl.json", "host/processes.json", "netns/index.json",
		"host/firewall/firewall.json", "host/firewall/iptables-save.txt", "docker/version.json", "docker/info.json",
		"docker/containers.json", "docker/networks.json", "docker/volumes.json", "docker/images.json",
		"docker/events.jsonl", "docker/stats.json", "preservation/commits.json"} {
		if !b.Has(m) {
			t.Errorf("member %s missing", m)
		}
	}
	for _, c := range []e2etest.Container{sc.Beacon, sc.Published, sc.Bridge, sc.Stopped} {
		if !b.Has("docker/containers/" + c.ID + "/inspect.json") {
			t.Errorf("no inspect of the %s container %s", c.Role, c.Name)
		}
	}
	for _, m := range []string{"top.json", "diff.json", "logs.txt"} {
		if !b.Has("docker/containers/" + sc.Beacon.ID + "/" + m) {
			t.Errorf("beacon container: %s missing", m)
		}
	}
	if b.Has("docker/containers/" + sc.Bridge.ID + "/logs.txt") {
		t.Error("logs of a container outside --containers were collected")
	}

	checkConntrack(t, b, sc)
	checkFirewall(t, b, sc)
	checkNamespaces(t, b, sc)
	checkPreservation(t, b, sc)
}

func checkWithStandardTools(t *testing.T, dir, out, root string) {
	t.Helper()
	x := t.TempDir()
	if o, err := exec.Command("tar", "--zstd", "-xf", out, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("tar --zstd -xf: %v\n%s", err, o)
	}
	rootDir := filepath.Join(x, root)
	cmd := exec.Command("sha256sum", "-c", "--strict", "--quiet", bundle.SumsName)
	cmd.Dir = rootDir
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c: %v\n%s", err, o)
	}
	pub, _ := os.ReadFile(filepath.Join(rootDir, bundle.SignerName))
	allowed := filepath.Join(dir, "allowed_signers")
	os.WriteFile(allowed, []byte("responder "+string(pub)), 0o644)
	sums, _ := os.Open(filepath.Join(rootDir, bundle.SumsName))
	defer sums.Close()
	cmd = exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "responder", "-n", bundle.SignatureNamespace,
		"-s", filepath.Join(rootDir, bundle.SignatureName))
	cmd.Stdin = sums
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("ssh-keygen -Y verify: %v\n%s", err, o)
	}
	side, _ := os.ReadFile(out + ".sha256")
	cmd = exec.Command("sha256sum", "-c", "--quiet", filepath.Base(out)+".sha256")
	cmd.Dir = filepath.Dir(out)
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("sha256sum -c of the sidecar %q: %v\n%s", side, err, o)
	}
	if _, err := os.Stat(out + ".partial"); err == nil {
		t.Error("the .partial file is left beside the finished bundle")
	}
}

func checkConntrack(t *testing.T, b *bundle.Bundle, sc *e2etest.Scenario) {
	var table host.ConntrackTable
	readJSON(t, b, "host/conntrack.json", &table)
	for _, proto := range []string{"tcp", "udp"} {
		found := false
		for _, e := range table.Entries {
			if e.Proto == proto && e.Original.Src == sc.Beacon.IP.String() && e.Original.Dst == sc.C2Addr.String() &&
				e.Reply.Src == sc.C2Addr.String() && e.Reply.Dst == sc.HostAddr.String() {
				found = true
			}
		}
		if !found {
			t.Errorf("conntrack (%s, %d entries) has no %s flow %s → %s masqueraded to %s", table.Source, len(table.Entries), proto, sc.Beacon.IP, sc.C2Addr, sc.HostAddr)
		}
	}
}

func checkFirewall(t *testing.T, b *bundle.Bundle, sc *e2etest.Scenario) {
	rules, err := b.ReadFile("host/firewall/iptables-save.txt", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\[\d+:\d+\] -A POSTROUTING -s ` + regexp.QuoteMeta(sc.Subnet.String()) + ` ! -o ` + regexp.QuoteMeta(sc.BridgeName) + ` -j MASQUERADE$`)
	if !re.Match(rules) {
		t.Errorf("iptables-save -c output lacks the MASQUERADE rule of %s on %s", sc.Subnet, sc.BridgeName)
	}
	var fw host.Firewall
	readJSON(t, b, "host/firewall/firewall.json", &fw)
	found := false
	for _, s := range b.Steps {
		for _, c := range s.Called {
			if c.Kind == "command" && len(c.Argv) > 0 && c.Argv[0] == "iptables-save" && len(c.BinarySHA256) == 64 && c.Version != "" {
				found = true
			}
		}
	}
	if !found {
		t.Error("the custody log does not record iptables-save's path, version and sha256")
	}
	if fw.Sysctls["net.ipv4.ip_forward"] != "1" {
		t.Errorf("sysctl net.ipv4.ip_forward = %q, want 1 on a Docker host", fw.Sysctls["net.ipv4.ip_forward"])
	}
}

func checkNamespaces(t *testing.T, b *bundle.Bundle, sc *e2etest.Scenario) {
	var index []host.Namespace
	readJSON(t, b, "netns/index.json", &index)
	var hostNS, beaconNS *host.Namespace
	for i := range index {
		if index[i].Host {
			hostNS = &index[i]
		}
		if slices.Contains(index[i].Containers, sc.Beacon.ID) {
			beaconNS = &index[i]
		}
	}
	if hostNS == nil || beaconNS == nil {
		t.Fatalf("netns/index.json: host namespace %v, beacon's %v", hostNS != nil, beaconNS != nil)
	}
	var socks []collect.SocketRecord
	readJSON(t, b, fmt.Sprintf("netns/%d/sockets.json", beaconNS.Inode), &socks)
	owned := false
	var toC2 []string
	for _, s := range socks {
		if s.Proto != "tcp" || s.RemoteIP != sc.C2Addr.String() || s.RemotePort != sc.C2TCPPort {
			continue
		}
		toC2 = append(toC2, fmt.Sprintf("%s:%d %s inode %d owners %+v", s.LocalIP, s.LocalPort, s.State, s.Inode, s.Owners))
		for _, o := range s.Owners {
			if o.Comm == "workload" && slices.Contains(beaconNS.PIDs, o.PID) {
				owned = true
			}
		}
	}
	if !owned {
		t.Errorf("the beacon's namespace has no TCP socket to %s:%d owned by its workload process (pids %v); its sockets to the C2:\n%s",
			sc.C2Addr, sc.C2TCPPort, beaconNS.PIDs, strings.Join(toC2, "\n"))
	}

	var hostNet, inside host.NetNS
	readJSON(t, b, fmt.Sprintf("netns/%d/netns.json", hostNS.Inode), &hostNet)
	readJSON(t, b, fmt.Sprintf("netns/%d/netns.json", beaconNS.Inode), &inside)
	var eth0 *host.NetLink
	for i, l := range inside.Links {
		if l.Name == "eth0" {
			eth0 = &inside.Links[i]
		}
	}
	if eth0 == nil || eth0.ParentIndex == 0 {
		t.Fatalf("beacon namespace: no eth0 with an iflink: %+v", inside.Links)
	}
	var veth *host.NetLink
	for i, l := range hostNet.Links {
		if l.Index == eth0.ParentIndex {
			veth = &hostNet.Links[i]
		}
	}
	switch {
	case veth == nil:
		t.Errorf("host has no link with ifindex %d (the beacon eth0's iflink)", eth0.ParentIndex)
	case veth.Kind != "veth" || veth.MasterName != sc.BridgeName || veth.ParentIndex != eth0.Index:
		t.Errorf("host link %d = %s kind %s master %q iflink %d; want a veth on %s pointing back at ifindex %d",
			veth.Index, veth.Name, veth.Kind, veth.MasterName, veth.ParentIndex, sc.BridgeName, eth0.Index)
	}
}

func checkPreservation(t *testing.T, b *bundle.Bundle, sc *e2etest.Scenario) {
	var commits []collect.CommitRecord
	readJSON(t, b, "preservation/commits.json", &commits)
	if len(commits) != 1 || commits[0].Container != sc.Beacon.ID || commits[0].Error != "" || !commits[0].Paused {
		t.Fatalf("commits = %+v, want the beacon's, paused, without error", commits)
	}
	f, err := b.OpenMember(commits[0].Member)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi.Size() != commits[0].SavedSize || fi.Size() < 1<<20 {
		t.Errorf("saved image %s is %d bytes, commits.json says %d", commits[0].Member, fi.Size(), commits[0].SavedSize)
	}
	list, err := exec.Command("tar", "-tf", f.Name()).Output()
	if err != nil || !strings.Contains(string(list), "manifest.json") {
		t.Errorf("the saved image is not a docker save tar (%v)", err)
	}
}

// removeCaseImages deletes the images the collector committed for a case.
func removeCaseImages(t *testing.T, sc *e2etest.Scenario, caseRepo string) {
	ctx := context.Background()
	imgs, err := sc.Client().ImageList(ctx, image.ListOptions{All: true})
	if err != nil {
		t.Error(err)
		return
	}
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, "dockcase/"+caseRepo+":") {
				if _, err := sc.Client().ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
					t.Errorf("remove %s: %v", tag, err)
				}
			}
		}
	}
}

func testDockerUnreachable(t *testing.T) {
	out := filepath.Join(t.TempDir(), "case.tar.zst")
	code, stderr := run(t, "collect", "--case", "IR-NODOCKER", "--capture", "0", "--docker-host", "unix:///nonexistent/docker.sock", "--out", out)
	if code != 3 {
		t.Fatalf("exit code %d, want 3\n%s", code, stderr)
	}
	b := openBundle(t, out)
	if b.Manifest.Complete || !slices.ContainsFunc(b.Manifest.Gaps, func(g string) bool { return strings.Contains(g, "docker unreachable") }) {
		t.Errorf("gaps %q do not say Docker was unreachable", b.Manifest.Gaps)
	}
	for _, m := range []string{"host/clock.json", "host/conntrack.json", "host/conntrack-sysctl.json", "host/processes.json", "netns/index.json", "host/firewall/iptables-save.txt"} {
		if !b.Has(m) {
			t.Errorf("host-side member %s missing when Docker is down", m)
		}
	}
}

func testInterrupted(t *testing.T, sc *e2etest.Scenario) {
	out := filepath.Join(t.TempDir(), "case.tar.zst")
	t.Cleanup(func() { removeCaseImages(t, sc, "ir-int") })
	cmd := exec.Command(dockcaseBinary(t), "collect", "--case", "IR-INT", "--capture", "0", "--out", out)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc2 := bufio.NewScanner(stderr)
	signalled := false
	for sc2.Scan() {
		line := sc2.Text()
		log.WriteString(line + "\n")
		if !signalled && strings.Contains(line, "] docker") {
			cmd.Process.Signal(syscall.SIGINT)
			signalled = true
		}
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Fatalf("exit code after SIGINT %d, want 3\n%s", code, log.String())
	}
	b := openBundle(t, out)
	interrupted := 0
	for _, s := range b.Steps {
		if s.Status == bundle.StepInterrupted {
			interrupted++
		}
	}
	if b.Manifest.Complete || interrupted == 0 {
		t.Errorf("after SIGINT: complete %v, %d interrupted steps; gaps %q", b.Manifest.Complete, interrupted, b.Manifest.Gaps)
	}
}

func testFullFilesystem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "small")
	os.Mkdir(dir, 0o755)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16k"); err != nil {
		t.Skipf("cannot mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	out := filepath.Join(dir, "case.tar.zst")
	code, stderr := run(t, "collect", "--case", "IR-FULL", "--capture", "0", "--no-images", "--out", out)
	if code != 1 {
		t.Errorf("exit code on a full filesystem %d, want 1\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "no space left on device") {
		t.Errorf("stderr does not say the disk is full:\n%s", stderr)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("files left on the full filesystem: %v", left)
	}
}

// testCapture collects with a packet capture while a second beaconing
// container starts, and reads the pcapng with tshark and capinfos.
func testCapture(t *testing.T, sc *e2etest.Scenario) {
	for _, tool := range []string{"tshark", "capinfos"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "capture.tar.zst")
	cmd := exec.Command(dockcaseBinary(t), "collect", "--case", "IR-CAP", "--no-images", "--capture", "8s", "--out", out)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	late := sc.StartBeacon(t, "dcqlate")
	cmd.Wait()
	b := openBundle(t, out)
	checkGaps(t, sc, cmd.ProcessState.ExitCode(), stderr.String(), b.Manifest.Gaps)

	var res capture.Result
	readJSON(t, b, "capture/interfaces.json", &res)
	if res.StopReason != capture.StopDuration || res.Packets == 0 || res.Dropped != 0 {
		t.Errorf("capture: stop %q, %d packets, %d dropped", res.StopReason, res.Packets, res.Dropped)
	}
	vethOf := map[string]string{} // container id → its veth
	for _, it := range res.Interfaces {
		if it.Role == capture.RoleVeth && it.Container != "" {
			vethOf[it.Container] = it.Name
		}
	}
	beaconVeth, lateVeth := vethOf[sc.Beacon.ID], vethOf[late.ID]
	if beaconVeth == "" || lateVeth == "" {
		t.Fatalf("interfaces.json: veth of the beacon %q, of the container started during the capture %q; interfaces %+v", beaconVeth, lateVeth, res.Interfaces)
	}
	added := false
	for _, ch := range res.Changes {
		if ch.Event == "added" && ch.Interface != nil && ch.Interface.Name == lateVeth {
			added = true
		}
	}
	if !added || res.Changes[0].Event != "start" || res.Changes[len(res.Changes)-1].Event != "end" {
		t.Errorf("interfaces.json changes lack start, end or the addition of %s: %+v", lateVeth, res.Changes)
	}

	pcap := filepath.Join(dir, "capture.pcapng")
	data, err := b.ReadFile("capture/capture.pcapng", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pcap, data, 0o644)
	info, err := exec.Command("capinfos", "-I", pcap).CombinedOutput()
	if err != nil {
		t.Fatalf("capinfos: %v\n%s", err, info)
	}
	for _, name := range []string{"docker0", sc.BridgeName, sc.HostVeth, beaconVeth, lateVeth} {
		if !strings.Contains(string(info), "Name = "+name+"\n") {
			t.Errorf("capinfos -I does not name interface %s:\n%s", name, info)
		}
	}
	if !strings.Contains(string(info), "veth of container "+sc.Beacon.Name) {
		t.Errorf("capinfos -I does not describe the beacon's veth:\n%s", info)
	}

	// Who sent the TCP beacons, seen where.
	lines, err := exec.Command("tshark", "-r", pcap, "-n", "-Y", fmt.Sprintf("tcp.dstport == %d && ip.dst == %s", sc.C2TCPPort, sc.C2Addr),
		"-T", "fields", "-e", "frame.interface_name", "-e", "ip.src").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		seen[l] = true
		if strings.HasPrefix(l, "docker0\t") {
			t.Errorf("docker0 carried a beacon to the C2: %q", l)
		}
	}
	for _, want := range []string{
		beaconVeth + "\t" + sc.Beacon.IP.String(),
		sc.BridgeName + "\t" + sc.Beacon.IP.String(),
		sc.HostVeth + "\t" + sc.HostAddr.String(),
		lateVeth + "\t" + late.IP.String(),
	} {
		if !seen[want] {
			t.Errorf("no TCP beacon to the C2 seen as %q (interface, source); seen: %v", want, seen)
		}
	}
	if seen[sc.HostVeth+"\t"+sc.Beacon.IP.String()] {
		t.Errorf("the beacon left %s unmasqueraded", sc.HostVeth)
	}

	t.Run("filter", func(t *testing.T) {
		out := filepath.Join(dir, "filtered.tar.zst")
		filter := "host " + sc.C2Addr.String()
		code, stderr := run(t, "collect", "--case", "IR-CAPF", "--no-images", "--capture", "3s", "--capture-filter", filter, "--out", out)
		b := openBundle(t, out)
		checkGaps(t, sc, code, stderr, b.Manifest.Gaps)
		data, err := b.ReadFile("capture/capture.pcapng", 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		pcap := filepath.Join(dir, "filtered.pcapng")
		os.WriteFile(pcap, data, 0o644)
		all, err := exec.Command("tshark", "-r", pcap, "-n", "-T", "fields", "-e", "frame.number").Output()
		if err != nil {
			t.Fatal(err)
		}
		c2 := sc.C2Addr.String()
		other, err := exec.Command("tshark", "-r", pcap, "-n", "-Y",
			fmt.Sprintf("!(ip.addr == %s || arp.src.proto_ipv4 == %s || arp.dst.proto_ipv4 == %s)", c2, c2, c2),
			"-T", "fields", "-e", "frame.interface_name", "-e", "ip.src", "-e", "ip.dst").Output()
		if err != nil {
			t.Fatal(err)
		}
		if len(strings.TrimSpace(string(all))) == 0 || len(strings.TrimSpace(string(other))) != 0 {
			t.Errorf("capture with filter %q: %d packets, and these not to or from %s:\n%s", filter,
				strings.Count(string(all), "\n"), c2, other)
		}
		for _, m := range b.Members() {
			if m.Path == "capture/capture.pcapng" && !strings.Contains(m.Note, filter) {
				t.Errorf("the manifest does not record the filter: note %q", m.Note)
			}
		}
	})
}

// refusingEngine serves the real engine's API on a socket of the test's
// own, except that it answers the requests refuse matches with a 500 and
// the engine's error shape: a source the engine refuses, for the tests of
// the gaps that follow. It returns the socket and how many it refused.
func refusingEngine(t *testing.T, what string, refuse func(*http.Request) bool) (sock string, refused *atomic.Int32) {
	t.Helper()
	sock = filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker"
		},
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/docker.sock")
		}},
		FlushInterval: -1,
	}
	refused = new(atomic.Int32)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse(r) {
			refused.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `{"message":"%s refused by the test's proxy"}`, what)
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock, refused
}
