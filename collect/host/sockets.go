package host

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// sockMaxLineBytes bounds one line of a /proc/net table: an inet line is
	// about 150 B and a unix line at most about 160 B (sun_path is 108 B), so
	// anything longer is not a socket line.
	sockMaxLineBytes = 4 << 10 // 4 KiB

	// sockMaxPerTable bounds the sockets kept from one table so that a process
	// that opens sockets without end cannot exhaust the collector's memory;
	// 1M sockets is about 200 MB of kernel memory on the host already.
	sockMaxPerTable = 1 << 20

	// sockMaxOwners bounds the socket descriptors recorded by SocketOwners for
	// the same reason: fs.nr_open allows a million descriptors per process.
	sockMaxOwners = 4 << 20

	// sockMaxUnixPathBytes bounds a unix socket path that spans lines:
	// sun_path holds 108 bytes, and the kernel prints the abstract
	// namespace's leading NUL as '@'.
	sockMaxUnixPathBytes = 108

	// sockReadDirBatch is how many /proc/<pid>/fd entries are read at a time.
	sockReadDirBatch = 1024
)

// sockTables are the /proc/<pid>/net tables ReadSockets reads, in order.
var sockTables = []string{"tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix"}

// Socket is one row of a /proc/net socket table.
//
// For raw sockets the kernel reports the IP protocol number as the local port.
// Unix sockets have no addresses, ports, queues or uid in the table: those
// fields stay zero, and Path, Type and State describe them instead.
type Socket struct {
	Proto      string `json:"proto"` // tcp, tcp6, udp, udp6, raw, raw6, unix
	LocalIP    string `json:"local_ip,omitempty"`
	LocalPort  uint16 `json:"local_port"`
	RemoteIP   string `json:"remote_ip,omitempty"`
	RemotePort uint16 `json:"remote_port"`
	State      string `json:"state"` // ESTABLISHED, LISTEN, TIME_WAIT …; unix: LISTEN, CONNECTED …
	UID        uint32 `json:"uid"`
	Inode      uint64 `json:"inode"` // 0 for TIME_WAIT and other orphaned sockets
	TxQueue    uint64 `json:"tx_queue"`
	RxQueue    uint64 `json:"rx_queue"`
	Path       string `json:"path,omitempty"` // unix: bound path, "@…" for the abstract namespace
	Type       string `json:"type,omitempty"` // unix: STREAM, DGRAM, SEQPACKET
}

// SocketOwner is a process holding a socket through one of its file descriptors.
// TID is set only for a thread that unshared its descriptor table, and Comm
// is then the thread's name.
type SocketOwner struct {
	PID  int    `json:"pid"`
	TID  int    `json:"tid,omitempty"`
	FD   int    `json:"fd"`
	Comm string `json:"comm"`
}

// sockStates names the kernel's TCP states (include/net/tcp_states.h); UDP and
// raw sockets use the same numbers: ESTABLISHED when connected, CLOSE otherwise.
var sockStates = map[uint64]string{
	0x01: "ESTABLISHED",
	0x02: "SYN_SENT",
	0x03: "SYN_RECV",
	0x04: "FIN_WAIT1",
	0x05: "FIN_WAIT2",
	0x06: "TIME_WAIT",
	0x07: "CLOSE",
	0x08: "CLOSE_WAIT",
	0x09: "LAST_ACK",
	0x0A: "LISTEN",
	0x0B: "CLOSING",
	0x0C: "NEW_SYN_RECV",
}

// sockUnixStates names the socket_state values (include/uapi/linux/net.h).
var sockUnixStates = map[uint64]string{
	0: "FREE",
	1: "UNCONNECTED",
	2: "CONNECTING",
	3: "CONNECTED",
	4: "DISCONNECTING",
}

// sockUnixTypes names the socket types (include/linux/net.h).
var sockUnixTypes = map[uint64]string{
	1: "STREAM",
	2: "DGRAM",
	3: "RAW",
	4: "RDM",
	5: "SEQPACKET",
}

// sockUnixAcceptCon is __SO_ACCEPTCON: the socket is listening.
const sockUnixAcceptCon = 1 << 16

// ReadSockets reads the socket tables of the network namespace that process
// pid is in: /proc/<pid>/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}. Every process
// of a namespace sees the same tables, so one PID per namespace suffices.
//
// The sockets Docker's embedded DNS server listens on (127.0.0.11 in a
// container's namespace) belong to dockerd, which enters the namespace to
// open them: SocketOwners attributes them to dockerd's PID, not to any
// process of the container.
//
// A table that does not exist (no IPv6 in the kernel) is skipped; other
// failures are returned along with the sockets that could be read.
func ReadSockets(pid int) ([]Socket, error) { return ReadProcSocketTables(pid, 0, sockTables) }

