package analyze

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/netpath"
)

// Limits of IOC matching.
const (
	// maxIOCFileBytes bounds an --ioc-file: 64 MiB is about a million
	// indicators, more than any feed a responder pastes in.
	maxIOCFileBytes = 64 << 20
	// maxIOCLineBytes bounds one line of an --ioc-file: 4 KiB, far above the
	// longest domain (253 bytes) or CIDR.
	maxIOCLineBytes = 4 << 10
	// maxIOCEvidence bounds the evidence entries of one contact: the first
	// 32 flows and lookups; the counters cover all of them.
	maxIOCEvidence = 32
)

// IOC kinds.
const (
	IOCAddress = "ip"
	IOCCIDR    = "cidr"
	IOCDomain  = "domain"
)

// IOC is one indicator of compromise: an address, a CIDR or a domain (which
// matches its subdomains too).
type IOC struct {
	Text   string
	Kind   string
	Prefix netip.Prefix // ip and cidr
	Domain string       // domain, lowercase, without the trailing dot
}

// ParseIOC parses one indicator: an IPv4 or IPv6 address, a CIDR, or a
// domain. Defanged dots ("evil[.]example") and a leading "*." are accepted.
func ParseIOC(s string) (IOC, error) {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(strings.ReplaceAll(s, "[.]", "."), "(.)", ".")
	if s == "" {
		return IOC{}, fmt.Errorf("empty indicator")
	}
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap().WithZone("")
		return IOC{Text: s, Kind: IOCAddress, Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		p = netip.PrefixFrom(p.Addr().Unmap(), min(p.Bits(), p.Addr().Unmap().BitLen())).Masked()
		return IOC{Text: s, Kind: IOCCIDR, Prefix: p}, nil
	}
	d := strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(s), "*."), ".")
	if !iocValidDomain(d) {
		return IOC{}, fmt.Errorf("indicator %q is not an IP address, a CIDR or a domain", s)
	}
	return IOC{Text: s, Kind: IOCDomain, Domain: d}, nil
}

func iocValidDomain(d string) bool {
	if len(d) == 0 || len(d) > namesMaxNameBytes {
		return false
	}
	letter := false
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			switch {
			case 'a' <= c && c <= 'z':
				letter = true
			case '0' <= c && c <= '9', c == '-', c == '_':
			default:
				return false
			}
		}
	}
	return letter
}

// ParseIOCList reads indicators one a line; blank lines and text after a
// "#" are ignored. Errors name the line.
func ParseIOCList(r io.Reader, name string) ([]IOC, error) {
	sc := bufio.NewScanner(io.LimitReader(r, maxIOCFileBytes+1))
	sc.Buffer(make([]byte, 0, 4096), maxIOCLineBytes)
	var out []IOC
	line, total := 0, 0
	for sc.Scan() {
		line++
		total += len(sc.Bytes()) + 1
		if total > maxIOCFileBytes {
			return nil, fmt.Errorf("%s: larger than %d bytes", name, maxIOCFileBytes)
		}
		text, _, _ := strings.Cut(sc.Text(), "#")
		if strings.TrimSpace(text) == "" {
			continue
		}
		ioc, err := ParseIOC(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, ioc)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: line %d: %w", name, line+1, err)
	}
	return out, nil
}

// matchAddr reports whether addr is the indicator (ip, cidr).
func (i IOC) matchAddr(a netip.Addr) bool {
	return i.Kind != IOCDomain && a.IsValid() && i.Prefix.Contains(a.Unmap())
}

// matchName reports whether a name is the indicator's domain or one of its
// subdomains.
func (i IOC) matchName(n string) bool {
	return i.Kind == IOCDomain && n != "" && (n == i.Domain || strings.HasSuffix(n, "."+i.Domain))
}

// IOCHit is what the captures say about one indicator.
type IOCHit struct {
	IOC  string `json:"ioc"`
	Kind string `json:"kind"`
	// Containers are the ids of the containers that talked to the
	// indicator (or looked it up), by first contact.
	Containers []string `json:"containers,omitempty"`
	// Unattributed says some matching traffic stays "host or unknown".
	Unattributed bool `json:"unattributed,omitempty"`
	// Contacts has one entry per container, then one per rule for the
	// traffic no container is named for (host, unknown, foreign).
	Contacts []IOCContact `json:"contacts"`
}

