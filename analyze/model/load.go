package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/firewall"
	"github.com/dockcase/dockcase/bundle"
)

// Limits on the members Load reads. A bundle comes from a host that may have
// been compromised; each member is read whole, so each is bounded.
const (
	// maxNetNSJSONBytes bounds one netns.json: 64 MiB holds 100k routes at
	// ~300 B, far above a router, let alone a Docker host.
	maxNetNSJSONBytes = 64 << 20
	// maxSocketsJSONBytes bounds one sockets.json: 64 MiB is ~250k sockets.
	maxSocketsJSONBytes = 64 << 20
	// maxIndexJSONBytes bounds netns/index.json: 16 MiB lists 1M pids.
	maxIndexJSONBytes = 16 << 20
	// maxInspectJSONBytes bounds one container's inspect: a few KiB in
	// practice; 16 MiB leaves room for huge labels and environments.
	maxInspectJSONBytes = 16 << 20
	// maxDockerListJSONBytes bounds networks.json and containers.json:
	// 64 MiB is 10k networks with 1k containers each.
	maxDockerListJSONBytes = 64 << 20
	// maxEventsBytes bounds events.jsonl: 72 hours of a busy engine at
	// ~500 B an event is well under 256 MiB.
	maxEventsBytes = 256 << 20
	// maxConntrackJSONBytes bounds host/conntrack.json: nf_conntrack_max
	// rarely exceeds 1M entries at ~500 B of JSON each.
	maxConntrackJSONBytes = 512 << 20
	// maxProcessesJSONBytes bounds host/processes.json: 100k processes at
	// ~2 KiB each.
	maxProcessesJSONBytes = 256 << 20
	// maxClockJSONBytes bounds host/clock.json, a single small object.
	maxClockJSONBytes = 1 << 20
	// maxFirewallTextBytes bounds a firewall dump as read from the bundle;
	// the parsers bound it again line by line.
	maxFirewallTextBytes = 256 << 20
	// maxLoadContainers bounds the containers modelled: inspect members
	// beyond it are listed as missing rather than read.
	maxLoadContainers = 100_000
)

// The members Load reads.
const (
	MemberIndex      = "netns/index.json"
	MemberNetworks   = "docker/networks.json"
	MemberContainers = "docker/containers.json"
	MemberEvents     = "docker/events.jsonl"
	MemberConntrack  = "host/conntrack.json"
	MemberProcesses  = "host/processes.json"
	MemberClock      = "host/clock.json"
	MemberIPTables   = "host/firewall/iptables-save.txt"
	MemberIP6Tables  = "host/firewall/ip6tables-save.txt"
	MemberNft        = "host/firewall/nft.json"
	// MemberVersion is the engine's answer to GET /version, which names the
	// engine (Podman answers with a "Podman Engine" component).
	MemberVersion = "docker/version.json"
	// MemberPodmanNetworks is Podman's own GET /libpod/networks/json: the
	// networks with their bridge (network_interface), which Podman's
	// Docker-compatible answer in docker/networks.json does not carry.
	MemberPodmanNetworks = "podman/networks.json"
	// MemberPodmanInfo is Podman's GET /libpod/info (host.networkBackend:
	// netavark or cni).
	MemberPodmanInfo = "podman/info.json"
)

// The engines the model knows.
const (
	EngineDocker = "docker"
	EnginePodman = "podman"
)

// maxVersionJSONBytes bounds docker/version.json and podman/info.json: a
// few KiB in practice.
const maxVersionJSONBytes = 1 << 20

// Source is where the model reads the members of a bundle from: a verified
// bundle (BundleSource), or members held in memory (MemSource, for tests,
// benchmarks and fuzzing). It is the one reader of bundle members: the
// stages read what Load kept on the Host, and open the streams too large
// to hold (captures, layers) through Host.Open.
type Source interface {
	// ReadMember returns the member's bytes, at most max of them; the error
	// wraps fs.ErrNotExist when the bundle lacks the member.
	ReadMember(member string, max int64) ([]byte, error)
	// Open opens a member as a stream, for those too large to hold.
	Open(member string) (io.ReadSeekCloser, error)
	// SHA256 is the member's hash as the manifest records it ("" if
	// unknown).
	SHA256(member string) string
	Has(member string) bool
	// Members lists the members' paths.
	Members() []string
}

// BundleSource reads the members of an opened bundle.
func BundleSource(b *bundle.Bundle) Source { return bundleSource{b} }

type bundleSource struct{ b *bundle.Bundle }

func (s bundleSource) ReadMember(member string, max int64) ([]byte, error) {
	if !s.b.Has(member) {
		return nil, fmt.Errorf("member %s: %w", member, fs.ErrNotExist)
	}
	return s.b.ReadFile(member, max)
}

func (s bundleSource) Open(member string) (io.ReadSeekCloser, error) {
	if !s.b.Has(member) {
		return nil, fmt.Errorf("member %s: %w", member, fs.ErrNotExist)
	}
	return s.b.OpenMember(member)
}

func (s bundleSource) Has(member string) bool { return s.b.Has(member) }

func (s bundleSource) SHA256(member string) string {
	if s.b.Manifest == nil {
		return ""
	}
	if m, ok := s.b.Manifest.Member(member); ok {
		return m.SHA256
	}
	return ""
}

func (s bundleSource) Members() []string {
	var out []string
	for _, m := range s.b.Members() {
		out = append(out, m.Path)
	}
	return out
}

// MemSource holds members in memory, by path.
type MemSource map[string][]byte

// ReadMember returns the member, or an error when it is absent or larger
// than max.
func (s MemSource) ReadMember(member string, max int64) ([]byte, error) {
	b, ok := s[member]
	if !ok {
		return nil, fmt.Errorf("member %s: %w", member, fs.ErrNotExist)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("member %s: larger than %d bytes", member, max)
	}
	return b, nil
}

// Open returns a reader of the member.
func (s MemSource) Open(member string) (io.ReadSeekCloser, error) {
	b, ok := s[member]
	if !ok {
		return nil, fmt.Errorf("member %s: %w", member, fs.ErrNotExist)
	}
	return memFile{bytes.NewReader(b)}, nil
}

type memFile struct{ *bytes.Reader }

func (memFile) Close() error { return nil }

// Has reports whether the member is held.
func (s MemSource) Has(member string) bool { _, ok := s[member]; return ok }