// ReadSocketsIn is ReadSockets for the network namespace whose inode is
// inode, read through process pid. It reads nothing and fails with an error
// matching os.ErrNotExist when pid has exited or is in another namespace:
// a PID listed a moment ago may since have been given to a process
// elsewhere, whose tables would otherwise be recorded under this namespace.
func ReadSocketsIn(pid int, inode uint64) ([]Socket, error) {
	return ReadProcSocketTables(pid, inode, sockTables)
}

// ReadProcSocketTables reads the tables named in tables through process pid, and
// checks that pid is in namespace inode unless inode is 0.
func ReadProcSocketTables(pid int, inode uint64, tables []string) ([]Socket, error) {
	// Through the process's /proc directory: once the process exits,
	// nothing opens through it, even after its number is reused.
	d, err := openProcDir(pid)
	if err != nil {
		return nil, fmt.Errorf("read sockets of pid %d: %w", pid, err)
	}
	defer d.Close()
	if inode != 0 {
		st, err := d.stat("ns/net", 0)
		if err != nil {
			return nil, fmt.Errorf("read sockets of pid %d: %w", pid, err)
		}
		if st.Ino != inode {
			return nil, fmt.Errorf("read sockets of pid %d: it is in net namespace %d, not %d: %w", pid, st.Ino, inode, os.ErrNotExist)
		}
	}
	var all []Socket
	var errs []error
	read := 0
	for _, proto := range tables {
		socks, err := sockReadTable(d, proto)
		all = append(all, socks...)
		switch {
		case err == nil:
			read++
		case !errors.Is(err, os.ErrNotExist):
			read++
			errs = append(errs, err)
		}
	}
	if read == 0 {
		// The process exited after it was opened: no table is not the
		// same as no sockets.
		return nil, fmt.Errorf("read sockets of pid %d: no table readable: %w", pid, os.ErrNotExist)
	}
	if inode != 0 {
		// Had the process moved to another namespace meanwhile, some tables
		// may be that one's. One that exited was in this namespace when its
		// tables were opened.
		if st, err := d.stat("ns/net", 0); err == nil && st.Ino != inode {
			return nil, fmt.Errorf("read sockets of pid %d: it moved to net namespace %d from %d: %w", pid, st.Ino, inode, os.ErrNotExist)
		}
	}
	return all, errors.Join(errs...)
}

func sockReadTable(d *procDir, proto string) ([]Socket, error) {
	f, err := d.open("net/" + proto)
	if err != nil {
		return nil, fmt.Errorf("read socket table: %w", err)
	}
	defer f.Close()
	socks, err := ParseProcNet(proto, f)
	if err != nil {
		return socks, fmt.Errorf("read socket table %s: %w", f.Name(), err)
	}
	return socks, nil
}

