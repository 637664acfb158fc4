package model

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// MemberConntrackSysctl is conntrack's clock: the host's conntrack timeouts,
// nf_conntrack_acct and nf_conntrack_timestamp, and when they were read.
const MemberConntrackSysctl = "host/conntrack-sysctl.json"

// maxConntrackSysctlJSONBytes bounds host/conntrack-sysctl.json: about 40
// settings of ~60 bytes; 1 MiB is far past any kernel.
const maxConntrackSysctlJSONBytes = 1 << 20

// ConntrackClock is host/conntrack-sysctl.json: what dates a conntrack
// entry, which carries only its remaining timeout.
type ConntrackClock struct {
	// Taken is when the collector read the settings, right after the
	// table: the moment the entries' remaining timeouts count from.
	Taken time.Time
	// Timeouts are the nf_conntrack_*timeout* settings in seconds, by the
	// setting's name without its nf_conntrack_ prefix (tcp_timeout_established).
	Timeouts map[string]int64
	// Accounting and Timestamps are nf_conntrack_acct and
	// nf_conntrack_timestamp; nil when the collector could not read them.
	Accounting, Timestamps *bool
	// Missing lists the settings the collector could not read.
	Missing  []string
	Evidence Evidence
}

type conntrackSysctlDoc struct {
	Taken   time.Time        `json:"taken"`
	Values  map[string]int64 `json:"values"`
	Missing []string         `json:"missing"`
}

