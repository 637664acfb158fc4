package socksample

import (
	"context"
	"net"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockcase/dockcase/collect/host"
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

// TestSamplerMerge feeds the merge rounds of tables and checks what one
// socket's record keeps: first and last sighting, states in the order
// seen, sightings; a new tuple or inode is a new socket, and only sockets
// with an inode and no owner are asked for.
func TestSamplerMerge(t *testing.T) {
	s := newSampler(time.Second, 1)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	conn := host.Socket{Proto: "tcp", LocalIP: "172.18.0.2", LocalPort: 40000, RemoteIP: "198.18.0.2", RemotePort: 4444, State: "SYN_SENT", Inode: 77}
	est := conn
	est.State = "ESTABLISHED"
	tw := conn
	tw.State, tw.Inode = "TIME_WAIT", 0
	v6 := host.Socket{Proto: "tcp6", LocalIP: "::", LocalPort: 80, RemoteIP: "::", State: "LISTEN", Inode: 78}

	if need := s.merge(5, t0, []host.Socket{conn, v6}); !reflect.DeepEqual(need, []uint64{77, 78}) {
		t.Errorf("round 1 needs owners of %v, want [77 78]", need)
	}
	s.owners[78] = []Owner{{PID: 9, Comm: "nginx"}}
	if need := s.merge(5, t0.Add(time.Second), []host.Socket{est, v6}); !reflect.DeepEqual(need, []uint64{77}) {
		t.Errorf("round 2 needs owners of %v, want [77]: 78 is owned", need)
	}
	if need := s.merge(5, t0.Add(2*time.Second), []host.Socket{tw, est}); !reflect.DeepEqual(need, []uint64{77}) {
		t.Errorf("round 3 needs owners of %v, want [77]: a TIME_WAIT socket has no inode", need)
	}
	// The same tuple and inode in another namespace is another socket.
	s.merge(6, t0.Add(2*time.Second), []host.Socket{est})
	if need := s.merge(5, t0.Add(3*time.Second), []host.Socket{est}); len(need) != 0 {
		t.Errorf("round 4 needs owners of %v: 77 was asked for %d times already", need, ownerTries)
	}

	res := s.Result()
	if len(res.Sockets) != 4 {
		t.Fatalf("%d sockets, want 4: %+v", len(res.Sockets), res.Sockets)
	}
	got := res.Sockets[0]
	want := Socket{NetNS: 5, Inode: 77, Proto: "tcp", Local: "172.18.0.2:40000", Remote: "198.18.0.2:4444",
		States: []string{"SYN_SENT", "ESTABLISHED"}, First: t0, Last: t0.Add(3 * time.Second), Sightings: 4}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("connection = %+v, want %+v", got, want)
	}
	if l := res.Sockets[1]; l.Local != "[::]:80" || l.Sightings != 2 || len(l.Owners) != 1 || l.Owners[0].Comm != "nginx" {
		t.Errorf("listener = %+v, want [::]:80 seen twice, owned by nginx", l)
	}
	if w := res.Sockets[2]; w.Inode != 0 || !reflect.DeepEqual(w.States, []string{"TIME_WAIT"}) || w.First != t0.Add(2*time.Second) || w.Owners != nil {
		t.Errorf("TIME_WAIT socket = %+v", w)
	}
	if o := res.Sockets[3]; o.NetNS != 6 || o.Sightings != 1 {
		t.Errorf("other namespace's socket = %+v", o)
	}
}

