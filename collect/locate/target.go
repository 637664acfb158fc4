package locate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dockcase/dockcase/internal/indicator"
)

// Target is what the responder looks for: an address, a prefix, or a domain
// and the addresses it resolved to.
type Target struct {
	Input    string         `json:"input"`
	Domain   string         `json:"domain,omitempty"`
	Prefixes []netip.Prefix `json:"prefixes"`

	// live holds the addresses DNS answers for Domain added during a
	// watch; copies of the target share it.
	live *locateLive
}

// locateLive is the part of a watched target that grows while it runs.
type locateLive struct {
	added   atomic.Pointer[[]netip.Prefix] // read for every packet: no lock
	mu      sync.Mutex
	changed chan struct{} // closed and replaced at each addition
}

func newLocateLive() *locateLive { return &locateLive{changed: make(chan struct{})} }

// watchPrefixes are the target's prefixes and those added since.
func (t Target) watchPrefixes() []netip.Prefix {
	if t.live == nil {
		return t.Prefixes
	}
	ps := t.live.added.Load()
	if ps == nil {
		return t.Prefixes
	}
	return append(slices.Clip(t.Prefixes), *ps...)
}

// addAnswered adds a, an address a DNS answer gave for the domain, to a
// watched target; false when it is in the target already or the target
// holds locateMaxResolved addresses.
func (t Target) addAnswered(a netip.Addr) bool {
	if t.live == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	t.live.mu.Lock()
	defer t.live.mu.Unlock()
	if t.Contains(a) {
		return false
	}
	var next []netip.Prefix
	if ps := t.live.added.Load(); ps != nil {
		next = slices.Clone(*ps)
	}
	if len(t.Prefixes)+len(next) >= locateMaxResolved {
		return false
	}
	next = append(next, netip.PrefixFrom(a, a.BitLen()))
	t.live.added.Store(&next)
	close(t.live.changed)
	t.live.changed = make(chan struct{})
	return true
}

// liveChanged is closed at the next addition to a watched target; nil
// (never ready) for a target that cannot grow.
func (t Target) liveChanged() <-chan struct{} {
	if t.live == nil {
		return nil
	}
	t.live.mu.Lock()
	defer t.live.mu.Unlock()
	return t.live.changed
}

// TargetError says why a target could not be parsed; commands treat it as
// a usage error. Err is the indicator parser's error, when it said why.
type TargetError struct {
	Input  string
	Reason string
	Err    error
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("target %q: %s", e.Input, e.Reason)
}

func (e *TargetError) Unwrap() error { return e.Err }

// ParseTarget parses a target as internal/indicator parses an indicator of
// compromise: an IP address (v4 or v6), a CIDR prefix, a domain name or a
// URL, defanged or not, so that locate finds what analyze matches for the
// same text. A domain is not resolved here: see ResolveTarget.
//
// Unlike an indicator, an address with a zone (fe80::1%eth0) is refused:
// the zone names one link, and locate, which watches every interface of the
// host, cannot keep to it; dropping it would report the same link-local
// address on other links as the target.
func ParseTarget(s string) (Target, error) {
	ind, err := indicator.Parse(s)
	if err != nil {
		te := &TargetError{Input: s, Reason: err.Error(), Err: err}
		var ie *indicator.Error
		if errors.As(err, &ie) {
			te.Reason = ie.Reason
		}
		return Target{}, te
	}
	t := Target{Input: ind.Text, Domain: ind.Domain}
	if ind.Kind == indicator.Domain {
		return t, nil
	}
	if strings.Contains(locateTargetHost(ind.Text), "%") {
		return Target{}, &TargetError{Input: s, Reason: "zoned addresses are not supported: locate watches every interface"}
	}
	t.Prefixes = []netip.Prefix{ind.Prefix}
	return t, nil
}

// locateTargetHost is the host part of an address or URL target, refanged,
// where a zone would be.
func locateTargetHost(text string) string {
	in := indicator.Refang(text)
	if strings.Contains(in, "://") {
		if u, err := url.Parse(in); err == nil {
			return u.Hostname()
		}
	}
	return in
}

// Contains reports whether a is one of the target's addresses: its own, the
// domain's resolved ones, and those DNS answers added during a watch. An
// IPv4-mapped a is its IPv4 address.
func (t Target) Contains(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range t.Prefixes {
		if p.Contains(a) {
			return true
		}
	}
	if t.live != nil {
		if ps := t.live.added.Load(); ps != nil {
			for _, p := range *ps {
				if p.Contains(a) {
					return true
				}
			}
		}
	}
	return false
}

// MatchName reports whether the DNS name n is the target's domain or a name
// under it, as an indicator of that domain matches it.
func (t Target) MatchName(n string) bool {
	return t.Domain != "" && indicator.Indicator{Kind: indicator.Domain, Domain: t.Domain}.MatchName(n)
}

// Resolver looks up a host name's addresses.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// HostResolver resolves the way the host does without cgo: /etc/hosts and
// the nameservers of /etc/resolv.conf, in the order /etc/nsswitch.conf says.
func HostResolver() Resolver {
	r := &net.Resolver{PreferGo: true}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		return r.LookupNetIP(ctx, "ip", host)
	}
}

// ResolveTarget fills in the addresses of a domain target with resolve
// (HostResolver when nil). Other targets are returned as they are.
func ResolveTarget(ctx context.Context, t Target, resolve Resolver) (Target, error) {
	if t.Domain == "" || len(t.Prefixes) > 0 {
		return t, nil
	}
	if resolve == nil {
		resolve = HostResolver()
	}
	addrs, err := resolve(ctx, t.Domain)
	if err != nil {
		return t, fmt.Errorf("resolve %q: %w", t.Domain, err)
	}
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if !a.IsValid() || seen[a] {
			continue
		}
		if len(t.Prefixes) == locateMaxResolved {
			return t, fmt.Errorf("resolve %q: more than %d addresses", t.Domain, locateMaxResolved)
		}
		seen[a] = true
		t.Prefixes = append(t.Prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	if len(t.Prefixes) == 0 {
		return t, fmt.Errorf("resolve %q: no address", t.Domain)
	}
	sort.Slice(t.Prefixes, func(i, j int) bool { return t.Prefixes[i].Addr().Less(t.Prefixes[j].Addr()) })
	return t, nil
}