// ParseProcNet parses one /proc/net socket table of the given proto (tcp,
// tcp6, udp, udp6, raw, raw6 or unix). Lines that cannot be parsed are
// skipped and counted in the error, which comes with the sockets that could
// be parsed.
//
// Addresses are decoded the way the kernel prints them: each 32-bit word of
// the address in host byte order, so the collector must decode the tables of
// the host it runs on, which it does.
//
// The kernel prints a unix socket's path raw, newlines included, so a process
// that binds a path containing a newline can make a line that looks like
// another socket. A line that is not a socket line is taken as the rest of
// the previous path; a forged line that is a valid socket line cannot be told
// apart from a real one.
func ParseProcNet(proto string, r io.Reader) ([]Socket, error) {
	var parse func(string) (Socket, error)
	switch proto {
	case "tcp", "udp", "raw":
		parse = func(line string) (Socket, error) { return sockParseInetLine(line, 8) }
	case "tcp6", "udp6", "raw6":
		parse = func(line string) (Socket, error) { return sockParseInetLine(line, 32) }
	case "unix":
		parse = sockParseUnixLine
	default:
		return nil, fmt.Errorf("parse socket table: unknown proto %q", proto)
	}

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), sockMaxLineBytes)
	var socks []Socket
	var bad int
	var firstErr error
	header := true
	for sc.Scan() {
		line := sc.Text()
		if header {
			// The first line names the columns.
			header = false
			continue
		}
		s, err := parse(line)
		if err != nil {
			if proto == "unix" && len(socks) > 0 && socks[len(socks)-1].Path != "" &&
				len(socks[len(socks)-1].Path)+1+len(line) <= sockMaxUnixPathBytes {
				socks[len(socks)-1].Path += "\n" + line
				continue
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			bad++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if len(socks) >= sockMaxPerTable {
			return socks, fmt.Errorf("parse %s table: more than %d sockets, rest not read", proto, sockMaxPerTable)
		}
		s.Proto = proto
		socks = append(socks, s)
	}
	if err := sc.Err(); err != nil {
		return socks, fmt.Errorf("parse %s table: %w", proto, err)
	}
	if bad > 0 {
		return socks, fmt.Errorf("parse %s table: %d malformed lines, first: %w", proto, bad, firstErr)
	}
	return socks, nil
}

// sockParseInetLine parses a line of the tcp, udp and raw tables:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode …
//
// hexDigits is the length of an address: 8 in the IPv4 tables, 32 in the IPv6 ones.
func sockParseInetLine(line string, hexDigits int) (Socket, error) {
	f := strings.Fields(line)
	if len(f) < 10 || !strings.HasSuffix(f[0], ":") {
		return Socket{}, fmt.Errorf("socket line %q: too few fields", line)
	}
	var s Socket
	local, lport, err := sockParseHexAddr(f[1], hexDigits)
	if err != nil {
		return Socket{}, fmt.Errorf("socket line %q: local address: %w", line, err)
	}
	remote, rport, err := sockParseHexAddr(f[2], hexDigits)
	if err != nil {
		return Socket{}, fmt.Errorf("socket line %q: remote address: %w", line, err)
	}
	s.LocalIP, s.LocalPort = local.String(), lport
	s.RemoteIP, s.RemotePort = remote.String(), rport

	st, err := strconv.ParseUint(f[3], 16, 8)
	if err != nil {
		return Socket{}, fmt.Errorf("socket line %q: state: %w", line, err)
	}
	s.State = sockStates[st]
	if s.State == "" {
		s.State = fmt.Sprintf("UNKNOWN(%d)", st)
	}

	tx, rx, ok := strings.Cut(f[4], ":")
	if !ok {
		return Socket{}, fmt.Errorf("socket line %q: queues: missing colon", line)
	}
	if s.TxQueue, err = strconv.ParseUint(tx, 16, 64); err != nil {
		return Socket{}, fmt.Errorf("socket line %q: tx queue: %w", line, err)
	}
	if s.RxQueue, err = strconv.ParseUint(rx, 16, 64); err != nil {
		return Socket{}, fmt.Errorf("socket line %q: rx queue: %w", line, err)
	}
	uid, err := strconv.ParseUint(f[7], 10, 32)
	if err != nil {
		return Socket{}, fmt.Errorf("socket line %q: uid: %w", line, err)
	}
	s.UID = uint32(uid)
	if s.Inode, err = strconv.ParseUint(f[9], 10, 64); err != nil {
		return Socket{}, fmt.Errorf("socket line %q: inode: %w", line, err)
	}
	return s, nil
}

// sockParseHexAddr decodes "0100007F:0035" or the 32-digit IPv6 form. The
// kernel prints each 32-bit word of the address as a host-order integer, so
// the bytes of every word come out reversed on little-endian machines.
func sockParseHexAddr(s string, hexDigits int) (netip.Addr, uint16, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, fmt.Errorf("address %q: missing port", s)
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil || len(port) != 4 {
		return netip.Addr{}, 0, fmt.Errorf("address %q: bad port", s)
	}
	if len(host) != hexDigits {
		return netip.Addr{}, 0, fmt.Errorf("address %q: want %d hex digits", s, hexDigits)
	}
	var b [16]byte
	for i := 0; i < len(host)/8; i++ {
		w, err := strconv.ParseUint(host[i*8:i*8+8], 16, 32)
		if err != nil {
			return netip.Addr{}, 0, fmt.Errorf("address %q: %w", s, err)
		}
		binary.NativeEndian.PutUint32(b[i*4:], uint32(w))
	}
	if len(host) == 8 {
		return netip.AddrFrom4([4]byte(b[:4])), uint16(p), nil
	}
	return netip.AddrFrom16(b), uint16(p), nil
}

// sockParseUnixLine parses a line of the unix table:
//
//	Num: RefCount Protocol Flags Type St Inode [Path]
//
// The path is everything after the single space that follows the inode.
func sockParseUnixLine(line string) (Socket, error) {
	rest := line
	var fields [7]string
	for i := range fields {
		rest = strings.TrimLeft(rest, " ")
		end := strings.IndexByte(rest, ' ')
		if end < 0 {
			end = len(rest)
		}
		fields[i], rest = rest[:end], rest[end:]
		if fields[i] == "" {
			return Socket{}, fmt.Errorf("unix socket line %q: too few fields", line)
		}
	}
	num, ok := strings.CutSuffix(fields[0], ":")
	if !ok || len(num) < 8 || len(num) > 16 {
		return Socket{}, fmt.Errorf("unix socket line %q: bad slot", line)
	}
	if _, err := strconv.ParseUint(num, 16, 64); err != nil {
		return Socket{}, fmt.Errorf("unix socket line %q: bad slot: %w", line, err)
	}
	var v [6]uint64
	for i, base := range [6]int{16, 16, 16, 16, 16, 10} {
		n, err := strconv.ParseUint(fields[i+1], base, 64)
		if err != nil {
			return Socket{}, fmt.Errorf("unix socket line %q: field %d: %w", line, i+2, err)
		}
		v[i] = n
	}
	flags, typ, st, inode := v[2], v[3], v[4], v[5]
	s := Socket{Inode: inode}
	s.Type = sockUnixTypes[typ]
	if s.Type == "" {
		s.Type = fmt.Sprintf("UNKNOWN(%d)", typ)
	}
	if flags&sockUnixAcceptCon != 0 {
		s.State = "LISTEN"
	} else if s.State = sockUnixStates[st]; s.State == "" {
		s.State = fmt.Sprintf("UNKNOWN(%d)", st)
	}
	if rest != "" {
		if rest[0] != ' ' || len(rest) == 1 {
			return Socket{}, fmt.Errorf("unix socket line %q: bad path", line)
		}
		s.Path = rest[1:]
	}
	return s, nil
}

// SocketOwners maps socket inodes to the processes holding them, by reading
// every /proc/<pid>/fd link of the host that reads "socket:[N]". Socket
// inodes are unique across network namespaces, so the map serves the tables
// of every namespace.
//
// A thread can unshare its descriptor table from its process, and its
// descriptors then show only under /proc/<pid>/task/<tid>/fd: threads whose
// table differs from the process's (kcmp KCMP_FILES) are scanned too, and
// their sockets carry the TID.
//
// Processes and descriptors that go away during the scan are skipped; other
// failures are counted in the error, which comes with what could be read.
func SocketOwners() (map[uint64][]SocketOwner, error) {
	return NewSocketOwnerScan().Rest()
}

// SocketOwnerScan builds what SocketOwners returns in parts, so that the
// processes of a namespace can be scanned right after its socket tables
// are read: a connection a process replaces every few hundred milliseconds
// is still open then, and would have no owner after a scan of the whole
// host. Each process is scanned once.
type SocketOwnerScan struct {
	owners   map[uint64][]SocketOwner
	n        int // entries in owners
	done     map[int]bool
	scanned  int
	failed   int
	firstErr error
	tooMany  error
}

// NewSocketOwnerScan returns a scan that has read no process yet.
func NewSocketOwnerScan() *SocketOwnerScan {
	return &SocketOwnerScan{owners: make(map[uint64][]SocketOwner), done: map[int]bool{}}
}

// Scan reads the descriptors of the processes in pids not scanned yet.
func (sc *SocketOwnerScan) Scan(pids []int) {
	for _, pid := range pids {
		if sc.done[pid] || sc.tooMany != nil {
			continue
		}
		sc.done[pid] = true
		sc.scanned++
		err := sc.process(pid)
		switch {
		case err == nil || procVanished(err):
		case errors.Is(err, ErrTooManySockets):
			sc.tooMany = err
		default:
			sc.failed++
			if sc.firstErr == nil {
				sc.firstErr = err
			}
		}
	}
}

// Owners returns the owners of socket inode that the processes scanned so
// far hold, by pid, thread and descriptor.
func (sc *SocketOwnerScan) Owners(inode uint64) []SocketOwner {
	list := sc.owners[inode]
	sortOwners(list)
	return list
}

// sortOwners orders a socket's owners by pid, thread and descriptor.
func sortOwners(list []SocketOwner) {
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.PID != b.PID {
			return a.PID < b.PID
		}
		if a.TID != b.TID {
			return a.TID < b.TID
		}
		return a.FD < b.FD
	})
}

