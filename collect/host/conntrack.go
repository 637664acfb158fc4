package host

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

const (
	// ctMaxEntries bounds the entries kept from one table: the kernel's
	// nf_conntrack_max is 262144 on large hosts, and a table four times that
	// would already cost hundreds of MiB of collector memory.
	ctMaxEntries = 1 << 20
	// ctMaxLineBytes bounds one line of /proc/net/nf_conntrack: the longest
	// real line (IPv6, both counters, secctx, zones, delta-time) is under
	// 600 bytes.
	ctMaxLineBytes = 4 << 10 // 4 KiB
	// ctMaxLineErrors bounds how many malformed lines are described in the
	// error; the rest are only counted.
	ctMaxLineErrors = 10
	// ctMaxSysctlBytes bounds the read of one /proc/sys value (a number).
	ctMaxSysctlBytes = 64
	// ctMaxTokens bounds the fields of one /proc line; a real line has
	// fewer than 30.
	ctMaxTokens = 64

	ctProcPath   = "/proc/net/nf_conntrack"
	ctProcThread = "/proc/thread-self/net/nf_conntrack" // same file, in the calling thread's namespace
	ctSysctlDir  = "/proc/sys/net/netfilter/"
	ctSourceNL   = "netlink"
	ctSourceProc = ctProcPath
)

// ConntrackTable is the connection tracking table of the collector's network
// namespace (the host's, when collect runs on the host).
type ConntrackTable struct {
	Source  string           `json:"source"` // "netlink" or "/proc/net/nf_conntrack"
	Entries []ConntrackEntry `json:"entries"`
	// NetNSInode is the inode of the network namespace the table was read in,
	// so that an analyst can check it is the host's (same as NetNS.Inode of PID 1).
	NetNSInode uint64 `json:"netns_inode,omitempty"`
	// Accounting is net.netfilter.nf_conntrack_acct: packet and byte counters
	// exist only for flows created while it was on.
	Accounting bool `json:"accounting"`
	// Timestamps is net.netfilter.nf_conntrack_timestamp: flow start times
	// exist only for flows created while it was on.
	Timestamps bool `json:"timestamps"`
	// Count and Max are nf_conntrack_count and nf_conntrack_max at collection.
	Count int64 `json:"count"`
	Max   int64 `json:"max"`
	// Truncated is set when the table held more than the collector keeps.
	Truncated bool `json:"truncated,omitempty"`
}

// ConntrackEntry is one tracked flow. Original is the tuple of the first
// packet as the kernel saw it; Reply is the tuple replies are expected on,
// so NAT shows as Reply not being Original reversed.
type ConntrackEntry struct {
	Family   string `json:"family"` // "ipv4" or "ipv6"
	Proto    string `json:"proto"`  // kernel name: tcp, udp, icmp, icmpv6, sctp, …; "unknown" for untracked protocols
	ProtoNum uint8  `json:"proto_num"`

	Original ConntrackTuple  `json:"original"`
	Reply    ConntrackTuple  `json:"reply"`
	Master   *ConntrackTuple `json:"master,omitempty"` // the flow that expected this one (helpers: ftp, sip …)

	// State is the protocol state (tcp, sctp, dccp), e.g. ESTABLISHED.
	State string `json:"state,omitempty"`
	// Status holds the status bits by name (ASSURED, SEEN_REPLY, SRC_NAT …).
	// From /proc only SEEN_REPLY (absence of [UNREPLIED]), ASSURED, OFFLOAD
	// and HW_OFFLOAD can be known; StatusBits is then zero.
	Status     []string `json:"status"`
	StatusBits uint32   `json:"status_bits,omitempty"`

	TimeoutSeconds uint32 `json:"timeout_s"`

	// CountersOrig and CountersReply are nil when accounting was off for
	// the flow (over netlink also when all four numbers are zero, which the
	// library cannot tell apart from absent counters).
	CountersOrig  *ConntrackCounters `json:"counters_orig,omitempty"`
	CountersReply *ConntrackCounters `json:"counters_reply,omitempty"`

	Zone uint16 `json:"zone"`
	Mark uint32 `json:"mark"`
	// ID is the kernel's flow id (netlink only).
	ID  uint32 `json:"id,omitempty"`
	Use uint32 `json:"use,omitempty"`

	// Start is when the flow was created (nf_conntrack_timestamp on, netlink).
	Start *time.Time `json:"start,omitempty"`
	// DeltaTimeSeconds is the flow's age as /proc prints it with timestamps on.
	DeltaTimeSeconds *uint64 `json:"delta_time_s,omitempty"`

	Helper  string `json:"helper,omitempty"`
	Labels  string `json:"labels,omitempty"` // hex of the connlabel bitmap
	SecCtx  string `json:"secctx,omitempty"`
	Unknown string `json:"unknown,omitempty"` // /proc fields this parser does not know, verbatim
}

