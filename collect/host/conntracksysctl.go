package host

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// ctMaxSysctlFiles bounds the nf_conntrack_* settings read: a kernel has
// about 40 of them (every protocol's states), a thousand is no kernel.
const ctMaxSysctlFiles = 1000

// ctExpectedSysctls are the settings the analyzer needs to date an entry of
// the protocols every Docker host tracks (tcp, udp, icmp, the rest), and
// the two that say whether counters and start times exist. The sctp, dccp
// and gre timeouts exist only when their modules are loaded: they are
// recorded when present, not expected.
var ctExpectedSysctls = []string{
	"nf_conntrack_acct",
	"nf_conntrack_timestamp",
	"nf_conntrack_generic_timeout",
	"nf_conntrack_icmp_timeout",
	"nf_conntrack_icmpv6_timeout",
	"nf_conntrack_tcp_timeout_close",
	"nf_conntrack_tcp_timeout_close_wait",
	"nf_conntrack_tcp_timeout_established",
	"nf_conntrack_tcp_timeout_fin_wait",
	"nf_conntrack_tcp_timeout_last_ack",
	"nf_conntrack_tcp_timeout_max_retrans",
	"nf_conntrack_tcp_timeout_syn_recv",
	"nf_conntrack_tcp_timeout_syn_sent",
	"nf_conntrack_tcp_timeout_time_wait",
	"nf_conntrack_tcp_timeout_unacknowledged",
	"nf_conntrack_udp_timeout",
	"nf_conntrack_udp_timeout_stream",
}

// ConntrackSysctl is conntrack's clock: the net.netfilter settings (from
// /proc/sys/net/netfilter, in the calling thread's network namespace) that
// let an analyst date an entry, which carries only its remaining timeout.
// The last packet of an entry was about Taken minus (its state's timeout
// minus what remains).
type ConntrackSysctl struct {
	// Taken is when the settings were read, right after the table: the
	// moment the entries' remaining timeouts count from.
	Taken      time.Time `json:"taken"`
	NetNSInode uint64    `json:"netns_inode,omitempty"`
	// Values maps each nf_conntrack_*timeout* setting (seconds), and
	// nf_conntrack_acct and nf_conntrack_timestamp (0 or 1), by file name.
	Values map[string]int64 `json:"values"`
	// Missing lists the expected settings that could not be read, each
	// with why.
	Missing []string `json:"missing,omitempty"`
}

// ReadConntrackSysctl reads the conntrack timeouts, nf_conntrack_acct and
// nf_conntrack_timestamp of the calling thread's network namespace (the
// host's, for the collector). A setting that is absent or unreadable is
// listed in Missing and in the error; the others are returned either way.
func ReadConntrackSysctl() (ConntrackSysctl, error) {
	return ctReadSysctl(ctSysctlDir, time.Now)
}

// ctReadSysctl is ReadConntrackSysctl on another directory (ending in a
// slash), so that a test can give it a sysctl tree with settings missing.
func ctReadSysctl(dir string, now func() time.Time) (ConntrackSysctl, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := ConntrackSysctl{Taken: now().UTC(), Values: map[string]int64{}}
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err == nil {
		s.NetNSInode = st.Ino
	}
	var errs []error
	names, err := filepath.Glob(dir + "nf_conntrack_*timeout*")
	if err != nil {
		errs = append(errs, fmt.Errorf("list %s: %w", dir, err))
	}
	if len(names) > ctMaxSysctlFiles {
		errs = append(errs, fmt.Errorf("%s: %d timeout settings, kept %d", dir, len(names), ctMaxSysctlFiles))
		names = names[:ctMaxSysctlFiles]
	}
	want := map[string]bool{}
	for _, n := range names {
		want[filepath.Base(n)] = true
	}
	for _, n := range ctExpectedSysctls {
		want[n] = true
	}
	keys := make([]string, 0, len(want))
	for n := range want {
		keys = append(keys, n)
	}
	slices.Sort(keys)
	for _, name := range keys {
		v, err := ctSysctlIntIn(dir, name)
		if err != nil {
			if slices.Contains(ctExpectedSysctls, name) {
				s.Missing = append(s.Missing, err.Error())
				errs = append(errs, err)
			} else {
				errs = append(errs, err) // listed a moment ago, gone or unreadable now
			}
			continue
		}
		s.Values[name] = v
	}
	if len(s.Missing) == len(ctExpectedSysctls) {
		return s, fmt.Errorf("no conntrack setting in %s (is nf_conntrack loaded?): %w", dir, errors.Join(errs...))
	}
	return s, errors.Join(errs...)
}
