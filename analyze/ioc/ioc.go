package ioc

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/internal/indicator"
)

// maxIOCEvidence bounds the evidence entries of one contact: the first 32
// of its conversations and lookups; the counters cover all of them.
const maxIOCEvidence = 32

// Hit is what the evidence says about one indicator.
type Hit struct {
	IOC  string `json:"ioc"`
	Kind string `json:"kind"`
	// Containers are the ids of the containers that talked to the
	// indicator (or looked it up), by first contact: those named alone,
	// not the members of a group or the candidates of an address.
	Containers []string `json:"containers,omitempty"`
	// Unattributed says some matching traffic stays "host or unknown".
	Unattributed bool `json:"unattributed,omitempty"`
	// Contacts has one entry per container, namespace group, set of
	// candidates or host process, then one per rule for the traffic no one
	// is named for (host, unknown, foreign).
	Contacts []Contact `json:"contacts"`
}

// Contact is one container's (group's, process's, or the unattributed)
// conversations with an indicator. Conversations counts them (each once,
// whatever the capture points it crossed); packets and bytes are the sum
// over the conversations of each one's counted point (traffic.Contact).
type Contact struct {
	Container     string `json:"container,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	// Who names an entry that is not one container: "group web-1,
	// sidecar-1 (shared network namespace)", "candidates gone-1 or
	// benign-1", "host process sshd (pid 300)"; empty for a container.
	Who        string                 `json:"who,omitempty"`
	Group      []traffic.ContainerRef `json:"group,omitempty"`
	Candidates []traffic.Candidate    `json:"candidates,omitempty"`
	Rules      []string               `json:"rules"`
	// Confidence is the highest of the conversations'; never high for
	// candidates.
	Confidence string       `json:"confidence"`
	Remotes    []netip.Addr `json:"remotes,omitempty"`
	Names      []string     `json:"names,omitempty"`
	First      time.Time    `json:"first"`
	Last       time.Time    `json:"last"`
	// Exact says every conversation was captured; else Dating says how the
	// first estimated one was dated.
	Exact         bool   `json:"exact"`
	Dating        string `json:"dating,omitempty"`
	Conversations int    `json:"conversations"`
	// Lookups counts the DNS responses that matched, at the capture point
	// that saw the most of them.
	Lookups      int    `json:"dns_lookups"`
	PacketsToIOC uint64 `json:"packets_to_ioc"`
	PacketsFrom  uint64 `json:"packets_from_ioc"`
	BytesToIOC   uint64 `json:"bytes_to_ioc"`
	BytesFrom    uint64 `json:"bytes_from_ioc"`
	// Processes hold the conversations' sockets, in order met.
	Processes []traffic.Process `json:"processes,omitempty"`
	// Points are the capture points that saw the conversations.
	Points []Point `json:"points"`
	// Sources counts the observations behind the conversations, by kind
	// (capture, socket, conntrack).
	Sources  map[string]int   `json:"sources"`
	Evidence []model.Evidence `json:"evidence"`
	// Path is the container's routing path towards the first remote
	// address, from the host model.
	Path *netpath.Path `json:"path,omitempty"`
}

// Point is one capture point's share of a contact: the conversations it
// saw and their packets there.
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

// confidenceRanks orders the attribution confidences.
var confidenceRanks = map[string]int{traffic.ConfidenceNone: 0, traffic.ConfidenceLow: 1, traffic.ConfidenceMedium: 2, traffic.ConfidenceHigh: 3}

// Match matches the indicators against the contacts (either endpoint, the
// pre-NAT tuple and the translated one of each captured flow, SNI, HTTP
// Host, the names DNS gave the remote) and the DNS log (question, answers,
// CNAME chain). A contact that is the indicator's own end (servesIndicator)
// names no one.
func Match(h *model.Host, t *traffic.Result, iocs []indicator.Indicator) []Hit {
	var hits []Hit
	for _, ioc := range iocs {
		hit := Hit{IOC: label(ioc), Kind: string(ioc.Kind), Contacts: []Contact{}}
		byKey := map[string]*Contact{}
		var order []string
		entry := func(key string, mk func() Contact) *Contact {
			c := byKey[key]
			if c == nil {
				v := mk()
				v.Rules, v.Points, v.Evidence, v.Sources, v.Exact = []string{}, []Point{}, []model.Evidence{}, map[string]int{}, true
				v.Confidence = traffic.ConfidenceNone
				c = &v
				byKey[key] = c
				order = append(order, key)
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
		addRules := func(c *Contact, rules []string) {
			for _, r := range rules {
				if !slices.Contains(c.Rules, r) {
					c.Rules = append(c.Rules, r)
				}
			}
		}
		for i := range t.Contacts {
			k := &t.Contacts[i]
			toIOC, ok := contactMatch(ioc, t, k)
			if !ok || servesIndicator(ioc, k) {
				continue
			}
			c := entry(k.WhoKey(), func() Contact {
				return Contact{Container: k.Container, ContainerName: k.ContainerName, Who: who(k), Group: k.Group, Candidates: k.Candidates}
			})
			addRules(c, k.Rules)
			if confidenceRanks[k.Confidence] > confidenceRanks[c.Confidence] {
				c.Confidence = k.Confidence
			}
			seen(c, k.First, k.Last)
			if !k.Exact && c.Exact {
				c.Exact, c.Dating = false, k.Dating
			}
			c.Conversations++
			remote := k.Remote.Addr()
			if !toIOC {
				remote = k.Local.Addr()
			}
			if !slices.Contains(c.Remotes, remote) {
				c.Remotes = append(c.Remotes, remote)
			}
			for _, n := range slices.Concat([]string{k.SNI, k.HTTPHost}, k.Names) {
				if ioc.MatchName(n) && !slices.Contains(c.Names, n) {
					c.Names = append(c.Names, n)
				}
			}
			if toIOC {
				c.PacketsToIOC += k.PacketsToRemote
				c.PacketsFrom += k.PacketsFromRemote
				c.BytesToIOC += k.BytesToRemote
				c.BytesFrom += k.BytesFromRemote
			} else {
				c.PacketsToIOC += k.PacketsFromRemote
				c.PacketsFrom += k.PacketsToRemote
				c.BytesToIOC += k.BytesFromRemote
				c.BytesFrom += k.BytesToRemote
			}
			if k.Process != nil && !slices.ContainsFunc(c.Processes, func(p traffic.Process) bool { return p.PID == k.Process.PID }) {
				c.Processes = append(c.Processes, *k.Process)
			}
			for _, s := range k.Sources {
				c.Sources[s.Kind]++
				if s.Flow == nil {
					continue
				}
				f := &t.Flows[*s.Flow]
				pt := pointOf(c, f)
				pt.Flows++
				fToIOC := toIOC == (f.ContainerSide != "server")
				if fToIOC {
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
			}
			// Each observation's own evidence (the frames of each point,
			// the socket, the entry), then what decided.
			for _, s := range k.Sources {
				if len(c.Evidence) < maxIOCEvidence && s.Evidence != nil {
					c.Evidence = append(c.Evidence, *s.Evidence)
				}
			}
			for _, e := range k.Evidence {
				if len(c.Evidence) < maxIOCEvidence && !slices.Contains(c.Evidence, *e) {
					c.Evidence = append(c.Evidence, *e)
				}
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
			key := q.Container
			if key == "" {
				key = "rule:" + q.Rule
			}
			c := entry(key, func() Contact { return Contact{Container: q.Container, ContainerName: q.ContainerName} })
			addRules(c, []string{q.Rule})
			if q.Container != "" {
				conf := traffic.ConfidenceMedium
				if q.Rule == traffic.RuleVeth {
					conf = traffic.ConfidenceHigh
				}
				if confidenceRanks[conf] > confidenceRanks[c.Confidence] {
					c.Confidence = conf
				}
			}
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
			if c.Container != "" && len(c.Remotes) > 0 && h != nil {
				if p, err := netpath.Egress(h, c.Container, c.Remotes[0]); err == nil {
					c.Path = p
				}
			}
			hit.Contacts = append(hit.Contacts, *c)
		}
		slices.SortStableFunc(hit.Contacts, func(a, b Contact) int {
			an, bn := a.Container != "" || a.Who != "", b.Container != "" || b.Who != ""
			if an != bn {
				if !an {
					return 1
				}
				return -1
			}
			return cmp.Or(a.First.Compare(b.First), cmp.Compare(a.Container, b.Container), cmp.Compare(a.Who, b.Who))
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

// who names a contact that is not one container.
func who(k *traffic.Contact) string {
	names := func(refs []string) string { return strings.Join(refs, ", ") }
	switch {
	case k.Container != "":
		return ""
	case len(k.Group) > 0:
		var ns []string
		for _, g := range k.Group {
			ns = append(ns, cmp.Or(g.Name, g.ID))
		}
		return "group " + names(ns) + " (shared network namespace)"
	case len(k.Candidates) > 0:
		var ns []string
		for _, g := range k.Candidates {
			ns = append(ns, cmp.Or(g.Name, g.ID))
		}
		return "candidates " + strings.Join(ns, " or ") + " (the evidence cannot separate them)"
	case k.Process != nil:
		return fmt.Sprintf("host process %s (pid %d)", k.Process.Comm, k.Process.PID)
	}
	return ""
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

// contactMatch reports whether a contact matches the indicator and whether
// the indicator is its remote end: its own tuple (before NAT), each of its
// captured flows' tuples (after NAT), SNI, HTTP Host and the names DNS gave
// the remote address.
func contactMatch(ioc indicator.Indicator, t *traffic.Result, k *traffic.Contact) (toRemote, ok bool) {
	switch {
	case ioc.MatchAddr(k.Remote.Addr()):
		return true, true
	case ioc.MatchAddr(k.Local.Addr()):
		return false, true
	}
	for _, s := range k.Sources {
		if s.Flow == nil {
			continue
		}
		f := &t.Flows[*s.Flow]
		if toServer, ok := flowMatch(ioc, f); ok {
			return toServer == (f.ContainerSide != "server"), true
		}
	}
	if ioc.Kind != indicator.Domain {
		return false, false
	}
	if ioc.MatchName(k.SNI) || ioc.MatchName(k.HTTPHost) {
		return true, true
	}
	for _, n := range k.Names {
		if ioc.MatchName(n) {
			return true, true
		}
	}
	return false, false
}

// servesIndicator reports whether the contact is the indicator's own end:
// the server side of the conversation (its peer began it) at the
// indicator's address. Its holder serves that address on this host, as a
// listener's accepted connection does; it is not in contact with the
// indicator, and naming it would answer "who talked to the address" with
// the address itself. Its peer, when it is on this host, has a contact of
// its own with the indicator as the remote end.
func servesIndicator(ioc indicator.Indicator, k *traffic.Contact) bool {
	return k.Side == "server" && ioc.MatchAddr(k.Local.Addr()) && !ioc.MatchAddr(k.Remote.Addr())
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

// MatchContact reports whether a conversation matches the indicator: its
// own tuple (before NAT), the tuples of its captured flows (after NAT),
// SNI, HTTP Host or a name DNS gave its remote address.
func MatchContact(i indicator.Indicator, t *traffic.Result, k *traffic.Contact) bool {
	_, ok := contactMatch(i, t, k)
	return ok
}

// label is how the analysis names an indicator: as typed, with defanged
// dots restored, so that the answer reads as the list did. CIDRs and
// domains found in findings and the timeline are named by their canonical
// form instead (see iocSet).
func label(i indicator.Indicator) string { return indicator.Refang(i.Text) }