func decodeConntrackSysctl(data []byte) (*conntrackSysctlDoc, error) {
	var d conntrackSysctlDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// loadConntrackClock reads host/conntrack-sysctl.json and dates the
// conntrack entries. Bundles collected before the member existed lack it:
// their entries stay undated, and nothing is listed as missing.
func (l *loader) loadConntrackClock() {
	if !l.src.Has(MemberConntrackSysctl) {
		return
	}
	data, ok := l.read(MemberConntrackSysctl, maxConntrackSysctlJSONBytes, "the conntrack timeouts (dating of entries)")
	if !ok {
		return
	}
	d, err := decodeConntrackSysctl(data)
	if err != nil {
		l.missing("%s: %v: the conntrack timeouts (dating of entries) unknown", MemberConntrackSysctl, err)
		return
	}
	c := &ConntrackClock{Taken: d.Taken.UTC(), Timeouts: map[string]int64{}, Missing: d.Missing,
		Evidence: l.ev(MemberConntrackSysctl, "/values")}
	for k, v := range d.Values {
		name := strings.TrimPrefix(k, "nf_conntrack_")
		switch name {
		case "acct":
			b := v != 0
			c.Accounting = &b
		case "timestamp":
			b := v != 0
			c.Timestamps = &b
		default:
			c.Timeouts[name] = v
		}
	}
	l.h.ConntrackClock = c
	for i := range l.h.Conntrack {
		if f := &l.h.Conntrack[i]; f.Start == nil && i < len(l.ctDelta) && l.ctDelta[i] != nil && *l.ctDelta[i] < 1<<32 && !c.Taken.IsZero() {
			start := c.Taken.Add(-time.Duration(*l.ctDelta[i]) * time.Second)
			f.Start = &start
		}
		d := DateConntrack(l.h.Conntrack[i], c, l.h.Clock)
		l.h.Conntrack[i].LastPacket = &d
	}
}

// ConntrackDating is the estimated time of an entry's last packet.
type ConntrackDating struct {
	// LastPacket is the estimate; zero when the entry cannot be dated.
	LastPacket time.Time
	// Setting is the timeout setting used (tcp_timeout_established), and
	// TimeoutSeconds its value.
	Setting        string
	TimeoutSeconds int64
	// Method says how it was estimated, for a reader of the finding.
	Method string
	// Notes say what makes the estimate less sure: a kernel default taken
	// for a setting the bundle lacks, a remaining time longer than the
	// timeout, an unsynchronised clock.
	Notes []string
}

// ctDefaultTimeouts are the kernel's defaults (seconds), taken when the
// bundle lacks a setting (net/netfilter/nf_conntrack_proto_*.c).
var ctDefaultTimeouts = map[string]int64{
	"generic_timeout":             600,
	"icmp_timeout":                30,
	"icmpv6_timeout":              30,
	"udp_timeout":                 30,
	"udp_timeout_stream":          120,
	"gre_timeout":                 30,
	"gre_timeout_stream":          180,
	"tcp_timeout_syn_sent":        120,
	"tcp_timeout_syn_recv":        60,
	"tcp_timeout_established":     432000,
	"tcp_timeout_fin_wait":        120,
	"tcp_timeout_close_wait":      60,
	"tcp_timeout_last_ack":        30,
	"tcp_timeout_time_wait":       120,
	"tcp_timeout_close":           10,
	"tcp_timeout_max_retrans":     300,
	"tcp_timeout_unacknowledged":  300,
	"sctp_timeout_established":    210,
	"sctp_timeout_closed":         10,
	"sctp_timeout_heartbeat_sent": 30,
}

// ctTimeoutSetting is the setting whose timeout the kernel set on the
// entry's last packet, by protocol, state and status; note says where that
// is a guess.
func ctTimeoutSetting(f ConntrackFlow) (setting, note string) {
	assured := slices.Contains(f.Status, "ASSURED")
	state := strings.ToLower(f.State)
	switch f.Proto {
	case "tcp":
		switch state {
		case "syn_sent2":
			return "tcp_timeout_syn_sent", "SYN_SENT2 has no setting of its own: its default is SYN_SENT's"
		case "none", "":
			return "tcp_timeout_established", "no TCP state recorded: ESTABLISHED assumed"
		}
		return "tcp_timeout_" + state, "a connection with unacknowledged data or retransmissions gets at most tcp_timeout_unacknowledged or tcp_timeout_max_retrans: its last packet was then later than estimated"
	case "udp", "udplite":
		if assured {
			return "udp_timeout_stream", ""
		}
		return "udp_timeout", ""
	case "icmp":
		return "icmp_timeout", ""
	case "icmpv6":
		return "icmpv6_timeout", ""
	case "gre":
		if assured {
			return "gre_timeout_stream", ""
		}
		return "gre_timeout", ""
	case "sctp", "dccp":
		if state == "" {
			return f.Proto + "_timeout_established", "no state recorded: ESTABLISHED assumed"
		}
		return f.Proto + "_timeout_" + state, ""
	}
	return "generic_timeout", ""
}

// DateConntrack estimates when entry f saw its last packet: the kernel
// sets an entry's timeout to its state's setting at every packet, so the
// last one came about (the setting minus what remains) before the table was
// read. An entry with a start time (nf_conntrack_timestamp) is never dated
// before it. clk may be nil (the bundle lacks host/clock.json).
func DateConntrack(f ConntrackFlow, c *ConntrackClock, clk *HostClock) ConntrackDating {
	var d ConntrackDating
	if c == nil || c.Taken.IsZero() {
		d.Method = "not dated: the bundle does not say when the table was read"
		return d
	}
	setting, note := ctTimeoutSetting(f)
	d.Setting = setting
	timeout, ok := c.Timeouts[setting]
	if !ok {
		def, known := ctDefaultTimeouts[setting]
		if !known {
			d.Method = fmt.Sprintf("not dated: the bundle lacks nf_conntrack_%s and the kernel's default is not known", setting)
			return d
		}
		timeout = def
		d.Notes = append(d.Notes, fmt.Sprintf("nf_conntrack_%s is not in the bundle: the kernel's default %ds was taken", setting, def))
	}
	d.TimeoutSeconds = timeout
	if note != "" {
		d.Notes = append(d.Notes, note)
	}
	remaining := int64(f.TimeoutSeconds)
	if remaining > timeout {
		d.Notes = append(d.Notes, fmt.Sprintf("%ds remained of a %ds timeout: the setting changed since the last packet, or the state is not the one assumed; the last packet is taken as the read itself", remaining, timeout))
		remaining = timeout
	}
	since := time.Duration(timeout-remaining) * time.Second
	d.LastPacket = c.Taken.Add(-since)
	d.Method = fmt.Sprintf("table read at %s minus (nf_conntrack_%s %ds minus %ds remaining)",
		c.Taken.Format(time.RFC3339), setting, timeout, f.TimeoutSeconds)
	if f.Start != nil && d.LastPacket.Before(*f.Start) {
		d.LastPacket = *f.Start
		d.Notes = append(d.Notes, "the estimate fell before the entry's start (nf_conntrack_timestamp): its start is taken")
	}
	if clk != nil && clk.NTP != nil && !clk.NTP.Synchronized {
		d.Notes = append(d.Notes, "the host's clock was not synchronised (host/clock.json): the time is the host's, not true time")
	}
	return d
}