// SHA256 hashes the member.
func (s MemSource) SHA256(member string) string {
	sum := sha256.Sum256(s[member])
	return hex.EncodeToString(sum[:])
}

// Members lists the members, sorted.
func (s MemSource) Members() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Open opens a member of the bundle the model was loaded from, for the
// streams the model does not hold (captures, committed layers, conntrack
// events).
func (h *Host) Open(member string) (io.ReadSeekCloser, error) {
	if h.src == nil {
		return nil, fmt.Errorf("member %s: %w", member, fs.ErrNotExist)
	}
	return h.src.Open(member)
}

// Source is the bundle the model was loaded from, for members it does not
// hold decoded; an empty one for a Host built by hand.
func (h *Host) Source() Source {
	if h.src == nil {
		return MemSource{}
	}
	return h.src
}

// Has reports whether the bundle the model was loaded from holds member.
func (h *Host) Has(member string) bool { return h.src != nil && h.src.Has(member) }

// MemberSHA256 is the manifest's hash of a member ("" if unknown).
func (h *Host) MemberSHA256(member string) string {
	if h.src == nil {
		return ""
	}
	return h.src.SHA256(member)
}

// MemberPaths lists the members of the bundle the model was loaded from.
func (h *Host) MemberPaths() []string {
	if h.src == nil {
		return nil
	}
	return h.src.Members()
}

// Load builds the model of the host from a bundle. Members the bundle lacks
// (a collection with gaps) do not make it fail: Host.Missing says what is
// unknown and why. The error is reserved for a bundle that cannot be read.
func Load(b *bundle.Bundle) (*Host, error) {
	if b == nil || b.Result == nil {
		return nil, errors.New("load: no bundle")
	}
	h := loadHost(BundleSource(b))
	h.Steps, h.BundlePath = b.Steps, b.Path
	if b.Manifest != nil {
		h.Collected = b.Manifest.Finished.UTC()
		if h.Hostname == "" {
			h.Hostname = b.Meta.Host
		}
	}
	h.buildLeases()
	return h, nil
}

// loader carries the source and the host being built.
type loader struct {
	src Source
	h   *Host
	// ctDelta is each conntrack entry's age as /proc gave it, dated once
	// the table's read time is known.
	ctDelta []*uint64
}

func (l *loader) ev(member, pointer string) Evidence {
	return Evidence{Member: member, SHA256: l.src.SHA256(member), Pointer: pointer}
}

func (l *loader) missing(format string, a ...any) {
	l.h.Missing = append(l.h.Missing, fmt.Sprintf(format, a...))
}

// readJSON reads and decodes a member; ok is false (and the reason recorded
// as missing, with what it leaves unknown) when it is absent or malformed.
func (l *loader) read(member string, max int64, unknown string) ([]byte, bool) {
	data, err := l.src.ReadMember(member, max)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			l.missing("%s: not in the bundle: %s unknown", member, unknown)
		} else {
			l.missing("%s: %v: %s unknown", member, err, unknown)
			if l.h.ReadErrors == nil {
				l.h.ReadErrors = map[string]error{}
			}
			l.h.ReadErrors[member] = err
		}
		return nil, false
	}
	return data, true
}

// LoadSource builds the model from the members of any Source (MemSource
// in tests): Load without the bundle's manifest and custody log.
func LoadSource(src Source) *Host {
	h := loadHost(src)
	h.buildLeases()
	return h
}

func loadHost(src Source) *Host {
	l := &loader{src: src, h: &Host{byID: map[string]*Container{}, src: src}}
	l.loadClock()
	l.loadNamespaces()
	l.pairLinks()
	l.loadDocker()
	l.loadProcesses()
	l.loadConntrack()
	l.loadConntrackClock()
	l.loadEvents()
	l.loadWindow()
	l.loadFirewall()
	l.attachContainers()
	l.loadUsage()
	l.loadCaptureInterfaces()
	l.loadSocketSightings()
	sort.Strings(l.h.Missing)
	l.h.Missing = slices.Compact(l.h.Missing)
	return l.h
}

// JSONPointer escapes tokens into an RFC 6901 pointer.
func JSONPointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		b.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return b.String()
}

// IndexPointer is the JSON pointer of element i of the array at prefix,
// then of rest inside it.
func IndexPointer(prefix string, i int, rest ...string) string {
	return prefix + "/" + strconv.Itoa(i) + JSONPointer(rest...)
}

// --- clock ---

// HostClock is host/clock.json: the host's wall clock as the collector
// read it, and what adjtimex said of its synchronisation (nil when the
// collector did not record it).
type HostClock struct {
	Wall     time.Time
	Hostname string
	NTP      *ClockNTP
}

// ClockNTP is the kernel's view of the clock's synchronisation.
type ClockNTP struct {
	Synchronized bool     `json:"synchronized"`
	State        string   `json:"state"`
	StatusFlags  []string `json:"status_flags"`
	MaxErrorUS   int64    `json:"max_error_us"`
	EstErrorUS   int64    `json:"est_error_us"`
	OffsetNS     int64    `json:"offset_ns"`
}

type clockDoc struct {
	Wall     time.Time       `json:"wall"`
	Hostname string          `json:"hostname"`
	NTP      json.RawMessage `json:"ntp"`
}

func decodeClock(data []byte) (clockDoc, error) {
	var d clockDoc
	err := json.Unmarshal(data, &d)
	return d, err
}

// loadClock keeps the host name, and the clock for the timeline when its
// NTP part is well formed too.
func (l *loader) loadClock() {
	data, ok := l.read(MemberClock, maxClockJSONBytes, "the host name")
	if !ok {
		return
	}
	d, err := decodeClock(data)
	if err != nil {
		l.missing("%s: %v", MemberClock, err)
		return
	}
	l.h.Hostname = d.Hostname
	c := &HostClock{Wall: d.Wall, Hostname: d.Hostname}
	if len(d.NTP) > 0 && string(d.NTP) != "null" {
		if json.Unmarshal(d.NTP, &c.NTP) != nil {
			return
		}
	}
	l.h.Clock = c
}

// --- namespaces ---

type nsIndexDoc struct {
	Inode      uint64   `json:"inode"`
	Host       bool     `json:"host"`
	PID        int      `json:"pid"`
	Containers []string `json:"containers"`
	Orphan     bool     `json:"orphan"`
	Error      string   `json:"error"`
}