// IOCContact is one container's (or the unattributed) traffic with an
// indicator. Packet and byte counts are those of the capture point that saw
// the most of it: one packet crosses a veth, a bridge and an uplink, and is
// captured on each.
type IOCContact struct {
	Container     string       `json:"container,omitempty"`
	ContainerName string       `json:"container_name,omitempty"`
	Rules         []string     `json:"rules"`
	Remotes       []netip.Addr `json:"remotes,omitempty"`
	Names         []string     `json:"names,omitempty"`
	First         time.Time    `json:"first"`
	Last          time.Time    `json:"last"`
	Flows         int          `json:"flows"`
	// Lookups counts the DNS responses that matched, at the capture point
	// that saw the most of them.
	Lookups      int        `json:"dns_lookups"`
	PacketsToIOC uint64     `json:"packets_to_ioc"`
	PacketsFrom  uint64     `json:"packets_from_ioc"`
	BytesToIOC   uint64     `json:"bytes_to_ioc"`
	BytesFrom    uint64     `json:"bytes_from_ioc"`
	Points       []IOCPoint `json:"points"`
	Evidence     []Evidence `json:"evidence"`
	// Path is the container's routing path towards the first remote
	// address, from the host model.
	Path *Path `json:"path,omitempty"`
}

// IOCPoint is one capture point's share of a contact.
type IOCPoint struct {
	Member       string `json:"member"`
	Interface    string `json:"interface"`
	Role         string `json:"role"`
	Flows        int    `json:"flows"`
	PacketsToIOC uint64 `json:"packets_to_ioc"`
	PacketsFrom  uint64 `json:"packets_from_ioc"`
	BytesToIOC   uint64 `json:"bytes_to_ioc"`
	BytesFrom    uint64 `json:"bytes_from_ioc"`
}

// MatchIOCs matches the indicators against the attributed flows (either
// endpoint, the pre-NAT tuple, SNI, HTTP Host, the names DNS gave the
// remote) and the DNS log (question, answers, CNAME chain).
func MatchIOCs(h *Host, t *Traffic, iocs []IOC) []IOCHit {
	var hits []IOCHit
	for _, ioc := range iocs {
		hit := IOCHit{IOC: ioc.Text, Kind: ioc.Kind, Contacts: []IOCContact{}}
		byKey := map[string]*IOCContact{}
		var order []string
		contact := func(container, name, rule string) *IOCContact {
			k := container
			if k == "" {
				k = "rule:" + rule
			}
			c := byKey[k]
			if c == nil {
				c = &IOCContact{Container: container, ContainerName: name, Rules: []string{}, Points: []IOCPoint{}, Evidence: []Evidence{}}
				byKey[k] = c
				order = append(order, k)
			}
			if !slices.Contains(c.Rules, rule) {
				c.Rules = append(c.Rules, rule)
			}
			return c
		}
		seen := func(c *IOCContact, first, last time.Time) {
			if c.First.IsZero() || first.Before(c.First) {
				c.First = first
			}
			if last.After(c.Last) {
				c.Last = last
			}
		}
		for i := range t.Flows {
			f := &t.Flows[i]
			toIOC, ok := iocFlowMatch(ioc, f)
			if !ok {
				continue
			}
			c := contact(f.Container, f.ContainerName, f.Rule)
			seen(c, f.First, f.Last)
			c.Flows++
			remote := f.Server
			if !toIOC {
				remote = f.Client
			}
			if !slices.Contains(c.Remotes, remote) {
				c.Remotes = append(c.Remotes, remote)
			}
			for _, n := range slices.Concat([]string{f.SNI, f.HTTPHost}, f.Names) {
				if ioc.matchName(n) && !slices.Contains(c.Names, n) {
					c.Names = append(c.Names, n)
				}
			}
			pt := iocPoint(c, f)
			pt.Flows++
			if toIOC {
				pt.PacketsToIOC += f.PacketsToServer
				pt.PacketsFrom += f.PacketsToClient
				pt.BytesToIOC += f.BytesToServer
				pt.BytesFrom += f.BytesToClient
			} else {
				pt.PacketsToIOC += f.PacketsToClient
				pt.PacketsFrom += f.PacketsToServer
				pt.BytesToIOC += f.BytesToClient
				pt.BytesFrom += f.BytesToServer
			}
			if len(c.Evidence) < maxIOCEvidence {
				c.Evidence = append(c.Evidence, f.Evidence...)
			}
		}
		// A lookup is captured at every point it crosses: count it at the
		// point that saw the most, like packets.
		lookups := map[*IOCContact]map[string]int{}
		for i := range t.DNS {
			q := &t.DNS[i]
			if !iocDNSMatch(ioc, q) {
				continue
			}
			c := contact(q.Container, q.ContainerName, q.Rule)
			seen(c, q.Time, q.Time)
			if lookups[c] == nil {
				lookups[c] = map[string]int{}
			}
			pk := q.Evidence.Member + "\x00" + q.Interface
			lookups[c][pk]++
			c.Lookups = max(c.Lookups, lookups[c][pk])
			if ioc.Kind == IOCDomain && !slices.Contains(c.Names, q.QName) && ioc.matchName(q.QName) {
				c.Names = append(c.Names, q.QName)
			}
			if len(c.Evidence) < maxIOCEvidence {
				c.Evidence = append(c.Evidence, q.Evidence)
			}
		}
		for _, k := range order {
			c := byKey[k]
			for _, p := range c.Points {
				if p.PacketsToIOC+p.PacketsFrom > c.PacketsToIOC+c.PacketsFrom {
					c.PacketsToIOC, c.PacketsFrom, c.BytesToIOC, c.BytesFrom = p.PacketsToIOC, p.PacketsFrom, p.BytesToIOC, p.BytesFrom
				}
			}
			if c.Container != "" && len(c.Remotes) > 0 && h != nil {
				if p, err := netpath.Egress(h, c.Container, c.Remotes[0]); err == nil {
					c.Path = p
				}
			}
			hit.Contacts = append(hit.Contacts, *c)
		}
		slices.SortStableFunc(hit.Contacts, func(a, b IOCContact) int {
			if (a.Container == "") != (b.Container == "") {
				return pick(a.Container == "", 1, -1)
			}
			return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.Container, b.Container))
		})
		for _, c := range hit.Contacts {
			if c.Container != "" {
				hit.Containers = append(hit.Containers, c.Container)
			} else if slices.Contains(c.Rules, RuleUnknown) {
				hit.Unattributed = true
			}
		}
		hits = append(hits, hit)
	}
	return hits
}

