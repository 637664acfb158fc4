// Package locate answers "which container talks to this address" on the
// live host (locate.Run, locate.Watch). The indicator parser is in
// target.go and the packet header decoder in packet.go.
package locate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dockcase/dockcase/collect/capture"
	"github.com/dockcase/dockcase/collect/docker"
	"github.com/dockcase/dockcase/collect/host"
	"github.com/dockcase/dockcase/internal/indicator"
	"github.com/dockcase/dockcase/internal/packet"
	"github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// Locate answers "which container talks to this address" from what the
// kernel holds now: the conntrack table (NAT reversed to the container's own
// address and port) and the socket tables of every network namespace, each
// socket with the process holding it. Watch goes on with the flows that
// start afterwards. Both only read.

const (
	// locateMaxResolved bounds the addresses kept from a domain's answer: a
	// name with more than 64 A/AAAA records is a CDN, not a C2, and every
	// address costs a comparison per conntrack entry.
	locateMaxResolved = 64
	// locateMaxEvents bounds the Docker events read to infer which stopped
	// container held an address: the engine keeps about 1000 in memory.
	locateMaxEvents = 10000
	// locateDisconnectWindow is how far back a network disconnect is looked
	// for: conntrack keeps an established TCP flow for up to 5 days, but
	// the engine's event history is much shorter anyway.
	locateDisconnectWindow = 24 * time.Hour
	// locateEventBuffer is the channel between the conntrack listener and
	// the attribution; a busy host makes thousands of flows a second, and a
	// full channel leaves events in the socket buffer instead.
	locateEventBuffer = 4096
	// locateReadBufferBytes is the receive buffer asked for the conntrack
	// event socket, so that a burst of flows does not overflow it (ENOBUFS)
	// while Docker is asked who a new address belongs to.
	locateReadBufferBytes = 8 << 20 // 8 MiB
	// locateMaxWatchKeys bounds the contacts a watch remembers as reported:
	// a wide prefix on a busy host could otherwise grow the set without end.
	// Past it the set starts over, and a contact may be reported again.
	locateMaxWatchKeys = 1 << 20
	// locateRefreshMin is the shortest time between two refreshes of the
	// container list during a watch, so that flows from an address no
	// container holds cannot make the watch hammer the engine.
	locateRefreshMin = 500 * time.Millisecond
	// locateMergeWindow is how long a watch holds a new contact for the
	// other sources' sightings of the same flow, so that its Sources names
	// every source that saw it: a flow's conntrack event and its packets
	// arrive within milliseconds, while attributing the first can take a
	// hundred.
	locateMergeWindow = 300 * time.Millisecond
)

// Evidence sources of a Contact.
const (
	SourceConntrack      = "conntrack"
	SourceSocket         = "socket"
	SourceConntrackEvent = "conntrack-event"
)

// NetworkHost is Contact.Network for a flow of the host's own network
// namespace: a container run with --network host, or a host process.
const NetworkHost = "host"

// Options tune Run and Watch.
type Options struct {
	// DockerHost is the engine's address; "" means DOCKER_HOST or the
	// default socket. Without an engine, contacts are still attributed to
	// container IDs through cgroups, without names.
	DockerHost string
	// Resolve resolves a domain target; nil means HostResolver.
	Resolve Resolver
	// Sources are Watch's event sources; nil means conntrack events
	// and packets (ConntrackEvents and PacketEvents).
	Sources []FlowSource
	// Log receives a line for each address a watch adds to a domain
	// target from a DNS answer; nil discards.
	Log io.Writer
}