// ConntrackTuple is one direction of a flow.
type ConntrackTuple struct {
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	SrcPort uint16 `json:"sport"`
	DstPort uint16 `json:"dport"`
	// ICMP is set for icmp and icmpv6 flows.
	ICMP *ConntrackICMP `json:"icmp,omitempty"`
	// Zone is a direction-specific zone (zone-orig=, zone-reply=), when set.
	Zone *uint16 `json:"zone,omitempty"`
}

// ConntrackICMP is the ICMP part of a tuple.
type ConntrackICMP struct {
	Type uint8  `json:"type"`
	Code uint8  `json:"code"`
	ID   uint16 `json:"id"`
}

// ConntrackCounters are the packets and bytes of one direction.
type ConntrackCounters struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// ctProtoNames are the kernel's l4proto names (l4proto_name in
// net/netfilter/nf_conntrack_standalone.c); others print as "unknown".
var ctProtoNames = map[uint8]string{
	1:   "icmp",
	6:   "tcp",
	17:  "udp",
	33:  "dccp",
	47:  "gre",
	58:  "icmpv6",
	132: "sctp",
	136: "udplite",
}

// ctStatusNames are the ip_conntrack_status bits by position
// (include/uapi/linux/netfilter/nf_conntrack_common.h).
var ctStatusNames = []string{
	"EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT",
	"SEQ_ADJUST", "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT",
	"TEMPLATE", "NAT_CLASH", "HELPER", "OFFLOAD", "HW_OFFLOAD",
}

// ctTCPStates, ctSCTPStates and ctDCCPStates are the kernel's state names
// by number, as /proc/net/nf_conntrack prints them.
var (
	ctTCPStates = []string{"NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
		"CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"}
	ctSCTPStates = []string{"NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED",
		"SHUTDOWN_SENT", "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED"}
	ctDCCPStates = []string{"NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ",
		"CLOSING", "TIMEWAIT", "IGNORE", "INVALID"}
)

// ReadConntrack dumps the conntrack table (IPv4 and IPv6) of the calling
// thread's network namespace (the host's, for the collector) over netlink,
// and falls back to parsing /proc/net/nf_conntrack when netlink fails. It
// only reads: no counter is zeroed and no sysctl is changed. The returned
// error describes what could not be read, including a netlink failure that
// the fallback covered.
func ReadConntrack() (ConntrackTable, error) {
	return ctRead(ctDumpNetlink)
}

