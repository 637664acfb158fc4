package locate

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
// a usage error.
type TargetError struct {
	Input  string
	Reason string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("target %q: %s", e.Input, e.Reason)
}

// ParseTarget parses an IP address (v4 or v6), a CIDR prefix or a domain
// name. A domain is not resolved here: see ResolveTarget.
func ParseTarget(s string) (Target, error) {
	in := strings.TrimSpace(s)
	t := Target{Input: in}
	bad := func(reason string) (Target, error) { return Target{}, &TargetError{Input: s, Reason: reason} }
	if in == "" {
		return bad("empty")
	}
	if strings.Contains(in, "/") {
		p, err := netip.ParsePrefix(in)
		if err != nil {
			return bad("not a CIDR prefix")
		}
		if p.Addr().Zone() != "" {
			return bad("zoned addresses are not supported")
		}
		t.Prefixes = []netip.Prefix{locateUnmapPrefix(p).Masked()}
		return t, nil
	}
	if a, err := netip.ParseAddr(in); err == nil {
		if a.Zone() != "" {
			return bad("zoned addresses are not supported")
		}
		a = a.Unmap()
		t.Prefixes = []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}
		return t, nil
	}
	name := strings.TrimSuffix(strings.ToLower(in), ".")
	if reason := locateCheckDomain(name); reason != "" {
		return bad(reason)
	}
	t.Domain = name
	return t, nil
}

// locateCheckDomain returns why name is not a domain name, or "".
func locateCheckDomain(name string) string {
	if len(name) > locateMaxDomainBytes {
		return fmt.Sprintf("longer than %d characters", locateMaxDomainBytes)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "not an address, a prefix or a domain name"
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "not an address, a prefix or a domain name"
		}
		for _, c := range []byte(l) {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "not an address, a prefix or a domain name"
			}
		}
	}
	// A name whose last label is all digits is a mistyped address
	// (1.2.3.4.5, 300.1.1.1), never a real domain.
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return "not a valid IP address"
	}
	return ""
}

func locateUnmapPrefix(p netip.Prefix) netip.Prefix {
	if !p.Addr().Is4In6() {
		return p
	}
	bits := p.Bits() - 96
	if bits < 0 {
		bits = 0
	}
	return netip.PrefixFrom(p.Addr().Unmap(), bits)
}

// Contains reports whether a is one of the target's addresses.
func (t Target) Contains(a netip.Addr) bool {
	a = a.Unmap()
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