// Contact is one flow between a container (or the host) and the target.
type Contact struct {
	Time    time.Time `json:"time"`
	Sources []string  `json:"sources"` // conntrack, socket, conntrack-event, packet
	// ContainerID and ContainerName are empty for a host process, and
	// for an address no container holds any more unless Note names the
	// one container that can have held it.
	ContainerID   string `json:"container_id,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	// Network is the Docker network of Local, or NetworkHost.
	Network string `json:"network,omitempty"`
	Proto   string `json:"proto"`
	// Local is the container's own address and port (NAT reversed); for
	// the host's namespace, the host's. Remote is the target's side.
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
	// NAT is the address and port the remote side saw instead of Local
	// (masquerade, or the published port for an inbound flow).
	NAT       netip.AddrPort `json:"nat,omitzero"`
	Direction string         `json:"direction"` // outbound, inbound
	State     string         `json:"state,omitempty"`
	PID       int            `json:"pid,omitempty"`
	Cmdline   []string       `json:"cmdline,omitempty"`
	// NetNS is the inode of the network namespace holding the socket.
	NetNS uint64 `json:"netns,omitempty"`
	// Note explains an attribution that is inferred rather than read.
	Note string `json:"note,omitempty"`

	inode uint64 // of the socket, when one was found
}

// Attributed reports whether the contact names a container.
func (c Contact) Attributed() bool { return c.ContainerID != "" }

// flowKey identifies a flow by its container-side end.
func (c Contact) flowKey() string {
	return c.Proto + " " + c.Local.String() + " " + c.Remote.String()
}

// FlowEvent is one flow involving the target, reported by a FlowSource as
// it happens, with the container side's own address (NAT reversed) in Local.
// A source that cannot reverse NAT leaves Local as it saw it; attribution
// then goes through the host's sockets.
type FlowEvent struct {
	Time      time.Time
	Source    string // SourceConntrackEvent, …
	Kind      string // new, update, destroy; FlowKindTarget
	Proto     string
	Local     netip.AddrPort
	Remote    netip.AddrPort
	NAT       netip.AddrPort
	Direction string
	State     string
	// ContainerID is the container the source saw the flow in, when the
	// place says it: a packet on a container's veth.
	ContainerID string
	// Iface is the interface a packet source saw the flow on.
	Iface string
	// Note says how the source read the flow when that matters: NAT
	// reversed through conntrack, or why it could not be.
	Note string
}

// FlowKindTarget is the Kind of a FlowEvent that is no flow: a DNS answer
// seen for a domain target added Remote's address to it; Note says where.
const FlowKindTarget = "target"

// FlowSource delivers flows involving the target until ctx ends. A source
// returns nil when ctx ends; other errors end the source and are reported
// as gaps of the watch.
type FlowSource interface {
	Name() string
	Run(ctx context.Context, t Target, out chan<- FlowEvent) error
}

// Run finds the flows of every container (and of host processes) with
// the target, from the conntrack table and the socket tables now. The
// errors are the parts of the host that could not be read and that could
// hide a contact; the contacts found are returned either way, sorted.
func Run(ctx context.Context, t Target, opts Options) ([]Contact, []error) {
	t, err := ResolveTarget(ctx, t, opts.Resolve)
	if err != nil {
		return nil, []error{err}
	}
	h := newLocateHost(ctx, opts)
	defer h.close()
	contacts := h.snapshot(t)
	return contacts, h.errs
}

// Watch reports, through emit, the contacts Run finds now, then
// every new contact as it happens, until ctx ends. A contact is new when no
// contact of the same container (or process), protocol and remote address
// and port was reported before: a beacon that opens a connection every
// second is reported once. A new contact is emitted locateMergeWindow
// after it was seen, with every source that saw it in that time. emit is
// called from one goroutine.
func Watch(ctx context.Context, t Target, opts Options, emit func(Contact)) []error {
	t, err := ResolveTarget(ctx, t, opts.Resolve)
	if err != nil {
		return []error{err}
	}
	if t.Domain != "" {
		t.live = newLocateLive()
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	sources := opts.Sources
	if sources == nil {
		sources = []FlowSource{ConntrackEvents(), locatePackets{dockerHost: opts.DockerHost}}
	}
	// Listen before the snapshot, so that a flow starting in between is
	// seen by one or the other.
	events := make(chan FlowEvent, locateEventBuffer)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := src.Run(ctx, t, events); err != nil && ctx.Err() == nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("watch %s: %w", src.Name(), err))
				mu.Unlock()
			}
		}()
	}
	go func() {
		wg.Wait()
		close(events)
	}()

	h := newLocateHost(ctx, opts)
	defer h.close()
	seen := map[string]bool{}
	report := func(c Contact) {
		k := c.watchKey()
		if seen[k] {
			return
		}
		if len(seen) >= locateMaxWatchKeys {
			clear(seen)
		}
		seen[k] = true
		emit(c)
	}
	for _, c := range h.snapshot(t) {
		report(c)
	}

	// New contacts wait in pending, in the order they were seen, for the
	// other sources' sightings.
	type held struct {
		key string
		due time.Time
	}
	pending := map[string]*Contact{}
	var queue []held
	merge := func(c Contact) {
		p := pending[c.watchKey()]
		if p == nil {
			return
		}
		for _, s := range c.Sources {
			if !slices.Contains(p.Sources, s) {
				p.Sources = append(p.Sources, s)
			}
		}
		if !p.NAT.IsValid() {
			p.NAT = c.NAT
		}
	}
	flush := func(all bool) {
		now := time.Now()
		for len(queue) > 0 && (all || !queue[0].due.After(now)) {
			k := queue[0].key
			queue = queue[1:]
			emit(*pending[k])
			delete(pending, k)
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var due <-chan time.Time
		if len(queue) > 0 {
			timer.Reset(time.Until(queue[0].due))
			due = timer.C
		}
		select {
		case <-due:
			flush(false)
			continue
		case ev, ok := <-events:
			if !ok {
				flush(true)
				mu.Lock()
				defer mu.Unlock()
				return append(h.errs, errs...)
			}
			if ev.Kind == FlowKindTarget {
				fmt.Fprintf(logw, "dockcase: %s\n", ev.Note)
				continue
			}
			c, isNew := h.attributeEvent(ctx, ev, seen)
			k := c.watchKey()
			if !isNew || seen[k] {
				merge(c)
				continue
			}
			if len(seen) >= locateMaxWatchKeys {
				clear(seen)
			}
			seen[k] = true
			pending[k] = &c
			queue = append(queue, held{key: k, due: time.Now().Add(locateMergeWindow)})
		}
	}
}

// watchKey identifies a contact for Watch's "new" test.
func (c Contact) watchKey() string {
	who := c.ContainerID
	if who == "" && c.PID != 0 {
		who = "pid:" + strconv.Itoa(c.PID)
	}
	if who == "" {
		who = c.Local.Addr().String()
	}
	return who + " " + c.Proto + " " + c.Remote.String()
}

// locateNS is one network namespace of the host.
type locateNS struct {
	*host.Namespace
	addrs     []netip.Addr
	addrsRead bool
}

// locateContainer is a container as the engine lists it.
type locateContainer struct {
	id, name, networkMode string
	ips                   map[netip.Addr]string // address → network name
}

// locateNetwork is a Docker network and its subnets.
type locateNetwork struct {
	id, name string
	subnets  []netip.Prefix
}

// locateHost is what Run read of the host.
type locateHost struct {
	opts Options
	now  time.Time
	errs []error

	procs      map[int]*host.Process
	hostNS     uint64
	namespaces map[uint64]*locateNS
	// unknownNS are processes whose namespace link could not be read: their
	// socket tables are read through them, deduplicated by socket.
	unknownNS []int
	hostAddrs map[netip.Addr]bool

	docker        *docker.Client
	dockerErr     error
	containers    map[string]*locateContainer // by ID
	byIP          map[netip.Addr]*locateContainer
	networks      []locateNetwork
	lastRefresh   time.Time
	disconnects   []locateDisconnect
	disconnectsOK bool
	// listedFor are the containers a watch's attribution named that the
	// engine's list did not have, each listed again for once.
	listedFor map[string]bool

	owners     map[uint64][]host.SocketOwner
	ownersErr  error
	ownersRead bool
	sockCache  map[uint64][]host.Socket // by namespace inode
}

func newLocateHost(ctx context.Context, opts Options) *locateHost {
	h := &locateHost{opts: opts, now: time.Now().UTC()}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.readDocker(ctx)
	}()
	h.readProcesses()
	wg.Wait()
	if h.dockerErr != nil {
		h.errs = append(h.errs, fmt.Errorf("container names and networks unknown: %w", h.dockerErr))
	}
	return h
}

func (h *locateHost) close() {
	if h.docker != nil {
		h.docker.Close()
	}
}

func (h *locateHost) readDocker(ctx context.Context) {
	d, err := docker.Dial(ctx, h.opts.DockerHost)
	if err != nil {
		h.dockerErr = err
		return
	}
	h.docker = d
	h.dockerErr = h.refreshDocker(ctx)
}

// refreshDocker lists containers and networks.
func (h *locateHost) refreshDocker(ctx context.Context) error {
	h.lastRefresh = time.Now()
	cs, err := locateListContainers(ctx, h.docker)
	if err != nil {
		return err
	}
	nets, err := locateListNetworks(ctx, h.docker)
	if err != nil {
		return err
	}
	h.containers = map[string]*locateContainer{}
	h.byIP = map[netip.Addr]*locateContainer{}
	for _, c := range cs {
		h.containers[c.id] = c
		for a := range c.ips {
			h.byIP[a] = c
		}
	}
	h.networks = nets
	return nil
}

// readProcesses groups the host's processes by network namespace.
func (h *locateHost) readProcesses() {
	procs, err := host.ReadProcesses()
	h.procs = map[int]*host.Process{}
	h.namespaces = map[uint64]*locateNS{}
	h.unknownNS = nil
	var nsErr error
	if h.hostNS, nsErr = host.NetNSInode(os.Getpid()); nsErr != nil {
		h.errs = append(h.errs, fmt.Errorf("own network namespace: %w", nsErr))
	}
	for i := range procs {
		p := &procs[i]
		h.procs[p.PID] = p
		if p.Namespaces.Net == 0 {
			h.unknownNS = append(h.unknownNS, p.PID)
		}
	}
	for _, ns := range host.GroupNamespaces(procs, h.hostNS) {
		h.namespaces[ns.Inode] = &locateNS{Namespace: ns}
	}
	if ns := h.namespaces[h.hostNS]; ns == nil && h.hostNS != 0 {
		h.namespaces[h.hostNS] = &locateNS{Namespace: &host.Namespace{Inode: h.hostNS, Host: true, PID: os.Getpid(), PIDs: []int{os.Getpid()}}}
	}
	if err == nil {
		return
	}
	// A process that could not be read hides a namespace only if its
	// socket tables cannot be read either: matchSockets tries them.
	pids, lerr := host.ListPIDs()
	if lerr != nil {
		h.errs = append(h.errs, err)
		return
	}
	for _, pid := range pids {
		if h.procs[pid] == nil {
			h.unknownNS = append(h.unknownNS, pid)
		}
	}
}

// snapshot finds the contacts in the socket tables and the conntrack table.
func (h *locateHost) snapshot(t Target) []Contact {
	var (
		ct    host.ConntrackTable
		ctErr error
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		ct, ctErr = host.ReadConntrack()
	}()
	socks := h.matchSockets(t)
	wg.Wait()
	// With entries, the error is about the extras (sysctls, a netlink
	// failure the /proc fallback covered) or a few malformed /proc lines.
	if ctErr != nil && len(ct.Entries) == 0 {
		h.errs = append(h.errs, fmt.Errorf("conntrack: %w", ctErr))
	}
	if ct.Truncated {
		h.errs = append(h.errs, errors.New("conntrack: table truncated"))
	}

	byKey := map[string]int{}
	var out []Contact
	for _, c := range socks {
		byKey[c.flowKey()] = len(out)
		out = append(out, c)
	}
	for _, e := range ct.Entries {
		ends, ok := t.Orient(e)
		if !ok {
			continue
		}
		c := Contact{
			Time: h.now, Sources: []string{SourceConntrack}, Proto: e.Proto,
			Local: ends.Local, Remote: ends.Remote, NAT: ends.NAT, Direction: ends.Direction,
			State: locateConntrackState(e),
		}
		if i, ok := byKey[c.flowKey()]; ok {
			s := &out[i]
			s.Sources = append([]string{SourceConntrack}, s.Sources...)
			s.NAT, s.Direction = c.NAT, c.Direction
			if c.State != "" {
				s.State = c.State
			}
			continue
		}
		h.attribute(&c, nil)
		byKey[c.flowKey()] = len(out)
		out = append(out, c)
	}
	h.checkOwners(out)
	locateSort(out)
	return out
}

// checkOwners reports the owner scan's failure only when a contact's socket
// went without an owner: elsewhere it hid nothing.
//
// A socket opened after the owner scan has no owner yet: the scan is run
// again once for those.
func (h *locateHost) checkOwners(cs []Contact) {
	rescanned := false
	for i := range cs {
		c := &cs[i]
		if c.inode == 0 || c.PID != 0 || h.socketClosed(*c) {
			continue
		}
		if !rescanned {
			h.owners, h.ownersErr = host.SocketOwners()
			rescanned = true
		}
		c.ContainerID, c.ContainerName, c.Network, c.Note = "", "", "", ""
		h.attribute(c, &host.Socket{Inode: c.inode})
		if c.PID == 0 && h.ownersErr != nil {
			h.errs = append(h.errs, fmt.Errorf("owner of the socket %s → %s unknown: %w", c.Local, c.Remote, h.ownersErr))
			h.ownersErr = nil
		}
	}
}

// socketClosed reports whether the socket of c is gone from its namespace's
// table: it closed after the table was read and before its owner was looked
// for (a beacon that reconnects every second does that), so no owner was
// missed.
func (h *locateHost) socketClosed(c Contact) bool {
	ns := h.namespaces[c.NetNS]
	if ns == nil {
		return false
	}
	delete(h.sockCache, ns.Inode)
	socks, err := h.nsSockets(ns)
	if err != nil {
		return false
	}
	for _, s := range socks {
		if s.Inode == c.inode {
			return false
		}
	}
	return true
}

func locateSort(cs []Contact) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.ContainerName != b.ContainerName {
			return a.ContainerName < b.ContainerName
		}
		if a.ContainerID != b.ContainerID {
			return a.ContainerID < b.ContainerID
		}
		if a.Remote != b.Remote {
			return a.Remote.Compare(b.Remote) < 0
		}
		if a.Proto != b.Proto {
			return a.Proto < b.Proto
		}
		return a.Local.Compare(b.Local) < 0
	})
}

// locateConntrackState is the TCP state, or for stateless protocols
// whether the remote side answered.
func locateConntrackState(e host.ConntrackEntry) string {
	if e.State != "" {
		return e.State
	}
	if slices.Contains(e.Status, "SEEN_REPLY") {
		return "REPLIED"
	}
	return "UNREPLIED"
}

// FlowEnds are the two sides of a flow with the target.
type FlowEnds struct {
	Local, Remote, NAT netip.AddrPort
	Direction          string // outbound, inbound
}

// Orient finds the target's side of a conntrack entry and the local side,
// NAT reversed: for an outbound flow the original source (the container's
// address before masquerade), for an inbound one the reply source (the
// container's address behind a published port).
func (t Target) Orient(e host.ConntrackEntry) (FlowEnds, bool) {
	ap := func(a string, port uint16) netip.AddrPort {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(ip.Unmap(), port)
	}
	o, r := e.Original, e.Reply
	osrc, odst := ap(o.Src, o.SrcPort), ap(o.Dst, o.DstPort)
	rsrc, rdst := ap(r.Src, r.SrcPort), ap(r.Dst, r.DstPort)
	var f FlowEnds
	switch {
	case t.Contains(odst.Addr()):
		// Local → target; the reply comes back to the translated source.
		// When the target holds both ends (a wide prefix), the side that
		// opened the flow is taken as the local one.
		f = FlowEnds{Local: osrc, Remote: odst, Direction: "outbound"}
		if rdst != osrc {
			f.NAT = rdst
		}
	case t.Contains(osrc.Addr()):
		// Target → local; the reply comes from the real server behind any
		// DNAT (a published port).
		f = FlowEnds{Local: rsrc, Remote: osrc, Direction: "inbound"}
		if odst != rsrc {
			f.NAT = odst
		}
	case t.Contains(rsrc.Addr()):
		// Local → some address that was DNATed to the target.
		f = FlowEnds{Local: osrc, Remote: rsrc, NAT: odst, Direction: "outbound"}
	default:
		return FlowEnds{}, false
	}
	if !f.Local.Addr().IsValid() || !f.Remote.Addr().IsValid() || f.Local.Addr().IsMulticast() {
		// A multicast "local" end is a group the target sent to
		// (IGMP, mDNS), not anything on this host.
		return FlowEnds{}, false
	}
	return f, true
}

// locateInetTables are the socket tables that can hold a flow.
var locateInetTables = []string{"tcp", "tcp6", "udp", "udp6", "raw", "raw6"}

// nsSockets reads the sockets of ns through the first of its processes
// still alive.
func (h *locateHost) nsSockets(ns *locateNS) ([]host.Socket, error) {
	if socks, ok := h.sockCache[ns.Inode]; ok {
		return socks, nil
	}
	socks, err := ns.ReadSocketTables(locateInetTables)
	if err == nil {
		if h.sockCache == nil {
			h.sockCache = map[uint64][]host.Socket{}
		}
		h.sockCache[ns.Inode] = socks
	}
	return socks, err
}

// matchSockets reads every namespace's socket tables and keeps the sockets
// connected to the target, attributed through their owners.
func (h *locateHost) matchSockets(t Target) []Contact {
	type found struct {
		s  host.Socket
		ns *locateNS
	}
	var hits []found
	seen := map[string]bool{} // sockets read twice through a process of unknown namespace
	keep := func(s host.Socket, ns *locateNS) {
		ra, err := netip.ParseAddr(s.RemoteIP)
		if err != nil || !t.Contains(ra) || (s.RemotePort == 0 && s.State == "LISTEN") {
			return
		}
		k := fmt.Sprintf("%s %d %s %d %s %d", s.Proto, s.Inode, s.LocalIP, s.LocalPort, s.RemoteIP, s.RemotePort)
		if seen[k] {
			return
		}
		if len(seen) >= locateMaxWatchKeys {
			clear(seen)
		}
		seen[k] = true
		hits = append(hits, found{s, ns})
	}
	inodes := make([]uint64, 0, len(h.namespaces))
	for ino := range h.namespaces {
		inodes = append(inodes, ino)
	}
	slices.Sort(inodes)
	for _, ino := range inodes {
		ns := h.namespaces[ino]
		socks, err := h.nsSockets(ns)
		if err != nil && !host.IsGone(err) {
			h.errs = append(h.errs, fmt.Errorf("sockets of namespace %d: %w", ns.Inode, err))
		}
		for _, s := range socks {
			keep(s, ns)
		}
	}
	for _, pid := range h.unknownNS {
		socks, err := host.ReadProcSocketTables(pid, 0, locateInetTables)
		if err != nil && !host.IsGone(err) {
			h.errs = append(h.errs, fmt.Errorf("sockets of pid %d (namespace unreadable): %w", pid, err))
		}
		for _, s := range socks {
			keep(s, nil)
		}
	}
	var out []Contact
	for _, f := range hits {
		c := Contact{Time: h.now, Sources: []string{SourceSocket}, Proto: strings.TrimSuffix(f.s.Proto, "6"),
			State: f.s.State, Direction: "outbound"}
		la, _ := netip.ParseAddr(f.s.LocalIP)
		ra, _ := netip.ParseAddr(f.s.RemoteIP)
		c.Local = netip.AddrPortFrom(la.Unmap(), f.s.LocalPort)
		c.Remote = netip.AddrPortFrom(ra.Unmap(), f.s.RemotePort)
		if f.ns != nil {
			c.NetNS = f.ns.Inode
		}
		h.attribute(&c, &f.s)
		out = append(out, c)
	}
	return out
}

// attribute names the container (or host process) of a contact: through
// the socket's owner when there is a socket, else through the local
// address: a container's address from the engine or a namespace, or the
// host's, where the socket with the same ends is looked up.
func (h *locateHost) attribute(c *Contact, s *host.Socket) {
	if s == nil {
		s = h.findSocket(c)
	}
	if s != nil && s.Inode != 0 {
		c.inode = s.Inode
		h.attributeOwner(c, s.Inode)
	}
	if c.ContainerID == "" {
		if ctr := h.byIP[c.Local.Addr()]; ctr != nil {
			c.ContainerID = ctr.id
		} else if ns := h.nsOfAddr(c.Local.Addr()); ns != nil {
			c.NetNS = ns.Inode
			if len(ns.Containers) > 0 {
				c.ContainerID = ns.Containers[0]
			}
		}
	}
	if c.NetNS == 0 && h.isHostAddr(c.Local.Addr()) {
		c.NetNS = h.hostNS
	}
	h.nameContainer(c)
	if c.Network == "" && c.ContainerID != "" {
		// The engine listed the container before it had its address.
		if n := h.networkOf(c.Local.Addr()); n != nil {
			c.Network = n.name
		}
	}
	if c.Network == "" && c.NetNS != 0 && c.NetNS == h.hostNS {
		c.Network = NetworkHost
	}
	if c.PID != 0 && c.ContainerID != "" && c.Network != NetworkHost {
		if p := h.procs[c.PID]; p != nil && p.ContainerID != c.ContainerID {
			c.Note = fmt.Sprintf("the socket is in the container's namespace but held by pid %d (%s), outside the container", c.PID, p.Comm)
			if c.Remote.Port() == 53 {
				c.Note += ": Docker's embedded DNS forwarding the container's lookups"
			}
		}
	}
	if c.ContainerID == "" && c.Network == "" {
		h.inferStopped(c)
	}
}

// nameContainer sets the name of the contact's container and the network of
// its local address, from the engine's list.
func (h *locateHost) nameContainer(c *Contact) {
	if ctr := h.containers[c.ContainerID]; ctr != nil {
		c.ContainerName = ctr.name
		if n, ok := ctr.ips[c.Local.Addr()]; ok {
			c.Network = n
		} else if ctr.networkMode == NetworkHost {
			c.Network = NetworkHost
		}
	}
}

// attributeOwner sets the process holding socket inode, and its container.
func (h *locateHost) attributeOwner(c *Contact, inode uint64) {
	if !h.ownersRead {
		h.owners, h.ownersErr = host.SocketOwners()
		h.ownersRead = true
	}
	owners := h.owners[inode]
	if len(owners) == 0 {
		return
	}
	// The lowest PID holding it: the parent that opened it, usually.
	o := owners[0]
	c.PID = o.PID
	p := h.procs[o.PID]
	if p == nil {
		if pp, err := host.ReadProcess(o.PID, time.Time{}, host.DefaultClockTicks); err == nil {
			p = &pp
			h.procs[o.PID] = p
		}
	}
	if p != nil {
		c.Cmdline = p.Cmdline
		if c.ContainerID == "" {
			c.ContainerID = p.ContainerID
		}
	}
}

// findSocket looks for the socket of a conntrack flow in the namespace that
// holds its local address.
func (h *locateHost) findSocket(c *Contact) *host.Socket {
	var ns *locateNS
	if h.isHostAddr(c.Local.Addr()) {
		ns = h.namespaces[h.hostNS]
	} else if ctr := h.byIP[c.Local.Addr()]; ctr != nil {
		for _, n := range h.namespaces {
			if slices.Contains(n.Containers, ctr.id) && !n.Host {
				ns = n
				break
			}
		}
	}
	if ns == nil {
		ns = h.nsOfAddr(c.Local.Addr())
	}
	if ns == nil {
		return nil
	}
	socks, err := h.nsSockets(ns)
	if err != nil {
		return nil
	}
	for i, s := range socks {
		la, _ := netip.ParseAddr(s.LocalIP)
		ra, _ := netip.ParseAddr(s.RemoteIP)
		if strings.TrimSuffix(s.Proto, "6") == c.Proto && s.LocalPort == c.Local.Port() && s.RemotePort == c.Remote.Port() &&
			ra.Unmap() == c.Remote.Addr() && (la.Unmap() == c.Local.Addr() || la.IsUnspecified()) {
			c.NetNS = ns.Inode
			if c.State == "" {
				c.State = s.State
			}
			c.Sources = append(c.Sources, SourceSocket)
			return &socks[i]
		}
	}
	return nil
}

// nsOfAddr finds the non-host namespace holding address a, reading the
// namespaces' addresses the first time.
func (h *locateHost) nsOfAddr(a netip.Addr) *locateNS {
	if !a.IsValid() || a.IsLoopback() {
		return nil
	}
	for _, ns := range h.namespaces {
		if ns.Host {
			continue
		}
		h.readNSAddrs(ns)
		if slices.Contains(ns.addrs, a) {
			return ns
		}
	}
	return nil
}

func (h *locateHost) readNSAddrs(ns *locateNS) {
	if ns.addrsRead {
		return
	}
	ns.addrsRead = true
	for _, pid := range ns.PIDs {
		addrs, err := locateNSAddrs(pid)
		if err == nil {
			ns.addrs = addrs
			return
		}
		if !host.IsGone(err) {
			h.errs = append(h.errs, fmt.Errorf("addresses of namespace %d: %w", ns.Inode, err))
			return
		}
	}
}

// locateNSAddrs lists the addresses of the network namespace of pid over a
// netlink socket opened in it; the calling thread stays where it is.
func locateNSAddrs(pid int) ([]netip.Addr, error) {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, fmt.Errorf("open netns of pid %d: %w", pid, err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in netns of pid %d: %w", pid, err)
	}
	defer nh.Close()
	list, err := nh.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("addresses in netns of pid %d: %w", pid, err)
	}
	out := make([]netip.Addr, 0, len(list))
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// locateDisconnect is a container leaving a network.
type locateDisconnect struct {
	time      time.Time
	container string
	network   string // ID
}

// inferStopped explains a local address that no running container and no
// namespace holds: when it lies in a Docker network, the container that
// held it has stopped or left the network (the engine forgets a stopped
// container's address). If exactly one container left that network
// recently, it is named, and Note says it is inferred.
func (h *locateHost) inferStopped(c *Contact) {
	netw := h.networkOf(c.Local.Addr())
	if netw == nil {
		return
	}
	c.Network = netw.name
	if !h.disconnectsOK && h.docker != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		h.disconnects, err = locateDisconnects(ctx, h.docker, time.Now().Add(-locateDisconnectWindow))
		cancel()
		if err != nil {
			h.errs = append(h.errs, fmt.Errorf("docker events: %w", err))
		}
		h.disconnectsOK = true
	}
	var cands []string
	for _, d := range h.disconnects {
		if d.network != netw.id || slices.Contains(cands, d.container) {
			continue
		}
		// A container that is on the network again holds another address.
		if ctr := h.containers[d.container]; ctr != nil && locateOnNetwork(ctr, netw.name) {
			continue
		}
		cands = append(cands, d.container)
	}
	name := func(id string) string {
		if ctr := h.containers[id]; ctr != nil {
			return ctr.name
		}
		return docker.ShortID(id) + " (removed)"
	}
	switch len(cands) {
	case 0:
		c.Note = fmt.Sprintf("no container holds %s now", c.Local.Addr())
	case 1:
		c.ContainerID = cands[0]
		if ctr := h.containers[cands[0]]; ctr != nil {
			c.ContainerName = ctr.name
		}
		c.Note = fmt.Sprintf("inferred: no running container holds %s now; %s is the only container that left %s in the last %s",
			c.Local.Addr(), name(cands[0]), netw.name, locateDisconnectWindow)
	default:
		names := make([]string, len(cands))
		for i, id := range cands {
			names[i] = name(id)
		}
		c.Note = fmt.Sprintf("no running container holds %s now; it was one of the containers that left %s: %s",
			c.Local.Addr(), netw.name, strings.Join(names, ", "))
	}
}

// networkOf returns the Docker network whose subnet holds a, the most
// specific one when subnets overlap.
func (h *locateHost) networkOf(a netip.Addr) *locateNetwork {
	var best *locateNetwork
	bits := -1
	for i := range h.networks {
		for _, p := range h.networks[i].subnets {
			if p.Contains(a) && p.Bits() > bits {
				best, bits = &h.networks[i], p.Bits()
			}
		}
	}
	return best
}

// locateOnNetwork reports whether ctr holds an address on network name.
func locateOnNetwork(ctr *locateContainer, name string) bool {
	for _, n := range ctr.ips {
		if n == name {
			return true
		}
	}
	return false
}

// locateListContainers lists every container with its addresses, in one
// request.
func locateListContainers(ctx context.Context, d *docker.Client) ([]*locateContainer, error) {
	raw, err := d.Get(ctx, "/containers/json", url.Values{"all": {"1"}}, docker.MaxListBytes)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var list []struct {
		ID         string   `json:"Id"`
		Names      []string `json:"Names"`
		HostConfig struct {
			NetworkMode string `json:"NetworkMode"`
		} `json:"HostConfig"`
		NetworkSettings struct {
			Networks map[string]struct {
				IPAddress         string `json:"IPAddress"`
				GlobalIPv6Address string `json:"GlobalIPv6Address"`
			} `json:"Networks"`
		} `json:"NetworkSettings"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]*locateContainer, 0, len(list))
	for _, c := range list {
		lc := &locateContainer{id: c.ID, networkMode: c.HostConfig.NetworkMode, ips: map[netip.Addr]string{}}
		for _, n := range c.Names {
			if n = strings.TrimPrefix(n, "/"); !strings.Contains(n, "/") {
				lc.name = n
				break
			}
		}
		for name, ep := range c.NetworkSettings.Networks {
			for _, s := range []string{ep.IPAddress, ep.GlobalIPv6Address} {
				if a, err := netip.ParseAddr(s); err == nil {
					lc.ips[a.Unmap()] = name
				}
			}
		}
		out = append(out, lc)
	}
	return out, nil
}