func decodeNSIndex(data []byte) ([]nsIndexDoc, error) {
	var d []nsIndexDoc
	err := json.Unmarshal(data, &d)
	return d, err
}

type netnsDoc struct {
	PID   int    `json:"pid"`
	Inode uint64 `json:"inode"`
	Links []struct {
		Index     int    `json:"ifindex"`
		Name      string `json:"name"`
		Kind      string `json:"kind"`
		Iflink    int    `json:"iflink"`
		Master    string `json:"master"`
		MAC       string `json:"mac"`
		OperState string `json:"oper_state"`
	} `json:"links"`
	Addrs []struct {
		Index int    `json:"ifindex"`
		Dev   string `json:"dev"`
		CIDR  string `json:"cidr"`
		Scope string `json:"scope"`
	} `json:"addrs"`
	Routes []struct {
		Family   string `json:"family"`
		Table    int    `json:"table"`
		Type     string `json:"type"`
		Dst      string `json:"dst"`
		Gw       string `json:"gw"`
		DevIndex int    `json:"dev_ifindex"`
		Dev      string `json:"dev"`
		Src      string `json:"src"`
		Metric   int    `json:"metric"`
		Nexthops []struct {
			Gw  string `json:"gw"`
			Dev string `json:"dev"`
		} `json:"nexthops"`
	} `json:"routes"`
	Rules []struct {
		Family   string `json:"family"`
		Priority int    `json:"priority"`
		Action   string `json:"action"`
		Table    int    `json:"table"`
		Src      string `json:"src"`
		Dst      string `json:"dst"`
		Iif      string `json:"iif"`
		Oif      string `json:"oif"`
		Mark     uint32 `json:"fwmark"`
		Invert   bool   `json:"not"`
		IPProto  int    `json:"ipproto"`
		Sport    string `json:"sport"`
		Dport    string `json:"dport"`
		UIDRange string `json:"uidrange"`
		Tos      uint   `json:"tos"`
	} `json:"rules"`
	BridgePorts []struct {
		Index  int    `json:"ifindex"`
		Bridge string `json:"bridge"`
	} `json:"bridge_ports"`
}

func decodeNetNS(data []byte) (*netnsDoc, error) {
	var d netnsDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

type socketDoc struct {
	Proto      string `json:"proto"`
	LocalIP    string `json:"local_ip"`
	LocalPort  uint16 `json:"local_port"`
	RemoteIP   string `json:"remote_ip"`
	RemotePort uint16 `json:"remote_port"`
	State      string `json:"state"`
	Owners     []struct {
		PID int `json:"pid"`
	} `json:"owners"`
}

func decodeSockets(data []byte) ([]socketDoc, error) {
	var d []socketDoc
	err := json.Unmarshal(data, &d)
	return d, err
}

func (l *loader) loadNamespaces() {
	var index []nsIndexDoc
	if data, ok := l.read(MemberIndex, maxIndexJSONBytes, "which containers share a network namespace"); ok {
		var err error
		if index, err = decodeNSIndex(data); err != nil {
			l.missing("%s: %v: namespaces unknown", MemberIndex, err)
			index = nil
		}
	}
	if index == nil {
		// Without the index, still read every namespace the bundle holds.
		for _, m := range l.src.Members() {
			dir, file := path.Split(m)
			if file != "netns.json" || !strings.HasPrefix(dir, "netns/") {
				continue
			}
			ino, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(dir, "netns/"), "/"), 10, 64)
			if err == nil {
				index = append(index, nsIndexDoc{Inode: ino})
			}
		}
	}
	for i, d := range index {
		ns := &Namespace{Inode: d.Inode, Host: d.Host, PID: d.PID, Containers: d.Containers, Orphan: d.Orphan, Error: d.Error, byIdx: map[int]*Link{}}
		l.h.Namespaces = append(l.h.Namespaces, ns)
		if ns.Host && l.h.HostNS == nil {
			l.h.HostNS = ns
		}
		_ = i
		member := fmt.Sprintf("netns/%d/netns.json", d.Inode)
		data, ok := l.read(member, maxNetNSJSONBytes, fmt.Sprintf("links and routes of namespace %d", d.Inode))
		if !ok {
			continue
		}
		doc, err := decodeNetNS(data)
		if err != nil {
			l.missing("%s: %v: links and routes of namespace %d unknown", member, err, d.Inode)
			continue
		}
		ns.Member = member
		l.fillNamespace(ns, member, doc)
		smember := fmt.Sprintf("netns/%d/sockets.json", d.Inode)
		if sdata, ok := l.read(smember, maxSocketsJSONBytes, fmt.Sprintf("sockets of namespace %d", d.Inode)); ok {
			socks, err := decodeSockets(sdata)
			if err != nil {
				l.missing("%s: %v: sockets of namespace %d unknown", smember, err, d.Inode)
			}
			for j, s := range socks {
				hs := HostSocket{Proto: s.Proto, LocalIP: s.LocalIP, LocalPort: s.LocalPort, RemoteIP: s.RemoteIP,
					RemotePort: s.RemotePort, State: s.State, NetNS: d.Inode, Evidence: l.ev(smember, IndexPointer("", j))}
				for _, o := range s.Owners {
					if !slices.Contains(hs.PIDs, o.PID) {
						hs.PIDs = append(hs.PIDs, o.PID)
					}
				}
				ns.Sockets = append(ns.Sockets, hs)
			}
		}
	}
	sort.Slice(l.h.Namespaces, func(i, j int) bool {
		a, b := l.h.Namespaces[i], l.h.Namespaces[j]
		if a.Host != b.Host {
			return a.Host
		}
		return a.Inode < b.Inode
	})
	if l.h.HostNS == nil {
		l.missing("host network namespace: not in the bundle: host links, routes and uplinks unknown")
	}
}