// Rest scans every other process of the host and returns the owners of
// every socket seen, and an error counting the processes that could not be
// read.
func (sc *SocketOwnerScan) Rest() (map[uint64][]SocketOwner, error) {
	pids, err := ListPIDs()
	if err != nil {
		return sc.owners, fmt.Errorf("socket owners: %w", err)
	}
	sc.Scan(pids)
	for _, list := range sc.owners {
		sortOwners(list)
	}
	if sc.tooMany != nil {
		return sc.owners, fmt.Errorf("socket owners: %w", sc.tooMany)
	}
	if sc.failed > 0 {
		return sc.owners, fmt.Errorf("socket owners: %d of %d processes unreadable, first: %w", sc.failed, sc.scanned, sc.firstErr)
	}
	return sc.owners, nil
}

// ErrTooManySockets is wrapped in the error of a scan that stopped after
// sockMaxOwners socket descriptors: the owners it returns are those read
// until then.
var ErrTooManySockets = fmt.Errorf("more than %d socket descriptors, rest not read", sockMaxOwners)

// sockKcmpFiles is KCMP_FILES (include/uapi/linux/kcmp.h): compare the
// descriptor tables of two tasks.
const sockKcmpFiles = 2

// sockFDInode is a descriptor number and the socket inode it refers to.
type sockFDInode struct {
	fd    int
	inode uint64
}

