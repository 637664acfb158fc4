// Package socksample samples the socket tables of every network namespace
// of the host through the capture window, so that a connection opened and
// closed between snapshots, or made in a namespace that containers share,
// still has its namespace, tuple, states and owners: the document
// capture/socket-samples.json holds. It only reads.
package socksample

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dockcase/dockcase/collect/host"
)

// DefaultInterval is how often a Sampler reads the socket
// tables: a connection that lives a few seconds is seen at least once, and
// a round costs about what the snapshot's socket read does.
const DefaultInterval = 2 * time.Second

const (
	// maxSockets bounds the sockets a sampler keeps: at about 300 B
	// each, 256k sockets is under 100 MB; a host opening more than that in
	// a minute is flooding, and the count of what was not kept says so.
	maxSockets = 1 << 18

	// maxErrors bounds the error entries: a namespace failing every
	// round of a long window would otherwise grow the document without end.
	maxErrors = 1000

	// maxStates bounds the states kept per socket: the kernel has 12
	// TCP states; anything past that is a socket flapping through unknowns.
	maxStates = 16

	// maxCmdlineBytes bounds the command line kept per owner: it is
	// in host/processes.json whole; here it only names the process.
	maxCmdlineBytes = 4 << 10 // 4 KiB

	// roundSpacing bounds the time the sampler reads: a round starts no
	// sooner than this many times its predecessor's duration after it
	// started. Dumping a namespace's TCP sockets walks the kernel's whole
	// established hash (about 5 ms at 262144 buckets), so 100 containers
	// would otherwise take half a second of every two.
	roundSpacing = 5

	// ownerTries is how many rounds a socket without an owner is
	// looked up among its namespace's processes: an accepted socket has its
	// descriptor at once, so a socket still unowned after that is held from
	// outside (dockerd's DNS sockets, SCM_RIGHTS in flight) or by none.
	ownerTries = 3
)

// tables are the /proc tables a Sampler reads: the inet ones
// but TCP's, which it dumps over NETLINK_SOCK_DIAG; not unix sockets,
// which carry no address.
var (
	tables    = []string{"udp", "udp6", "raw", "raw6"}
	tcpTables = []string{"tcp", "tcp6"}
)

// Samples is what a Sampler saw through a capture window, the
// document capture/socket-samples.json holds.
type Samples struct {
	IntervalMS int64     `json:"interval_ms"`
	Rounds     int       `json:"rounds"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended"`
	// Namespaces are the network namespaces listed in some round, the
	// host's first, then in the order first listed.
	Namespaces []Namespace `json:"namespaces"`
	// Sockets are the sockets seen, in the order first seen.
	Sockets []Socket  `json:"sockets"`
	Errors  []Failure `json:"errors,omitempty"`
	// UntrackedSightings counts sightings of sockets not kept once
	// maxSockets were; ErrorsDropped the errors past maxErrors.
	UntrackedSightings int `json:"untracked_sightings,omitempty"`
	ErrorsDropped      int `json:"errors_dropped,omitempty"`
}

