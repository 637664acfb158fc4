// Package capture is the collector's packet capture: one AF_PACKET
// TPACKET_V3 ring per interface (Docker bridges, container veths, uplinks,
// found and followed through netlink), filtered in the kernel, written as
// one pcapng stream by capture.Run through internal/pcapng's block
// encoders (blocks.go says which options it writes).
package capture

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/dockcase/dockcase/collect/docker"
	"github.com/dockcase/dockcase/collect/host"
	"github.com/dockcase/dockcase/internal/pcapfilter"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Capture defaults, for the flags and for Options' zero values.
const (
	// DefaultSnaplen is tcpdump's: whole packets, GSO super-packets included.
	DefaultSnaplen = 262144
	// DefaultCaptureMaxBytes bounds the pcapng over all interfaces.
	DefaultCaptureMaxBytes = 2 << 30 // 2 GiB
)

// Capture tuning. Each value is a trade between memory, latency and the
// kernel dropping packets when the collector falls behind.
const (
	// captureBlockBytes is a TPACKET_V3 block: the kernel hands packets over
	// a block at a time. 1 MiB is 256 pages, one allocation the kernel can
	// still make on a fragmented host, and holds ~9,000 small packets.
	captureBlockBytes = 1 << 20
	// captureFrameBytes only has to divide the block: TPACKET_V3 packs
	// packets of any length into a block.
	captureFrameBytes = 2048
	// captureRingBytes is the ring of a bridge, an uplink or a named
	// interface: at 1 Gbit/s it holds 270 ms, time for the reader to be
	// scheduled on a loaded 2-core host.
	captureRingBytes = 32 << 20
	// captureVethRingBytes is the ring of a container's veth: there may be
	// hundreds, and each packet on one is also seen on its bridge.
	captureVethRingBytes = 8 << 20
	// captureBlockTimeout is the kernel's retire timeout: a partly filled
	// block reaches the reader after at most this long.
	captureBlockTimeout = 100 * time.Millisecond
	// capturePollTimeout bounds a reader's sleep, so that it sees a stop
	// request promptly.
	capturePollTimeout = 200 * time.Millisecond
	// captureDrainTime is the longest a stopping reader keeps reading after
	// it stopped the kernel from adding packets, waiting for the retire timer
	// to hand over the last, partly filled block. It stops sooner once it has
	// read every packet the kernel counted; on a loaded host the timer can
	// fire late.
	captureDrainTime = 20 * captureBlockTimeout
	// captureBatchBytes is the size of the buffers readers fill with
	// Enhanced Packet Blocks for the single writer.
	captureBatchBytes = 1 << 20
	// captureQueueBatches bounds the batches waiting for the writer
	// (128 MiB, taken only while the writer is behind). The readers only
	// copy packets out of their rings; the writer goroutine alone feeds
	// the bundle, which hashes each byte as it buffers it and, each time a
	// 64 MiB chunk is full, stops the writer until the chunk's frames are
	// stored (raw, for encrypted traffic) and written: 100-500 ms on a
	// loaded 2-core host, behind a snapshot's member holding the bundle
	// longer. Meanwhile the queue fills; only when it is full do the
	// readers wait, and the kernel drops (counted in kernel_dropped) once
	// a ring is full as well: about 1.3 s of 1 Gbit/s behind.
	captureQueueBatches = 128
	// DiscoverInterval is how often netlink is asked for interfaces
	// that appeared (a container started) or disappeared.
	DiscoverInterval = 500 * time.Millisecond
	// captureRescanInterval bounds how often /proc is scanned to find the
	// container behind a veth that is still unknown. A container's process
	// joins its namespace after the veth appears, and a short-lived
	// container may be gone two seconds later: its traffic is then
	// attributed only if it was identified in time.
	captureRescanInterval = DiscoverInterval
	// captureMaxInterfaces bounds the interfaces captured at once (open
	// rings and their kernel memory); more are recorded as skipped.
	captureMaxInterfaces = 1024
	// captureDockerTimeout bounds each Docker API call made to name
	// networks and containers.
	captureDockerTimeout = 5 * time.Second
	// captureMaxLabelBytes bounds a description written into the pcapng:
	// container names come from whoever ran the container.
	captureMaxLabelBytes = 256
)

// captureMaxEPBBytes is the largest Enhanced Packet Block: a whole snaplen
// of data and a VLAN tag, with the flags option.
var captureMaxEPBBytes = pcapng.FlaggedPacketBytes(DefaultSnaplen + 4)

// Interface roles in Interface.Role.
const (
	RoleBridge = "bridge" // a Docker bridge
	RoleVeth   = "veth"   // the host side of a container's veth
	RoleUplink = "uplink" // carries the default route or routes to non-container networks
	// RoleParent is the parent of a macvlan or ipvlan network: its
	// containers' frames cross no bridge and no veth, only this interface,
	// which auto captures even when it has no address or route.
	RoleParent = "parent"
	RoleNamed  = "named" // named with --capture-ifaces and none of the above
)

// Reasons a capture stopped, in Result.StopReason.
const (
	StopDuration    = "duration"
	StopInterrupted = "interrupted"
	StopMaxBytes    = "max_bytes"
	StopWriteError  = "write_error"
)

// Options say what Run captures.
type Options struct {
	// Duration ends the capture; zero means when ctx ends.
	Duration time.Duration
	// Ifaces names the interfaces; nil, empty or {"auto"} finds Docker's
	// bridges, the containers' veths and the uplinks, and adds those that
	// appear during the capture.
	Ifaces []string
	// Filter is a tcpdump expression (the supported subset of
	// pcapfilter.Compile), attached in the kernel before the socket is bound.
	Filter string
	// Snaplen bounds the bytes kept of each packet; 0 means DefaultSnaplen.
	Snaplen int
	// MaxBytes bounds the pcapng written; 0 means DefaultCaptureMaxBytes.
	// The capture stops cleanly when the next packet would exceed it.
	MaxBytes int64
	// DockerHost is the engine asked for network and container names;
	// "" means the default. Without Docker the names come from /proc.
	DockerHost string
	// NoDocker skips the Docker API altogether.
	NoDocker bool
	// Application names the writer in the pcapng section header.
	Application string
	// Log receives one line per interface added or removed; nil discards.
	Log io.Writer
	// OnPacket, when set, is called with every packet the kernel filter
	// accepted, from the interface's reader goroutine: calls for different
	// interfaces run concurrently, so it must be safe for that, and it
	// should return quickly, since the ring fills while it runs. With a nil
	// out (or io.Discard) no pcapng is built at all and MaxBytes does not
	// apply: the capture only feeds OnPacket.
	OnPacket func(PacketInfo)
}

// PacketInfo is one captured packet as Options.OnPacket sees it.
type PacketInfo struct {
	Time     time.Time
	Index    int    // ifindex of the interface
	Iface    string // its name
	Role     string // RoleBridge, RoleVeth, …
	LinkType pcapng.LinkType
	// Container is the container behind a veth, when known.
	Container string
	// Outgoing is set for packets the host sent on the interface
	// (PACKET_OUTGOING); the others it received.
	Outgoing bool
	// VLAN is the 802.1Q tag the kernel took off the Ethernet header
	// (TP_STATUS_VLAN_VALID); Data no longer holds it.
	VLAN      uint16
	VLANValid bool
	// Data is the packet from its link-layer header, at most snaplen bytes.
	// It points into the kernel's ring and is valid only during the call.
	Data []byte
	// OrigLen is the packet's length on the wire.
	OrigLen int
}

