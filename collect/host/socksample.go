package host

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DefaultSampleInterval is how often a SocketSampler reads the socket
// tables: a connection that lives a few seconds is seen at least once, and
// a round costs about what the snapshot's socket read does.
const DefaultSampleInterval = 2 * time.Second

const (
	// sampleMaxSockets bounds the sockets a sampler keeps: at about 300 B
	// each, 256k sockets is under 100 MB; a host opening more than that in
	// a minute is flooding, and the count of what was not kept says so.
	sampleMaxSockets = 1 << 18

	// sampleMaxErrors bounds the error entries: a namespace failing every
	// round of a long window would otherwise grow the document without end.
	sampleMaxErrors = 1000

	// sampleMaxStates bounds the states kept per socket: the kernel has 12
	// TCP states; anything past that is a socket flapping through unknowns.
	sampleMaxStates = 16

	// sampleMaxCmdlineBytes bounds the command line kept per owner: it is
	// in host/processes.json whole; here it only names the process.
	sampleMaxCmdlineBytes = 4 << 10 // 4 KiB

	// sampleRoundSpacing bounds the time the sampler reads: a round starts no
	// sooner than this many times its predecessor's duration after it
	// started. Dumping a namespace's TCP sockets walks the kernel's whole
	// established hash (about 5 ms at 262144 buckets), so 100 containers
	// would otherwise take half a second of every two.
	sampleRoundSpacing = 5

	// sampleOwnerTries is how many rounds a socket without an owner is
	// looked up among its namespace's processes: an accepted socket has its
	// descriptor at once, so a socket still unowned after that is held from
	// outside (dockerd's DNS sockets, SCM_RIGHTS in flight) or by none.
	sampleOwnerTries = 3
)

// sampleTables are the /proc tables a SocketSampler reads: the inet ones
// but TCP's, which it dumps over NETLINK_SOCK_DIAG; not unix sockets,
// which carry no address.
var (
	sampleTables    = []string{"udp", "udp6", "raw", "raw6"}
	sampleTCPTables = []string{"tcp", "tcp6"}
)

// SocketSamples is what a SocketSampler saw through a capture window, the
// document capture/socket-samples.json holds.
type SocketSamples struct {
	IntervalMS int64     `json:"interval_ms"`
	Rounds     int       `json:"rounds"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended"`
	// Namespaces are the network namespaces listed in some round, the
	// host's first, then in the order first listed.
	Namespaces []SampledNamespace `json:"namespaces"`
	// Sockets are the sockets seen, in the order first seen.
	Sockets []SampledSocket `json:"sockets"`
	Errors  []SampleError   `json:"errors,omitempty"`
	// UntrackedSightings counts sightings of sockets not kept once
	// sampleMaxSockets were; ErrorsDropped the errors past sampleMaxErrors.
	UntrackedSightings int `json:"untracked_sightings,omitempty"`
	ErrorsDropped      int `json:"errors_dropped,omitempty"`
}

