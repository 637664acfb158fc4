package host

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TestDumpTCP checks that the sock_diag dump of this namespace
// gives this test's listeners (v4 and v6) as /proc/<pid>/net/tcp and tcp6
// show them, queues aside, in its one dump and in one per family, and
// refuses a process of another namespace.
func TestDumpTCP(t *testing.T) {
	var want []Socket
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if strings.Contains(addr, "::1") {
				continue // no IPv6 loopback here
			}
			t.Fatal(err)
		}
		defer ln.Close()
		want = append(want, Socket{Inode: sockInodeOf(t, ln.(*net.TCPListener))})
	}
	self, err := NetNSInode(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	ns := &Namespace{Inode: self, PIDs: []int{os.Getpid()}}
	diag, err := ns.DumpTCP()
	if err != nil {
		t.Fatal(err)
	}
	proc, err := ns.ReadSocketTables([]string{"tcp", "tcp6"})
	if err != nil {
		t.Fatal(err)
	}
	find := func(list []Socket, inode uint64) *Socket {
		for i := range list {
			if list[i].Inode == inode {
				return &list[i]
			}
		}
		return nil
	}
	for _, w := range want {
		d, p := find(diag, w.Inode), find(proc, w.Inode)
		if d == nil || p == nil {
			t.Fatalf("listener inode %d: sock_diag %+v, /proc %+v", w.Inode, d, p)
		}
		p.TxQueue, p.RxQueue = 0, 0 // not sampled
		if *d != *p {
			t.Errorf("listener inode %d: sock_diag %+v, /proc %+v", w.Inode, *d, *p)
		}
	}
	// The per-family dump, for a kernel without the old request.
	sock, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_INET_DIAG)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	if one, err := diagDumpTCP(sock); err != nil || find(one, want[0].Inode) == nil {
		t.Errorf("TCPDIAG_GETSOCK dump: %d sockets, %v; want the listener", len(one), err)
	}
	var perFamily []Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		list, err := diagDumpTCPFamily(sock, fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range list {
			perFamily = append(perFamily, diagSocket(d))
		}
	}
	for _, w := range want {
		if d, f := find(diag, w.Inode), find(perFamily, w.Inode); f == nil || *f != *d {
			t.Errorf("listener inode %d: one dump %+v, per family %+v", w.Inode, *d, f)
		}
	}
	if _, err := (&Namespace{Inode: self + 1, PIDs: []int{os.Getpid()}}).DumpTCP(); err == nil || !IsGone(err) {
		t.Errorf("DumpTCP through a process of another namespace = %v, want it gone", err)
	}
}