// Result is what a capture did: the content of capture/interfaces.json.
type Result struct {
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended"`
	Mode       string    `json:"mode"` // "auto" or "named"
	Filter     string    `json:"filter"`
	Snaplen    int       `json:"snaplen"`
	MaxBytes   int64     `json:"max_bytes"`
	StopReason string    `json:"stop_reason"`
	// Bytes is the size of the pcapng written.
	Bytes int64 `json:"bytes"`
	// Packets were written; Received and Dropped are the kernel's counters
	// (PACKET_STATISTICS) summed over the interfaces; OverLimit packets
	// arrived after MaxBytes was reached and were not written.
	Packets    uint64      `json:"packets"`
	Received   uint64      `json:"kernel_received"`
	Dropped    uint64      `json:"kernel_dropped"`
	OverLimit  uint64      `json:"over_limit,omitempty"`
	Interfaces []Interface `json:"interfaces"`
	// Changes is the interface↔container map at the start, every change
	// during the capture and the map at the end, in time order.
	Changes []Change `json:"changes"`
	Errors  []string `json:"errors,omitempty"`
	// Overlays are the Docker overlay networks seen, with their vxlan
	// devices and what the capture cannot see of them.
	Overlays []Overlay `json:"overlays,omitempty"`
}

// Overlay is a Docker overlay network. Its vxlan device and bridge live in
// a namespace of the engine's own (/var/run/docker/netns/1-<id>), not the
// host's: the capture sees its traffic between hosts only as VXLAN (UDP
// 4789) on the uplink, and never the traffic between two containers of the
// same host.
type Overlay struct {
	Network string `json:"network"`
	ID      string `json:"id"`
	// VXLAN lists its vxlan devices as "name (vni N) in NAMESPACE", when
	// the engine's namespace could be read.
	VXLAN []string `json:"vxlan,omitempty"`
	// Unseen says what the capture cannot see of it.
	Unseen string `json:"unseen"`
	Error  string `json:"error,omitempty"`
}

// Interface is one interface captured (or that could not be).
type Interface struct {
	// BlockID is the pcapng Interface Description Block id its packets
	// carry; -1 when the interface could not be captured.
	BlockID       int             `json:"pcapng_interface_id"`
	Index         int             `json:"ifindex"`
	Name          string          `json:"name"`
	Kind          string          `json:"kind"` // rtnetlink kind: bridge, veth, device, …
	Role          string          `json:"role"`
	Description   string          `json:"description"`
	LinkType      pcapng.LinkType `json:"link_type"`
	Bridge        string          `json:"bridge,omitempty"`  // a veth's master
	Network       string          `json:"network,omitempty"` // a bridge's Docker network
	Container     string          `json:"container_id,omitempty"`
	ContainerName string          `json:"container_name,omitempty"`
	Routes        []string        `json:"routes,omitempty"` // why an uplink is one
	// ParentOf names the macvlan/ipvlan networks whose parent this is.
	ParentOf []string `json:"parent_of,omitempty"`

	Added time.Time `json:"added"`
	// Removed is when the interface was found gone. With a BlockID of -1
	// and no Error it vanished before its ring could be bound, after
	// Added: it was never captured, and nothing of it is missing.
	Removed *time.Time `json:"removed,omitempty"`
	// Captured packets were written; Received and Dropped are the kernel's
	// PACKET_STATISTICS (received counts the dropped ones too).
	Captured  uint64 `json:"captured"`
	Received  uint64 `json:"kernel_received"`
	Dropped   uint64 `json:"kernel_dropped"`
	OverLimit uint64 `json:"over_limit,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Change is one entry of the interface↔container map's history.
// Event is "start" and "end" (Map holds every interface captured then),
// "added", "removed" or "identified" (a veth's container became known;
// Interface is the one concerned). A "removed" interface with a
// pcapng_interface_id of -1 vanished before its capture started; one gone
// so in the first round is only in Result.Interfaces, since the
// changes begin with "start".
type Change struct {
	Time      time.Time  `json:"time"`
	Event     string     `json:"event"`
	Interface *MapEntry  `json:"interface,omitempty"`
	Map       []MapEntry `json:"map,omitempty"`
}

// MapEntry ties an interface to its container or network.
type MapEntry struct {
	BlockID       int    `json:"pcapng_interface_id"`
	Index         int    `json:"ifindex"`
	Name          string `json:"name"`
	Role          string `json:"role"`
	Bridge        string `json:"bridge,omitempty"`
	Network       string `json:"network,omitempty"`
	ContainerID   string `json:"container_id,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
}

// CheckFilter reports whether expr compiles for every link type a
// capture may meet, so that a bad expression is refused before anything
// starts.
func CheckFilter(expr string) error {
	for _, lt := range []pcapng.LinkType{pcapng.LinkTypeEthernet, pcapng.LinkTypeRaw} {
		if _, err := pcapfilter.Compile(expr, lt, 0); err != nil {
			return err
		}
	}
	return nil
}

// Run captures packets on the host's interfaces into out as one pcapng
// stream until opts.Duration has passed, ctx ends, or opts.MaxBytes is
// reached. Each interface has its own AF_PACKET TPACKET_V3 ring, filtered in
// the kernel before it is bound; packets are written as Enhanced Packet
// Blocks with nanosecond timestamps and the direction, an Interface
// Statistics Block closes each interface. The result holds the interfaces,
// the kernel's counters and the interface↔container map. The error is
// non-nil when nothing could be captured or out failed.
func Run(ctx context.Context, out io.Writer, opts Options) (Result, error) {
	if opts.Snaplen <= 0 || opts.Snaplen > DefaultSnaplen {
		opts.Snaplen = DefaultSnaplen
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultCaptureMaxBytes
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Application == "" {
		opts.Application = "dockcase"
	}
	// Without a writer the capture only feeds OnPacket: nothing is
	// formatted, and the byte budget means nothing.
	noPcap := out == nil || out == io.Discard
	if noPcap {
		out = io.Discard
		opts.MaxBytes = math.MaxInt64
	}
	auto := len(opts.Ifaces) == 0 || (len(opts.Ifaces) == 1 && opts.Ifaces[0] == "auto")
	res := Result{Started: time.Now().UTC(), Mode: "named", Filter: opts.Filter, Snaplen: opts.Snaplen, MaxBytes: opts.MaxBytes}
	if auto {
		res.Mode = "auto"
	}
	if noPcap {
		res.MaxBytes = 0
	}
	e, err := newCapEngine(opts, noPcap)
	if err != nil {
		return res, err
	}
	shb := sectionHeader(opts.Application)
	e.budget.Add(-int64(len(shb)))
	if _, err := out.Write(shb); err != nil {
		return res, fmt.Errorf("write pcapng header: %w", err)
	}
	e.written.Store(int64(len(shb)))
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		e.writeLoop(out)
	}()

	d := newCapDiscovery(ctx, opts)
	defer d.close()
	var timer <-chan time.Time
	if opts.Duration > 0 {
		t := time.NewTimer(opts.Duration)
		defer t.Stop()
		timer = t.C
	}
	e.sync(d, auto, true)
	e.record("start", nil)
	if len(e.live) == 0 {
		e.requestStop("no_interface")
	}
	tick := time.NewTicker(DiscoverInterval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				e.requestStop(StopDuration)
			} else {
				e.requestStop(StopInterrupted)
			}
		case <-timer:
			e.requestStop(StopDuration)
		case <-e.stop:
			break loop
		case <-tick.C:
			e.sync(d, auto, false)
		}
	}
	e.wg.Wait()
	close(e.queue)
	<-writerDone
	e.record("end", nil)

	res.Ended = time.Now().UTC()
	res.StopReason = e.stopReason
	res.Bytes = e.written.Load()
	for _, it := range e.all {
		res.Interfaces = append(res.Interfaces, it.info)
		res.Packets += it.info.Captured
		res.Received += it.info.Received
		res.Dropped += it.info.Dropped
		res.OverLimit += it.info.OverLimit
	}
	res.Changes = e.changes
	res.Errors = append(d.errs, e.errs...)
	res.Overlays = d.overlays
	if e.werr != nil {
		return res, fmt.Errorf("write capture: %w", e.werr)
	}
	if len(e.all) == 0 || !slices.ContainsFunc(e.all, func(it *capIface) bool { return it.info.BlockID >= 0 }) {
		why := slices.Clone(res.Errors)
		for _, it := range e.all {
			if it.info.Removed != nil {
				why = append(why, it.info.Name+": gone before its capture started")
			}
		}
		return res, fmt.Errorf("no interface could be captured: %s", strings.Join(why, "; "))
	}
	return res, nil
}

