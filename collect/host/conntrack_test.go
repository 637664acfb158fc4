package host

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

func ctTestNeedRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: conntrack and network namespaces are root-only")
	}
}

// ctTestUDPFlow sends one datagram each way over loopback, so that the host
// table holds a flow with both tuples and SEEN_REPLY, and returns the client
// and server ports.
func ctTestUDPFlow(t *testing.T, network, addr string) (client, server int) {
	t.Helper()
	srv, err := net.ListenPacket(network, net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatalf("listen %s: %v", network, err)
	}
	defer srv.Close()
	cl, err := net.Dial(network, srv.LocalAddr().String())
	if err != nil {
		t.Fatalf("dial %s: %v", network, err)
	}
	defer cl.Close()
	if _, err := cl.Write([]byte("dck")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	_, from, err := srv.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteTo([]byte("ack"), from); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Read(buf); err != nil {
		t.Fatal(err)
	}
	return cl.LocalAddr().(*net.UDPAddr).Port, srv.LocalAddr().(*net.UDPAddr).Port
}

func ctTestFind(entries []ConntrackEntry, ip string, client, server int) *ConntrackEntry {
	for i, e := range entries {
		if e.Proto == "udp" && e.Original.Src == ip && e.Original.Dst == ip &&
			e.Original.SrcPort == uint16(client) && e.Original.DstPort == uint16(server) {
			return &entries[i]
		}
	}
	return nil
}

func TestReadConntrack(t *testing.T) {
	ctTestNeedRoot(t)
	client, server := ctTestUDPFlow(t, "udp4", "127.0.0.1")

	tab, err := ReadConntrack()
	if err != nil {
		t.Fatalf("ReadConntrack() error = %v", err)
	}
	if tab.Source != "netlink" {
		t.Errorf("ReadConntrack().Source = %q, want netlink", tab.Source)
	}
	e := ctTestFind(tab.Entries, "127.0.0.1", client, server)
	if e == nil {
		t.Fatalf("ReadConntrack() has no udp flow 127.0.0.1:%d -> 127.0.0.1:%d among %d entries", client, server, len(tab.Entries))
	}
	wantReply := ConntrackTuple{Src: "127.0.0.1", Dst: "127.0.0.1", SrcPort: uint16(server), DstPort: uint16(client)}
	if !reflect.DeepEqual(e.Reply, wantReply) {
		t.Errorf("flow reply tuple = %+v, want %+v", e.Reply, wantReply)
	}
	if e.Family != "ipv4" || e.ProtoNum != 17 {
		t.Errorf("flow family, proto = %q, %d, want ipv4, 17", e.Family, e.ProtoNum)
	}
	if !ctTestHas(e.Status, "SEEN_REPLY") || !ctTestHas(e.Status, "CONFIRMED") {
		t.Errorf("flow status = %v, want SEEN_REPLY and CONFIRMED", e.Status)
	}
	if e.TimeoutSeconds == 0 || e.ID == 0 {
		t.Errorf("flow timeout, id = %d, %d, want both set", e.TimeoutSeconds, e.ID)
	}

	acct, err := ctSysctlBool("nf_conntrack_acct")
	if err != nil {
		t.Fatal(err)
	}
	if tab.Accounting != acct {
		t.Errorf("ReadConntrack().Accounting = %v, sysctl says %v", tab.Accounting, acct)
	}
	if acct && (e.CountersOrig == nil || e.CountersOrig.Packets != 1) {
		t.Errorf("accounting on, flow orig counters = %+v, want 1 packet", e.CountersOrig)
	}
	if !acct && e.CountersOrig != nil {
		t.Errorf("accounting off, flow orig counters = %+v, want none", e.CountersOrig)
	}
	if host, err := NetNSInode(1); err == nil && tab.NetNSInode != host {
		t.Errorf("ReadConntrack().NetNSInode = %d, host (pid 1) = %d", tab.NetNSInode, host)
	}

	// The fallback parser must find the same flow in the real /proc text.
	f, err := os.Open(ctProcPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	procEntries, err := ParseProcConntrack(f)
	if err != nil {
		t.Fatalf("ParseProcConntrack(%s) error = %v", ctProcPath, err)
	}
	pe := ctTestFind(procEntries, "127.0.0.1", client, server)
	if pe == nil {
		t.Fatalf("ParseProcConntrack(%s) lacks the flow found over netlink", ctProcPath)
	}
	if !reflect.DeepEqual(pe.Reply, e.Reply) || pe.Zone != e.Zone || pe.Mark != e.Mark {
		t.Errorf("proc flow = %+v, netlink flow = %+v", *pe, *e)
	}

	// conntrack(8) is an independent reader of the same table.
	if _, err := exec.LookPath("conntrack"); err == nil {
		out, err := exec.Command("conntrack", "-L", "-p", "udp", "--sport", strconv.Itoa(client), "--dport", strconv.Itoa(server)).CombinedOutput()
		if err != nil {
			t.Fatalf("conntrack -L: %v: %s", err, out)
		}
		want := "sport=" + strconv.Itoa(server) + " dport=" + strconv.Itoa(client)
		if !strings.Contains(string(out), want) {
			t.Errorf("conntrack -L output %q lacks reply %q", out, want)
		}
	}
}

// TestReadConntrackFallback makes the netlink dump fail (the real kernel
// cannot be made to) and checks the /proc fallback finds a fresh flow.
func TestReadConntrackFallback(t *testing.T) {
	ctTestNeedRoot(t)
	client, server := ctTestUDPFlow(t, "udp4", "127.0.0.1")
	nlErr := errors.New("dck: netlink unavailable")
	tab, err := ctRead(func() ([]ConntrackEntry, error) { return nil, nlErr })
	if !errors.Is(err, nlErr) {
		t.Errorf("ctRead(failing dump) error = %v, want it to wrap %v", err, nlErr)
	}
	if tab.Source != ctProcPath {
		t.Errorf("ctRead(failing dump).Source = %q, want %q", tab.Source, ctProcPath)
	}
	e := ctTestFind(tab.Entries, "127.0.0.1", client, server)
	if e == nil {
		t.Fatalf("ctRead(failing dump) lacks udp 127.0.0.1:%d -> 127.0.0.1:%d among %d entries", client, server, len(tab.Entries))
	}
	if e.Reply.SrcPort != uint16(server) || e.Reply.DstPort != uint16(client) || !ctTestHas(e.Status, "SEEN_REPLY") {
		t.Errorf("fallback flow = %+v, want reply %d -> %d, SEEN_REPLY", *e, server, client)
	}
}

// TestReadConntrackIPv6 checks that the dump holds IPv6 flows whenever the
// kernel tracks them (it does so only when something in the host namespace
// uses IPv6 conntrack, e.g. ip6tables nat rules).
func TestReadConntrackIPv6(t *testing.T) {
	ctTestNeedRoot(t)
	l, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	l.Close()
	client, server := ctTestUDPFlow(t, "udp6", "::1")

	f, err := os.Open(ctProcPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	procEntries, err := ParseProcConntrack(f)
	if err != nil {
		t.Fatalf("ParseProcConntrack(%s) error = %v", ctProcPath, err)
	}
	if ctTestFind(procEntries, "::1", client, server) == nil {
		t.Skip("the kernel does not track IPv6 in this namespace (no ip6 conntrack user)")
	}
	tab, err := ReadConntrack()
	if err != nil {
		t.Fatalf("ReadConntrack() error = %v", err)
	}
	e := ctTestFind(tab.Entries, "::1", client, server)
	if e == nil {
		t.Fatalf("ReadConntrack() lacks udp flow [::1]:%d -> [::1]:%d that /proc shows", client, server)
	}
	if e.Family != "ipv6" {
		t.Errorf("flow family = %q, want ipv6", e.Family)
	}
}

func ctTestHas(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ctU16(v uint16) *uint16 { return &v }
func ctU64(v uint64) *uint64 { return &v }

func TestParseProcConntrack(t *testing.T) {
	tests := []struct {
		name string
		line string
		want ConntrackEntry
	}{
		{
			name: "ipv4 tcp assured with counters",
			line: "ipv4     2 tcp      6 431999 ESTABLISHED src=172.18.0.2 dst=198.18.0.10 sport=45678 dport=443 packets=12 bytes=1520 src=198.18.0.10 dst=192.168.1.5 sport=443 dport=45678 packets=10 bytes=4200 [ASSURED] mark=0 zone=0 use=2",
			want: ConntrackEntry{
				Family: "ipv4", Proto: "tcp", ProtoNum: 6, TimeoutSeconds: 431999, State: "ESTABLISHED",
				Original:      ConntrackTuple{Src: "172.18.0.2", Dst: "198.18.0.10", SrcPort: 45678, DstPort: 443},
				Reply:         ConntrackTuple{Src: "198.18.0.10", Dst: "192.168.1.5", SrcPort: 443, DstPort: 45678},
				CountersOrig:  &ConntrackCounters{Packets: 12, Bytes: 1520},
				CountersReply: &ConntrackCounters{Packets: 10, Bytes: 4200},
				Status:        []string{"SEEN_REPLY", "ASSURED"},
				Use:           2,
			},
		},
		{
			name: "ipv6 udp unreplied, full-form addresses",
			line: "ipv6     10 udp      17 28 src=fd00:0000:0000:0000:0000:0000:0000:0002 dst=2001:0db8:0000:0000:0000:0000:0000:0053 sport=53000 dport=53 packets=1 bytes=80 [UNREPLIED] src=2001:0db8:0000:0000:0000:0000:0000:0053 dst=fd00:0000:0000:0000:0000:0000:0000:0002 sport=53 dport=53000 packets=0 bytes=0 mark=7 zone=0 use=2",
			want: ConntrackEntry{
				Family: "ipv6", Proto: "udp", ProtoNum: 17, TimeoutSeconds: 28,
				Original:      ConntrackTuple{Src: "fd00::2", Dst: "2001:db8::53", SrcPort: 53000, DstPort: 53},
				Reply:         ConntrackTuple{Src: "2001:db8::53", Dst: "fd00::2", SrcPort: 53, DstPort: 53000},
				CountersOrig:  &ConntrackCounters{Packets: 1, Bytes: 80},
				CountersReply: &ConntrackCounters{},
				Status:        []string{},
				Mark:          7,
				Use:           2,
			},
		},
		{
			name: "icmp echo with zone and mark",
			line: "ipv4     2 icmp     1 29 src=172.17.0.2 dst=198.18.0.10 type=8 code=0 id=4242 src=198.18.0.10 dst=172.17.0.2 type=0 code=0 id=4242 mark=305419896 zone=5 use=2",
			want: ConntrackEntry{
				Family: "ipv4", Proto: "icmp", ProtoNum: 1, TimeoutSeconds: 29,
				Original: ConntrackTuple{Src: "172.17.0.2", Dst: "198.18.0.10", ICMP: &ConntrackICMP{Type: 8, ID: 4242}},
				Reply:    ConntrackTuple{Src: "198.18.0.10", Dst: "172.17.0.2", ICMP: &ConntrackICMP{Type: 0, ID: 4242}},
				Status:   []string{"SEEN_REPLY"},
				Mark:     305419896, Zone: 5, Use: 2,
			},
		},
		{
			name: "directional zones, secctx, delta-time",
			line: "ipv4     2 udp      17 170 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 zone-orig=3 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 zone-reply=4 [ASSURED] mark=0 secctx=system_u:object_r:unlabeled_t:s0 zone=0 delta-time=42 use=1",
			want: ConntrackEntry{
				Family: "ipv4", Proto: "udp", ProtoNum: 17, TimeoutSeconds: 170,
				Original:         ConntrackTuple{Src: "10.0.0.1", Dst: "10.0.0.2", SrcPort: 1, DstPort: 2, Zone: ctU16(3)},
				Reply:            ConntrackTuple{Src: "10.0.0.2", Dst: "10.0.0.1", SrcPort: 2, DstPort: 1, Zone: ctU16(4)},
				Status:           []string{"SEEN_REPLY", "ASSURED"},
				SecCtx:           "system_u:object_r:unlabeled_t:s0",
				DeltaTimeSeconds: ctU64(42),
				Use:              1,
			},
		},
		{
			name: "offloaded tcp without timeout",
			line: "ipv4     2 tcp      6 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 [OFFLOAD] mark=0 zone=0 use=3",
			want: ConntrackEntry{
				Family: "ipv4", Proto: "tcp", ProtoNum: 6, State: "ESTABLISHED",
				Original: ConntrackTuple{Src: "10.0.0.1", Dst: "10.0.0.2", SrcPort: 1, DstPort: 2},
				Reply:    ConntrackTuple{Src: "10.0.0.2", Dst: "10.0.0.1", SrcPort: 2, DstPort: 1},
				Status:   []string{"SEEN_REPLY", "OFFLOAD"},
				Use:      3,
			},
		},
		{
			name: "untracked protocol (igmp) and gre keys kept verbatim",
			line: "ipv4     2 unknown  2 444 src=172.17.0.1 dst=224.0.0.22 srckey=0x1 [UNREPLIED] src=224.0.0.22 dst=172.17.0.1 dstkey=0x2 mark=0 zone=0 use=2",
			want: ConntrackEntry{
				Family: "ipv4", Proto: "unknown", ProtoNum: 2, TimeoutSeconds: 444,
				Original: ConntrackTuple{Src: "172.17.0.1", Dst: "224.0.0.22"},
				Reply:    ConntrackTuple{Src: "224.0.0.22", Dst: "172.17.0.1"},
				Status:   []string{},
				Unknown:  "srckey=0x1 dstkey=0x2",
				Use:      2,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcConntrack(strings.NewReader(tt.line + "\n"))
			if err != nil {
				t.Fatalf("ParseProcConntrack(%q) error = %v", tt.line, err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("ParseProcConntrack(%q) = %+v, want %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestParseProcConntrackMalformed(t *testing.T) {
	good := "ipv4     2 udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=1 dport=2 src=127.0.0.1 dst=127.0.0.1 sport=2 dport=1 mark=0 zone=0 use=2"
	bad := []string{
		"ipv5     2 udp 17 29 src=1.2.3.4 dst=1.2.3.4 src=1.2.3.4 dst=1.2.3.4 use=1",
		"ipv4     10 udp 17 29 src=1.2.3.4 dst=1.2.3.4 src=1.2.3.4 dst=1.2.3.4 use=1",
		"ipv4     2 udp 17 29 src=::1 dst=::1 src=::1 dst=::1 use=1",
		"ipv4     2 udp 17 29 src=1.2.3.4 dst=1.2.3.4 sport=70000 dport=1 src=1.2.3.4 dst=1.2.3.4 use=1",
		"ipv4     2 udp 17 29 src=1.2.3.4 dst=1.2.3.4 use=1 mark=0",
		"ipv4     2 udp 17 29 dst=1.2.3.4 src=1.2.3.4 src=1.2.3.4 dst=1.2.3.4 use=1",
		"ipv4     2 udp 17 29 src=1.2.3.4 dst=1.2.3.4 src=1.2.3.4 dst=1.2.3.4 src=1.2.3.4 dst=1.2.3.4",
		"ipv4     2 udp 17 29 src=1.2.3.4 dst=1.2.3.4 stray src=1.2.3.4 dst=1.2.3.4 use=1",
		"ipv6     10 udp 17 29 src=fe80::1%eth0 dst=::1 src=::1 dst=::1 use=1",
		"ipv4 2",
		"ipv4     2 udp 17 29 src=1.2.3.4 dst=1.2.3.4 src=1.2.3.4 dst=1.2.3.4 " + strings.Repeat("x=1 ", ctMaxTokens),
	}
	for _, line := range bad {
		got, err := ParseProcConntrack(strings.NewReader(good + "\n" + line + "\n" + good + "\n"))
		if err == nil {
			t.Errorf("ParseProcConntrack(%q) error = nil, want one", line)
		}
		if len(got) != 2 {
			t.Errorf("ParseProcConntrack(%q) kept %d good lines, want 2", line, len(got))
		}
	}

	long := good + " " + strings.Repeat("x", ctMaxLineBytes)
	if _, err := ParseProcConntrack(strings.NewReader(long)); err == nil {
		t.Errorf("ParseProcConntrack(line of %d bytes) error = nil, want one", len(long))
	}
}

func TestParseProcConntrackLimit(t *testing.T) {
	const limit = 100
	line := "ipv4     2 udp      17 29 src=127.0.0.1 dst=127.0.0.1 sport=1 dport=2 src=127.0.0.1 dst=127.0.0.1 sport=2 dport=1 mark=0 zone=0 use=2\n"
	for _, lines := range []int{limit, limit + 1, limit + 500} {
		got, err := ctParseProc(strings.NewReader(strings.Repeat(line, lines)), limit)
		if wantErr := lines > limit; errors.Is(err, errCtTooManyEntries) != wantErr {
			t.Errorf("ctParseProc(%d lines, limit %d) error = %v, want too-many %v", lines, limit, err, wantErr)
		}
		if len(got) != limit {
			t.Errorf("ctParseProc(%d lines, limit %d) kept %d, want %d", lines, limit, len(got), limit)
		}
	}
}

func FuzzParseProcConntrack(f *testing.F) {
	f.Add("ipv4     2 tcp      6 431999 ESTABLISHED src=172.18.0.2 dst=198.18.0.10 sport=45678 dport=443 packets=12 bytes=1520 src=198.18.0.10 dst=192.168.1.5 sport=443 dport=45678 packets=10 bytes=4200 [ASSURED] mark=0 zone=0 use=2\n")
	f.Add("ipv6     10 udp      17 28 src=fd00:0000:0000:0000:0000:0000:0000:0002 dst=2001:0db8:0000:0000:0000:0000:0000:0053 sport=53000 dport=53 [UNREPLIED] src=2001:0db8:0000:0000:0000:0000:0000:0053 dst=fd00:0000:0000:0000:0000:0000:0000:0002 sport=53 dport=53000 mark=0 zone=0 use=2\n")
	f.Add("ipv4     2 icmp     1 29 src=172.17.0.2 dst=198.18.0.10 type=8 code=0 id=4242 src=198.18.0.10 dst=172.17.0.2 type=0 code=0 id=4242 mark=0 zone=5 use=2\n")
	f.Add("ipv4     2 unknown  2 444 src=172.17.0.1 dst=224.0.0.22 [UNREPLIED] src=224.0.0.22 dst=172.17.0.1 mark=0 zone=0 use=2\n")
	if b, err := os.ReadFile(ctProcPath); err == nil && len(b) < 1<<16 {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, text string) {
		entries, _ := ParseProcConntrack(strings.NewReader(text))
		if len(entries) > strings.Count(text, "\n")+1 {
			t.Fatalf("ParseProcConntrack(%q) = %d entries from fewer lines", text, len(entries))
		}
		for _, e := range entries {
			if e.Family != "ipv4" && e.Family != "ipv6" {
				t.Fatalf("ParseProcConntrack(%q) family %q", text, e.Family)
			}
			if e.Original.Src == "" || e.Reply.Dst == "" {
				t.Fatalf("ParseProcConntrack(%q) entry without addresses: %+v", text, e)
			}
		}
	})
}

// TestReadConntrackNamespace reads the table of a test namespace in which
// the test turns on IPv6 tracking (an nft ct rule), accounting and
// timestamps, none of which it may change on the host. The reading thread
// joins the namespace, as ReadConntrack follows the calling thread.
func TestReadConntrackNamespace(t *testing.T) {
	n := nsTestSetup(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft(8) to make the namespace track IPv6")
	}
	nft := exec.Command("ip", "netns", "exec", n.ns, "nft", "-f", "-")
	nft.Stdin = strings.NewReader("table inet dck {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ct state new counter\n }\n}\n")
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v: %s", n.ns, err, out)
	}
	nsTestRun(t, "ip", "netns", "exec", n.ns, "sh", "-c",
		"echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct && echo 1 > /proc/sys/net/netfilter/nf_conntrack_timestamp")
	nsIno := nsTestInode(t, "/run/netns/"+n.ns)

	type result struct {
		tab                        ConntrackTable
		proc                       []ConntrackEntry
		c4, s4, c6, s6             int
		readErr, procErr, setupErr error
	}
	done := make(chan result)
	go func() {
		var r result
		defer func() { done <- r }()
		// The thread goes back to its namespace at the end, and is unlocked
		// only if that worked. Exiting locked is not enough: when this runs
		// on the main thread, Go parks it rather than ending it, and
		// /proc/<pid>/ns/net (the main thread's) would then name the test
		// namespace for the rest of the test binary.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			r.setupErr = err
			return
		}
		defer orig.Close()
		h, err := netns.GetFromName(n.ns)
		if err != nil {
			r.setupErr = err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			r.setupErr = err
			return
		}
		defer func() {
			if err := netns.Set(orig); err == nil {
				runtime.UnlockOSThread()
			} else if r.setupErr == nil {
				r.setupErr = fmt.Errorf("return to own netns: %w", err)
			}
		}()
		r.c4, r.s4 = ctTestUDPFlowNoT("udp4", "127.0.0.1", &r.setupErr)
		r.c6, r.s6 = ctTestUDPFlowNoT("udp6", "::1", &r.setupErr)
		if r.setupErr != nil {
			return
		}
		r.tab, r.readErr = ReadConntrack()
		f, err := os.Open(ctProcThread)
		if err != nil {
			r.procErr = err
			return
		}
		defer f.Close()
		r.proc, r.procErr = ParseProcConntrack(f)
	}()
	r := <-done
	if r.setupErr != nil {
		t.Fatalf("flows in %s: %v", n.ns, r.setupErr)
	}
	if r.readErr != nil {
		t.Fatalf("ReadConntrack() in %s error = %v", n.ns, r.readErr)
	}
	tab := r.tab
	if tab.NetNSInode != nsIno || !tab.Accounting || !tab.Timestamps || tab.Count < 2 {
		t.Errorf("ReadConntrack() in %s: inode %d (want %d), accounting %v, timestamps %v, count %d; want both on, count >= 2",
			n.ns, tab.NetNSInode, nsIno, tab.Accounting, tab.Timestamps, tab.Count)
	}
	for _, c := range []struct {
		ip, family     string
		client, server int
	}{{"127.0.0.1", "ipv4", r.c4, r.s4}, {"::1", "ipv6", r.c6, r.s6}} {
		e := ctTestFind(tab.Entries, c.ip, c.client, c.server)
		if e == nil {
			t.Errorf("ReadConntrack() in %s lacks udp %s %d -> %d; entries %+v", n.ns, c.ip, c.client, c.server, tab.Entries)
			continue
		}
		wantReply := ConntrackTuple{Src: c.ip, Dst: c.ip, SrcPort: uint16(c.server), DstPort: uint16(c.client)}
		if e.Family != c.family || !reflect.DeepEqual(e.Reply, wantReply) {
			t.Errorf("flow %s: family %q reply %+v, want %q %+v", c.ip, e.Family, e.Reply, c.family, wantReply)
		}
		if e.CountersOrig == nil || e.CountersReply == nil || e.CountersOrig.Packets != 1 || e.CountersReply.Packets != 1 || e.CountersOrig.Bytes == 0 {
			t.Errorf("flow %s counters = %+v / %+v, want 1 packet each way", c.ip, e.CountersOrig, e.CountersReply)
		}
		if e.Start == nil || time.Since(*e.Start) > time.Minute || time.Since(*e.Start) < -time.Minute {
			t.Errorf("flow %s start = %v, want about now", c.ip, e.Start)
		}

		// The /proc text of the same namespace, through the fallback parser.
		if r.procErr != nil {
			t.Fatalf("ParseProcConntrack(%s) in %s error = %v", ctProcThread, n.ns, r.procErr)
		}
		pe := ctTestFind(r.proc, c.ip, c.client, c.server)
		if pe == nil {
			t.Errorf("ParseProcConntrack in %s lacks udp %s %d -> %d", n.ns, c.ip, c.client, c.server)
			continue
		}
		if !reflect.DeepEqual(pe.Reply, e.Reply) || !reflect.DeepEqual(pe.CountersOrig, e.CountersOrig) ||
			!reflect.DeepEqual(pe.CountersReply, e.CountersReply) || pe.DeltaTimeSeconds == nil || pe.Family != c.family {
			t.Errorf("proc flow %s = %+v, netlink flow = %+v", c.ip, *pe, *e)
		}
	}
}

// ctTestUDPFlowNoT is ctTestUDPFlow for a goroutine that may not call
// t.Fatal: the first error lands in *errp.
func ctTestUDPFlowNoT(network, addr string, errp *error) (client, server int) {
	if *errp != nil {
		return 0, 0
	}
	fail := func(err error) (int, int) { *errp = fmt.Errorf("%s flow: %w", network, err); return 0, 0 }
	srv, err := net.ListenPacket(network, net.JoinHostPort(addr, "0"))
	if err != nil {
		return fail(err)
	}
	defer srv.Close()
	cl, err := net.Dial(network, srv.LocalAddr().String())
	if err != nil {
		return fail(err)
	}
	defer cl.Close()
	buf := make([]byte, 16)
	if _, err := cl.Write([]byte("dck")); err != nil {
		return fail(err)
	}
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := srv.ReadFrom(buf)
	if err != nil {
		return fail(err)
	}
	if _, err := srv.WriteTo([]byte("ack"), from); err != nil {
		return fail(err)
	}
	cl.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := cl.Read(buf); err != nil {
		return fail(err)
	}
	return cl.LocalAddr().(*net.UDPAddr).Port, srv.LocalAddr().(*net.UDPAddr).Port
}