// TestSamplerBounds checks that sockets past maxSockets and errors
// past maxErrors are counted, not kept, and that a failure repeated
// in later rounds is counted on its first entry.
func TestSamplerBounds(t *testing.T) {
	s := newSampler(time.Second, 1)
	at := time.Unix(0, 0).UTC()
	socks := make([]host.Socket, maxSockets+3)
	for i := range socks {
		socks[i] = host.Socket{Proto: "udp", LocalIP: "10.0.0.1", LocalPort: uint16(i), RemoteIP: "0.0.0.0", State: "CLOSE", Inode: uint64(i + 1)}
	}
	s.merge(1, at, socks)
	if res := s.Result(); len(res.Sockets) != maxSockets || res.UntrackedSightings != 3 {
		t.Errorf("%d sockets kept, %d sightings untracked; want %d and 3", len(res.Sockets), res.UntrackedSightings, maxSockets)
	}
	for i := 0; i < maxErrors+2; i++ {
		s.fail(i, uint64(i), os.ErrPermission)
	}
	s.fail(7, 3, os.ErrPermission)
	s.fail(8, 3, os.ErrPermission)
	res := s.Result()
	if len(res.Errors) != maxErrors || res.ErrorsDropped != 2 {
		t.Errorf("%d errors kept, %d dropped; want %d and 2", len(res.Errors), res.ErrorsDropped, maxErrors)
	}
	if e := res.Errors[3]; e.NetNS != 3 || e.Round != 3 || e.Repeated != 2 {
		t.Errorf("error of namespace 3 = %+v, want round 3 repeated twice", e)
	}
}

// TestSamplerRound samples this host for real: a loopback connection this
// test opens between two rounds is seen from the second on, owned by this
// process, with its command line; the listener is seen in both.
func TestSamplerRound(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.Round(ctx)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.Round(ctx)
	res := s.Result()
	if res.Rounds != 2 || len(res.Namespaces) == 0 || !res.Namespaces[0].Host {
		t.Fatalf("rounds %d, namespaces %+v: want 2 rounds, the host's namespace first", res.Rounds, res.Namespaces)
	}
	inode := sockInodeOf(t, c.(*net.TCPConn))
	var conn, listener *Socket
	for i, so := range res.Sockets {
		switch {
		case so.Inode == inode:
			conn = &res.Sockets[i]
		case so.Local == ln.Addr().String() && so.Remote == "0.0.0.0:0":
			listener = &res.Sockets[i]
		}
	}
	if conn == nil {
		t.Fatalf("the connection %s → %s (inode %d) was not sampled", c.LocalAddr(), c.RemoteAddr(), inode)
	}
	if conn.Local != c.LocalAddr().String() || conn.Remote != c.RemoteAddr().String() || conn.Sightings != 1 || conn.States[0] != "ESTABLISHED" || conn.NetNS != res.Namespaces[0].Inode {
		t.Errorf("connection = %+v", conn)
	}
	self, _ := os.Executable()
	if len(conn.Owners) != 1 || conn.Owners[0].PID != os.Getpid() || len(conn.Owners[0].Cmdline) == 0 ||
		!strings.HasSuffix(conn.Owners[0].Cmdline[0], self[strings.LastIndexByte(self, '/')+1:]) {
		t.Errorf("owners = %+v, want this process (pid %d, %s)", conn.Owners, os.Getpid(), self)
	}
	if listener == nil || listener.Sightings != 2 || !conn.First.After(listener.First) {
		t.Errorf("listener = %+v, want seen in both rounds, before the connection", listener)
	}
}

// TestSamplerRun runs the sampler for real for about half a second at a
// 100 ms interval: it samples at once, then at most every interval, and
// dates its window.
func TestSamplerRun(t *testing.T) {
	s, err := New(100 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 550*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := s.Run(ctx)
	if res.Rounds < 1 || res.Rounds > 6 || res.IntervalMS != 100 {
		t.Errorf("%d rounds at %d ms in 550 ms, want 1 to 6 at 100", res.Rounds, res.IntervalMS)
	}
	if res.Started.Before(start.Add(-time.Second)) || res.Ended.Sub(res.Started) < 500*time.Millisecond || len(res.Namespaces) == 0 {
		t.Errorf("window %s–%s, %d namespaces", res.Started, res.Ended, len(res.Namespaces))
	}
}