// capProgram compiles expr for a link type and makes every accepting return
// keep at most snaplen bytes: the kernel truncates, as libpcap does.
func capProgram(expr string, lt pcapng.LinkType, snaplen int) ([]unix.SockFilter, error) {
	raw, err := pcapfilter.Compile(expr, lt, snaplen)
	if err != nil {
		return nil, err
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, in := range raw {
		prog[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return prog, nil
}

// newCapEngine compiles the filter for every link type and sets the byte
// budget to opts.MaxBytes; opts has Capture's defaults filled in.
func newCapEngine(opts Options, noPcap bool) (*capEngine, error) {
	e := &capEngine{
		opts:    opts,
		progs:   map[pcapng.LinkType][]unix.SockFilter{},
		queue:   make(chan capItem, captureQueueBatches),
		stop:    make(chan struct{}),
		live:    map[int]*capIface{},
		skipped: map[int]string{},
		noPcap:  noPcap,
	}
	for _, lt := range []pcapng.LinkType{pcapng.LinkTypeEthernet, pcapng.LinkTypeRaw} {
		p, err := capProgram(opts.Filter, lt, opts.Snaplen)
		if err != nil {
			return nil, err
		}
		e.progs[lt] = p
	}
	e.pool.New = func() any {
		b := make([]byte, 0, max(captureBatchBytes, captureMaxEPBBytes))
		return &b
	}
	e.budget.Store(opts.MaxBytes)
	return e, nil
}

// capEngine runs one capture: a reader goroutine per interface, one writer.
type capEngine struct {
	opts  Options
	progs map[pcapng.LinkType][]unix.SockFilter
	queue chan capItem
	pool  sync.Pool
	// noPcap: the packets go to OnPacket only.
	noPcap bool

	// budget is what MaxBytes still allows; readers reserve each packet.
	budget  atomic.Int64
	full    atomic.Bool
	written atomic.Int64
	werr    error // set by the writer only; read after it ended

	stop       chan struct{}
	stopOnce   sync.Once
	stopReason string

	wg      sync.WaitGroup
	nextID  int
	live    map[int]*capIface // by ifindex; the controller's only
	skipped map[int]string    // ifindex → name of interfaces that could not be captured
	all     []*capIface
	changes []Change
	errs    []string
}

// capItem is bytes for the writer: a batch of packets or one block.
type capItem struct {
	buf    *[]byte
	pooled bool
}

// capIface is one captured interface and its reader.
type capIface struct {
	info     Interface
	ring     *capRing
	leave    chan struct{} // closed when the interface is gone
	done     chan struct{}
	leaveOne sync.Once
	// container is info.Container for the reader: the controller may
	// learn it while the reader runs.
	container atomic.Pointer[string]
}

func (e *capEngine) requestStop(reason string) {
	e.stopOnce.Do(func() {
		e.stopReason = reason
		close(e.stop)
	})
}

func (e *capEngine) writeLoop(out io.Writer) {
	for it := range e.queue {
		if e.werr == nil {
			n, err := out.Write(*it.buf)
			e.written.Add(int64(n))
			if err != nil {
				e.werr = err
				e.requestStop(StopWriteError)
			}
		}
		if it.pooled {
			*it.buf = (*it.buf)[:0]
			e.pool.Put(it.buf)
		}
	}
}

// sync brings the captured set in line with the interfaces there are.
func (e *capEngine) sync(d *capDiscovery, auto, first bool) {
	cands, present := d.discover(auto, first)
	now := time.Now().UTC()
	for idx, it := range e.live {
		if present == nil {
			break // the listing failed: that says nothing about what is gone
		}
		name, ok := present[idx]
		if ok && name == it.info.Name {
			continue
		}
		it.leaveOne.Do(func() { close(it.leave) })
		<-it.done
		it.info.Removed = &now
		delete(e.live, idx)
		e.record("removed", it)
		fmt.Fprintf(e.opts.Log, "dockcase: capture: %s gone\n", it.info.Name)
	}
	for _, c := range cands {
		if it := e.live[c.Index]; it != nil {
			// A veth's container may become known after it was added.
			if it.info.Container == "" && c.Container != "" || it.info.ContainerName == "" && c.ContainerName != "" {
				it.info.Container, it.info.ContainerName = c.Container, c.ContainerName
				it.container.Store(&c.Container)
				e.record("identified", it)
			}
			continue
		}
		if (first || auto) && (c.Index == 0 || e.skipped[c.Index] != c.Name) {
			e.add(c, first)
		}
	}
}

// add opens a ring on the interface, writes its Interface Description Block
// and starts its reader.
func (e *capEngine) add(c Interface, first bool) {
	select {
	case <-e.stop:
		return
	default:
	}
	c.Added = time.Now().UTC()
	c.BlockID = -1
	it := &capIface{info: c, leave: make(chan struct{}), done: make(chan struct{})}
	it.container.Store(&c.Container)
	e.all = append(e.all, it)
	switch {
	case c.Error != "":
	case len(e.live) >= captureMaxInterfaces:
		it.info.Error = fmt.Sprintf("not captured: %d interfaces are already captured", captureMaxInterfaces)
	default:
		idb := interfaceBlock(c.LinkType, uint32(e.opts.Snaplen), c.Name, c.Description, e.opts.Filter)
		reserve := int64(len(idb) + statsBlockBytes)
		if e.budget.Add(-reserve) < 0 {
			e.budget.Add(reserve)
			it.info.Error = "not captured: --capture-max-bytes reached"
			break
		}
		ringBytes := captureRingBytes
		if c.Role == RoleVeth {
			ringBytes = captureVethRingBytes
		}
		ring, err := capOpenRing(c.Index, e.progs[c.LinkType], ringBytes)
		if err != nil {
			e.budget.Add(reserve)
			if capGone(c, err) {
				// A container stopped between discovery and bind: nothing
				// could be captured there after, so it is no gap.
				now := time.Now().UTC()
				it.info.Removed = &now
				break
			}
			it.info.Error = err.Error()
			break
		}
		it.ring = ring
		it.info.BlockID = e.nextID
		e.nextID++
		e.queue <- capItem{buf: &idb}
		e.live[c.Index] = it
		e.wg.Add(1)
		go e.read(it)
	}
	if it.info.Removed != nil {
		close(it.done)
		// The first round's changes begin with "start".
		if !first {
			e.record("removed", it)
		}
		fmt.Fprintf(e.opts.Log, "dockcase: capture: %s gone before its capture started\n", c.Name)
		return
	}
	if it.info.Error != "" {
		e.errs = append(e.errs, fmt.Sprintf("%s: %s", c.Name, it.info.Error))
		e.skipped[c.Index] = c.Name
		close(it.done)
	}
	if !first {
		e.record("added", it)
	}
	fmt.Fprintf(e.opts.Log, "dockcase: capture: %s (%s)\n", c.Name, c.Description)
}

// capGone reports whether err, from opening a ring on c, says that c no
// longer exists: bind found no device at its ifindex (ENODEV), and the
// ifindex is still unknown or names another interface now. Any doubt, the
// lookup failing included, leaves err an error.
func capGone(c Interface, err error) bool {
	if !errors.Is(err, unix.ENODEV) {
		return false
	}
	l, err := netlink.LinkByIndex(c.Index)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return true
	}
	return err == nil && l.Attrs().Name != c.Name
}

func (e *capEngine) record(event string, it *capIface) {
	ch := Change{Time: time.Now().UTC(), Event: event}
	entry := func(it *capIface) MapEntry {
		return MapEntry{BlockID: it.info.BlockID, Index: it.info.Index, Name: it.info.Name, Role: it.info.Role,
			Bridge: it.info.Bridge, Network: it.info.Network, ContainerID: it.info.Container, ContainerName: it.info.ContainerName}
	}
	if it != nil {
		m := entry(it)
		ch.Interface = &m
	} else {
		ch.Map = []MapEntry{}
		for _, it := range e.all {
			if it.info.BlockID >= 0 && (it.info.Removed == nil || event == "end") {
				ch.Map = append(ch.Map, entry(it))
			}
		}
	}
	e.changes = append(e.changes, ch)
}

// read is an interface's reader: it alone touches and closes the ring.
func (e *capEngine) read(it *capIface) {
	defer e.wg.Done()
	defer close(it.done)
	r := it.ring
	started := time.Now()
	var b capBatch
	var drainUntil time.Time
	for {
		if blk := r.block(); r.ready(blk) {
			e.consume(it, blk, &b)
			r.release(blk)
			continue
		}
		e.flush(&b)
		if drainUntil.IsZero() {
			select {
			case <-e.stop:
			case <-it.leave:
			default:
				r.wait(capturePollTimeout)
				continue
			}
			// Stop the kernel adding packets, then give the retire timer
			// the time to hand over the last block.
			if err := r.unhook(); err != nil {
				break
			}
			drainUntil = time.Now().Add(captureDrainTime)
		}
		left := time.Until(drainUntil)
		if left <= 0 {
			break
		}
		if r.readStats() == nil && r.recv-r.drops <= it.info.Captured+it.info.OverLimit {
			break // every packet the kernel accepted has been read
		}
		r.wait(min(left, capturePollTimeout))
	}
	for blk := r.block(); r.ready(blk); blk = r.block() {
		e.consume(it, blk, &b)
		r.release(blk)
	}
	if err := r.readStats(); err != nil {
		it.info.Error = fmt.Sprintf("read kernel statistics: %v", err)
	}
	it.info.Received, it.info.Dropped = r.recv, r.drops
	isb := statsBlock(uint32(it.info.BlockID), started, time.Now(), r.recv, r.drops, it.info.Captured)
	e.flush(&b)
	e.queue <- capItem{buf: &isb}
	r.close()
}

// capBatch is the buffer a reader fills with Enhanced Packet Blocks for the
// writer. An idle interface holds none: there may be hundreds.
type capBatch struct {
	p *[]byte // from the engine's pool; nil when none is held
}

// flush hands the batch, if it holds anything, to the writer.
func (e *capEngine) flush(b *capBatch) {
	if b.p != nil && len(*b.p) > 0 {
		e.queue <- capItem{buf: b.p, pooled: true}
		b.p = nil
	}
}

// consume hands one block's packets to OnPacket, turns them into Enhanced
// Packet Blocks, or both.
func (e *capEngine) consume(it *capIface, blk []byte, b *capBatch) {
	if e.noPcap {
		it.info.Captured += uint64(e.deliver(it, blk))
		return
	}
	if e.opts.OnPacket != nil {
		e.deliver(it, blk)
	}
	e.format(it, blk, b)
}

// capBlock reads a block's descriptor (tpacket_hdr_v1): its packet count,
// the offset of its first packet and the end of its last.
func capBlock(blk []byte) (num, off, end int) {
	ne := binary.NativeEndian
	return int(ne.Uint32(blk[12:])), int(ne.Uint32(blk[16:])), min(int(ne.Uint32(blk[20:])), len(blk))
}

// capPacket returns the packet at off in a ring block: its tpacket3_hdr (to
// the end of the block's packets at end), the bytes captured, and the offset
// of the next packet, 0 after the last. ok is false when the header or the
// bytes would run past end.
func capPacket(blk []byte, off, end int) (h, data []byte, next int, ok bool) {
	if off <= 0 || off+capHdrBytes > end {
		return nil, nil, 0, false
	}
	ne := binary.NativeEndian
	h = blk[off:end]
	if n := int(ne.Uint32(h[0:])); n > 0 {
		next = off + n
	}
	snap := int(ne.Uint32(h[12:]))
	mac := int(ne.Uint16(h[24:]))
	if mac+snap > len(h) {
		return nil, nil, 0, false
	}
	return h, h[mac : mac+snap], next, true
}

// deliver calls OnPacket, if set, with each packet of a block and returns
// how many there were.
func (e *capEngine) deliver(it *capIface, blk []byte) int {
	onPacket := e.opts.OnPacket
	ne := binary.NativeEndian
	num, off, end := capBlock(blk)
	ether := it.info.LinkType == pcapng.LinkTypeEthernet
	pi := PacketInfo{Index: it.info.Index, Iface: it.info.Name, Role: it.info.Role, LinkType: it.info.LinkType,
		Container: *it.container.Load()}
	n := 0
	for range num {
		h, data, next, ok := capPacket(blk, off, end)
		if !ok {
			break
		}
		off = next
		n++
		if onPacket == nil {
			continue
		}
		status := ne.Uint32(h[20:])
		pi.Time = time.Unix(int64(ne.Uint32(h[4:])), int64(ne.Uint32(h[8:]))).UTC()
		pi.Outgoing = h[capSllPkttype] == unix.PACKET_OUTGOING
		pi.VLANValid = ether && status&unix.TP_STATUS_VLAN_VALID != 0
		pi.VLAN = 0
		if pi.VLANValid {
			pi.VLAN = uint16(ne.Uint32(h[32:]))
		}
		pi.Data, pi.OrigLen = data, int(ne.Uint32(h[16:]))
		onPacket(pi)
		pi.Data = nil
	}
	return n
}

// format appends one block's packets to the batch as Enhanced Packet Blocks.
// It is the capture's inner loop: per packet it reads the kernel's header
// and copies the packet once; the budget's atomic is taken per block and
// the writer's channel per batch.
func (e *capEngine) format(it *capIface, blk []byte, b *capBatch) {
	ne := binary.NativeEndian
	num, off, end := capBlock(blk)
	if num == 0 || off <= 0 || off >= end {
		return
	}
	// The budget is reserved once for the whole block: each packet's
	// Enhanced Packet Block is smaller than the room it takes in the ring
	// (at least 82 bytes of headers there, at most 51 here), so the
	// block's length bounds them all. What is left is given back. Near
	// the limit the reservation fails, and packets are reserved one by one.
	credit := e.reserveBlock(end - off)
	id := uint32(it.info.BlockID)
	ether := it.info.LinkType == pcapng.LinkTypeEthernet
	var buf []byte
	if b.p != nil {
		buf = *b.p
	}
	var captured, over uint64
	for range num {
		h, data, next, ok := capPacket(blk, off, end)
		if !ok {
			break
		}
		off = next
		snap := len(data)
		origLen := ne.Uint32(h[16:])
		status := ne.Uint32(h[20:])
		// The kernel took an 802.1Q tag off; it is put back where it was
		// on the wire, as libpcap does.
		vlan := ether && status&unix.TP_STATUS_VLAN_VALID != 0 && snap >= 12
		capLen := snap
		if vlan {
			capLen += 4
			origLen += 4
		}
		n := pcapng.FlaggedPacketBytes(capLen)
		if credit >= n {
			credit -= n
		} else if !e.reserve(n) {
			over++
			continue
		}
		if len(buf)+n > cap(buf) {
			if b.p != nil {
				*b.p = buf
				e.flush(b)
			}
			b.p = e.pool.Get().(*[]byte)
			buf = (*b.p)[:0]
		}
		k := len(buf)
		buf = buf[:k+n]
		p := buf[k : k+n : k+n]
		ts := uint64(ne.Uint32(h[4:]))*1e9 + uint64(ne.Uint32(h[8:]))
		flags := capDirection(h[capSllPkttype])
		if vlan {
			var tag [16]byte
			copy(tag[:12], data)
			tpid := uint16(0x8100)
			if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
				tpid = ne.Uint16(h[36:])
			}
			binary.BigEndian.PutUint16(tag[12:], tpid)
			binary.BigEndian.PutUint16(tag[14:], uint16(ne.Uint32(h[32:])))
			pcapng.PutFlaggedPacket(p, id, ts, tag[:], data[12:], origLen, flags)
		} else {
			pcapng.PutFlaggedPacket(p, id, ts, nil, data, origLen, flags)
		}
		captured++
	}
	if b.p != nil {
		*b.p = buf
	}
	if credit > 0 {
		e.budget.Add(int64(credit))
	}
	it.info.Captured += captured
	it.info.OverLimit += over
}

// reserveBlock takes n bytes from the budget if they are all there, and
// returns what it took: n or 0.
func (e *capEngine) reserveBlock(n int) int {
	for {
		left := e.budget.Load()
		if left < int64(n) || e.full.Load() {
			return 0
		}
		if e.budget.CompareAndSwap(left, left-int64(n)) {
			return n
		}
	}
}

// reserve takes n bytes from the budget; when they are not there, the
// capture stops at the limit.
func (e *capEngine) reserve(n int) bool {
	if e.full.Load() {
		return false
	}
	if e.budget.Add(-int64(n)) < 0 {
		e.full.Store(true)
		e.requestStop(StopMaxBytes)
		return false
	}
	return true
}

// capDirection maps sll_pkttype to the pcapng epb_flags direction and
// reception type bits.
func capDirection(pkttype uint8) uint32 {
	switch pkttype {
	case unix.PACKET_HOST:
		return 1 | 1<<2 // inbound, unicast
	case unix.PACKET_BROADCAST:
		return 1 | 3<<2
	case unix.PACKET_MULTICAST:
		return 1 | 2<<2
	case unix.PACKET_OTHERHOST:
		return 1 | 4<<2 // inbound, promiscuous: for another host
	case unix.PACKET_OUTGOING:
		return 2
	}
	return 0
}

// The TPACKET_V3 ring (linux/if_packet.h): each block starts with a
// tpacket_block_desc; each packet with a tpacket3_hdr of 48 bytes followed
// by its sockaddr_ll.
const (
	capHdrBytes   = 48 + 20 // tpacket3_hdr and sockaddr_ll
	capSllPkttype = 48 + 10 // sockaddr_ll.sll_pkttype
)

// capEthPAll is ETH_P_ALL in network byte order, as sockaddr_ll wants it.
var capEthPAll = binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, unix.ETH_P_ALL))