// ctRead is ReadConntrack with the netlink dump passed in, so that a test
// can make it fail and exercise the /proc fallback.
func ctRead(dump func() ([]ConntrackEntry, error)) (ConntrackTable, error) {
	// Netlink sockets, /proc/sys/net and /proc/thread-self/net all follow
	// the calling thread's namespace; pinning the goroutine to one thread
	// keeps every part of the table from the same namespace.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var t ConntrackTable
	var errs []error

	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err == nil {
		t.NetNSInode = st.Ino
	} else {
		errs = append(errs, fmt.Errorf("stat own netns: %w", err))
	}
	var err error
	if t.Accounting, err = ctSysctlBool("nf_conntrack_acct"); err != nil {
		errs = append(errs, err)
	}
	if t.Timestamps, err = ctSysctlBool("nf_conntrack_timestamp"); err != nil {
		errs = append(errs, err)
	}
	if t.Count, err = ctSysctlInt("nf_conntrack_count"); err != nil {
		errs = append(errs, err)
	}
	if t.Max, err = ctSysctlInt("nf_conntrack_max"); err != nil {
		errs = append(errs, err)
	}

	entries, nlErr := dump()
	if nlErr == nil {
		t.Source = ctSourceNL
		t.Entries = entries
		if len(t.Entries) > ctMaxEntries {
			t.Entries = t.Entries[:ctMaxEntries]
			t.Truncated = true
			errs = append(errs, fmt.Errorf("conntrack: table truncated to %d entries", ctMaxEntries))
		}
		return t, errors.Join(errs...)
	}
	errs = append(errs, fmt.Errorf("conntrack netlink dump (fell back to %s): %w", ctProcPath, nlErr))

	t.Source = ctSourceProc
	f, err := os.Open(ctProcThread)
	if err != nil {
		errs = append(errs, fmt.Errorf("conntrack: %w", err))
		t.Entries = []ConntrackEntry{}
		return t, errors.Join(errs...)
	}
	defer f.Close()
	t.Entries, err = ParseProcConntrack(f)
	if err != nil {
		errs = append(errs, fmt.Errorf("parse %s: %w", ctProcPath, err))
		t.Truncated = errors.Is(err, errCtTooManyEntries)
	}
	return t, errors.Join(errs...)
}

func ctDumpNetlink() ([]ConntrackEntry, error) {
	c, err := conntrack.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	// Dump (not DumpOptions.ZeroCounters) sends IPCTNL_MSG_CT_GET with
	// family AF_UNSPEC: both IPv4 and IPv6, counters left as they are.
	flows, err := c.Dump(nil)
	if err != nil {
		return nil, fmt.Errorf("dump: %w", err)
	}
	entries := make([]ConntrackEntry, 0, len(flows))
	for i := range flows {
		entries = append(entries, ConntrackEntryFromFlow(&flows[i]))
	}
	return entries, nil
}

func ConntrackEntryFromFlow(f *conntrack.Flow) ConntrackEntry {
	e := ConntrackEntry{
		Family:         "ipv4",
		ProtoNum:       f.TupleOrig.Proto.Protocol,
		Original:       ctFromTuple(f.TupleOrig),
		Reply:          ctFromTuple(f.TupleReply),
		Status:         ctStatusList(uint32(f.Status)),
		StatusBits:     uint32(f.Status),
		TimeoutSeconds: f.Timeout,
		Zone:           f.Zone,
		Mark:           f.Mark,
		ID:             f.ID,
		Use:            f.Use,
		Helper:         f.Helper.Name,
		SecCtx:         string(f.SecurityContext),
	}
	if !f.TupleOrig.IP.SourceAddress.Is4() {
		e.Family = "ipv6"
	}
	e.Proto = ctProtoName(e.ProtoNum)
	if f.TupleMaster.IP.SourceAddress.IsValid() {
		m := ctFromTuple(f.TupleMaster)
		e.Master = &m
	}
	switch {
	case f.ProtoInfo.TCP != nil:
		e.State = ctStateName(ctTCPStates, f.ProtoInfo.TCP.State)
	case f.ProtoInfo.SCTP != nil:
		e.State = ctStateName(ctSCTPStates, f.ProtoInfo.SCTP.State)
	case f.ProtoInfo.DCCP != nil:
		e.State = ctStateName(ctDCCPStates, f.ProtoInfo.DCCP.State)
	}
	// The kernel sends CTA_COUNTERS_* only when accounting is attached to
	// the flow; a zero value then still means "counted, nothing seen".
	if f.CountersOrig.Packets != 0 || f.CountersOrig.Bytes != 0 ||
		f.CountersReply.Packets != 0 || f.CountersReply.Bytes != 0 {
		e.CountersOrig = &ConntrackCounters{Packets: f.CountersOrig.Packets, Bytes: f.CountersOrig.Bytes}
		e.CountersReply = &ConntrackCounters{Packets: f.CountersReply.Packets, Bytes: f.CountersReply.Bytes}
	}
	if !f.Timestamp.Start.IsZero() {
		s := f.Timestamp.Start.UTC()
		e.Start = &s
	}
	if len(f.Labels) > 0 && !ctAllZero(f.Labels) {
		e.Labels = hex.EncodeToString(f.Labels)
	}
	return e
}

func ctAllZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func ctFromTuple(t conntrack.Tuple) ConntrackTuple {
	ct := ConntrackTuple{
		Src:     ctAddrString(t.IP.SourceAddress),
		Dst:     ctAddrString(t.IP.DestinationAddress),
		SrcPort: t.Proto.SourcePort,
		DstPort: t.Proto.DestinationPort,
	}
	if t.Proto.ICMPv4 || t.Proto.ICMPv6 {
		ct.ICMP = &ConntrackICMP{Type: t.Proto.ICMPType, Code: t.Proto.ICMPCode, ID: t.Proto.ICMPID}
	}
	if t.Zone != 0 {
		z := t.Zone
		ct.Zone = &z
	}
	return ct
}

func ctAddrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func ctProtoName(n uint8) string {
	if name, ok := ctProtoNames[n]; ok {
		return name
	}
	return "unknown"
}

func ctStateName(names []string, s uint8) string {
	if int(s) < len(names) {
		return names[s]
	}
	return "STATE_" + strconv.Itoa(int(s))
}

func ctStatusList(bits uint32) []string {
	out := []string{}
	for i := 0; i < 32; i++ {
		if bits&(1<<i) == 0 {
			continue
		}
		if i < len(ctStatusNames) {
			out = append(out, ctStatusNames[i])
		} else {
			out = append(out, "BIT_"+strconv.Itoa(i))
		}
	}
	return out
}

// ctSysctlReadIn reads the setting name of the sysctl directory dir (ending
// in a slash).
func ctSysctlReadIn(dir, name string) (string, error) {
	f, err := os.Open(dir + name)
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, ctMaxSysctlBytes+1))
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", name, err)
	}
	if len(b) > ctMaxSysctlBytes {
		return "", fmt.Errorf("read sysctl %s: longer than %d bytes", name, ctMaxSysctlBytes)
	}
	return strings.TrimSpace(string(b)), nil
}

func ctSysctlInt(name string) (int64, error) { return ctSysctlIntIn(ctSysctlDir, name) }

func ctSysctlIntIn(dir, name string) (int64, error) {
	s, err := ctSysctlReadIn(dir, name)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("sysctl %s: %w", name, err)
	}
	return v, nil
}

func ctSysctlBool(name string) (bool, error) {
	v, err := ctSysctlInt(name)
	return v != 0, err
}

// errCtTooManyEntries marks a /proc table cut at the entry limit.
var errCtTooManyEntries = errors.New("too many entries")

// ParseProcConntrack parses the text of /proc/net/nf_conntrack. Malformed
// lines are skipped and described in the returned error, which also reports
// a table cut at the entry limit; the entries that parsed are returned
// either way.
func ParseProcConntrack(r io.Reader) ([]ConntrackEntry, error) {
	return ctParseProc(r, ctMaxEntries)
}

