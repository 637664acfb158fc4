package host

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sockInodeOf returns the inode of the socket behind c, as /proc shows it.
func sockInodeOf(t *testing.T, c syscall.Conn) uint64 {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = syscall.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return st.Ino
}

// sockCheckOwnersErr fails on an error from SocketOwners unless it is a
// process this test does not control refusing access (the sandbox's init can
// hold capabilities root here lacks, which makes its descriptors unreadable).
func sockCheckOwnersErr(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, fs.ErrPermission) {
		t.Logf("SocketOwners: %v", err)
	} else if err != nil {
		t.Errorf("SocketOwners: %v", err)
	}
}

func sockByInode(socks []Socket, inode uint64) (Socket, bool) {
	for _, s := range socks {
		if s.Inode == inode {
			return s, true
		}
	}
	return Socket{}, false
}

func TestReadSocketsOwnProcess(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	lport := uint16(ln.Addr().(*net.TCPAddr).Port)
	cport := uint16(client.LocalAddr().(*net.TCPAddr).Port)
	want := map[uint64]Socket{
		sockInodeOf(t, ln.(*net.TCPListener)): {Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: lport, RemoteIP: "0.0.0.0", RemotePort: 0, State: "LISTEN"},
		sockInodeOf(t, client.(*net.TCPConn)): {Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: cport, RemoteIP: "127.0.0.1", RemotePort: lport, State: "ESTABLISHED"},
		sockInodeOf(t, server.(*net.TCPConn)): {Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: lport, RemoteIP: "127.0.0.1", RemotePort: cport, State: "ESTABLISHED"},
	}

	socks, err := ReadSockets(os.Getpid())
	if err != nil {
		t.Fatalf("ReadSockets(self): %v", err)
	}
	for inode, w := range want {
		got, ok := sockByInode(socks, inode)
		if !ok {
			t.Errorf("ReadSockets(self): no socket with inode %d (%+v)", inode, w)
			continue
		}
		w.Inode, w.UID = inode, uint32(os.Getuid())
		got.TxQueue, got.RxQueue = 0, 0
		if got != w {
			t.Errorf("ReadSockets(self) inode %d = %+v, want %+v", inode, got, w)
		}
	}

	owners, err := SocketOwners()
	sockCheckOwnersErr(t, err)
	for inode := range want {
		found := false
		for _, o := range owners[inode] {
			if o.PID == os.Getpid() && o.FD > 2 && o.Comm != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("SocketOwners()[%d] = %+v, want an entry for pid %d", inode, owners[inode], os.Getpid())
		}
	}
}

// TestSocketOwnerScanWhenListed replaces a connection between the scan of
// its process and the scan of the rest of the host, as a beaconing process
// does: the connection listed before must keep the owner seen when it was
// listed, and the process is not scanned twice.
func TestSocketOwnerScanWhenListed(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	dial := func() *net.TCPConn {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c.(*net.TCPConn)
	}
	old := dial()
	oldInode := sockInodeOf(t, old)

	scan := NewSocketOwnerScan()
	scan.Scan([]int{os.Getpid()})
	old.Close()
	cur := dial()
	defer cur.Close()
	owners, err := scan.Rest()
	sockCheckOwnersErr(t, err)
	if o := owners[oldInode]; len(o) != 1 || o[0].PID != os.Getpid() {
		t.Errorf("owners of the replaced connection (inode %d) = %+v, want this process, seen when it was scanned", oldInode, o)
	}
	if o, ok := owners[sockInodeOf(t, cur)]; ok {
		t.Errorf("owners of the connection opened after the scan = %+v: this process was scanned twice", o)
	}
	if n, err := SocketOwners(); err == nil || strings.Contains(err.Error(), "processes unreadable") {
		if _, ok := n[oldInode]; ok {
			t.Errorf("a scan of the whole host after the replacement still finds inode %d: the test shows nothing", oldInode)
		}
	}
}

// TestSockHelperProcess is not a test: it is the listener that
// TestReadSocketsNetns starts inside a network namespace.
func TestSockHelperProcess(t *testing.T) {
	if os.Getenv("DCP_SOCK_HELPER") != "1" {
		t.Skip("helper process for TestReadSocketsNetns")
	}
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port, sockInodeOf(t, ln.(*net.TCPListener)))
	io.Copy(io.Discard, os.Stdin) // until the test closes stdin
	os.Exit(0)
}