// capRing is one AF_PACKET socket with its mapped TPACKET_V3 ring.
type capRing struct {
	fd      int
	ifindex int
	ring    []byte
	blocks  int
	cur     int
	recv    uint64
	drops   uint64
	// file owns fd once the ring is bound, and holds it in the runtime's
	// poller: a reader waiting for a block parks its goroutine instead of
	// holding a thread in poll(2), which the runtime takes its P from and
	// then watches every 20 µs (that cost more CPU than the packets did).
	// polled is false when the poller would not take the socket; wait
	// then blocks in poll(2).
	file   *os.File
	conn   syscall.RawConn
	polled bool
	filled func(uintptr) bool // for conn.Read: whether the current block is the reader's
}

// capOpenRing opens the socket with protocol 0, so that it receives nothing
// yet, attaches the filter, maps the ring and only then binds to the
// interface for every protocol: no unfiltered packet gets in.
func capOpenRing(ifindex int, prog []unix.SockFilter, ringBytes int) (*capRing, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	r := &capRing{fd: fd, ifindex: ifindex}
	fail := func(op string, err error) (*capRing, error) {
		r.close()
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(prog) > 0 {
		fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
			return fail("attach filter", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("set TPACKET_V3", err)
	}
	r.blocks = max(ringBytes/captureBlockBytes, 2)
	req := unix.TpacketReq3{
		Block_size:     captureBlockBytes,
		Block_nr:       uint32(r.blocks),
		Frame_size:     captureFrameBytes,
		Frame_nr:       uint32(r.blocks * (captureBlockBytes / captureFrameBytes)),
		Retire_blk_tov: uint32(captureBlockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("set up the ring", err)
	}
	r.ring, err = unix.Mmap(fd, 0, r.blocks*captureBlockBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("map the ring", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: capEthPAll, Ifindex: ifindex}); err != nil {
		return fail(fmt.Sprintf("bind to ifindex %d", ifindex), err)
	}
	r.poll()
	return r, nil
}

// poll hands the socket to an os.File, which puts it in the runtime's
// poller when the poller takes it.
func (r *capRing) poll() {
	r.file = os.NewFile(uintptr(r.fd), "AF_PACKET")
	conn, err := r.file.SyscallConn()
	// Without the poller SetReadDeadline fails with os.ErrNoDeadline.
	r.polled = err == nil && r.file.SetReadDeadline(time.Time{}) == nil
	r.conn = conn
	r.filled = func(uintptr) bool { return r.ready(r.block()) }
}

func (r *capRing) block() []byte {
	return r.ring[r.cur*captureBlockBytes : (r.cur+1)*captureBlockBytes]
}

func (r *capRing) status(blk []byte) *uint32 {
	return (*uint32)(unsafe.Pointer(&blk[8])) // tpacket_hdr_v1.block_status
}

func (r *capRing) ready(blk []byte) bool {
	return atomic.LoadUint32(r.status(blk))&unix.TP_STATUS_USER != 0
}

// release gives a block back to the kernel.
func (r *capRing) release(blk []byte) {
	atomic.StoreUint32(r.status(blk), unix.TP_STATUS_KERNEL)
	r.cur = (r.cur + 1) % r.blocks
}

// wait sleeps until a block may be ready or the timeout passed. An error
// on the socket (ENETDOWN when the interface goes down or away) is read,
// which clears it; the controller decides whether the interface is gone.
func (r *capRing) wait(timeout time.Duration) {
	if r.polled {
		r.file.SetReadDeadline(time.Now().Add(timeout))
		err := r.conn.Read(r.filled)
		if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		// The poller reported an error on the socket, and keeps
		// reporting it until the next event: poll(2) below reads the
		// error and waits.
	}
	fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(timeout/time.Millisecond)+1)
	if err == nil && n > 0 && fds[0].Revents&unix.POLLERR != 0 {
		_, _ = unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		time.Sleep(min(timeout, captureBlockTimeout)) // an error is not a packet: do not spin
	}
}

// unhook stops the kernel from adding packets: binding to protocol 0
// removes the socket's packet hook and keeps the ring.
func (r *capRing) unhook() error {
	return unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: 0, Ifindex: r.ifindex})
}

