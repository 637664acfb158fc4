package ioc

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/internal/indicator"
)

// maxIOCEvidence bounds the evidence entries of one contact: the first 32
// flows and lookups; the counters cover all of them.
const maxIOCEvidence = 32

// Hit is what the captures say about one indicator.
type Hit struct {
	IOC  string `json:"ioc"`
	Kind string `json:"kind"`
	// Containers are the ids of the containers that talked to the
	// indicator (or looked it up), by first contact.
	Containers []string `json:"containers,omitempty"`
	// Unattributed says some matching traffic stays "host or unknown".
	Unattributed bool `json:"unattributed,omitempty"`
	// Contacts has one entry per container, then one per rule for the
	// traffic no container is named for (host, unknown, foreign).
	Contacts []Contact `json:"contacts"`
}

// Contact is one container's (or the unattributed) traffic with an
// indicator. Packet and byte counts are those of the capture point that saw
// the most of it: one packet crosses a veth, a bridge and an uplink, and is
// captured on each.
type Contact struct {
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
	Lookups      int              `json:"dns_lookups"`
	PacketsToIOC uint64           `json:"packets_to_ioc"`
	PacketsFrom  uint64           `json:"packets_from_ioc"`
	BytesToIOC   uint64           `json:"bytes_to_ioc"`
	BytesFrom    uint64           `json:"bytes_from_ioc"`
	Points       []Point          `json:"points"`
	Evidence     []model.Evidence `json:"evidence"`
	// Path is the container's routing path towards the first remote
	// address, from the host model.
	Path *netpath.Path `json:"path,omitempty"`
}

// Point is one capture point's share of a contact.
type Point struct {
	Member       string `json:"member"`
	Interface    string `json:"interface"`
	Role         string `json:"role"`
	Flows        int    `json:"flows"`
	PacketsToIOC uint64 `json:"packets_to_ioc"`
	PacketsFrom  uint64 `json:"packets_from_ioc"`
	BytesToIOC   uint64 `json:"bytes_to_ioc"`
	BytesFrom    uint64 `json:"bytes_from_ioc"`
}

// Match matches the indicators against the attributed flows (either
// endpoint, the pre-NAT tuple, SNI, HTTP Host, the names DNS gave the
// remote) and the DNS log (question, answers, CNAME chain).
func Match(h *model.Host, t *traffic.Result, iocs []indicator.Indicator) []Hit {
	var hits []Hit
	for _, ioc := range iocs {
		hit := Hit{IOC: label(ioc), Kind: string(ioc.Kind), Contacts: []Contact{}}
		byKey := map[string]*Contact{}
		var order []string
		contact := func(container, name, rule string) *Contact {
			k := container
			if k == "" {
				k = "rule:" + rule
			}
			c := byKey[k]
			if c == nil {
				c = &Contact{Container: container, ContainerName: name, Rules: []string{}, Points: []Point{}, Evidence: []model.Evidence{}}
				byKey[k] = c
				order = append(order, k)
			}
			if !slices.Contains(c.Rules, rule) {
				c.Rules = append(c.Rules, rule)
			}
			return c
		}
		seen := func(c *Contact, first, last time.Time) {
			if c.First.IsZero() || first.Before(c.First) {
				c.First = first
			}
			if last.After(c.Last) {
				c.Last = last
			}
		}
		for i := range t.Flows {
			f := &t.Flows[i]
			toIOC, ok := flowMatch(ioc, f)
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
				if ioc.MatchName(n) && !slices.Contains(c.Names, n) {
					c.Names = append(c.Names, n)
				}
			}
			pt := pointOf(c, f)
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
		lookups := map[*Contact]map[string]int{}
		for i := range t.DNS {
			q := &t.DNS[i]
			if !dnsMatch(ioc, q) {
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
			if ioc.Kind == indicator.Domain && !slices.Contains(c.Names, q.QName) && ioc.MatchName(q.QName) {
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
		slices.SortStableFunc(hit.Contacts, func(a, b Contact) int {
			if (a.Container == "") != (b.Container == "") {
				if a.Container == "" {
					return 1
				}
				return -1
			}
			return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.Container, b.Container))
		})
		for _, c := range hit.Contacts {
			if c.Container != "" {
				hit.Containers = append(hit.Containers, c.Container)
			} else if slices.Contains(c.Rules, traffic.RuleUnknown) {
				hit.Unattributed = true
			}
		}
		hits = append(hits, hit)
	}
	return hits
}

func pointOf(c *Contact, f *traffic.Flow) *Point {
	for i := range c.Points {
		if c.Points[i].Member == f.Member && c.Points[i].Interface == f.Interface {
			return &c.Points[i]
		}
	}
	c.Points = append(c.Points, Point{Member: f.Member, Interface: f.Interface, Role: f.Role})
	return &c.Points[len(c.Points)-1]
}

// flowMatch reports whether the flow matches the indicator and whether
// the indicator is on the server side.
func flowMatch(ioc indicator.Indicator, f *traffic.Flow) (toServer, ok bool) {
	switch {
	case ioc.MatchAddr(f.Server):
		return true, true
	case ioc.MatchAddr(f.Client):
		return false, true
	case f.Original != nil && ioc.MatchAddr(f.Original.Dst):
		return true, true
	case f.Original != nil && ioc.MatchAddr(f.Original.Src):
		return false, true
	case ioc.Kind != indicator.Domain:
		return false, false
	}
	if ioc.MatchName(f.SNI) || ioc.MatchName(f.HTTPHost) {
		return true, true
	}
	for _, n := range f.Names {
		if ioc.MatchName(n) {
			return f.ContainerSide != "server", true
		}
	}
	return false, false
}

// dnsMatch reports whether a lookup asked for the indicator's domain or
// was answered with it (an address, or a name in the CNAME chain).
func dnsMatch(ioc indicator.Indicator, q *traffic.DNSQuery) bool {
	if ioc.MatchName(q.QName) {
		return true
	}
	for _, a := range q.Response().Answers {
		if ioc.MatchName(a.Name) || ioc.MatchName(a.Target) || ioc.MatchAddr(a.Addr) {
			return true
		}
	}
	return false
}

// MatchFlow reports whether a flow matches the indicator: an endpoint (or
// the pre-NAT tuple) for addresses and CIDRs; SNI, HTTP Host or a name the
// container's DNS gave the remote for domains.
func MatchFlow(i indicator.Indicator, f *traffic.Flow) bool {
	_, ok := flowMatch(i, f)
	return ok
}

// label is how the analysis names an indicator: as typed, with defanged
// dots restored, so that the answer reads as the list did. CIDRs and
// domains found in findings and the timeline are named by their canonical
// form instead (see iocSet).
func label(i indicator.Indicator) string { return indicator.Refang(i.Text) }