// locateListNetworks lists the engine's networks and their subnets.
func locateListNetworks(ctx context.Context, d *docker.Client) ([]locateNetwork, error) {
	raw, err := d.Get(ctx, "/networks", nil, docker.MaxListBytes)
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	var list []struct {
		ID   string `json:"Id"`
		Name string `json:"Name"`
		IPAM struct {
			Config []struct {
				Subnet string `json:"Subnet"`
			} `json:"Config"`
		} `json:"IPAM"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	out := make([]locateNetwork, 0, len(list))
	for _, n := range list {
		ln := locateNetwork{id: n.ID, name: n.Name}
		for _, c := range n.IPAM.Config {
			if ind, err := indicator.Parse(c.Subnet); err == nil && ind.Kind == indicator.CIDR {
				ln.subnets = append(ln.subnets, ind.Prefix)
			}
		}
		out = append(out, ln)
	}
	return out, nil
}

// locateDisconnects reads the engine's network disconnect events since.
func locateDisconnects(ctx context.Context, d *docker.Client, since time.Time) ([]locateDisconnect, error) {
	filters, _ := json.Marshal(map[string][]string{"type": {"network"}, "event": {"disconnect"}})
	q := url.Values{"since": {docker.UnixTime(since)}, "until": {docker.UnixTime(time.Now())}, "filters": {string(filters)}}
	resp, err := d.Open(ctx, "/events", q)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), docker.MaxEventBytes)
	var out []locateDisconnect
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(out) == locateMaxEvents {
			return out, fmt.Errorf("more than %d disconnect events", locateMaxEvents)
		}
		var ev struct {
			Action string `json:"Action"`
			Actor  struct {
				ID         string            `json:"ID"`
				Attributes map[string]string `json:"Attributes"`
			} `json:"Actor"`
			TimeNano int64 `json:"timeNano"`
		}
		if err := json.Unmarshal(line, &ev); err != nil {
			return out, fmt.Errorf("event %q: %w", line[:min(len(line), 80)], err)
		}
		if ev.Action != "disconnect" || ev.Actor.Attributes["container"] == "" {
			continue
		}
		out = append(out, locateDisconnect{time: time.Unix(0, ev.TimeNano), container: ev.Actor.Attributes["container"], network: ev.Actor.ID})
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	// Newest first: the most recent leaver is the likeliest holder.
	sort.SliceStable(out, func(i, j int) bool { return out[i].time.After(out[j].time) })
	return out, nil
}

// attributeEvent turns a watched flow into a contact. An address no
// container is known to hold makes it ask the engine again (a container
// started since), at most every locateRefreshMin. seen holds the watch keys
// reported already: a flow of a known container and remote is dropped
// before its process is looked up.
func (h *locateHost) attributeEvent(ctx context.Context, ev FlowEvent, seen map[string]bool) (Contact, bool) {
	c := Contact{
		Time: ev.Time, Sources: []string{ev.Source}, Proto: ev.Proto,
		Local: ev.Local, Remote: ev.Remote, NAT: ev.NAT, Direction: ev.Direction, State: ev.State,
	}
	local := c.Local.Addr()
	unknown := h.byIP[local] == nil && !h.isHostAddr(local) || ev.ContainerID != "" && h.containers[ev.ContainerID] == nil
	if unknown && h.docker != nil && time.Since(h.lastRefresh) >= locateRefreshMin {
		if err := h.refreshDocker(ctx); err != nil && ctx.Err() == nil {
			h.errs = append(h.errs, fmt.Errorf("refresh containers: %w", err))
		}
	}
	// A packet on a container's veth names it, whatever its address.
	c.ContainerID = ev.ContainerID
	if ctr := h.byIP[local]; ctr != nil && c.ContainerID == "" {
		c.ContainerID = ctr.id
	}
	if c.ContainerID != "" && seen[c.watchKey()] {
		return c, false
	}
	// A new contact: its namespace, process and socket may all be newer
	// than what was read, so read them again.
	h.readProcesses()
	h.ownersRead = false
	h.sockCache = nil
	h.attribute(&c, nil)
	cs := []Contact{c}
	h.checkOwners(cs)
	c = cs[0]
	// The veth, the namespace or the owner's cgroup named a container the
	// engine's last list did not have: one created since that list, whose
	// flow came within locateRefreshMin of it (another container's flow had
	// asked), so the refresh above was held back. A contact is reported
	// once: without its name then, it would stay without. Each such
	// container makes the engine be asked once more, whenever it comes.
	if id := c.ContainerID; id != "" && h.containers[id] == nil && h.docker != nil && !h.listedFor[id] {
		if h.listedFor == nil {
			h.listedFor = map[string]bool{}
		}
		h.listedFor[id] = true
		if err := h.refreshDocker(ctx); err != nil && ctx.Err() == nil {
			h.errs = append(h.errs, fmt.Errorf("refresh containers: %w", err))
		}
		h.nameContainer(&c)
	}
	if ev.Note != "" {
		if c.Note != "" {
			c.Note = ev.Note + "; " + c.Note
		} else {
			c.Note = ev.Note
		}
	}
	return c, true
}

// isHostAddr reports whether a is an address of the host's namespace.
func (h *locateHost) isHostAddr(a netip.Addr) bool {
	if h.hostAddrs == nil {
		h.hostAddrs = map[netip.Addr]bool{}
		if ns := h.namespaces[h.hostNS]; ns != nil {
			h.readNSAddrs(ns)
			for _, a := range ns.addrs {
				h.hostAddrs[a] = true
			}
		}
	}
	return h.hostAddrs[a]
}

// ConntrackEvents is the FlowSource of the kernel's conntrack events (new,
// update and destroy) of the host's namespace. The kernel cannot filter
// them by address, so every event of the host is decoded and most dropped.
func ConntrackEvents() FlowSource { return locateCtEvents{} }

type locateCtEvents struct{}

func (locateCtEvents) Name() string { return SourceConntrackEvent }

// Run listens until ctx ends. When the kernel drops events because the
// socket buffer is full (ENOBUFS) it listens again and says so at the end.
func (s locateCtEvents) Run(ctx context.Context, t Target, out chan<- FlowEvent) error {
	lost := 0
	for {
		err := s.listen(ctx, t, out)
		if ctx.Err() != nil {
			if lost > 0 {
				return fmt.Errorf("the kernel dropped events %d times (receive buffer full): flows may be missing", lost)
			}
			return nil
		}
		if !errors.Is(err, unix.ENOBUFS) {
			return err
		}
		lost++
	}
}

func (locateCtEvents) listen(ctx context.Context, t Target, out chan<- FlowEvent) error {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	// The library's workers block on full channels, and Close waits for
	// them: keep draining until Close returns.
	evs := make(chan conntrack.Event, locateEventBuffer)
	var errs chan error
	defer func() {
		done := make(chan struct{})
		go func() {
			c.Close()
			close(done)
		}()
		for {
			select {
			case <-evs:
			case <-errs:
			case <-done:
				return
			}
		}
	}()
	// Best effort: above net.core.rmem_max the kernel caps it silently.
	_ = c.SetReadBuffer(locateReadBufferBytes)
	errs, err = c.Listen(evs, 1, netfilter.GroupsCT)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case ev := <-evs:
			if ev.Flow == nil {
				continue
			}
			e := host.ConntrackEntryFromFlow(ev.Flow)
			ends, ok := t.Orient(e)
			if !ok {
				continue
			}
			kind := "update"
			switch ev.Type {
			case conntrack.EventNew:
				kind = "new"
			case conntrack.EventDestroy:
				kind = "destroy"
			}
			fe := FlowEvent{
				Time: time.Now().UTC(), Source: SourceConntrackEvent, Kind: kind, Proto: e.Proto,
				Local: ends.Local, Remote: ends.Remote, NAT: ends.NAT, Direction: ends.Direction,
				State: locateConntrackState(e),
			}
			select {
			case out <- fe:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// The packet source: the capture's readers, filtered in the kernel for the
// target, feed a parser that keeps the first packet of each flow.

const (
	// locatePacketSnaplen is what the kernel copies of each packet: the
	// headers only (Ethernet with two VLAN tags, IPv6 with a few extension
	// headers, TCP with options fit in 256 bytes).
	locatePacketSnaplen = 256
	// locatePacketMaxFlows bounds the flows the packet source remembers as
	// seen; past it the set starts over and a flow may be reported again
	// (the watch still deduplicates the contact).
	locatePacketMaxFlows = 1 << 16
	// locatePacketQueue is the channel between the capture's readers and
	// the attribution of new flows; a reader never waits on it, a new flow
	// that finds it full is counted as lost.
	locatePacketQueue = 1024
	// locateDNSSnaplen is what the kernel copies of each packet when the
	// target is a domain, so that DNS answers arrive whole: a classic
	// answer is at most 512 bytes, one with EDNS fits a 1500-byte MTU
	// unless fragmented.
	locateDNSSnaplen = 1600
	// locateMaxDNSAnswers bounds the resource records read of one answer.
	locateMaxDNSAnswers = 64
	// locateMaxCNAMEChain bounds the CNAMEs followed from the domain.
	locateMaxCNAMEChain = 8
)

// SourcePacket is the evidence source of a flow seen in the packets of a
// bridge, a veth or an uplink.
const SourcePacket = "packet"

// for a domain target the DNS answers too.
func locatePacketFilter(t Target) string {
	ps := t.watchPrefixes()
	terms := make([]string, 0, len(ps)+1)
	for _, p := range ps {
		if p.IsSingleIP() {
			terms = append(terms, "host "+p.Addr().String())
		} else {
			terms = append(terms, "net "+p.Masked().String())
		}
	}
	if t.Domain != "" {
		// The answers that may name the domain.
		terms = append(terms, "(udp and src port 53)")
	}
	return strings.Join(terms, " or ")
}

// locatePacketKey identifies a flow seen on one kind of interface. Each
// kind tells something of its own: a veth names the container whatever
// address it uses, a bridge holds the containers' addresses, an uplink
// the translated ones, traced back through conntrack.
type locatePacketKey struct {
	role  string
	proto uint8
	a, b  netip.AddrPort // in order, so that both directions match
}

// locateSighting is the first packet of a flow on an interface, or a DNS
// answer that added an address to the target.
type locateSighting struct {
	answer    netip.Addr
	pkt       locatePacket
	time      time.Time
	iface     string
	role      string
	container string
}

// PacketEvents is the FlowSource of the packets on Docker's bridges, the
// containers' veths and the host's uplinks, captured as Capture does in
// its auto mode (interfaces that appear are added) with a kernel filter
// for the target's addresses, so that the host's other traffic never
// reaches the process. Each flow is reported once per kind of interface,
// at its first packet there (so up to three times): on a veth with its
// container; on a bridge with the container's address; on an uplink, where
// the container's address was translated (masquerade), with the flow's
// conntrack entry reversing the translation, or a note saying it could
// not be.
func PacketEvents() FlowSource { return locatePackets{} }

// locatePackets names the interfaces' containers through the engine at
// dockerHost ("" for the default), as Capture does.
type locatePackets struct{ dockerHost string }

func (locatePackets) Name() string { return SourcePacket }

// Run captures until ctx ends. For a domain target it also reads the DNS
// answers on the bridges and veths: an answer naming the domain adds its
// addresses to the target, and the capture starts again with them in its
// filter.
func (s locatePackets) Run(ctx context.Context, t Target, out chan<- FlowEvent) error {
	if len(t.Prefixes) == 0 {
		return errors.New("no address to watch")
	}
	if t.Domain != "" && t.live == nil {
		t.live = newLocateLive()
	}
	sightings := make(chan locateSighting, locatePacketQueue)
	var (
		mu   sync.Mutex
		seen = map[locatePacketKey]bool{}
		lost int
	)
	queue := func(s locateSighting) bool {
		select {
		case sightings <- s:
			return true
		default:
			lost++
			return false
		}
	}
	onPacket := func(pi capture.PacketInfo) {
		p, payload, ok := locateParseL4(pi.Data, pi.LinkType)
		if !ok {
			return
		}
		if t.Domain != "" && p.proto == unix.IPPROTO_UDP && p.src.Port() == 53 && pi.Role != capture.RoleUplink && len(payload) > 0 {
			for _, a := range locateDNSAnswers(payload, t.MatchName) {
				if t.addAnswered(a) {
					mu.Lock()
					queue(locateSighting{answer: a, pkt: p, time: pi.Time, iface: pi.Iface, role: pi.Role, container: pi.Container})
					mu.Unlock()
				}
			}
		}
		if !t.Contains(p.src.Addr()) && !t.Contains(p.dst.Addr()) {
			return
		}
		k := locatePacketKey{role: pi.Role, proto: p.proto, a: p.src, b: p.dst}
		if k.b.Compare(k.a) < 0 {
			k.a, k.b = k.b, k.a
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[k] {
			return
		}
		if len(seen) >= locatePacketMaxFlows {
			clear(seen)
		}
		seen[k] = true
		if !queue(locateSighting{pkt: p, time: pi.Time, iface: pi.Iface, role: pi.Role, container: pi.Container}) {
			delete(seen, k) // its next packet may make it
		}
	}

	var ct *conntrack.Conn
	var ctErr error
	defer func() {
		if ct != nil {
			ct.Close()
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var s locateSighting
			select {
			case s = <-sightings:
			case <-ctx.Done():
				return
			}
			var ev FlowEvent
			if s.answer.IsValid() {
				ev = FlowEvent{Time: s.time, Source: SourcePacket, Kind: FlowKindTarget, Remote: netip.AddrPortFrom(s.answer, 0),
					Iface: s.iface, ContainerID: s.container,
					Note: fmt.Sprintf("DNS answer from %s to %s on %s: %s is %s: added to the target", s.pkt.src, s.pkt.dst, s.iface, t.Domain, s.answer)}
			} else {
				ev = locateSightingEvent(t, s)
				if s.role == capture.RoleUplink {
					if ct == nil && ctErr == nil {
						ct, ctErr = conntrack.Dial(nil)
					}
					locateReverseUplink(ct, ctErr, t, s, &ev)
				}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()

	errs := locateCaptureLoop(ctx, t, s.dockerHost, onPacket)
	<-done
	mu.Lock()
	if lost > 0 {
		errs = append(errs, fmt.Errorf("%d new flows were not attributed in time (queue full) and may be missing", lost))
	}
	mu.Unlock()
	return errors.Join(errs...)
}

// locateCaptureOverlap is how long the capture of a grown target runs next
// to the one it replaces, so that no packet falls between the two: the new
// one has opened its rings by then (one discovery round).
const locateCaptureOverlap = 2 * capture.DiscoverInterval

// locateCaptureLoop runs the capture until ctx ends, and again with a new
// filter each time the target grows. It returns what the captures could
// not watch.
func locateCaptureLoop(ctx context.Context, t Target, dockerHost string, onPacket func(capture.PacketInfo)) []error {
	type run struct {
		cancel context.CancelFunc
		done   chan struct{}
		res    capture.Result
		err    error
	}
	snaplen := locatePacketSnaplen
	if t.Domain != "" {
		snaplen = locateDNSSnaplen
	}
	start := func() *run {
		cctx, cancel := context.WithCancel(ctx)
		r := &run{cancel: cancel, done: make(chan struct{})}
		filter := locatePacketFilter(t)
		go func() {
			defer close(r.done)
			r.res, r.err = capture.Run(cctx, nil, capture.Options{
				Filter: filter, Snaplen: snaplen, DockerHost: dockerHost, Application: "dockcase locate", OnPacket: onPacket,
			})
		}()
		return r
	}
	var errs []error
	notWatched := map[string]bool{}
	var dropped, received uint64
	finish := func(r *run) {
		r.cancel()
		<-r.done
		if r.err != nil && ctx.Err() == nil {
			errs = append(errs, fmt.Errorf("capture: %w", r.err))
		}
		errs = append(errs, capture.NotWatched(r.res, notWatched)...)
		dropped += r.res.Dropped
		received += r.res.Received
	}
	changed := t.liveChanged()
	cur := start()
	for {
		select {
		case <-ctx.Done():
		case <-cur.done:
		case <-changed:
			changed = t.liveChanged()
			next := start()
			select {
			case <-time.After(locateCaptureOverlap):
			case <-ctx.Done():
			}
			finish(cur)
			cur = next
			continue
		}
		break
	}
	finish(cur)
	if dropped > 0 {
		errs = append(errs, fmt.Errorf("the kernel dropped %d of %d packets (ring full): flows may be missing", dropped, received))
	}
	return errs
}

// locateDNSAnswers returns the addresses a DNS response gives for the
// names match accepts (the target's domain and the names under it),
// following CNAMEs within the answer section. A message cut short (by the
// snaplen, or forged) yields what was read before the cut.
func locateDNSAnswers(msg []byte, match func(name string) bool) []netip.Addr {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || !h.Response || h.RCode != dnsmessage.RCodeSuccess {
		return nil
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil
	}
	type record struct {
		owner string
		addr  netip.Addr
	}
	var recs []record
	cnames := map[string]string{}
	var cnameOwners []string // in the order of the answer section
	// A record that cannot be read ends the answer section.
	for range locateMaxDNSAnswers {
		rh, err := p.AnswerHeader()
		if err != nil {
			break
		}
		owner := strings.ToLower(rh.Name.String())
		switch rh.Type {
		case dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				break
			}
			recs = append(recs, record{owner, netip.AddrFrom4(r.A)})
			continue
		case dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				break
			}
			recs = append(recs, record{owner, netip.AddrFrom16(r.AAAA).Unmap()})
			continue
		case dnsmessage.TypeCNAME:
			r, err := p.CNAMEResource()
			if err != nil {
				break
			}
			if _, dup := cnames[owner]; !dup {
				cnameOwners = append(cnameOwners, owner)
			}
			cnames[owner] = strings.ToLower(r.CNAME.String())
			continue
		default:
			if p.SkipAnswer() == nil {
				continue
			}
		}
		break
	}
	// The chains start at every owner match accepts, in the order of the
	// answer section.
	var starts []string
	for _, r := range recs {
		if match(r.owner) {
			starts = append(starts, r.owner)
		}
	}
	for _, r := range cnameOwners {
		if match(r) {
			starts = append(starts, r)
		}
	}
	names := map[string]bool{}
	for _, name := range starts {
		for range locateMaxCNAMEChain {
			if names[name] {
				break
			}
			names[name] = true
			next, ok := cnames[name]
			if !ok {
				break
			}
			name = next
		}
	}
	var out []netip.Addr
	for _, r := range recs {
		if names[r.owner] && !slices.Contains(out, r.addr) {
			out = append(out, r.addr)
		}
	}
	return out
}

// locateSightingEvent orients a flow's first packet on an interface: the
// target's side is Remote. The sender of the first packet seen is taken as
// the side that opened the flow, except for a TCP SYN-ACK.
func locateSightingEvent(t Target, s locateSighting) FlowEvent {
	p := s.pkt
	ev := FlowEvent{Time: s.time, Source: SourcePacket, Kind: "new", Iface: s.iface, ContainerID: s.container}
	ev.Proto = "udp"
	if p.proto == unix.IPPROTO_TCP {
		ev.Proto = "tcp"
	}
	fromLocal := t.Contains(p.dst.Addr())
	if fromLocal {
		ev.Local, ev.Remote = p.src, p.dst
	} else {
		ev.Local, ev.Remote = p.dst, p.src
	}
	opener := fromLocal
	switch f := p.tcpFlags; {
	case p.proto != unix.IPPROTO_TCP:
	case f&(packet.TCPFlagSYN|packet.TCPFlagACK) == packet.TCPFlagSYN|packet.TCPFlagACK:
		opener = !fromLocal
		ev.State = "SYN_RECV"
	case f&packet.TCPFlagSYN != 0:
		ev.State = "SYN_SENT"
	case f&packet.TCPFlagRST != 0:
		ev.State = "RST"
	case f&packet.TCPFlagFIN != 0:
		ev.State = "FIN"
	}
	ev.Direction = "outbound"
	if !opener {
		ev.Direction = "inbound"
	}
	if s.role != capture.RoleVeth {
		ev.ContainerID = "" // a bridge or an uplink carries many containers' packets
	}
	return ev
}

// locateReverseUplink finds the conntrack entry of a flow seen on an
// uplink, where the container's address was replaced by the host's, and
// sets the event's ends from it. The packet's tuple matches the entry's
// reply tuple when it came from the target, and its inverse when it went
// to it; both are tried.
func locateReverseUplink(ct *conntrack.Conn, ctErr error, t Target, s locateSighting, ev *FlowEvent) {
	seenAs := fmt.Sprintf("seen on uplink %s as %s → %s", s.iface, s.pkt.src, s.pkt.dst)
	if ctErr != nil {
		ev.Note = fmt.Sprintf("%s; NAT not reversed: conntrack: %v", seenAs, ctErr)
		return
	}
	tuple := func(src, dst netip.AddrPort) conntrack.Tuple {
		return conntrack.Tuple{
			IP:    conntrack.IPTuple{SourceAddress: src.Addr(), DestinationAddress: dst.Addr()},
			Proto: conntrack.ProtoTuple{Protocol: s.pkt.proto, SourcePort: src.Port(), DestinationPort: dst.Port()},
		}
	}
	var lastErr error
	for _, tu := range []conntrack.Tuple{tuple(s.pkt.src, s.pkt.dst), tuple(s.pkt.dst, s.pkt.src)} {
		f, err := ct.Get(conntrack.Flow{TupleReply: tu})
		if err != nil {
			lastErr = err
			continue
		}
		ends, ok := t.Orient(host.ConntrackEntryFromFlow(&f))
		if !ok {
			break
		}
		ev.Local, ev.Remote, ev.NAT, ev.Direction = ends.Local, ends.Remote, ends.NAT, ends.Direction
		if ends.NAT.IsValid() {
			ev.Note = fmt.Sprintf("%s, NAT reversed through conntrack", seenAs)
		}
		return
	}
	if lastErr != nil {
		ev.Note = fmt.Sprintf("%s; NAT not reversed: no conntrack entry (%v)", seenAs, lastErr)
	} else {
		ev.Note = seenAs + "; NAT not reversed: the conntrack entry does not involve the target"
	}
}