func (l *loader) fillNamespace(ns *Namespace, member string, d *netnsDoc) {
	for i, dl := range d.Links {
		lk := &Link{Index: dl.Index, Name: dl.Name, Kind: dl.Kind, Iflink: dl.Iflink, Master: dl.Master,
			MAC: strings.ToLower(dl.MAC), OperState: dl.OperState, NS: ns.Inode, Evidence: l.ev(member, IndexPointer("/links", i))}
		if lk.Iflink == lk.Index {
			lk.Iflink = 0 // a link whose iflink is itself has no peer or parent
		}
		if _, dup := ns.byIdx[lk.Index]; dup {
			l.missing("%s: ifindex %d listed twice: the second is ignored", member, lk.Index)
			continue
		}
		ns.Links = append(ns.Links, lk)
		ns.byIdx[lk.Index] = lk
	}
	for i, a := range d.Addrs {
		p, err := netip.ParsePrefix(a.CIDR)
		if err != nil {
			continue
		}
		if lk := ns.byIdx[a.Index]; lk != nil {
			lk.Addrs = append(lk.Addrs, p)
			e := l.ev(member, IndexPointer("/addrs", i))
			e.Text = a.Dev + " " + a.CIDR
			lk.addrEv = append(lk.addrEv, e)
		}
	}
	for _, bp := range d.BridgePorts {
		if lk := ns.byIdx[bp.Index]; lk != nil && lk.Master == "" {
			lk.Master = bp.Bridge
		}
	}
	for i, r := range d.Routes {
		rt := Route{Family: r.Family, Table: r.Table, Type: r.Type, Dev: r.Dev, DevIndex: r.DevIndex, Metric: r.Metric}
		var err error
		if rt.Dst, err = netip.ParsePrefix(r.Dst); err != nil {
			if a, err2 := netip.ParseAddr(r.Dst); err2 == nil {
				rt.Dst = netip.PrefixFrom(a, a.BitLen())
			} else {
				continue
			}
		}
		rt.Dst = rt.Dst.Masked()
		rt.Gw, _ = netip.ParseAddr(r.Gw)
		rt.Src, _ = netip.ParseAddr(r.Src)
		for _, nh := range r.Nexthops {
			rt.Multipath = append(rt.Multipath, nh.Dev)
			if !rt.Gw.IsValid() {
				rt.Gw, _ = netip.ParseAddr(nh.Gw)
			}
			if rt.Dev == "" {
				rt.Dev = nh.Dev
			}
		}
		rt.Evidence = l.ev(member, IndexPointer("/routes", i))
		rt.Evidence.Text = rt.Text()
		ns.Routes = append(ns.Routes, rt)
	}
	for i, r := range d.Rules {
		pr := PolicyRule{Family: r.Family, Priority: r.Priority, Action: r.Action, Table: r.Table, Src: r.Src, Dst: r.Dst,
			Iif: r.Iif, Oif: r.Oif, Mark: r.Mark, Invert: r.Invert,
			Other:    r.IPProto != 0 || r.Sport != "" || r.Dport != "" || r.UIDRange != "" || r.Tos != 0,
			Evidence: l.ev(member, IndexPointer("/rules", i))}
		ns.Rules = append(ns.Rules, pr)
	}
}

// pairLinks pairs each host veth with its peer in another namespace: the
// host link's iflink is the peer's ifindex and the peer's iflink is the host
// link's ifindex. Ifindexes are per namespace, so a pairing found in two
// namespaces is ambiguous and left unpaired.
func (l *loader) pairLinks() {
	host := l.h.HostNS
	if host == nil {
		return
	}
	for _, hl := range host.Links {
		if hl.Kind != "veth" || hl.Iflink == 0 {
			continue
		}
		var found []*Link
		for _, ns := range l.h.Namespaces {
			if ns == host {
				continue
			}
			if p := ns.byIdx[hl.Iflink]; p != nil && p.Iflink == hl.Index && p.Kind == "veth" {
				found = append(found, p)
			}
		}
		switch len(found) {
		case 1:
			p := found[0]
			hl.PeerNS, hl.PeerIndex = p.NS, p.Index
			p.PeerNS, p.PeerIndex = host.Inode, hl.Index
		case 0:
		default:
			l.missing("veth %q (ifindex %d): its peer ifindex %d matches in %d namespaces: pairing unknown", hl.Name, hl.Index, hl.Iflink, len(found))
		}
	}
}

// --- docker ---

type networkDoc struct {
	Name       string `json:"Name"`
	ID         string `json:"Id"`
	Driver     string `json:"Driver"`
	Scope      string `json:"Scope"`
	EnableIPv6 bool   `json:"EnableIPv6"`
	Internal   bool   `json:"Internal"`
	IPAM       struct {
		Config []struct {
			Subnet  string `json:"Subnet"`
			Gateway string `json:"Gateway"`
		} `json:"Config"`
	} `json:"IPAM"`
	Options    map[string]string `json:"Options"`
	Containers map[string]struct {
		Name        string `json:"Name"`
		IPv4Address string `json:"IPv4Address"`
		IPv6Address string `json:"IPv6Address"`
		MacAddress  string `json:"MacAddress"`
	} `json:"Containers"`
}

func decodeNetworks(data []byte) ([]networkDoc, error) {
	var d []networkDoc
	err := json.Unmarshal(data, &d)
	return d, err
}

type containerListDoc struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Image string `json:"image"`
	State string `json:"state"`
	Pid   int    `json:"pid"`
}

func decodeContainerList(data []byte) ([]containerListDoc, error) {
	var d []containerListDoc
	err := json.Unmarshal(data, &d)
	return d, err
}

