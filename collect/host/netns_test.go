package host

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nsTestNet is a network namespace made by a test: dck-<id> with a veth
// pair dckh<id> (host side, left down: no packet leaves it) and dckp<id>
// (inside), a bridge dckb<id> with a port dckd<id> (a veth whose peer
// dcke<id> is also inside), and a sleep process that lives in it.
type nsTestNet struct {
	ns, host, peer, bridge, dummy string
	pid                           int
}

const (
	nsTestAddr     = "198.18.77.2/30"
	nsTestGw       = "198.18.77.1"
	nsTestGwMAC    = "02:dc:00:00:77:01"
	nsTestMainDst  = "198.18.78.0/24"
	nsTestTableDst = "198.18.79.0/24"
	nsTestTable    = 100
	nsTestRulePrio = 1000
)

func nsTestRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func nsTestSetup(t *testing.T) *nsTestNet {
	t.Helper()
	ctTestNeedRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) to build the test namespace")
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(b)
	n := &nsTestNet{ns: "dck-" + id, host: "dckh" + id, peer: "dckp" + id, bridge: "dckb" + id, dummy: "dckd" + id}

	nsTestRun(t, "ip", "netns", "add", n.ns)
	t.Cleanup(func() {
		// Deleting the namespace destroys everything inside it and with
		// the inside veth also its host-side peer; the explicit link
		// delete covers a failure before the peer was moved.
		exec.Command("ip", "netns", "del", n.ns).Run()
		exec.Command("ip", "link", "del", n.host).Run()
	})
	nsTestRun(t, "ip", "link", "add", n.host, "type", "veth", "peer", "name", n.peer)
	nsTestRun(t, "ip", "link", "set", n.peer, "netns", n.ns)
	in := []string{"ip", "-n", n.ns}
	nsTestRun(t, append(in, "link", "set", "lo", "up")...)
	nsTestRun(t, append(in, "link", "set", n.peer, "up")...)
	nsTestRun(t, append(in, "addr", "add", nsTestAddr, "dev", n.peer)...)
	nsTestRun(t, append(in, "route", "add", nsTestMainDst, "via", nsTestGw, "dev", n.peer, "onlink")...)
	nsTestRun(t, append(in, "route", "add", nsTestTableDst, "via", nsTestGw, "dev", n.peer, "onlink", "table", "100")...)
	nsTestRun(t, append(in, "rule", "add", "from", "198.18.77.2", "lookup", "100", "priority", "1000")...)
	nsTestRun(t, append(in, "neigh", "add", nsTestGw, "lladdr", nsTestGwMAC, "dev", n.peer, "nud", "permanent")...)
	nsTestRun(t, append(in, "link", "add", n.bridge, "type", "bridge")...)
	// A veth pair inside stands in for a container port: this kernel may
	// lack the dummy driver.
	nsTestRun(t, append(in, "link", "add", n.dummy, "type", "veth", "peer", "name", "dcke"+id)...)
	nsTestRun(t, append(in, "link", "set", n.dummy, "master", n.bridge)...)
	nsTestRun(t, append(in, "link", "set", n.bridge, "up")...)
	nsTestRun(t, append(in, "link", "set", n.dummy, "up")...)

	cmd := exec.Command("ip", "netns", "exec", n.ns, "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep in %s: %v", n.ns, err)
	}
	n.pid = cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// ip(8) joins the namespace and then execs sleep under the same PID:
	// wait until the PID is inside.
	want := nsTestInode(t, "/run/netns/"+n.ns)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ino, err := NetNSInode(n.pid); err == nil && ino == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not enter %s", n.pid, n.ns)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

func nsTestInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func nsTestLink(links []NetLink, name string) *NetLink {
	for i := range links {
		if links[i].Name == name {
			return &links[i]
		}
	}
	return nil
}

// nsTestIPLink is the part of `ip -d -j link show` used as an oracle.
type nsTestIPLink struct {
	Index       int    `json:"ifindex"`
	Name        string `json:"ifname"`
	LinkIndex   int    `json:"link_index"`
	LinkNetNSID *int   `json:"link_netnsid"`
	Address     string `json:"address"`
	MTU         int    `json:"mtu"`
}

func nsTestIPLinks(t *testing.T, args ...string) []nsTestIPLink {
	t.Helper()
	out := nsTestRun(t, append([]string{"ip"}, append(args, "-d", "-j", "link", "show")...)...)
	var links []nsTestIPLink
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Fatalf("ip -j link show: %v: %s", err, out)
	}
	return links
}