// SampledNamespace is one network namespace as the rounds listed it.
type SampledNamespace struct {
	Inode uint64 `json:"inode"`
	Host  bool   `json:"host,omitempty"`
	// PID is the process its tables were last read through.
	PID int `json:"pid"`
	// Containers are the containers whose processes were seen in it, from
	// their cgroups, in the order first seen.
	Containers []string  `json:"containers,omitempty"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
	// Error is why the last round that listed it could not read all of its
	// tables; the errors list has every round's.
	Error string `json:"error,omitempty"`
}

// SampledSocket is one socket (namespace, inode and tuple) across the
// rounds that saw it.
type SampledSocket struct {
	NetNS uint64 `json:"netns_inode"`
	// Inode is 0 for sockets no process holds (TIME_WAIT, a connection not
	// yet accepted): those have no owners.
	Inode  uint64 `json:"inode"`
	Proto  string `json:"proto"` // tcp, tcp6, udp, udp6, raw, raw6
	Local  string `json:"local"` // address:port, [v6]:port
	Remote string `json:"remote"`
	// States are the states seen, in the order first seen.
	States    []string  `json:"states"`
	First     time.Time `json:"first"`
	Last      time.Time `json:"last"`
	Sightings int       `json:"sightings"`
	// Owners are the processes holding it when it was first looked up; a
	// socket's inode does not change hands without its descriptor, so the
	// owner is looked up once.
	Owners []SampledOwner `json:"owners,omitempty"`
}

// SampledOwner is a process holding a sampled socket.
type SampledOwner struct {
	PID              int      `json:"pid"`
	TID              int      `json:"tid,omitempty"`
	FD               int      `json:"fd"`
	Comm             string   `json:"comm"`
	Cmdline          []string `json:"cmdline,omitempty"`
	CmdlineTruncated bool     `json:"cmdline_truncated,omitempty"`
	// Container is the container its cgroup names; empty for a process of
	// the host.
	Container string `json:"container,omitempty"`
}

// SampleError is a round's failure for one namespace (or, with NetNS 0,
// for the whole round); the sampling went on. The same failure of the same
// namespace in later rounds is counted in Repeated, not listed again.
type SampleError struct {
	Time     time.Time `json:"time"`
	Round    int       `json:"round"`
	NetNS    uint64    `json:"netns_inode,omitempty"`
	Error    string    `json:"error"`
	Repeated int       `json:"repeated,omitempty"`
}

// sampleKey is what makes two sightings one socket: the same inode in the
// same namespace with the same tuple (an inode is reused once freed).
type sampleKey struct {
	netns         uint64
	inode         uint64
	proto         string
	local, remote string
}

// SocketSampler reads the inet socket tables of every network namespace of
// the host in rounds, and keeps each socket's first and last sighting, its
// states and its owners. Each round lists the namespaces again, so that
// those of containers started meanwhile are read, and scans descriptors
// only for sockets not yet owned: the namespace's processes first, then,
// once per socket, the rest of the host.
type SocketSampler struct {
	interval time.Duration
	hostNS   uint64
	now      func() time.Time

	doc     SocketSamples
	socks   map[sampleKey]int // index in doc.Sockets
	owners  map[uint64][]SampledOwner
	tries   map[uint64]int  // namespace lookups of an unowned inode
	hostTry map[uint64]bool // host-wide lookup done
	nsIdx   map[uint64]int  // index in doc.Namespaces
	pids    map[int]samplePID
	errIdx  map[sampleErrKey]int // index in doc.Errors
}

type sampleErrKey struct {
	netns uint64
	err   string
}

// samplePID is what a round learnt of a process: its namespace and the
// container its cgroup names.
type samplePID struct {
	netns     uint64
	container string
}

// NewSocketSampler returns a sampler that reads the tables every interval
// (DefaultSampleInterval when not positive). It fails when it cannot know
// the host's namespace or list the processes: a sampler that cannot start.
func NewSocketSampler(interval time.Duration) (*SocketSampler, error) {
	if interval <= 0 {
		interval = DefaultSampleInterval
	}
	hostNS, err := NetNSInode(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("socket sampler: own net namespace: %w", err)
	}
	if _, err := ListPIDs(); err != nil {
		return nil, fmt.Errorf("socket sampler: %w", err)
	}
	return newSocketSampler(interval, hostNS), nil
}

func newSocketSampler(interval time.Duration, hostNS uint64) *SocketSampler {
	return &SocketSampler{
		interval: interval,
		hostNS:   hostNS,
		now:      func() time.Time { return time.Now().UTC() },
		doc:      SocketSamples{IntervalMS: interval.Milliseconds(), Namespaces: []SampledNamespace{}, Sockets: []SampledSocket{}},
		socks:    map[sampleKey]int{},
		owners:   map[uint64][]SampledOwner{},
		tries:    map[uint64]int{},
		hostTry:  map[uint64]bool{},
		nsIdx:    map[uint64]int{},
		pids:     map[int]samplePID{},
		errIdx:   map[sampleErrKey]int{},
	}
}

// Run samples at once and then every interval until ctx ends, and returns
// what it saw. A round that takes longer than a fifth of the
// interval delays the next one, so that the sampler's share of the host
// stays bounded however many namespaces it has.
func (s *SocketSampler) Run(ctx context.Context) SocketSamples {
	s.doc.Started = s.now()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.doc.Ended = s.now()
			return s.Result()
		case <-t.C:
		}
		start := time.Now()
		s.Round(ctx)
		took := time.Since(start)
		t.Reset(max(s.interval, sampleRoundSpacing*took) - took)
	}
}

// Round reads every namespace's tables once and looks up the owners of the
// sockets new to it.
func (s *SocketSampler) Round(ctx context.Context) {
	s.doc.Rounds++
	round := s.doc.Rounds
	nss, err := ScanNamespaces(s.hostNS)
	if err != nil {
		s.fail(round, 0, err)
		return
	}
	sort.SliceStable(nss, func(i, j int) bool { return nss[i].Host && !nss[j].Host })
	scan := NewSocketOwnerScan()
	var pending []uint64 // unowned after their namespace's processes
	for _, ns := range nss {
		if ctx.Err() != nil {
			return
		}
		at := s.now()
		socks, err := sampleReadTCP(ns)
		if err != nil && !IsGone(err) {
			// No sock_diag (a kernel without inet_diag, or refused):
			// the tables, at the cost of their walk.
			socks, err = ns.ReadSocketTables(sampleTCPTables)
		}
		more, moreErr := ns.ReadSocketTables(sampleTables)
		socks = append(socks, more...)
		err = errors.Join(err, moreErr)
		if err != nil && IsGone(err) && len(socks) == 0 {
			continue // its last process exited after the listing
		}
		rec := s.namespace(ns, at)
		rec.Error = ""
		if err != nil {
			rec.Error = err.Error()
			s.fail(round, ns.Inode, err)
		}
		need := s.merge(ns.Inode, at, socks)
		if len(need) == 0 {
			continue
		}
		scan.Scan(ns.PIDs)
		for _, inode := range s.claim(scan, need) {
			if !s.hostTry[inode] {
				pending = append(pending, inode)
			}
		}
	}
	if len(pending) > 0 && ctx.Err() == nil {
		// Once per socket: dockerd holds the DNS sockets of containers'
		// namespaces from the host's.
		_, err := scan.Rest()
		if err != nil && !errors.Is(err, errSockTooMany) {
			s.fail(round, 0, err)
		}
		s.claim(scan, pending)
		for _, inode := range pending {
			s.hostTry[inode] = true
		}
	}
}

// sampleReadTCP dumps the TCP sockets (v4 and v6) of namespace ns over
// NETLINK_SOCK_DIAG, through a socket opened in it by way of the first of
// its processes still in it. Reading /proc/<pid>/net/tcp and tcp6 walks
// the host's whole established hash twice for every namespace (about 8 ms
// of CPU at 262144 buckets); one TCPDIAG_GETSOCK dump walks it once and
// costs about 1.3 ms.
func sampleReadTCP(ns *Namespace) ([]Socket, error) {
	err := fmt.Errorf("namespace %d: no process left: %w", ns.Inode, os.ErrNotExist)
	for _, pid := range ns.PIDs {
		var socks []Socket
		if socks, err = sampleDiagTCP(pid, ns.Inode); err == nil || !IsGone(err) {
			return socks, err
		}
	}
	return nil, err
}

func sampleDiagTCP(pid int, inode uint64) ([]Socket, error) {
	h, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, fmt.Errorf("sock_diag in the net namespace of pid %d: %w", pid, err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h), &st); err != nil {
		return nil, fmt.Errorf("sock_diag in the net namespace of pid %d: %w", pid, err)
	}
	if st.Ino != inode {
		return nil, fmt.Errorf("sock_diag: pid %d is in net namespace %d, not %d: %w", pid, st.Ino, inode, os.ErrNotExist)
	}
	sock, err := nl.GetNetlinkSocketAt(h, netns.None(), unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag in the net namespace of pid %d: %w", pid, err)
	}
	defer sock.Close()
	if socks, err := sampleDumpTCP(sock); err == nil {
		return socks, nil
	}
	// A kernel without the old request: one dump per family.
	var socks []Socket
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		list, err := nsRetry(func() ([]*netlink.Socket, error) { return sampleDumpTCPFamily(sock, fam) })
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("sock_diag TCP in the net namespace of pid %d: %w", pid, err)
		}
		for _, d := range list {
			socks = append(socks, sampleFromDiag(d))
		}
	}
	return socks, nil
}

// sampleTCPDiagGetSock is TCPDIAG_GETSOCK (include/uapi/linux/inet_diag.h),
// the request before SOCK_DIAG_BY_FAMILY: the kernel answers its dump for
// both families in one walk of the established hash, where the newer
// request walks the whole hash once per family.
const sampleTCPDiagGetSock = 18

// sampleDiagMsgBytes is the size of struct inet_diag_msg.
const sampleDiagMsgBytes = 72

// sampleDumpTCP dumps every TCP socket of sock's namespace, v4 and v6, with
// one TCPDIAG_GETSOCK request (struct inet_diag_req: family, lengths,
// extensions, a zero socket id, the states, the tables).
func sampleDumpTCP(sock *nl.NetlinkSocket) ([]Socket, error) {
	req := nl.NewNetlinkRequest(sampleTCPDiagGetSock, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: {Socket: sock}}
	body := make([]byte, 60)
	binary.NativeEndian.PutUint32(body[52:], 0xfff) // every state
	req.AddRawData(body)
	var socks []Socket
	var bad error
	err := req.ExecuteIter(unix.NETLINK_INET_DIAG, sampleTCPDiagGetSock, func(msg []byte) bool {
		d, err := sampleParseDiag(msg)
		if err != nil {
			bad = err
			return false
		}
		socks = append(socks, sampleFromDiag(d))
		return true
	})
	if err != nil && !errors.Is(err, nl.ErrDumpInterrupted) {
		return nil, err
	}
	return socks, bad
}

// sampleDumpTCPFamily is netlink's SocketDiagTCP on sock.
func sampleDumpTCPFamily(sock *nl.NetlinkSocket, fam uint8) ([]*netlink.Socket, error) {
	req := nl.NewNetlinkRequest(nl.SOCK_DIAG_BY_FAMILY, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_INET_DIAG: {Socket: sock}}
	body := make([]byte, 56) // struct inet_diag_req_v2
	body[0], body[1] = fam, unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(body[4:], 0xfff)
	req.AddRawData(body)
	var list []*netlink.Socket
	var bad error
	err := req.ExecuteIter(unix.NETLINK_INET_DIAG, nl.SOCK_DIAG_BY_FAMILY, func(msg []byte) bool {
		d, err := sampleParseDiag(msg)
		if err != nil {
			bad = err
			return false
		}
		list = append(list, d)
		return true
	})
	if err == nil {
		err = bad
	}
	return list, err
}

// sampleParseDiag decodes a struct inet_diag_msg.
func sampleParseDiag(b []byte) (*netlink.Socket, error) {
	if len(b) < sampleDiagMsgBytes {
		return nil, fmt.Errorf("sock_diag message of %d bytes, want %d", len(b), sampleDiagMsgBytes)
	}
	d := &netlink.Socket{Family: b[0], State: b[1], Timer: b[2], Retrans: b[3]}
	d.ID.SourcePort = binary.BigEndian.Uint16(b[4:])
	d.ID.DestinationPort = binary.BigEndian.Uint16(b[6:])
	if d.Family == unix.AF_INET6 {
		d.ID.Source = net.IP(slices.Clone(b[8:24]))
		d.ID.Destination = net.IP(slices.Clone(b[24:40]))
	} else {
		d.ID.Source = net.IPv4(b[8], b[9], b[10], b[11])
		d.ID.Destination = net.IPv4(b[24], b[25], b[26], b[27])
	}
	d.RQueue = binary.NativeEndian.Uint32(b[56:])
	d.WQueue = binary.NativeEndian.Uint32(b[60:])
	d.UID = binary.NativeEndian.Uint32(b[64:])
	d.INode = binary.NativeEndian.Uint32(b[68:])
	return d, nil
}

// sampleFromDiag is the socket a sock_diag message describes, as the
// /proc table would show it: "tcp6" addresses stay 16 bytes (::ffff:a.b.c.d).
// The queues are left out: the samples do not keep them, and a listener's
// mean another thing in each.
func sampleFromDiag(d *netlink.Socket) Socket {
	so := Socket{Proto: "tcp", LocalPort: d.ID.SourcePort, RemotePort: d.ID.DestinationPort, UID: d.UID,
		Inode: uint64(d.INode)}
	local, _ := netip.AddrFromSlice(d.ID.Source.To16())
	remote, _ := netip.AddrFromSlice(d.ID.Destination.To16())
	if d.Family == unix.AF_INET6 {
		so.Proto = "tcp6"
	} else {
		local, remote = local.Unmap(), remote.Unmap()
	}
	so.LocalIP, so.RemoteIP = local.String(), remote.String()
	so.State = sockStates[uint64(d.State)]
	if so.State == "" {
		so.State = fmt.Sprintf("UNKNOWN(%d)", d.State)
	}
	return so
}

// namespace returns the record of ns, created on first sight, with its
// containers brought up to date from the cgroups of processes new to it.
func (s *SocketSampler) namespace(ns *Namespace, at time.Time) *SampledNamespace {
	i, ok := s.nsIdx[ns.Inode]
	if !ok {
		i = len(s.doc.Namespaces)
		s.nsIdx[ns.Inode] = i
		s.doc.Namespaces = append(s.doc.Namespaces, SampledNamespace{Inode: ns.Inode, Host: ns.Host, First: at})
	}
	rec := &s.doc.Namespaces[i]
	rec.Last = at
	if len(ns.PIDs) > 0 {
		rec.PID = ns.PIDs[0]
	}
	for _, pid := range ns.PIDs {
		if p, ok := s.pids[pid]; ok && p.netns == ns.Inode {
			continue
		}
		cg, err := ReadProcFile(fmt.Sprintf("/proc/%d/cgroup", pid), MaxCgroupBytes)
		if err != nil {
			continue // exited; or unreadable, and then so is the rest of it
		}
		p := samplePID{netns: ns.Inode, container: ContainerIDFromCgroup(string(cg))}
		s.pids[pid] = p
		if p.container != "" && !slices.Contains(rec.Containers, p.container) {
			rec.Containers = append(rec.Containers, p.container)
		}
	}
	return rec
}

// merge records the sockets of one namespace's tables read at at, and
// returns the inodes that still need an owner lookup among the
// namespace's processes.
func (s *SocketSampler) merge(netns uint64, at time.Time, socks []Socket) []uint64 {
	var need []uint64
	asked := map[uint64]bool{}
	for _, so := range socks {
		k := sampleKey{netns: netns, inode: so.Inode, proto: so.Proto,
			local: sampleAddrPort(so.LocalIP, so.LocalPort), remote: sampleAddrPort(so.RemoteIP, so.RemotePort)}
		i, ok := s.socks[k]
		if !ok {
			if len(s.doc.Sockets) >= sampleMaxSockets {
				s.doc.UntrackedSightings++
				continue
			}
			i = len(s.doc.Sockets)
			s.socks[k] = i
			s.doc.Sockets = append(s.doc.Sockets, SampledSocket{NetNS: netns, Inode: so.Inode, Proto: so.Proto,
				Local: k.local, Remote: k.remote, First: at})
		}
		rec := &s.doc.Sockets[i]
		rec.Last = at
		rec.Sightings++
		if !slices.Contains(rec.States, so.State) && len(rec.States) < sampleMaxStates {
			rec.States = append(rec.States, so.State)
		}
		if so.Inode != 0 && s.owners[so.Inode] == nil && s.tries[so.Inode] < sampleOwnerTries && !asked[so.Inode] {
			asked[so.Inode] = true
			s.tries[so.Inode]++
			need = append(need, so.Inode)
		}
	}
	return need
}

// claim takes the owners scan found for the inodes in need and returns
// those it found none for. Each owner's command line and container are
// read now, while the process still holds the socket.
func (s *SocketSampler) claim(scan *SocketOwnerScan, need []uint64) []uint64 {
	var left []uint64
	procs := map[int]SampledOwner{}
	for _, inode := range need {
		found := scan.owners[inode]
		if len(found) == 0 {
			left = append(left, inode)
			continue
		}
		list := make([]SampledOwner, 0, len(found))
		for _, o := range found {
			p, ok := procs[o.PID]
			if !ok {
				p = sampleProcess(o.PID)
				procs[o.PID] = p
			}
			so := p
			so.TID, so.FD, so.Comm = o.TID, o.FD, o.Comm
			list = append(list, so)
		}
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
		s.owners[inode] = list
		delete(s.tries, inode)
	}
	return left
}

// sampleProcess reads the command line and container of process pid; what
// cannot be read (it exited) stays empty.
func sampleProcess(pid int) SampledOwner {
	o := SampledOwner{PID: pid}
	d, err := openProcDir(pid)
	if err != nil {
		return o
	}
	defer d.Close()
	cmdline, err := d.readFile("cmdline", sampleMaxCmdlineBytes)
	if errors.Is(err, errProcTooLong) {
		o.CmdlineTruncated = true
	}
	o.Cmdline = procSplitCmdline(cmdline)
	if cg, err := d.readFile("cgroup", MaxCgroupBytes); err == nil {
		o.Container = ContainerIDFromCgroup(string(cg))
	}
	return o
}

func (s *SocketSampler) fail(round int, netns uint64, err error) {
	k := sampleErrKey{netns, err.Error()}
	if i, ok := s.errIdx[k]; ok {
		s.doc.Errors[i].Repeated++
		return
	}
	if len(s.doc.Errors) >= sampleMaxErrors {
		s.doc.ErrorsDropped++
		return
	}
	s.errIdx[k] = len(s.doc.Errors)
	s.doc.Errors = append(s.doc.Errors, SampleError{Time: s.now(), Round: round, NetNS: netns, Error: err.Error()})
}

// Result returns what the rounds so far saw, owners attached.
func (s *SocketSampler) Result() SocketSamples {
	doc := s.doc
	doc.Namespaces = slices.Clone(s.doc.Namespaces)
	doc.Sockets = slices.Clone(s.doc.Sockets)
	for i := range doc.Sockets {
		if so := &doc.Sockets[i]; so.Inode != 0 {
			so.Owners = s.owners[so.Inode]
		}
	}
	return doc
}

// sampleAddrPort formats an address and port as netip.AddrPort does
// ("10.0.0.1:80", "[::1]:80"); an address the table parser left unparsed is
// kept as it was.
func sampleAddrPort(ip string, port uint16) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if strings.Contains(ip, ":") {
			return fmt.Sprintf("[%s]:%d", ip, port)
		}
		return fmt.Sprintf("%s:%d", ip, port)
	}
	return netip.AddrPortFrom(a, port).String()
}