type portBindingDoc struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// Inspect is the part of a container's inspect that the model and the
// configuration findings read.
type Inspect struct {
	ID              string `json:"Id"`
	AppArmorProfile string `json:"AppArmorProfile"`
	Created         string `json:"Created"`
	Name            string `json:"Name"`
	Image           string `json:"Image"`
	State           struct {
		Status     string `json:"Status"`
		Pid        int    `json:"Pid"`
		StartedAt  string `json:"StartedAt"`
		FinishedAt string `json:"FinishedAt"`
	} `json:"State"`
	HostConfig struct {
		NetworkMode  string                      `json:"NetworkMode"`
		Privileged   bool                        `json:"Privileged"`
		CapAdd       []string                    `json:"CapAdd"`
		CapDrop      []string                    `json:"CapDrop"`
		PidMode      string                      `json:"PidMode"`
		IpcMode      string                      `json:"IpcMode"`
		UTSMode      string                      `json:"UTSMode"`
		SecurityOpt  []string                    `json:"SecurityOpt"`
		PortBindings map[string][]portBindingDoc `json:"PortBindings"`
		NanoCpus     int64                       `json:"NanoCpus"`
		CPUQuota     int64                       `json:"CpuQuota"`
		CPUPeriod    int64                       `json:"CpuPeriod"`
	} `json:"HostConfig"`
	Config struct {
		Image  string            `json:"Image"`
		Labels map[string]string `json:"Labels"`
		Env    []string          `json:"Env"` // secrets in the environment: findings only, never in the model
	} `json:"Config"`
	Mounts []struct {
		Type        string `json:"Type"`
		Source      string `json:"Source"`
		Destination string `json:"Destination"`
		RW          bool   `json:"RW"`
	} `json:"Mounts"`
	NetworkSettings struct {
		Ports    map[string][]portBindingDoc `json:"Ports"`
		Networks map[string]struct {
			NetworkID           string `json:"NetworkID"`
			Gateway             string `json:"Gateway"`
			IPAddress           string `json:"IPAddress"`
			IPPrefixLen         int    `json:"IPPrefixLen"`
			IPv6Gateway         string `json:"IPv6Gateway"`
			GlobalIPv6Address   string `json:"GlobalIPv6Address"`
			GlobalIPv6PrefixLen int    `json:"GlobalIPv6PrefixLen"`
			MacAddress          string `json:"MacAddress"`
		} `json:"Networks"`
	} `json:"NetworkSettings"`
}

func decodeInspect(data []byte) (*Inspect, error) {
	var d Inspect
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// dockerTime parses the engine's RFC 3339 times; its zero
// ("0001-01-01T00:00:00Z") stays the zero time.
func dockerTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}

// loadEngine names the engine from its version answer; a bundle without
// it is taken as Docker's, as before engines were told apart.
func (l *loader) loadEngine() {
	l.h.Engine = EngineDocker
	data, err := l.src.ReadMember(MemberVersion, maxVersionJSONBytes)
	if err != nil {
		return
	}
	var v struct {
		Components []struct {
			Name string `json:"Name"`
		} `json:"Components"`
	}
	if json.Unmarshal(data, &v) != nil {
		return
	}
	for _, c := range v.Components {
		if strings.Contains(strings.ToLower(c.Name), "podman") {
			l.h.Engine = EnginePodman
		}
	}
	if l.h.Engine != EnginePodman {
		return
	}
	if data, ok := l.read(MemberPodmanInfo, maxVersionJSONBytes, "Podman's network backend"); ok {
		var info struct {
			Host struct {
				NetworkBackend string `json:"networkBackend"`
			} `json:"host"`
		}
		if err := json.Unmarshal(data, &info); err != nil {
			l.missing("%s: %v: Podman's network backend unknown", MemberPodmanInfo, err)
		}
		l.h.NetworkBackend = info.Host.NetworkBackend
	}
}

type podmanNetworkDoc struct {
	Name             string `json:"name"`
	ID               string `json:"id"`
	Driver           string `json:"driver"`
	NetworkInterface string `json:"network_interface"`
}

// podmanBridges names the bridges of a Podman host's bridge networks: from
// Podman's own network list, else the host's bridge that holds the
// network's gateway address; a bridge neither names is listed as unknown,
// never made up from the id as Docker's br-<id> would be.
func (l *loader) podmanBridges() {
	var docs []podmanNetworkDoc
	if data, ok := l.read(MemberPodmanNetworks, maxDockerListJSONBytes, "Podman's network bridges"); ok {
		if err := json.Unmarshal(data, &docs); err != nil {
			l.missing("%s: %v: Podman's network bridges unknown", MemberPodmanNetworks, err)
		}
	}
	for _, n := range l.h.Networks {
		if n.Driver != "bridge" || n.Bridge != "" {
			continue
		}
		for i, d := range docs {
			if d.NetworkInterface != "" && ((d.ID != "" && d.ID == n.ID) || (d.ID == "" && d.Name == n.Name)) {
				n.Bridge = d.NetworkInterface
				ev := l.ev(MemberPodmanNetworks, JSONPointer(strconv.Itoa(i), "network_interface"))
				n.BridgeEvidence = &ev
			}
		}
		if n.Bridge == "" && l.h.HostNS != nil {
			for _, link := range l.h.HostNS.Links {
				if link.Kind != "bridge" {
					continue
				}
				for _, a := range link.Addrs {
					if slices.Contains(n.Gateways, a.Addr()) {
						n.Bridge = link.Name
						ev := link.AddrEvidence(a.Addr())
						if len(ev) > 0 {
							n.BridgeEvidence = &ev[0]
						}
					}
				}
			}
		}
		if n.Bridge == "" {
			l.missing("network %q (Podman%s): its bridge is named neither by %s nor by a host bridge holding its gateway: paths through it unknown", n.Name, backendText(l.h.NetworkBackend), MemberPodmanNetworks)
		}
	}
}

func backendText(b string) string {
	if b == "" {
		return ""
	}
	return ", " + b
}

