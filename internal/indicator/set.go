package indicator

import (
	"net/netip"
	"strings"
)

// Set is a list of indicators to match evidence against. Where several
// match, a Set answers with one: an address indicator before a CIDR one,
// and otherwise the first in list order.
type Set struct {
	list     []Indicator
	addrs    map[netip.Addr]int // address → index in list
	prefixes []int              // CIDR indicators, in list order
	domains  map[string]int     // domain → index in list (the first)
}

// NewSet returns the set of the indicators in list.
func NewSet(list []Indicator) *Set {
	s := &Set{list: list, addrs: map[netip.Addr]int{}, domains: map[string]int{}}
	for j, i := range list {
		switch i.Kind {
		case Address:
			if _, dup := s.addrs[i.Prefix.Addr()]; !dup {
				s.addrs[i.Prefix.Addr()] = j
			}
		case CIDR:
			s.prefixes = append(s.prefixes, j)
		case Domain:
			if _, dup := s.domains[i.Domain]; !dup {
				s.domains[i.Domain] = j
			}
		}
	}
	return s
}

// Addr returns the indicator that the address a is or falls inside. An
// IPv4-mapped a is its IPv4 address.
func (s *Set) Addr(a netip.Addr) (Indicator, bool) {
	if s == nil || !a.IsValid() {
		return Indicator{}, false
	}
	a = a.Unmap().WithZone("")
	if j, ok := s.addrs[a]; ok {
		return s.list[j], true
	}
	for _, j := range s.prefixes {
		if s.list[j].Prefix.Contains(a) {
			return s.list[j], true
		}
	}
	return Indicator{}, false
}

// Name returns the domain indicator that the name n is or lies under,
// regardless of case and of a trailing dot.
func (s *Set) Name(n string) (Indicator, bool) {
	if s == nil || len(s.domains) == 0 || n == "" {
		return Indicator{}, false
	}
	n = normalName(n)
	best := -1
	for {
		if j, ok := s.domains[n]; ok && (best < 0 || j < best) {
			best = j
		}
		_, parent, ok := strings.Cut(n, ".")
		if !ok {
			break
		}
		n = parent
	}
	if best < 0 {
		return Indicator{}, false
	}
	return s.list[best], true
}