// Namespace is one network namespace as the rounds listed it.
type Namespace struct {
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

// Socket is one socket (namespace, inode and tuple) across the
// rounds that saw it.
type Socket struct {
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
	Owners []Owner `json:"owners,omitempty"`
}

// Owner is a process holding a sampled socket.
type Owner struct {
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

// Failure is a round's failure for one namespace (or, with NetNS 0, for
// the whole round); the sampling went on. The same failure of the same
// namespace in later rounds is counted in Repeated, not listed again.
type Failure struct {
	Time     time.Time `json:"time"`
	Round    int       `json:"round"`
	NetNS    uint64    `json:"netns_inode,omitempty"`
	Error    string    `json:"error"`
	Repeated int       `json:"repeated,omitempty"`
}

// socketKey is what makes two sightings one socket: the same inode in the
// same namespace with the same tuple (an inode is reused once freed).
type socketKey struct {
	netns         uint64
	inode         uint64
	proto         string
	local, remote string
}

// Sampler reads the inet socket tables of every network namespace of
// the host in rounds, and keeps each socket's first and last sighting, its
// states and its owners. Each round lists the namespaces again, so that
// those of containers started meanwhile are read, and scans descriptors
// only for sockets not yet owned: the namespace's processes first, then,
// once per socket, the rest of the host.
type Sampler struct {
	interval time.Duration
	hostNS   uint64
	now      func() time.Time

	doc     Samples
	socks   map[socketKey]int // index in doc.Sockets
	owners  map[uint64][]Owner
	tries   map[uint64]int  // namespace lookups of an unowned inode
	hostTry map[uint64]bool // host-wide lookup done
	nsIdx   map[uint64]int  // index in doc.Namespaces
	pids    map[int]pidInfo
	errIdx  map[failureKey]int // index in doc.Errors
}

type failureKey struct {
	netns uint64
	err   string
}

// pidInfo is what a round learnt of a process: its namespace and the
// container its cgroup names.
type pidInfo struct {
	netns     uint64
	container string
}

// New returns a sampler that reads the tables every interval
// (DefaultInterval when not positive). It fails when it cannot know
// the host's namespace or list the processes: a sampler that cannot start.
func New(interval time.Duration) (*Sampler, error) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	hostNS, err := host.NetNSInode(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("socket sampler: own net namespace: %w", err)
	}
	if _, err := host.ListPIDs(); err != nil {
		return nil, fmt.Errorf("socket sampler: %w", err)
	}
	return newSampler(interval, hostNS), nil
}

func newSampler(interval time.Duration, hostNS uint64) *Sampler {
	return &Sampler{
		interval: interval,
		hostNS:   hostNS,
		now:      func() time.Time { return time.Now().UTC() },
		doc:      Samples{IntervalMS: interval.Milliseconds(), Namespaces: []Namespace{}, Sockets: []Socket{}},
		socks:    map[socketKey]int{},
		owners:   map[uint64][]Owner{},
		tries:    map[uint64]int{},
		hostTry:  map[uint64]bool{},
		nsIdx:    map[uint64]int{},
		pids:     map[int]pidInfo{},
		errIdx:   map[failureKey]int{},
	}
}

// Run samples at once and then every interval until ctx ends, and returns
// what it saw. A round that takes longer than a fifth of the
// interval delays the next one, so that the sampler's share of the host
// stays bounded however many namespaces it has.
func (s *Sampler) Run(ctx context.Context) Samples {
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
		t.Reset(max(s.interval, roundSpacing*took) - took)
	}
}