func (l *loader) loadDocker() {
	l.loadEngine()
	if data, ok := l.read(MemberNetworks, maxDockerListJSONBytes, "networks (subnets, bridges)"); ok {
		docs, err := decodeNetworks(data)
		if err != nil {
			l.missing("%s: %v: networks unknown", MemberNetworks, err)
		}
		for i, d := range docs {
			l.h.Networks = append(l.h.Networks, l.network(i, d))
		}
	}
	sort.Slice(l.h.Networks, func(i, j int) bool { return l.h.Networks[i].Name < l.h.Networks[j].Name })
	if l.h.Engine == EnginePodman {
		l.podmanBridges()
	}

	var list []containerListDoc
	if data, ok := l.read(MemberContainers, maxDockerListJSONBytes, "the list of containers"); ok {
		var err error
		if list, err = decodeContainerList(data); err != nil {
			l.missing("%s: %v: the list of containers unknown", MemberContainers, err)
		}
	}
	// Inspect members the list does not name (a list that failed) are read
	// too: the members are what the bundle holds.
	listed := len(list)
	ids := map[string]bool{}
	for _, c := range list {
		ids[c.ID] = true
	}
	for _, m := range l.src.Members() {
		if strings.HasPrefix(m, "docker/containers/") && strings.HasSuffix(m, "/inspect.json") {
			id := strings.TrimSuffix(strings.TrimPrefix(m, "docker/containers/"), "/inspect.json")
			if !strings.Contains(id, "/") && !ids[id] {
				ids[id] = true
				list = append(list, containerListDoc{ID: id})
			}
		}
	}
	if len(list) > maxLoadContainers {
		l.missing("%d containers: only the first %d are modelled", len(list), maxLoadContainers)
		list = list[:maxLoadContainers]
	}
	for idx, c := range list {
		if c.ID == "" || strings.ContainsAny(c.ID, "/\\") || c.ID == "." || c.ID == ".." {
			continue
		}
		ct := &Container{ID: c.ID, Name: c.Name, Image: c.Image, State: c.State, Pid: c.Pid, Endpoints: []Endpoint{}, Ports: []PortBinding{}, Mounts: []Mount{}, Evidence: []Evidence{}}
		if idx < listed {
			ct.Evidence = append(ct.Evidence, l.ev(MemberContainers, IndexPointer("", idx)))
		}
		l.inspect(ct)
		if _, dup := l.h.byID[ct.ID]; dup {
			continue
		}
		l.h.byID[ct.ID] = ct
		l.h.Containers = append(l.h.Containers, ct)
	}
	sort.Slice(l.h.Containers, func(i, j int) bool {
		a, b := l.h.Containers[i], l.h.Containers[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	l.joinEndpoints()
	for _, n := range l.h.Networks {
		for _, c := range l.h.Containers {
			for _, ep := range c.Endpoints {
				if ep.NetworkID == n.ID || (ep.NetworkID == "" && ep.Network == n.Name) {
					if !slices.Contains(n.Containers, c.ID) {
						n.Containers = append(n.Containers, c.ID)
					}
				}
			}
		}
		sort.Strings(n.Containers)
	}
}

// joinEndpoints gives each endpoint its network's id: Docker's inspect
// names the network by id, Podman's by name (NetworkID is the name), and an
// endpoint whose NetworkID is no network's id but exactly one network's name
// is that network.
func (l *loader) joinEndpoints() {
	ids := map[string]bool{}
	byName := map[string][]*Network{}
	for _, n := range l.h.Networks {
		ids[n.ID] = true
		byName[n.Name] = append(byName[n.Name], n)
	}
	for _, c := range l.h.Containers {
		for i := range c.Endpoints {
			ep := &c.Endpoints[i]
			ref := ep.NetworkID
			if ref == "" {
				ref = ep.Network
			}
			if ids[ref] {
				continue
			}
			if ns := byName[ref]; len(ns) == 1 {
				ep.NetworkID = ns[0].ID
			}
		}
	}
}

func (l *loader) network(i int, d networkDoc) *Network {
	n := &Network{ID: d.ID, Name: d.Name, Driver: d.Driver, Scope: d.Scope, Internal: d.Internal, EnableIPv6: d.EnableIPv6,
		Subnets: []netip.Prefix{}, Gateways: []netip.Addr{}, Containers: []string{}, Evidence: l.ev(MemberNetworks, IndexPointer("", i))}
	for _, c := range d.IPAM.Config {
		if p, err := netip.ParsePrefix(c.Subnet); err == nil {
			n.Subnets = append(n.Subnets, p.Masked())
		}
		if g, err := netip.ParseAddr(c.Gateway); err == nil {
			n.Gateways = append(n.Gateways, g)
		}
	}
	switch d.Driver {
	case "bridge":
		n.Bridge = d.Options["com.docker.network.bridge.name"]
		if n.Bridge == "" && len(d.ID) >= 12 && l.h.Engine != EnginePodman {
			n.Bridge = "br-" + d.ID[:12]
		}
		if v, ok := d.Options["com.docker.network.bridge.enable_ip_masquerade"]; ok {
			b := v == "true"
			n.Masquerade = &b
		}
	case "macvlan", "ipvlan":
		n.Parent = d.Options["parent"]
	}
	return n
}

func (l *loader) inspect(ct *Container) {
	l.inspectMember(ct, "docker/containers/"+ct.ID+"/inspect.json")
}

// inspectMember reads the container's inspect from member.
func (l *loader) inspectMember(ct *Container, member string) {
	data, ok := l.read(member, maxInspectJSONBytes, fmt.Sprintf("configuration and addresses of container %s", ShortID(ct.ID)))
	if !ok {
		ct.Unknown = append(ct.Unknown, "inspect is not in the bundle: endpoints, ports and mounts unknown")
		return
	}
	d, err := decodeInspect(data)
	if err != nil {
		ct.InspectErr = err
		l.missing("%s: %v: configuration of container %s unknown", member, err, ShortID(ct.ID))
		ct.Unknown = append(ct.Unknown, "inspect could not be decoded")
		return
	}
	ct.inspected = true
	ct.Inspect = d
	ct.Evidence = append(ct.Evidence, l.ev(member, ""))
	if d.Name != "" {
		ct.Name = strings.TrimPrefix(d.Name, "/")
	}
	ct.Names = []string{ct.Name}
	if d.Config.Image != "" {
		ct.Image = d.Config.Image
	}
	ct.ImageID = d.Image
	if d.State.Status != "" {
		ct.State = d.State.Status
	}
	ct.Pid = d.State.Pid
	ct.Created = dockerTime(d.Created)
	ct.StartedAt = dockerTime(d.State.StartedAt)
	ct.FinishedAt = dockerTime(d.State.FinishedAt)
	ct.NetworkMode = d.HostConfig.NetworkMode
	ct.Labels = d.Config.Labels
	if target, ok := strings.CutPrefix(ct.NetworkMode, "container:"); ok {
		ct.SharesWith = target
	}
	ct.Privileges = Privileges{Privileged: d.HostConfig.Privileged, CapAdd: d.HostConfig.CapAdd, CapDrop: d.HostConfig.CapDrop,
		PidMode: d.HostConfig.PidMode, IpcMode: d.HostConfig.IpcMode, UTSMode: d.HostConfig.UTSMode, SecurityOpt: d.HostConfig.SecurityOpt}
	for _, m := range d.Mounts {
		ct.Mounts = append(ct.Mounts, Mount{Type: m.Type, Source: m.Source, Destination: m.Destination, RW: m.RW})
	}
	names := make([]string, 0, len(d.NetworkSettings.Networks))
	for name := range d.NetworkSettings.Networks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := d.NetworkSettings.Networks[name]
		ep := Endpoint{Network: name, NetworkID: n.NetworkID, PrefixLen: n.IPPrefixLen, IPv6Len: n.GlobalIPv6PrefixLen,
			MAC: strings.ToLower(n.MacAddress), Evidence: l.ev(member, JSONPointer("NetworkSettings", "Networks", name))}
		ep.IP, _ = netip.ParseAddr(n.IPAddress)
		ep.Gateway, _ = netip.ParseAddr(n.Gateway)
		ep.IPv6, _ = netip.ParseAddr(n.GlobalIPv6Address)
		ep.GatewayV6, _ = netip.ParseAddr(n.IPv6Gateway)
		ep.Evidence.Text = name + " " + n.IPAddress
		ct.Endpoints = append(ct.Endpoints, ep)
	}
	// Published ports: the bindings in effect (NetworkSettings.Ports) for a
	// running container, the configured ones otherwise.
	ports, where := d.NetworkSettings.Ports, "NetworkSettings"
	if len(ports) == 0 {
		ports, where = d.HostConfig.PortBindings, "HostConfig"
	}
	keys := make([]string, 0, len(ports))
	for k := range ports {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		portText, proto, _ := strings.Cut(k, "/")
		if proto == "" {
			proto = "tcp"
		}
		cport, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			continue
		}
		for i, b := range ports[k] {
			pb := PortBinding{ContainerPort: uint16(cport), Proto: proto, HostIP: b.HostIP,
				Evidence: l.ev(member, JSONPointer(where, map[bool]string{true: "Ports", false: "PortBindings"}[where == "NetworkSettings"], k)+"/"+strconv.Itoa(i))}
			if hp, err := strconv.ParseUint(b.HostPort, 10, 16); err == nil {
				pb.HostPort = uint16(hp)
			}
			pb.Evidence.Text = fmt.Sprintf("%s:%s -> %s", b.HostIP, b.HostPort, k)
			ct.Ports = append(ct.Ports, pb)
		}
	}
}

// ShortID is the 12-character form of a container or network id that
// docker prints.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// attachContainers ties each container to its namespace, resolves
// container:<id> modes, and notes what cannot be known.
func (l *loader) attachContainers() {
	h := l.h
	for _, ns := range h.Namespaces {
		for _, id := range ns.Containers {
			if c := h.byID[id]; c != nil && c.NetNS == 0 {
				c.NetNS = ns.Inode
			}
		}
	}
	for _, c := range h.Containers {
		if c.SharesWith != "" {
			if t, ok := h.Container(c.SharesWith); ok {
				c.SharesWith = t.ID
				if c.NetNS == 0 {
					c.NetNS = t.NetNS
				}
			}
		}
		if c.NetNS == 0 && c.Running() {
			for _, p := range h.Processes {
				if p.PID == c.Pid && p.NetNS != 0 {
					c.NetNS = p.NetNS
				}
			}
		}
	}
	if h.Engine == EnginePodman && len(h.Processes) > 0 {
		// The collector ties processes to containers by their cgroup; a
		// running container with none tied is one whose cgroup it did not
		// recognise.
		tied := map[string]bool{}
		for _, p := range h.Processes {
			tied[p.ContainerID] = true
		}
		for _, c := range h.Containers {
			if c.Running() && !tied[c.ID] {
				l.missing("container %s (Podman): running, but no process in %s is tied to it: its processes and their sockets are not attributed", c.Name, MemberProcesses)
			}
		}
	}
}

// --- processes, conntrack, events ---

type processDoc struct {
	PID        int       `json:"pid"`
	PPID       int       `json:"ppid"`
	Comm       string    `json:"comm"`
	Cmdline    []string  `json:"cmdline"`
	Exe        string    `json:"exe"`
	StartTime  time.Time `json:"start_time"`
	Namespaces struct {
		Net uint64 `json:"net"`
	} `json:"namespaces"`
	ContainerID string `json:"container_id"`
	ExeDeleted  bool   `json:"exe_deleted"`
}

func decodeProcesses(data []byte) ([]processDoc, error) {
	var d []processDoc
	err := json.Unmarshal(data, &d)
	return d, err
}

func (l *loader) loadProcesses() {
	data, ok := l.read(MemberProcesses, maxProcessesJSONBytes, "processes (attribution of host-network containers)")
	if !ok {
		return
	}
	docs, err := decodeProcesses(data)
	if err != nil {
		l.missing("%s: %v: processes unknown", MemberProcesses, err)
	}
	for i, d := range docs {
		l.h.Processes = append(l.h.Processes, HostProcess{PID: d.PID, PPID: d.PPID, Comm: d.Comm, Cmdline: d.Cmdline, Exe: d.Exe,
			StartTime: d.StartTime.UTC(), NetNS: d.Namespaces.Net, ContainerID: d.ContainerID,
			ExeDeleted: d.ExeDeleted, Evidence: l.ev(MemberProcesses, IndexPointer("", i))})
	}
}

type conntrackDoc struct {
	Source    string `json:"source"`
	Truncated bool   `json:"truncated"`
	Entries   []struct {
		Family   string `json:"family"`
		Proto    string `json:"proto"`
		Original struct {
			Src   string `json:"src"`
			Dst   string `json:"dst"`
			SPort uint16 `json:"sport"`
			DPort uint16 `json:"dport"`
		} `json:"original"`
		Reply struct {
			Src   string `json:"src"`
			Dst   string `json:"dst"`
			SPort uint16 `json:"sport"`
			DPort uint16 `json:"dport"`
		} `json:"reply"`
		State          string     `json:"state"`
		Status         []string   `json:"status"`
		TimeoutSeconds uint32     `json:"timeout_s"`
		Start          *time.Time `json:"start"`
		DeltaTime      *uint64    `json:"delta_time_s"`
	} `json:"entries"`
}

func decodeConntrack(data []byte) (*conntrackDoc, error) {
	var d conntrackDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

func (l *loader) loadConntrack() {
	data, ok := l.read(MemberConntrack, maxConntrackJSONBytes, "the conntrack table (reversal of NAT)")
	if !ok {
		return
	}
	d, err := decodeConntrack(data)
	if err != nil {
		l.missing("%s: %v: conntrack unknown", MemberConntrack, err)
		return
	}
	if d.Truncated {
		l.missing("%s: truncated by the collector: some flows are not in the snapshot", MemberConntrack)
	}
	for i, e := range d.Entries {
		l.h.Conntrack = append(l.h.Conntrack, ConntrackFlow{Family: e.Family, Proto: e.Proto,
			OrigSrc: e.Original.Src, OrigDst: e.Original.Dst, OrigSPort: e.Original.SPort, OrigDPort: e.Original.DPort,
			ReplySrc: e.Reply.Src, ReplyDst: e.Reply.Dst, ReplySPort: e.Reply.SPort, ReplyDPort: e.Reply.DPort,
			State: e.State, Status: e.Status, Evidence: l.ev(MemberConntrack, IndexPointer("/entries", i)),
			TimeoutSeconds: e.TimeoutSeconds, Start: e.Start})
		l.ctDelta = append(l.ctDelta, e.DeltaTime)
	}
}

// EngineEvent is one line of docker/events.jsonl, every type and action:
// the model's DockerEvents keep only those that move addresses, the
// timeline shows them all.
type EngineEvent struct {
	// Member is the member the event is a line of: docker/events.jsonl,
	// or capture/docker-events.jsonl for the capture window's.
	Member string
	// Line is the event's 1-based line in the member.
	Line         int
	Time         time.Time
	Type, Action string
	Actor        string
	Attributes   map[string]string
}

type eventDoc struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
	Time     int64 `json:"time"`
	TimeNano int64 `json:"timeNano"`
}

// decodeEvents decodes events.jsonl (and the capture window's events), one
// event a line, with the number of each event's line; a malformed line is
// skipped, its line and error in bad.
func decodeEvents(data []byte) (events []eventDoc, lines []int, bad []string) {
	n := 0
	for len(data) > 0 {
		n++
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e eventDoc
		if err := json.Unmarshal(line, &e); err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", n, err))
			continue
		}
		events = append(events, e)
		lines = append(lines, n)
	}
	return events, lines, bad
}