func TestReadNetNS(t *testing.T) {
	n := nsTestSetup(t)

	got, err := ReadNetNS(n.pid)
	if err != nil {
		t.Fatalf("ReadNetNS(%d) error = %v", n.pid, err)
	}
	if want := nsTestInode(t, "/run/netns/"+n.ns); got.Inode != want {
		t.Errorf("ReadNetNS(%d).Inode = %d, want %d (%s)", n.pid, got.Inode, want, n.ns)
	}
	if got.PID != n.pid {
		t.Errorf("ReadNetNS(%d).PID = %d", n.pid, got.PID)
	}

	// Links: exactly what ip(8) shows inside, and nothing of the host.
	oracle := nsTestIPLinks(t, "-n", n.ns)
	if len(got.Links) != len(oracle) {
		t.Errorf("ReadNetNS(%d) has %d links, ip -n %s shows %d", n.pid, len(got.Links), n.ns, len(oracle))
	}
	for _, o := range oracle {
		l := nsTestLink(got.Links, o.Name)
		if l == nil {
			t.Errorf("ReadNetNS(%d) lacks link %q", n.pid, o.Name)
			continue
		}
		// netlink.LinkList drops an all-zero MAC (lo), ip prints it.
		mac := o.Address
		if mac == "00:00:00:00:00:00" {
			mac = ""
		}
		if l.Index != o.Index || l.MTU != o.MTU || l.MAC != mac {
			t.Errorf("link %q = index %d mtu %d mac %q, ip says %d %d %q", o.Name, l.Index, l.MTU, l.MAC, o.Index, o.MTU, o.Address)
		}
	}
	for _, hostOnly := range []string{"eth0", "docker0", n.host} {
		if nsTestLink(got.Links, hostOnly) != nil {
			t.Errorf("ReadNetNS(%d) shows host link %q", n.pid, hostOnly)
		}
	}
	peer := nsTestLink(got.Links, n.peer)
	if peer == nil {
		t.Fatalf("ReadNetNS(%d) lacks the veth %q", n.pid, n.peer)
	}
	if peer.Kind != "veth" || peer.LinkNetNSID == nil {
		t.Errorf("link %q kind = %q, link-netnsid = %v, want veth with a netnsid", n.peer, peer.Kind, peer.LinkNetNSID)
	}
	if b := nsTestLink(got.Links, n.bridge); b == nil || b.Kind != "bridge" {
		t.Errorf("link %q = %+v, want kind bridge", n.bridge, b)
	}
	d := nsTestLink(got.Links, n.dummy)
	if d == nil || d.Kind != "veth" || d.MasterName != n.bridge || d.MasterIndex == 0 {
		t.Errorf("link %q = %+v, want a veth with master %q", n.dummy, d, n.bridge)
	}

	// Addresses, routes of two tables, the rule and the neighbour.
	if !nsTestHasAddr(got.Addrs, n.peer, nsTestAddr) {
		t.Errorf("ReadNetNS(%d).Addrs = %+v, want %s on %s", n.pid, got.Addrs, nsTestAddr, n.peer)
	}
	for _, want := range []NetRoute{
		{Table: 254, Dst: nsTestMainDst, Gw: nsTestGw, Dev: n.peer, Type: "unicast"},
		{Table: nsTestTable, Dst: nsTestTableDst, Gw: nsTestGw, Dev: n.peer, Type: "unicast"},
		{Table: 254, Dst: "198.18.77.0/30", Dev: n.peer, Type: "unicast", Src: "198.18.77.2"},
		{Table: 255, Dst: "198.18.77.2/32", Dev: n.peer, Type: "local"},
	} {
		if !nsTestHasRoute(got.Routes, want) {
			t.Errorf("ReadNetNS(%d).Routes lack %+v; have %+v", n.pid, want, got.Routes)
		}
	}
	var rule *NetRule
	for i, r := range got.Rules {
		if r.Priority == nsTestRulePrio {
			rule = &got.Rules[i]
		}
	}
	if rule == nil || rule.Table != nsTestTable || rule.Src != "198.18.77.2/32" || rule.Action != "to_tbl" || rule.Family != "ipv4" {
		t.Errorf("ReadNetNS(%d) rule %d = %+v, want from 198.18.77.2/32 lookup %d", n.pid, nsTestRulePrio, rule, nsTestTable)
	}
	foundNeigh := false
	for _, nb := range got.Neighbors {
		if nb.IP == nsTestGw && nb.Dev == n.peer {
			foundNeigh = true
			if nb.MAC != nsTestGwMAC || !ctTestHas(nb.State, "PERMANENT") {
				t.Errorf("neighbour %s = %+v, want %s PERMANENT", nsTestGw, nb, nsTestGwMAC)
			}
		}
	}
	if !foundNeigh {
		t.Errorf("ReadNetNS(%d).Neighbors = %+v, lack %s", n.pid, got.Neighbors, nsTestGw)
	}

	// The bridge inside: its port and the port's own MAC in the FDB.
	if len(got.BridgePorts) != 1 || got.BridgePorts[0].Name != n.dummy || got.BridgePorts[0].Bridge != n.bridge || !got.BridgePorts[0].Learning {
		t.Errorf("ReadNetNS(%d).BridgePorts = %+v, want %s on %s (learning)", n.pid, got.BridgePorts, n.dummy, n.bridge)
	}
	foundFDB := false
	for _, f := range got.FDB {
		if f.Dev == n.dummy && d != nil && f.MAC == d.MAC && ctTestHas(f.State, "PERMANENT") {
			foundFDB = true
		}
	}
	if !foundFDB {
		t.Errorf("ReadNetNS(%d).FDB = %+v, lacks the permanent entry of %s", n.pid, got.FDB, n.dummy)
	}

	// The host: its own links, and the veth pair joined by index.
	hostPID := nsTestHostPID(t)
	host, err := ReadNetNS(hostPID)
	if err != nil {
		t.Fatalf("ReadNetNS(%d) error = %v", hostPID, err)
	}
	if host.Inode == got.Inode {
		t.Errorf("ReadNetNS(%d).Inode = %d, same as the test namespace", hostPID, host.Inode)
	}
	if want, err := NetNSInode(hostPID); err != nil || host.Inode != want {
		t.Errorf("ReadNetNS(%d).Inode = %d, NetNSInode = %d, %v", hostPID, host.Inode, want, err)
	}
	hv := nsTestLink(host.Links, n.host)
	if hv == nil {
		t.Fatalf("ReadNetNS(host) lacks the host veth %q", n.host)
	}
	if _, err := os.Stat("/sys/class/net/eth0"); err == nil && nsTestLink(host.Links, "eth0") == nil {
		t.Errorf("ReadNetNS(host) lacks eth0")
	}
	if nsTestLink(host.Links, n.peer) != nil {
		t.Errorf("ReadNetNS(host) shows %q, which lives in %s", n.peer, n.ns)
	}
	if hv.PeerIndex != peer.Index || peer.PeerIndex != hv.Index || hv.ParentIndex != peer.Index {
		t.Errorf("veth pair: host %q peer %d iflink %d (index %d), inside %q peer %d (index %d); want crossed",
			n.host, hv.PeerIndex, hv.ParentIndex, hv.Index, n.peer, peer.PeerIndex, peer.Index)
	}
	for _, o := range nsTestIPLinks(t, "-n", n.ns) {
		if o.Name == n.peer && (o.LinkIndex != hv.Index || o.LinkNetNSID == nil || peer.LinkNetNSID == nil || *o.LinkNetNSID != *peer.LinkNetNSID) {
			t.Errorf("ip -n %s link %s: link_index %d netnsid %v; ReadNetNS: %d %v", n.ns, n.peer, o.LinkIndex, o.LinkNetNSID, hv.Index, peer.LinkNetNSID)
		}
	}
	out := nsTestRun(t, "ip", "-d", "-j", "link", "show", "dev", n.host)
	var hostOracle []nsTestIPLink
	if err := json.Unmarshal([]byte(out), &hostOracle); err != nil || len(hostOracle) != 1 {
		t.Fatalf("ip -j link show dev %s: %v: %s", n.host, err, out)
	}
	if o := hostOracle[0]; o.LinkNetNSID == nil || hv.LinkNetNSID == nil || *o.LinkNetNSID != *hv.LinkNetNSID {
		t.Errorf("host veth link-netnsid = %v, ip says %v", hv.LinkNetNSID, o.LinkNetNSID)
	}
	if !nsTestHasRouteTable(host.Routes, 255) {
		t.Errorf("ReadNetNS(host).Routes have no local-table (255) route")
	}

	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("netns %s: %d bytes of JSON: %s", n.ns, len(b), b)
}