// ctParseProc is ParseProcConntrack with the entry limit as a parameter, so
// that a test can reach it without a million-line table.
func ctParseProc(r io.Reader, maxEntries int) ([]ConntrackEntry, error) {
	entries := []ConntrackEntry{}
	var errs []error
	bad := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, ctMaxLineBytes), ctMaxLineBytes)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(entries) >= maxEntries {
			errs = append(errs, fmt.Errorf("%w (%d)", errCtTooManyEntries, maxEntries))
			break
		}
		e, err := ctParseLine(line)
		if err != nil {
			bad++
			if bad <= ctMaxLineErrors {
				errs = append(errs, fmt.Errorf("line %d: %w", lineNo, err))
			}
			continue
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("line %d: %w", lineNo+1, err))
	}
	if bad > ctMaxLineErrors {
		errs = append(errs, fmt.Errorf("%d more malformed lines", bad-ctMaxLineErrors))
	}
	return entries, errors.Join(errs...)
}

// ctParseLine parses one line as printed by ct_seq_show
// (net/netfilter/nf_conntrack_standalone.c):
//
//	l3name l3num l4name l4num [timeout] [state] orig-tuple [zone-orig=] [packets= bytes=]
//	[UNREPLIED] reply-tuple [zone-reply=] [packets= bytes=] [ASSURED|OFFLOAD|HW_OFFLOAD]
//	[mark=] [secctx=] [zone=] [delta-time=] use=
func ctParseLine(line string) (ConntrackEntry, error) {
	var e ConntrackEntry
	fields := strings.Fields(line)
	if len(fields) > ctMaxTokens {
		return e, fmt.Errorf("%d fields, more than %d", len(fields), ctMaxTokens)
	}
	if len(fields) < 6 {
		return e, fmt.Errorf("too few fields in %q", line)
	}
	switch fields[0] {
	case "ipv4", "ipv6":
		e.Family = fields[0]
	default:
		return e, fmt.Errorf("unknown family %q", fields[0])
	}
	l3num, err := strconv.ParseUint(fields[1], 10, 8)
	if err != nil {
		return e, fmt.Errorf("family number %q: %w", fields[1], err)
	}
	if (e.Family == "ipv4") != (l3num == 2) {
		return e, fmt.Errorf("family %q with number %d", e.Family, l3num)
	}
	e.Proto = fields[2]
	num, err := strconv.ParseUint(fields[3], 10, 8)
	if err != nil {
		return e, fmt.Errorf("protocol number %q: %w", fields[3], err)
	}
	e.ProtoNum = uint8(num)

	rest := fields[4:]
	// The timeout is absent for offloaded flows, the state for protocols
	// without one: both are the bare words before the first key=value.
	if len(rest) > 0 && !strings.Contains(rest[0], "=") && !strings.HasPrefix(rest[0], "[") {
		if v, err := strconv.ParseUint(rest[0], 10, 32); err == nil {
			e.TimeoutSeconds = uint32(v)
			rest = rest[1:]
		}
	}
	if len(rest) > 0 && !strings.Contains(rest[0], "=") && !strings.HasPrefix(rest[0], "[") {
		e.State = rest[0]
		rest = rest[1:]
	}

	const (
		inOrig = iota + 1
		inReply
	)
	phase := 0
	seenReply := true
	var assured, offload, hwOffload bool
	var unknown []string
	var counters *ConntrackCounters
	tuple := &e.Original
	for _, tok := range rest {
		if strings.HasPrefix(tok, "[") {
			switch tok {
			case "[UNREPLIED]":
				seenReply = false
			case "[ASSURED]":
				assured = true
			case "[OFFLOAD]":
				offload = true
			case "[HW_OFFLOAD]":
				hwOffload = true
			default:
				unknown = append(unknown, tok)
			}
			continue
		}
		key, val, ok := strings.Cut(tok, "=")
		if !ok {
			return e, fmt.Errorf("unexpected field %q", tok)
		}
		switch key {
		case "src":
			phase++
			switch phase {
			case inOrig:
				tuple = &e.Original
			case inReply:
				tuple = &e.Reply
			default:
				return e, fmt.Errorf("third tuple at %q", tok)
			}
			counters = nil
			a, err := ctParseAddr(val, e.Family)
			if err != nil {
				return e, err
			}
			tuple.Src = a
		case "dst":
			if phase == 0 {
				return e, fmt.Errorf("dst before src")
			}
			a, err := ctParseAddr(val, e.Family)
			if err != nil {
				return e, err
			}
			tuple.Dst = a
		case "sport", "dport":
			if phase == 0 {
				return e, fmt.Errorf("%s before src", key)
			}
			p, err := strconv.ParseUint(val, 10, 16)
			if err != nil {
				return e, fmt.Errorf("%s %q: %w", key, val, err)
			}
			if key == "sport" {
				tuple.SrcPort = uint16(p)
			} else {
				tuple.DstPort = uint16(p)
			}
		case "type", "code", "id":
			if phase == 0 {
				return e, fmt.Errorf("%s before src", key)
			}
			bits := 8
			if key == "id" {
				bits = 16
			}
			v, err := strconv.ParseUint(val, 10, bits)
			if err != nil {
				return e, fmt.Errorf("icmp %s %q: %w", key, val, err)
			}
			if tuple.ICMP == nil {
				tuple.ICMP = &ConntrackICMP{}
			}
			switch key {
			case "type":
				tuple.ICMP.Type = uint8(v)
			case "code":
				tuple.ICMP.Code = uint8(v)
			default:
				tuple.ICMP.ID = uint16(v)
			}
		case "zone-orig", "zone-reply":
			z, err := strconv.ParseUint(val, 10, 16)
			if err != nil {
				return e, fmt.Errorf("%s %q: %w", key, val, err)
			}
			z16 := uint16(z)
			if key == "zone-orig" {
				e.Original.Zone = &z16
			} else {
				e.Reply.Zone = &z16
			}
		case "packets", "bytes":
			v, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return e, fmt.Errorf("%s %q: %w", key, val, err)
			}
			if counters == nil {
				counters = &ConntrackCounters{}
				switch phase {
				case inOrig:
					e.CountersOrig = counters
				case inReply:
					e.CountersReply = counters
				default:
					return e, fmt.Errorf("%s outside a tuple", key)
				}
			}
			if key == "packets" {
				counters.Packets = v
			} else {
				counters.Bytes = v
			}
		case "mark":
			v, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return e, fmt.Errorf("mark %q: %w", val, err)
			}
			e.Mark = uint32(v)
		case "zone":
			v, err := strconv.ParseUint(val, 10, 16)
			if err != nil {
				return e, fmt.Errorf("zone %q: %w", val, err)
			}
			e.Zone = uint16(v)
		case "use":
			v, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return e, fmt.Errorf("use %q: %w", val, err)
			}
			e.Use = uint32(v)
		case "delta-time":
			v, err := strconv.ParseUint(val, 10, 64)
			if err != nil {
				return e, fmt.Errorf("delta-time %q: %w", val, err)
			}
			e.DeltaTimeSeconds = &v
		case "secctx":
			e.SecCtx = val
		default:
			// srckey/dstkey (gre) and fields of future kernels: keep them
			// verbatim rather than drop evidence.
			unknown = append(unknown, tok)
		}
	}
	if phase != inReply {
		return e, fmt.Errorf("%d tuples, want 2", phase)
	}
	if e.Original.Dst == "" || e.Reply.Dst == "" {
		return e, fmt.Errorf("tuple without dst")
	}

	e.Status = []string{}
	if seenReply {
		e.Status = append(e.Status, "SEEN_REPLY")
	}
	if assured {
		e.Status = append(e.Status, "ASSURED")
	}
	if offload {
		e.Status = append(e.Status, "OFFLOAD")
	}
	if hwOffload {
		e.Status = append(e.Status, "HW_OFFLOAD")
	}
	e.Unknown = strings.Join(unknown, " ")
	return e, nil
}

func ctParseAddr(s, family string) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", s, err)
	}
	if a.Zone() != "" {
		return "", fmt.Errorf("address %q: zone not allowed", s)
	}
	if a.Is4() != (family == "ipv4") {
		return "", fmt.Errorf("address %q in %s entry", s, family)
	}
	return a.String(), nil
}