func (l *loader) loadEvents() {
	data, ok := l.read(MemberEvents, maxEventsBytes, "address history before the collection (only current addresses are known)")
	if !ok {
		return
	}
	docs, lines, bad := decodeEvents(data)
	if len(bad) > 0 {
		l.missing("%s: %d malformed lines skipped", MemberEvents, len(bad))
	}
	l.h.EngineEvents = make([]EngineEvent, len(docs))
	for i, d := range docs {
		at := time.Unix(0, d.TimeNano).UTC()
		if d.TimeNano == 0 {
			at = time.Unix(d.Time, 0).UTC()
		}
		l.h.EngineEvents[i] = EngineEvent{Member: MemberEvents, Line: lines[i], Time: at, Type: d.Type, Action: d.Action, Actor: d.Actor.ID, Attributes: d.Actor.Attributes}
	}
	for i, d := range docs {
		if !(d.Type == "container" && (d.Action == "start" || d.Action == "die" || d.Action == "destroy")) &&
			!(d.Type == "network" && (d.Action == "connect" || d.Action == "disconnect")) {
			continue
		}
		t := time.Unix(0, d.TimeNano).UTC()
		if d.TimeNano == 0 {
			t = time.Unix(d.Time, 0).UTC()
		}
		e := DockerEvent{Time: t, Type: d.Type, Action: d.Action, Actor: d.Actor.ID, Name: d.Actor.Attributes["name"],
			Evidence: Evidence{Member: MemberEvents, SHA256: l.src.SHA256(MemberEvents), Line: lines[i], Text: d.Type + " " + d.Action}}
		if d.Type == "container" {
			e.Container = d.Actor.ID
		} else {
			e.Container = d.Actor.Attributes["container"]
		}
		l.h.Events = append(l.h.Events, e)
	}
	sort.SliceStable(l.h.Events, func(i, j int) bool { return l.h.Events[i].Time.Before(l.h.Events[j].Time) })
}