// sockTestNetns creates a named network namespace, deleted at cleanup, and
// returns its name.
func sockTestNetns(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command")
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	ns := "dcp-" + hex.EncodeToString(rnd[:])
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	return ns
}

func TestReadSocketsNetns(t *testing.T) {
	ns := sockTestNetns(t)

	// ip netns exec execs the helper in place, so the PID is the helper's.
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestSockHelperProcess$")
	cmd.Env = append(os.Environ(), "DCP_SOCK_HELPER=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(pid, syscall.SIGKILL)
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var port uint16
	var inode uint64
	if _, err := fmt.Sscan(line, &port, &inode); err != nil {
		t.Fatalf("helper said %q: %v", line, err)
	}

	nsSocks, err := ReadSockets(pid)
	if err != nil {
		t.Fatalf("ReadSockets(%d): %v", pid, err)
	}
	got, ok := sockByInode(nsSocks, inode)
	want := Socket{Proto: "tcp", LocalIP: "0.0.0.0", LocalPort: port, RemoteIP: "0.0.0.0", State: "LISTEN", Inode: inode}
	if !ok || got != want {
		t.Errorf("ReadSockets(%d) inode %d = %+v (found %v), want %+v", pid, inode, got, ok, want)
	}
	// The fresh namespace holds nothing else on TCP.
	for _, s := range nsSocks {
		if (s.Proto == "tcp" || s.Proto == "tcp6") && s.Inode != inode {
			t.Errorf("ReadSockets(%d): unexpected socket %+v in a fresh namespace", pid, s)
		}
	}

	hostSocks, err := ReadSockets(os.Getpid())
	if err != nil {
		t.Fatalf("ReadSockets(self): %v", err)
	}
	if s, ok := sockByInode(hostSocks, inode); ok {
		t.Errorf("ReadSockets(self) holds the namespace's listener %+v", s)
	}

	owners, err := SocketOwners()
	sockCheckOwnersErr(t, err)
	if o := owners[inode]; len(o) != 1 || o[0].PID != pid {
		t.Errorf("SocketOwners()[%d] = %+v, want pid %d only", inode, o, pid)
	}
}

// TestReadSocketsInPIDReused gives a namespace's only process's PID to a
// process in the host's namespace, as happens when PIDs wrap around while a
// collection runs: the namespace's socket tables must then be reported
// gone, not read as the host's and recorded under the namespace.
func TestReadSocketsInPIDReused(t *testing.T) {
	ns := sockTestNetns(t) // root, which also sets ns_last_pid
	// ip netns exec execs sleep in place: the PID is sleep's.
	inNS := procTestStart(t, "ip", "netns", "exec", ns, "sleep", "60")
	pid := inNS.Process.Pid
	var inode uint64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		// Until ip has entered the namespace, the PID is in the host's.
		ino, err := NetNSInode(pid)
		if err == nil && ino != sockSelfNetNS(t) {
			inode = ino
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never entered namespace %s: inode %d, %v", pid, ns, ino, err)
		}
	}
	if _, err := ReadSocketsIn(pid, inode); err != nil {
		t.Fatalf("ReadSocketsIn(%d, %d) of a live process: %v", pid, inode, err)
	}
	if _, err := ReadSocketsIn(pid, inode+1); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadSocketsIn(%d, another namespace) error = %v, want one matching os.ErrNotExist", pid, err)
	}
	dir, err := os.Open(fmt.Sprintf("/proc/%d", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()

	inNS.Process.Kill()
	inNS.Wait()
	if _, err := ReadSocketsIn(pid, inode); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadSocketsIn(%d, %d) after its exit: error = %v, want one matching os.ErrNotExist", pid, inode, err)
	}
	procTestReusePID(t, pid, "sleep", "60")
	if ino, err := NetNSInode(pid); err != nil || ino != sockSelfNetNS(t) {
		t.Fatalf("pid %d reused in namespace %d (%v), want the host's %d", pid, ino, err, sockSelfNetNS(t))
	}
	if socks, err := ReadSocketsIn(pid, inode); !errors.Is(err, os.ErrNotExist) || socks != nil {
		t.Errorf("ReadSocketsIn(%d, %d) with the PID reused in the host: %d sockets, error %v; want none and one matching os.ErrNotExist",
			pid, inode, len(socks), err)
	}
	// The collector's step reads both through the namespace's PIDs.
	if n, err := (&Namespace{Inode: inode, PIDs: []int{pid}}).ReadNetNS(); err == nil || !IsGone(err) || n.Inode != 0 {
		t.Errorf("readNetNS of namespace %d through reused pid %d: inode %d, error %v; want nothing and the namespace gone", inode, pid, n.Inode, err)
	}
	if socks, err := (&Namespace{Inode: inode, PIDs: []int{pid}}).ReadSockets(); err == nil || !IsGone(err) || socks != nil {
		t.Errorf("ReadProcSocketTables of namespace %d through reused pid %d: %d sockets, error %v; want none and the namespace gone", inode, pid, len(socks), err)
	}
	// What the tables are read through: the dead process's /proc directory
	// opens nothing, although its number names a live process again.
	if fd, err := unix.Openat(int(dir.Fd()), "net/tcp", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		unix.Close(fd)
		t.Errorf("net/tcp opened through the /proc directory of exited pid %d", pid)
	}
}