// readStats adds the kernel's counters, which reading resets.
func (r *capRing) readStats() error {
	st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return err
	}
	r.recv += uint64(st.Packets)
	r.drops += uint64(st.Drops)
	return nil
}

func (r *capRing) close() {
	if r.ring != nil {
		_ = unix.Munmap(r.ring)
		r.ring = nil
	}
	if r.file != nil {
		r.file.Close()
		r.file, r.fd = nil, -1
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

// capLabel bounds a description and keeps it printable: it may hold a
// container name chosen by an attacker.
func capLabel(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > captureMaxLabelBytes {
		s = s[:captureMaxLabelBytes]
	}
	return strings.ToValidUTF8(s, "?")
}

// Discovery of the interfaces to capture.

// capDockerBridgeName is the name Docker gives a user-defined network's
// bridge: br- and the first 12 hex digits of the network id.
var capDockerBridgeName = regexp.MustCompile(`^br-[0-9a-f]{12}$`)

// capDiscovery finds interfaces and the containers and networks behind them.
type capDiscovery struct {
	ctx    context.Context
	opts   Options
	hostNS uint64
	host   *netlink.Handle
	docker *docker.Client
	engine docker.Engine // from the engine's /version, once asked
	errs   []string

	// From Docker: bridge name → network name, container id → name.
	networks map[string]string
	names    map[string]string
	// parents maps a macvlan/ipvlan parent's name to its networks'
	// ("macvlan network mv1"); overlays are the overlay networks.
	parents    map[string][]string
	overlays   []Overlay
	dockerLast time.Time
	// From /proc: net namespace inode → the container found in it, and
	// the veth ends found in container namespaces.
	nsContainer map[uint64]capNSOwner
	peers       []capPeer
	scanLast    time.Time
	// checked holds veths already looked up, so that a veth with no
	// container behind it does not cause a scan every round.
	checked map[int]bool
	logged  map[string]bool
}

// capNSOwner is the container found in a network namespace and the process
// whose cgroup showed it. The kernel reuses a freed namespace's inode number
// at once, so the entry holds only while that process, by pid and start
// time, is still in the namespace: a container that stops during the
// capture and one that starts after it may see the same inode.
type capNSOwner struct {
	container string
	pid       int
	start     uint64 // the process's start time in clock ticks since boot
}

// capProcStart returns the start time of pid in clock ticks since boot.
func capProcStart(pid int) (uint64, error) {
	stat, err := host.ReadProcFile("/proc/"+strconv.Itoa(pid)+"/stat", host.MaxStatBytes)
	if err != nil {
		return 0, err
	}
	_, _, _, start, err := host.ParseStat(stat)
	return start, err
}

// capPeer is a veth end inside a container's namespace.
type capPeer struct {
	container string
	nsid      int // the host's id for the container's namespace, -1 unknown
	index     int // its ifindex in the container's namespace
	hostIndex int // its iflink: the host end's ifindex
}

func newCapDiscovery(ctx context.Context, opts Options) *capDiscovery {
	d := &capDiscovery{ctx: ctx, opts: opts, networks: map[string]string{}, names: map[string]string{}, parents: map[string][]string{},
		nsContainer: map[uint64]capNSOwner{}, checked: map[int]bool{}, logged: map[string]bool{}}
	var err error
	if d.hostNS, err = host.NetNSInode(os.Getpid()); err != nil {
		d.fail("host namespace: %v", err)
	}
	if d.host, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		d.fail("netlink: %v", err)
	}
	if !opts.NoDocker {
		dctx, cancel := context.WithTimeout(ctx, captureDockerTimeout)
		d.docker, err = docker.Dial(dctx, opts.DockerHost)
		cancel()
		if err != nil {
			d.fail("names from Docker unavailable, containers named by id only: %v", err)
		}
	}
	return d
}

func (d *capDiscovery) close() {
	if d.host != nil {
		d.host.Close()
	}
	if d.docker != nil {
		d.docker.Close()
	}
}

// fail records a discovery problem once.
func (d *capDiscovery) fail(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if !d.logged[s] {
		d.logged[s] = true
		d.errs = append(d.errs, s)
	}
}

// dumpRetries is how many times a netlink dump the kernel flagged as
// interrupted (the table changed while it was read) is asked again.
const dumpRetries = 5

// retryInterrupted calls dump again while the kernel flags its answer as
// interrupted, up to dumpRetries times, and returns the last answer with
// its error.
func retryInterrupted[T any](dump func() ([]T, error)) ([]T, error) {
	res, err := dump()
	for try := 1; try < dumpRetries && errors.Is(err, netlink.ErrDumpInterrupted); try++ {
		res, err = dump()
	}
	return res, err
}

// discover returns the interfaces to capture and every interface present
// (ifindex → name), so that the caller can tell which are gone.
func (d *capDiscovery) discover(auto, first bool) ([]Interface, map[int]string) {
	if d.host == nil {
		return nil, nil
	}
	links, err := retryInterrupted(d.host.LinkList)
	if errors.Is(err, netlink.ErrDumpInterrupted) && len(links) > 0 {
		// Links came and went through every try (containers starting and
		// stopping): the last answer's interfaces are captured, and the
		// next discovery round sees the rest.
		d.fail("list links: %v (the interfaces of the last, interrupted, answer are used)", err)
	} else if err != nil {
		d.fail("list links: %v", err)
		return nil, nil
	}
	present := make(map[int]string, len(links))
	byIndex := make(map[int]netlink.Link, len(links))
	for _, l := range links {
		present[l.Attrs().Index] = l.Attrs().Name
		byIndex[l.Attrs().Index] = l
	}
	if !auto && !first {
		// Named interfaces are looked up once; later rounds only notice
		// that one went away.
		return nil, present
	}
	cls := d.classify(links, byIndex)
	if !auto {
		var out []Interface
		for _, name := range d.opts.Ifaces {
			name = strings.TrimSpace(name)
			c := Interface{Name: name, Role: RoleNamed, Description: "interface " + name}
			l, err := d.host.LinkByName(name)
			if err != nil {
				c.Error = fmt.Sprintf("no interface %q: %v", name, err)
				out = append(out, c)
				continue
			}
			if got, ok := cls[l.Attrs().Index]; ok {
				c = got
			} else {
				c.Index, c.Kind = l.Attrs().Index, l.Type()
				c.LinkType, c.Error = capLinkType(l)
			}
			out = append(out, c)
		}
		return out, present
	}
	out := make([]Interface, 0, len(cls))
	for _, c := range cls {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, present
}

// classify finds the Docker bridges, the containers' veths and the uplinks.
func (d *capDiscovery) classify(links []netlink.Link, byIndex map[int]netlink.Link) map[int]Interface {
	out := map[int]Interface{}
	d.refreshDocker(false)
	isDockerBridge := map[int]bool{}
	for _, l := range links {
		a := l.Attrs()
		if l.Type() == "bridge" && (a.Name == "docker0" || capDockerBridgeName.MatchString(a.Name) || d.networks[a.Name] != "") {
			isDockerBridge[a.Index] = true
		}
	}
	// The veths: on a Docker bridge, or with their peer in a container.
	var veths []netlink.Link
	needScan := false
	for _, l := range links {
		if l.Type() != "veth" {
			continue
		}
		veths = append(veths, l)
		if !d.checked[l.Attrs().Index] || (isDockerBridge[l.Attrs().MasterIndex] && d.peerOf(l).container == "") {
			needScan = true
		}
	}
	if needScan && time.Since(d.scanLast) >= captureRescanInterval {
		d.scan()
	}
	containerOf := map[int]capPeer{}
	for _, l := range veths {
		a := l.Attrs()
		d.checked[a.Index] = true
		p := d.peerOf(l)
		if p.container != "" {
			containerOf[a.Index] = p
			if m := byIndex[a.MasterIndex]; m != nil && m.Type() == "bridge" {
				isDockerBridge[a.MasterIndex] = true // a custom bridge name Docker did not tell us
			}
		}
	}
	unnamed := slices.ContainsFunc(veths, func(l netlink.Link) bool {
		p := containerOf[l.Attrs().Index]
		return p.container != "" && d.names[p.container] == ""
	})
	for idx := range isDockerBridge {
		if n := byIndex[idx].Attrs().Name; n != "docker0" && d.networks[n] == "" {
			unnamed = true
		}
	}
	if unnamed {
		d.refreshDocker(true)
	}
	for idx := range isDockerBridge {
		l := byIndex[idx]
		c := d.base(l, RoleBridge)
		c.Network = d.networks[c.Name]
		if c.Network == "" && c.Name == "docker0" {
			c.Network = "bridge"
		}
		label := c.Network
		if label == "" {
			label = strings.TrimPrefix(c.Name, "br-")
		}
		c.Description = "bridge of network " + label
		out[idx] = c
	}
	for _, l := range veths {
		a := l.Attrs()
		p, ok := containerOf[a.Index]
		if !ok && !isDockerBridge[a.MasterIndex] {
			continue
		}
		c := d.base(l, RoleVeth)
		if m := byIndex[a.MasterIndex]; m != nil {
			c.Bridge = m.Attrs().Name
		}
		c.Container, c.ContainerName = p.container, d.names[p.container]
		switch {
		case c.ContainerName != "":
			c.Description = fmt.Sprintf("veth of container %s (%s)", c.ContainerName, docker.ShortID(c.Container))
		case c.Container != "":
			c.Description = "veth of container " + docker.ShortID(c.Container)
		default:
			c.Description = "veth on bridge " + c.Bridge + " (container not yet known)"
		}
		out[a.Index] = c
	}
	for idx, routes := range d.uplinks() {
		l := byIndex[idx]
		if l == nil || out[idx].Role != "" || l.Attrs().Flags&net.FlagLoopback != 0 {
			continue
		}
		c := d.base(l, RoleUplink)
		c.Description = "uplink"
		c.Routes = routes
		out[idx] = c
	}
	// The parents of macvlan/ipvlan networks, with or without an address:
	// their containers' frames are nowhere else. An uplink that is also a
	// parent stays an uplink and says so.
	for _, l := range links {
		nets := d.parents[l.Attrs().Name]
		if len(nets) == 0 {
			continue
		}
		idx := l.Attrs().Index
		c, ok := out[idx]
		if !ok {
			c = d.base(l, RoleParent)
			c.Description = "parent of " + strings.Join(nets, ", ")
			if _, name, ok := strings.Cut(nets[0], " network "); ok {
				c.Network = name
			}
		} else {
			c.Description += "; parent of " + strings.Join(nets, ", ")
		}
		c.ParentOf = nets
		out[idx] = c
	}
	return out
}

// capOverlayNetNSDir is where the engine keeps the namespaces of its
// overlay networks (1-<first 10 hex digits of the network id>).
const capOverlayNetNSDir = "/var/run/docker/netns/"

// capOverlay describes an overlay network: its vxlan devices, read from the
// engine's namespace of the network when that exists on this host, and
// what a capture on the host's interfaces cannot see of it.
func capOverlay(name, id string) Overlay {
	o := Overlay{Network: capLabel(name), ID: id,
		Unseen: "an overlay network's bridge and vxlan device are in the engine's own namespace, not the host's: traffic between its containers on this host is not captured at all, and traffic to other hosts only as VXLAN (UDP 4789) on the uplink, unreadable when the network is encrypted (IPsec ESP)"}
	if len(id) < 10 {
		return o
	}
	path := capOverlayNetNSDir + "1-" + id[:10]
	ns, err := netns.GetFromPath(path)
	if err != nil {
		o.Error = fmt.Sprintf("namespace %s: %v (no container of the network on this host, or the engine keeps it elsewhere)", path, err)
		return o
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		o.Error = fmt.Sprintf("netlink in %s: %v", path, err)
		return o
	}
	defer h.Close()
	links, err := retryInterrupted(h.LinkList)
	if err != nil {
		o.Error = fmt.Sprintf("links in %s: %v", path, err)
		return o
	}
	for _, l := range links {
		if vx, ok := l.(*netlink.Vxlan); ok {
			o.VXLAN = append(o.VXLAN, fmt.Sprintf("%s (vni %d) in %s", capLabel(vx.Attrs().Name), vx.VxlanId, path))
		}
	}
	return o
}

func (d *capDiscovery) base(l netlink.Link, role string) Interface {
	c := Interface{Index: l.Attrs().Index, Name: l.Attrs().Name, Kind: l.Type(), Role: role}
	c.LinkType, c.Error = capLinkType(l)
	return c
}

// capLinkType is the link type of packets read with SOCK_RAW: Ethernet,
// or raw IP for interfaces without a link-layer header.
func capLinkType(l netlink.Link) (pcapng.LinkType, string) {
	switch l.Attrs().EncapType {
	case "ether", "loopback":
		return pcapng.LinkTypeEthernet, ""
	case "none", "tunnel", "tunnel6", "sit", "ppp", "rawip":
		return pcapng.LinkTypeRaw, ""
	}
	return 0, fmt.Sprintf("not captured: link type %q is not supported", l.Attrs().EncapType)
}

// uplinks returns the interfaces that carry the default route or a route
// to a network that is not a container's, with those routes. Link-local
// and multicast IPv6 routes, which every interface has, do not count.
func (d *capDiscovery) uplinks() map[int][]string {
	routes, err := d.host.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		d.fail("list routes: %v", err)
		return nil
	}
	out := map[int][]string{}
	for _, r := range routes {
		if r.Table == unix.RT_TABLE_LOCAL || r.Type != unix.RTN_UNICAST {
			continue
		}
		dst := "default"
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones == 0 {
				dst = "default"
			} else if r.Dst.IP.IsLinkLocalUnicast() || r.Dst.IP.IsMulticast() {
				continue
			} else {
				dst = r.Dst.String()
			}
		}
		if r.Table != unix.RT_TABLE_MAIN {
			dst += " table " + strconv.Itoa(r.Table)
		}
		add := func(idx int) {
			if idx > 0 && !slices.Contains(out[idx], dst) {
				out[idx] = append(out[idx], dst)
			}
		}
		add(r.LinkIndex)
		for _, nh := range r.MultiPath {
			add(nh.LinkIndex)
		}
	}
	return out
}