func iocPoint(c *IOCContact, f *Flow) *IOCPoint {
	for i := range c.Points {
		if c.Points[i].Member == f.Member && c.Points[i].Interface == f.Interface {
			return &c.Points[i]
		}
	}
	c.Points = append(c.Points, IOCPoint{Member: f.Member, Interface: f.Interface, Role: f.Role})
	return &c.Points[len(c.Points)-1]
}

// iocFlowMatch reports whether the flow matches the indicator and whether
// the indicator is on the server side.
func iocFlowMatch(ioc IOC, f *Flow) (toServer, ok bool) {
	switch {
	case ioc.matchAddr(f.Server):
		return true, true
	case ioc.matchAddr(f.Client):
		return false, true
	case f.Original != nil && ioc.matchAddr(f.Original.Dst):
		return true, true
	case f.Original != nil && ioc.matchAddr(f.Original.Src):
		return false, true
	case ioc.Kind != IOCDomain:
		return false, false
	}
	if ioc.matchName(f.SNI) || ioc.matchName(f.HTTPHost) {
		return true, true
	}
	for _, n := range f.Names {
		if ioc.matchName(n) {
			return f.ContainerSide != "server", true
		}
	}
	return false, false
}

// iocDNSMatch reports whether a lookup asked for the indicator's domain or
// was answered with it (an address, or a name in the CNAME chain).
func iocDNSMatch(ioc IOC, q *DNSQuery) bool {
	if ioc.matchName(q.QName) {
		return true
	}
	for _, a := range q.resp.Answers {
		if ioc.matchName(a.Name) || ioc.matchName(a.Target) || ioc.matchAddr(a.Addr) {
			return true
		}
	}
	return false
}

// MatchFlow reports whether a flow matches the indicator: an endpoint (or
// the pre-NAT tuple) for addresses and CIDRs; SNI, HTTP Host or a name the
// container's DNS gave the remote for domains.
func (i IOC) MatchFlow(f *Flow) bool {
	_, ok := iocFlowMatch(i, f)
	return ok
}