// --- firewall ---

func (l *loader) loadFirewall() {
	parse := func(member string, v6 bool) (*firewall.Ruleset, *Evidence) {
		data, err := l.src.ReadMember(member, maxFirewallTextBytes)
		if err != nil {
			return nil, nil
		}
		rs, err := firewall.ParseIPTablesSave(bytes.NewReader(data))
		if err != nil {
			var re *firewall.RulesetError
			if !errors.As(err, &re) || rs == nil {
				l.missing("%s: %v: NAT and forwarding rules unknown", member, err)
				return nil, nil
			}
			l.missing("%s: %d lines could not be parsed (first: %s)", member, re.Count, re.First.Error())
		}
		e := l.ev(member, "")
		return rs, &e
	}
	l.h.Firewall4, l.h.Firewall4Evidence = parse(MemberIPTables, false)
	l.h.Firewall6, l.h.Firewall6Evidence = parse(MemberIP6Tables, true)
	if data, err := l.src.ReadMember(MemberNft, maxFirewallTextBytes); err == nil && len(bytes.TrimSpace(data)) > 0 {
		rs, err := firewall.ParseNftJSON(bytes.NewReader(data))
		var re *firewall.RulesetError
		switch {
		case err == nil || (errors.As(err, &re) && rs != nil):
			l.h.Nft = rs
			// With Docker's nftables backend the rules that matter are in
			// the nft document; iptables-save shows none of them.
			e := l.ev(MemberNft, "")
			l.h.NftEvidence = &e
			if rs.Layout() == firewall.LayoutNftables {
				l.h.Firewall4, l.h.Firewall4Evidence = rs, &e
				l.h.Firewall6, l.h.Firewall6Evidence = rs, &e
			} else if nv := rs.Netavark(); nv != nil {
				// netavark's nftables driver: its tables see the packets
				// beside iptables' (or alone); each rule cites its member
				// by its reference (line or JSON path).
				l.h.Firewall4 = firewall.Merge(l.h.Firewall4, nv)
				l.h.Firewall6 = firewall.Merge(l.h.Firewall6, nv)
				if l.h.Firewall4Evidence == nil {
					l.h.Firewall4Evidence = &e
				}
				if l.h.Firewall6Evidence == nil {
					l.h.Firewall6Evidence = &e
				}
			}
		default:
			l.missing("%s: %v", MemberNft, err)
		}
	}
	if l.h.Firewall4 == nil {
		l.missing("%s: not in the bundle: NAT and forwarding of IPv4 unknown", MemberIPTables)
	}
}