// nsTestHostPID is 1 where the host's init process can be inspected, and
// else the test's own PID, which the test creates its veth from and so is in
// the namespace the host side lives in. (In some sandboxes PID 1 is a
// supervisor whose /proc/1/ns an LSM hides even from root.)
func nsTestHostPID(t *testing.T) int {
	t.Helper()
	if _, err := NetNSInode(1); err == nil {
		return 1
	} else if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("NetNSInode(1) error = %v", err)
	}
	self, err := NetNSInode(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("/proc/1/ns/net is not readable here; using own PID %d (netns inode %d) as the host", os.Getpid(), self)
	return os.Getpid()
}

func TestReadNetNSGone(t *testing.T) {
	// A PID that cannot exist (above pid_max's ceiling of 2^22).
	if _, err := ReadNetNS(1 << 23); err == nil {
		t.Errorf("ReadNetNS(1<<23) error = nil, want one")
	}
	if _, err := NetNSInode(1 << 23); err == nil {
		t.Errorf("NetNSInode(1<<23) error = nil, want one")
	}
}

func nsTestHasAddr(addrs []NetAddr, dev, cidr string) bool {
	for _, a := range addrs {
		if a.Dev == dev && a.CIDR == cidr && a.Family == "ipv4" {
			return true
		}
	}
	return false
}

func nsTestHasRoute(routes []NetRoute, want NetRoute) bool {
	for _, r := range routes {
		if r.Table == want.Table && r.Dst == want.Dst && r.Gw == want.Gw && r.Dev == want.Dev &&
			r.Type == want.Type && (want.Src == "" || r.Src == want.Src) && r.Family == "ipv4" {
			return true
		}
	}
	return false
}

func nsTestHasRouteTable(routes []NetRoute, table int) bool {
	for _, r := range routes {
		if r.Table == table {
			return true
		}
	}
	return false
}