func sockSelfNetNS(t *testing.T) uint64 {
	t.Helper()
	ino, err := NetNSInode(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

func TestParseProcNet(t *testing.T) {
	tcpHeader := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tcp6Header := "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	udpHeader := "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
	unixHeader := "Num       RefCount Protocol Flags    Type St Inode Path\n"
	tests := []struct {
		proto, in string
		want      []Socket
	}{
		{"tcp", tcpHeader +
			"   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n" +
			"   1: 0200000A:A3B2 0101A8C0:01BB 01 00000010:00000020 02:000A2E4F 00000000  1000        0 23456 2 0000000000000000 20 4 30 10 -1\n" +
			"   2: 0200000A:A3B4 0101A8C0:01BB 06 00000000:00000000 03:00001771 00000000     0        0 0 3 0000000000000000\n",
			[]Socket{
				{Proto: "tcp", LocalIP: "127.0.0.1", LocalPort: 8080, RemoteIP: "0.0.0.0", State: "LISTEN", Inode: 12345},
				{Proto: "tcp", LocalIP: "10.0.0.2", LocalPort: 41906, RemoteIP: "192.168.1.1", RemotePort: 443, State: "ESTABLISHED", UID: 1000, Inode: 23456, TxQueue: 16, RxQueue: 32},
				{Proto: "tcp", LocalIP: "10.0.0.2", LocalPort: 41908, RemoteIP: "192.168.1.1", RemotePort: 443, State: "TIME_WAIT"},
			}},
		{"tcp6", tcp6Header +
			"   0: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 34567 1 0000000000000000 20 4 30 10 -1\n" +
			"   1: B80D0120000000000000000001000000:0016 B80D0120000000000000000002000000:D431 01 00000000:00000000 02:00000ABC 00000000     0        0 45678 1 0000000000000000 20 4 30 10 -1\n" +
			"   2: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 56789 1 0000000000000000 100 0 0 10 0\n" +
			"   3: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 67890 1 0000000000000000 100 0 0 10 0\n",
			[]Socket{
				{Proto: "tcp6", LocalIP: "::ffff:127.0.0.1", LocalPort: 80, RemoteIP: "::ffff:127.0.0.1", RemotePort: 50000, State: "ESTABLISHED", Inode: 34567},
				{Proto: "tcp6", LocalIP: "2001:db8::1", LocalPort: 22, RemoteIP: "2001:db8::2", RemotePort: 54321, State: "ESTABLISHED", Inode: 45678},
				{Proto: "tcp6", LocalIP: "::", LocalPort: 22, RemoteIP: "::", State: "LISTEN", Inode: 56789},
				{Proto: "tcp6", LocalIP: "::1", LocalPort: 631, RemoteIP: "::", State: "LISTEN", Inode: 67890},
			}},
		{"udp", udpHeader +
			"  123: 0B00007F:8A4F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 78901 2 0000000000000000 0\n" +
			"  456: 0200000A:E1C3 120012C6:0035 01 00000000:00000100 00:00000000 00000000   101        0 89012 2 0000000000000000 0\n",
			[]Socket{
				{Proto: "udp", LocalIP: "127.0.0.11", LocalPort: 35407, RemoteIP: "0.0.0.0", State: "CLOSE", Inode: 78901},
				{Proto: "udp", LocalIP: "10.0.0.2", LocalPort: 57795, RemoteIP: "198.18.0.18", RemotePort: 53, State: "ESTABLISHED", UID: 101, Inode: 89012, RxQueue: 256},
			}},
		{"raw", udpHeader +
			"    1: 00000000:0001 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 90123 2 0000000000000000 0\n",
			[]Socket{{Proto: "raw", LocalIP: "0.0.0.0", LocalPort: 1, RemoteIP: "0.0.0.0", State: "CLOSE", Inode: 90123}}},
		{"unix", unixHeader +
			"0000000000000000: 00000002 00000000 00010000 0001 01  6654 /var/run/docker.sock\n" +
			"0000000000000000: 00000003 00000000 00000000 0001 03  1482\n" +
			"0000000000000000: 00000002 00000000 00000000 0002 01 11111 @/tmp/.X11-unix/X0\n" +
			"0000000000000000: 00000002 00000000 00000000 0005 03 22222 /run/with space\n" +
			"00000000c8bd324d: 00000002 00000000 00000000 0001 03 33333 /run/nl\n" +
			"second line\n",
			[]Socket{
				{Proto: "unix", State: "LISTEN", Type: "STREAM", Inode: 6654, Path: "/var/run/docker.sock"},
				{Proto: "unix", State: "CONNECTED", Type: "STREAM", Inode: 1482},
				{Proto: "unix", State: "UNCONNECTED", Type: "DGRAM", Inode: 11111, Path: "@/tmp/.X11-unix/X0"},
				{Proto: "unix", State: "CONNECTED", Type: "SEQPACKET", Inode: 22222, Path: "/run/with space"},
				{Proto: "unix", State: "CONNECTED", Type: "STREAM", Inode: 33333, Path: "/run/nl\nsecond line"},
			}},
	}
	for _, tt := range tests {
		got, err := ParseProcNet(tt.proto, strings.NewReader(tt.in))
		if err != nil {
			t.Errorf("ParseProcNet(%q, %q): %v", tt.proto, tt.in, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseProcNet(%q, %q) = %+v, want %+v", tt.proto, tt.in, got, tt.want)
		}
	}
}

func TestParseProcNetMalformed(t *testing.T) {
	header := "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	good := "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n"
	tests := []struct {
		proto, in string
		wantN     int
	}{
		{"tcp", header + "   0: 0100007F:1F90\n" + good, 1},                                                              // too few fields
		{"tcp", header + "   0: 0100007:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n" + good, 1}, // 7-digit address
		{"tcp", header + "   0: 0100007F:1F90 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 1\n" + good, 1},     // v6 address in the v4 table
		{"tcp6", header + good, 0}, // v4 address in the v6 table
		{"tcp", header + "   0: 0100007F:1F9 00000000:0000 0A 0:0 0:0 0 0 0 1\n", 0}, // 3-digit port
		{"unix", "Num RefCount\nxyz: 1 2 3 4 5 6\n", 0},
		{"sctp", header + good, 0},
		{"tcp", header + strings.Repeat("x", sockMaxLineBytes+1) + "\n", 0},
	}
	for _, tt := range tests {
		got, err := ParseProcNet(tt.proto, strings.NewReader(tt.in))
		if err == nil || len(got) != tt.wantN {
			t.Errorf("ParseProcNet(%q, %q) = %d sockets, %v; want %d and an error", tt.proto, tt.in, len(got), err, tt.wantN)
		}
	}
}

func FuzzParseProcNet(f *testing.F) {
	protos := []string{"tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix"}
	for i, p := range protos {
		if b, err := os.ReadFile("/proc/self/net/" + p); err == nil {
			f.Add(uint8(i), b)
		}
	}
	f.Add(uint8(1), []byte("h\n   0: 0000000000000000FFFF00000100007F:0050 B80D0120000000000000000001000000:C350 01 0:0 0:0 0 0 0 1\n"))
	f.Add(uint8(6), []byte("h\n0000000000000000: 00000002 00000000 00010000 0001 01  6654 /x\ny\n"))
	f.Fuzz(func(t *testing.T, pi uint8, data []byte) {
		proto := protos[int(pi)%len(protos)]
		socks, err := ParseProcNet(proto, strings.NewReader(string(data)))
		if n := strings.Count(string(data), "\n") + 1; len(socks) > n {
			t.Fatalf("ParseProcNet(%q, %q) = %d sockets from %d lines", proto, data, len(socks), n)
		}
		if _, rest, ok := strings.Cut(string(data), "\n"); ok && err == nil && len(socks) == 0 && strings.TrimSpace(rest) != "" {
			t.Fatalf("ParseProcNet(%q, %q) = nothing and no error", proto, data)
		}
		for _, s := range socks {
			if s.Proto != proto {
				t.Fatalf("ParseProcNet(%q, %q): socket proto %q", proto, data, s.Proto)
			}
			if proto == "unix" {
				continue
			}
			for _, ip := range []string{s.LocalIP, s.RemoteIP} {
				a, err := netip.ParseAddr(ip)
				if err != nil {
					t.Fatalf("ParseProcNet(%q, %q): address %q: %v", proto, data, ip, err)
				}
				if v6 := strings.HasSuffix(proto, "6"); a.Is6() != v6 {
					t.Fatalf("ParseProcNet(%q, %q): address %q in the wrong table", proto, data, ip)
				}
			}
			if !strings.HasPrefix(s.State, "UNKNOWN") && !sockKnownState(s.State) {
				t.Fatalf("ParseProcNet(%q, %q): state %q", proto, data, s.State)
			}
		}
	})
}

func sockKnownState(s string) bool {
	for _, v := range sockStates {
		if v == s {
			return true
		}
	}
	return false
}

func TestSockInodeFromLink(t *testing.T) {
	tests := []struct {
		in     string
		want   uint64
		wantOK bool
	}{
		{"socket:[12345]", 12345, true},
		{"socket:[]", 0, false},
		{"pipe:[12345]", 0, false},
		{"/tmp/socket:[1]", 0, false},
		{"socket:[" + strconv.FormatUint(1<<63, 10) + "]", 1 << 63, true},
	}
	for _, tt := range tests {
		got, ok := sockInodeFromLink(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("sockInodeFromLink(%q) = %d, %v, want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestSocketOwnersUnsharedThread(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lnInode := sockInodeOf(t, ln.(*net.TCPListener))

	// A thread with its own descriptor table holds a socket the process's
	// /proc/<pid>/fd does not show. Its table starts as a copy of the
	// process's, listener included.
	type hidden struct {
		tid, fd int
		inode   uint64
		err     error
	}
	ch := make(chan hidden)
	release := make(chan struct{})
	defer close(release)
	var thread func()
	thread = func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if unix.Gettid() == os.Getpid() {
			// This is the main thread, whose table /proc/<pid>/fd shows:
			// keep it busy and try on another thread.
			go thread()
			<-release
			return
		}
		if err := unix.Unshare(unix.CLONE_FILES); err != nil {
			ch <- hidden{err: err}
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			ch <- hidden{err: err}
			return
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		err = unix.Fstat(fd, &st)
		ch <- hidden{tid: unix.Gettid(), fd: fd, inode: st.Ino, err: err}
		<-release
	}
	go thread()
	h := <-ch
	if h.err != nil {
		t.Fatalf("thread with its own descriptor table: %v", h.err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/self/fd/%d", h.fd)); err == nil {
		t.Logf("fd %d also exists in the process's table (another descriptor)", h.fd)
	}

	owners, err := SocketOwners()
	sockCheckOwnersErr(t, err)
	got := owners[h.inode]
	if len(got) != 1 || got[0].PID != os.Getpid() || got[0].TID != h.tid || got[0].FD != h.fd {
		t.Errorf("SocketOwners()[%d] = %+v, want pid %d tid %d fd %d", h.inode, got, os.Getpid(), h.tid, h.fd)
	}
	if got := owners[lnInode]; len(got) != 1 || got[0].PID != os.Getpid() || got[0].TID != 0 {
		t.Errorf("SocketOwners()[%d] (listener) = %+v, want one entry for pid %d without tid", lnInode, got, os.Getpid())
	}
}

func BenchmarkSocketOwners(b *testing.B) {
	for b.Loop() {
		owners, _ := SocketOwners()
		b.ReportMetric(float64(len(owners)), "sockets")
	}
}