func (sc *SocketOwnerScan) process(pid int) error {
	// Through the process's /proc directory, so that a PID reused meanwhile
	// gives no descriptors of another process under this one's name.
	d, err := openProcDir(pid)
	if err != nil {
		return fmt.Errorf("scan descriptors of pid %d: %w", pid, err)
	}
	defer d.Close()
	comm, _ := d.readFile("comm", procMaxCommBytes)
	seen := make(map[sockFDInode]bool)
	owner := SocketOwner{PID: pid, Comm: strings.TrimSuffix(string(comm), "\n")}
	if err := sc.fdDir(d, "fd", owner, seen, nil); err != nil {
		return fmt.Errorf("scan descriptors of pid %d: %w", pid, err)
	}
	tasks, err := d.open("task")
	if err != nil {
		return fmt.Errorf("scan threads of pid %d: %w", pid, err)
	}
	tids, err := tasks.Readdirnames(-1)
	tasks.Close()
	if err != nil {
		return fmt.Errorf("scan threads of pid %d: %w", pid, err)
	}
	for _, name := range tids {
		tid, err := strconv.Atoi(name)
		if err != nil || tid == pid {
			continue
		}
		// kcmp returns 0 for the same table. When it fails for another
		// reason than the thread exiting (no CONFIG_KCMP), scan the thread:
		// the seen set drops what the process's table already gave.
		r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(pid), uintptr(tid), sockKcmpFiles, 0, 0, 0)
		if errno == unix.ESRCH || (errno == 0 && r == 0) {
			continue
		}
		tcomm, _ := d.readFile("task/"+name+"/comm", procMaxCommBytes)
		owner := SocketOwner{PID: pid, TID: tid, Comm: strings.TrimSuffix(string(tcomm), "\n")}
		if err := sc.fdDir(d, "task/"+name+"/fd", owner, nil, seen); err != nil && !procVanished(err) {
			return fmt.Errorf("scan descriptors of pid %d thread %d: %w", pid, tid, err)
		}
	}
	return nil
}

// fdDir records the sockets of the fd directory name of process d as held
// by owner. It adds each descriptor to record when that is set, and skips
// those in skip.
func (sc *SocketOwnerScan) fdDir(d *procDir, name string, owner SocketOwner, record, skip map[sockFDInode]bool) error {
	dir, err := d.open(name)
	if err != nil {
		return err
	}
	defer dir.Close()
	for {
		names, err := dir.Readdirnames(sockReadDirBatch)
		for _, fdName := range names {
			target, err := procReadlinkAt(int(dir.Fd()), fdName, dir.Name()+"/"+fdName)
			if err != nil {
				if procVanished(err) {
					continue // the descriptor was closed meanwhile
				}
				return err
			}
			inode, ok := sockInodeFromLink(target)
			if !ok {
				continue
			}
			fd, err := strconv.Atoi(fdName)
			if err != nil {
				continue
			}
			key := sockFDInode{fd, inode}
			if skip[key] {
				continue
			}
			if record != nil {
				record[key] = true
			}
			if sc.n >= sockMaxOwners {
				return ErrTooManySockets
			}
			sc.n++
			o := owner
			o.FD = fd
			sc.owners[inode] = append(sc.owners[inode], o)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// sockInodeFromLink parses the "socket:[12345]" target of a descriptor link.
func sockInodeFromLink(target string) (uint64, bool) {
	s, ok := strings.CutPrefix(target, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	inode, err := strconv.ParseUint(s, 10, 64)
	return inode, err == nil
}