// peerOf finds the container end of a host veth: the link in a container's
// namespace whose iflink is this veth and whose ifindex is this veth's
// iflink, in the namespace the veth's link-netnsid names.
func (d *capDiscovery) peerOf(l netlink.Link) capPeer {
	a := l.Attrs()
	for _, p := range d.peers {
		if p.hostIndex == a.Index && p.index == a.ParentIndex && (p.nsid < 0 || a.NetNsID < 0 || p.nsid == a.NetNsID) {
			return p
		}
	}
	return capPeer{}
}

// scan maps container namespaces to containers through /proc/<pid>/cgroup,
// as the processes step does, and lists the veth ends inside them.
func (d *capDiscovery) scan() {
	d.scanLast = time.Now()
	nss, err := host.ScanNamespaces(d.hostNS)
	if err != nil {
		d.fail("scan /proc: %v", err)
		return
	}
	var peers []capPeer
	for _, ns := range nss {
		if ns.Host {
			continue
		}
		for _, pid := range ns.PIDs {
			id := d.nsOwner(pid, ns.Inode)
			if id == "" {
				continue
			}
			ps, err := d.nsPeers(pid, id)
			if err != nil {
				continue // exited meanwhile: another process may still show the namespace
			}
			peers = append(peers, ps...)
			break
		}
	}
	d.peers = peers
}