// Round reads every namespace's tables once and looks up the owners of the
// sockets new to it.
func (s *Sampler) Round(ctx context.Context) {
	s.doc.Rounds++
	round := s.doc.Rounds
	nss, err := host.ScanNamespaces(s.hostNS)
	if err != nil {
		s.fail(round, 0, err)
		return
	}
	sort.SliceStable(nss, func(i, j int) bool { return nss[i].Host && !nss[j].Host })
	scan := host.NewSocketOwnerScan()
	var pending []uint64 // unowned after their namespace's processes
	for _, ns := range nss {
		if ctx.Err() != nil {
			return
		}
		at := s.now()
		socks, err := ns.DumpTCP()
		if err != nil && !host.IsGone(err) {
			// No sock_diag (a kernel without inet_diag, or refused):
			// the tables, at the cost of their walk.
			socks, err = ns.ReadSocketTables(tcpTables)
		}
		more, moreErr := ns.ReadSocketTables(tables)
		socks = append(socks, more...)
		err = errors.Join(err, moreErr)
		if err != nil && host.IsGone(err) && len(socks) == 0 {
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
		if err != nil && !errors.Is(err, host.ErrTooManySockets) {
			s.fail(round, 0, err)
		}
		s.claim(scan, pending)
		for _, inode := range pending {
			s.hostTry[inode] = true
		}
	}
}

// namespace returns the record of ns, created on first sight, with its
// containers brought up to date from the cgroups of processes new to it.
func (s *Sampler) namespace(ns *host.Namespace, at time.Time) *Namespace {
	i, ok := s.nsIdx[ns.Inode]
	if !ok {
		i = len(s.doc.Namespaces)
		s.nsIdx[ns.Inode] = i
		s.doc.Namespaces = append(s.doc.Namespaces, Namespace{Inode: ns.Inode, Host: ns.Host, First: at})
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
		cg, err := host.ReadProcFile(fmt.Sprintf("/proc/%d/cgroup", pid), host.MaxCgroupBytes)
		if err != nil {
			continue // exited; or unreadable, and then so is the rest of it
		}
		p := pidInfo{netns: ns.Inode, container: host.ContainerIDFromCgroup(string(cg))}
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
func (s *Sampler) merge(netns uint64, at time.Time, socks []host.Socket) []uint64 {
	var need []uint64
	asked := map[uint64]bool{}
	for _, so := range socks {
		k := socketKey{netns: netns, inode: so.Inode, proto: so.Proto,
			local: addrPort(so.LocalIP, so.LocalPort), remote: addrPort(so.RemoteIP, so.RemotePort)}
		i, ok := s.socks[k]
		if !ok {
			if len(s.doc.Sockets) >= maxSockets {
				s.doc.UntrackedSightings++
				continue
			}
			i = len(s.doc.Sockets)
			s.socks[k] = i
			s.doc.Sockets = append(s.doc.Sockets, Socket{NetNS: netns, Inode: so.Inode, Proto: so.Proto,
				Local: k.local, Remote: k.remote, First: at})
		}
		rec := &s.doc.Sockets[i]
		rec.Last = at
		rec.Sightings++
		if !slices.Contains(rec.States, so.State) && len(rec.States) < maxStates {
			rec.States = append(rec.States, so.State)
		}
		if so.Inode != 0 && s.owners[so.Inode] == nil && s.tries[so.Inode] < ownerTries && !asked[so.Inode] {
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
func (s *Sampler) claim(scan *host.SocketOwnerScan, need []uint64) []uint64 {
	var left []uint64
	procs := map[int]Owner{}
	for _, inode := range need {
		found := scan.Owners(inode)
		if len(found) == 0 {
			left = append(left, inode)
			continue
		}
		list := make([]Owner, 0, len(found))
		for _, o := range found {
			p, ok := procs[o.PID]
			if !ok {
				p = readOwner(o.PID)
				procs[o.PID] = p
			}
			so := p
			so.TID, so.FD, so.Comm = o.TID, o.FD, o.Comm
			list = append(list, so) // in Owners' order: pid, thread, descriptor
		}
		s.owners[inode] = list
		delete(s.tries, inode)
	}
	return left
}

// readOwner reads the command line and container of process pid; what
// cannot be read (it exited) stays empty.
func readOwner(pid int) Owner {
	t := host.ReadProcessTag(pid, maxCmdlineBytes)
	return Owner{PID: pid, Cmdline: t.Cmdline, CmdlineTruncated: t.CmdlineTruncated, Container: t.Container}
}

func (s *Sampler) fail(round int, netns uint64, err error) {
	k := failureKey{netns, err.Error()}
	if i, ok := s.errIdx[k]; ok {
		s.doc.Errors[i].Repeated++
		return
	}
	if len(s.doc.Errors) >= maxErrors {
		s.doc.ErrorsDropped++
		return
	}
	s.errIdx[k] = len(s.doc.Errors)
	s.doc.Errors = append(s.doc.Errors, Failure{Time: s.now(), Round: round, NetNS: netns, Error: err.Error()})
}

// Result returns what the rounds so far saw, owners attached.
func (s *Sampler) Result() Samples {
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

// addrPort formats an address and port as netip.AddrPort does
// ("10.0.0.1:80", "[::1]:80"); an address the table parser left unparsed is
// kept as it was.
func addrPort(ip string, port uint16) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if strings.Contains(ip, ":") {
			return fmt.Sprintf("[%s]:%d", ip, port)
		}
		return fmt.Sprintf("%s:%d", ip, port)
	}
	return netip.AddrPortFrom(a, port).String()
}