// nsOwner returns the container whose namespace ino is, found through pid
// in it: from the cache while the process that proved it is still there,
// from pid's cgroup otherwise.
func (d *capDiscovery) nsOwner(pid int, ino uint64) string {
	if o, ok := d.nsContainer[ino]; ok {
		if cur, err := host.NetNSInode(o.pid); err == nil && cur == ino {
			if start, err := capProcStart(o.pid); err == nil && start == o.start {
				return o.container
			}
		}
		delete(d.nsContainer, ino)
	}
	cg, err := host.ReadProcFile("/proc/"+strconv.Itoa(pid)+"/cgroup", host.MaxCgroupBytes)
	if err != nil {
		return ""
	}
	id := host.ContainerIDFromCgroup(string(cg))
	if id == "" {
		// Not remembered: a namespace seen while its container is still
		// being set up (its first process not yet in the container's
		// cgroup) is looked at again on the next scan.
		return ""
	}
	start, err := capProcStart(pid)
	if err != nil {
		return id
	}
	d.nsContainer[ino] = capNSOwner{container: id, pid: pid, start: start}
	return id
}

func (d *capDiscovery) nsPeers(pid int, container string) ([]capPeer, error) {
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	nsid, err := d.host.GetNetNsIdByFd(int(ns))
	if err != nil {
		nsid = -1
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	links, err := retryInterrupted(h.LinkList)
	if err != nil {
		return nil, err
	}
	var out []capPeer
	for _, l := range links {
		if l.Type() == "veth" && l.Attrs().ParentIndex > 0 {
			out = append(out, capPeer{container: container, nsid: nsid, index: l.Attrs().Index, hostIndex: l.Attrs().ParentIndex})
		}
	}
	return out, nil
}

// refreshDocker asks the engine for network and container names, at most
// every captureRescanInterval unless forced by a container without a name.
func (d *capDiscovery) refreshDocker(force bool) {
	if d.docker == nil || (!d.dockerLast.IsZero() && (!force || time.Since(d.dockerLast) < captureRescanInterval)) {
		return
	}
	d.dockerLast = time.Now()
	ctx, cancel := context.WithTimeout(d.ctx, captureDockerTimeout)
	defer cancel()
	if d.engine.Name == "" {
		if e, _, err := d.docker.Engine(ctx); err != nil {
			d.fail("docker version: %v", err)
		} else {
			d.engine = e
		}
	}
	podman := d.engine.IsPodman()
	if podman {
		d.refreshPodman(ctx)
	}
	raw, err := d.docker.Get(ctx, "/networks", nil, docker.MaxListBytes)
	if err != nil {
		d.fail("docker networks: %v", err)
	} else {
		var nets []struct {
			Name    string            `json:"Name"`
			ID      string            `json:"Id"`
			Driver  string            `json:"Driver"`
			Options map[string]string `json:"Options"`
		}
		if err := json.Unmarshal(raw, &nets); err != nil {
			d.fail("docker networks: %v", err)
		}
		parents := map[string][]string{}
		var overlays []Overlay
		for _, n := range nets {
			switch n.Driver {
			case "macvlan", "ipvlan":
				// Without a parent option the engine makes a dummy one,
				// dm-<id12>, for an internal network.
				parent := n.Options["parent"]
				if parent == "" && len(n.ID) >= 12 {
					parent = "dm-" + n.ID[:12]
				}
				parents[parent] = append(parents[parent], n.Driver+" network "+capLabel(n.Name))
				continue
			case "overlay":
				overlays = append(overlays, capOverlay(n.Name, n.ID))
				continue
			}
			if n.Driver != "bridge" {
				continue
			}
			br := n.Options["com.docker.network.bridge.name"]
			if br == "" && len(n.ID) >= 12 && !podman {
				br = "br-" + n.ID[:12]
			}
			if br != "" {
				d.networks[br] = n.Name
			}
		}
		d.parents, d.overlays = parents, overlays
	}
	raw, err = d.docker.Get(ctx, "/containers/json", url.Values{}, docker.MaxListBytes)
	if err != nil {
		d.fail("docker containers: %v", err)
		return
	}
	var cs []struct {
		ID    string   `json:"Id"`
		Names []string `json:"Names"`
	}
	if err := json.Unmarshal(raw, &cs); err != nil {
		d.fail("docker containers: %v", err)
	}
	for _, c := range cs {
		for _, n := range c.Names {
			// Linked containers have extra names "/other/alias".
			if n = strings.TrimPrefix(n, "/"); !strings.Contains(n, "/") {
				d.names[c.ID] = n
				break
			}
		}
	}
}

// refreshPodman learns the bridges of Podman's networks from its own
// network list: the compatible /networks answer names no bridge, and
// netavark's podman<N> and CNI's cni-podman<N> follow no pattern of
// Docker's. A Podman bridge is then a bridge, never an uplink, even before
// a container's veth on it is known.
func (d *capDiscovery) refreshPodman(ctx context.Context) {
	raw, err := d.docker.LibpodNetworks(ctx)
	if err != nil {
		d.fail("podman networks: %v", err)
		return
	}
	var nets []struct {
		Name             string `json:"name"`
		Driver           string `json:"driver"`
		NetworkInterface string `json:"network_interface"`
	}
	if err := json.Unmarshal(raw, &nets); err != nil {
		d.fail("podman networks: %v", err)
		return
	}
	for _, n := range nets {
		if n.Driver == "bridge" && n.NetworkInterface != "" {
			d.networks[n.NetworkInterface] = n.Name
		}
	}
}

// notWatched returns an error for each interface the capture could
// not open, once per name over the captures of one watch (reported holds
// the names already told). An interface that vanished before its ring was
// bound is none: nothing could have been seen there.
func NotWatched(res Result, reported map[string]bool) []error {
	var errs []error
	for _, it := range res.Interfaces {
		if it.BlockID < 0 && it.Error != "" && !reported[it.Name] {
			reported[it.Name] = true
			errs = append(errs, fmt.Errorf("%s (%s) not watched: %s", it.Name, it.Role, it.Error))
		}
	}
	return errs
}
