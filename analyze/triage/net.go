package triage

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/indicator"
)

// miningPorts are the ports that mining pools' stratum servers listen on
// and little else does: 3333 (the stratum default of most pool software),
// 14433 and 14444 (Monero pools, TLS and plain), 45560 and 45700 (Monero
// pools). Ports that pools also use but that are not theirs (4444, 5555,
// 7777, 9999: Metasploit, adb, game and admin servers) are not listed: on
// their own they say nothing about mining.
var miningPorts = map[uint16]bool{3333: true, 14433: true, 14444: true, 45560: true, 45700: true}

// metasploitPort is the port of Metasploit's default handler (LPORT): the
// port a reverse shell or Meterpreter stage connects back to when the
// operator kept the default.
const metasploitPort = 4444

// Beaconing thresholds.
const (
	// beaconMinConnections is how many connections to one destination make
	// a series worth judging: fewer intervals say nothing about regularity.
	beaconMinConnections = 5
	// beaconMaxJitter is the largest coefficient of variation (standard
	// deviation over mean) of the intervals still called regular; implants
	// add some jitter, people and browsers add a lot more.
	beaconMaxJitter = 0.25
	// repeatedContactMin is how many conntrack entries to one destination
	// from one container the snapshot must hold to be called repeated.
	repeatedContactMin = 3
	// samePacketSkew is how close two flow starts must be to be one
	// connection seen at several capture points (veth, bridge, uplink): a
	// packet crosses them in microseconds; a beacon's interval is seconds.
	samePacketSkew = 10 * time.Millisecond
)

// High-entropy DNS names: a label this long and this random looks
// generated (DGA) or carries data (tunnelling).
const (
	dnsEntropyMinLabel = 16
	dnsEntropyMinBits  = 3.5
)

// MatchAddr returns the indicator of set that an address matches, named
// as a finding and the timeline name it: an address as typed (refanged), a
// CIDR masked. A nil set matches nothing.
func MatchAddr(set *indicator.Set, a netip.Addr) (string, bool) {
	i, ok := set.Addr(a)
	if !ok {
		return "", false
	}
	if i.Kind == indicator.CIDR {
		return i.Prefix.String(), true
	}
	return indicator.Refang(i.Text), true
}

// MatchName returns the domain indicator of set that a name is or lies
// under, named as a finding and the timeline name it: the domain,
// lowercase. A nil set matches nothing.
func MatchName(set *indicator.Set, name string) (string, bool) {
	i, ok := set.Name(name)
	return i.Domain, ok
}

// containerByAddr returns the container that held addr at the time at
// (the collection's end when at is zero).
func (t *state) containerByAddr(addr netip.Addr, at time.Time) *model.Container {
	if at.IsZero() {
		at = t.h.Collected
	}
	if l, ok := t.h.Owner(addr, at); ok {
		return t.containerByID(l.Container)
	}
	// A model without times (no leases built): fall back to the current
	// endpoints.
	for _, c := range t.h.Containers {
		for _, ep := range c.Endpoints {
			if ep.IP == addr.Unmap() || ep.IPv6 == addr {
				return c
			}
		}
	}
	return nil
}

func (t *state) conntrackRules() []Finding {
	type key struct {
		c     *model.Container
		dst   string
		dport uint16
		proto string
	}
	groups := map[key][]model.Evidence{}
	var order []key
	type iocKey struct {
		c   *model.Container
		ioc string
	}
	iocHits := map[iocKey][]model.Evidence{}
	var iocOrder []iocKey
	var out []Finding
	for _, ct := range t.h.Conntrack {
		src, err := netip.ParseAddr(ct.OrigSrc)
		if err != nil {
			continue
		}
		dst, err := netip.ParseAddr(ct.OrigDst)
		if err != nil || dst.IsMulticast() || dst.IsLoopback() {
			continue
		}
		c := t.containerByAddr(src, time.Time{})
		if c == nil {
			continue
		}
		e := ct.Evidence
		e.Text = fmt.Sprintf("%s %s:%d -> %s:%d", ct.Proto, ct.OrigSrc, ct.OrigSPort, ct.OrigDst, ct.OrigDPort)
		if v, ok := MatchAddr(t.in.IOCs, dst); ok {
			k := iocKey{c, v}
			if _, seen := iocHits[k]; !seen {
				iocOrder = append(iocOrder, k)
			}
			iocHits[k] = append(iocHits[k], e)
		}
		if t.containerByAddr(dst, time.Time{}) != nil {
			continue // container to container
		}
		k := key{c, ct.OrigDst, ct.OrigDPort, ct.Proto}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	for _, k := range iocOrder {
		for _, e := range iocHits[k] {
			out = append(out, t.iocFinding(k.c, k.ioc, time.Time{}, time.Time{}, e))
		}
	}
	for _, k := range order {
		evs := groups[k]
		if f, ok := t.portFinding(k.c, k.proto, k.dport, time.Time{}, time.Time{}, evs[0]); ok {
			f.Count = len(evs)
			out = append(out, f)
		}
		if len(evs) >= repeatedContactMin {
			dst, _ := netip.ParseAddr(k.dst)
			sev, why := SeverityMedium, "several connections to one outside address still in conntrack at the moment of collection is what a beacon leaves; the snapshot has no start times, so regularity is judged from the captures (beaconing)"
			v, isIOC := MatchAddr(t.in.IOCs, dst)
			switch {
			case isIOC:
				sev, why = SeverityHigh, "several connections to an address on the IOC list still in conntrack at the moment of collection: the container keeps coming back to it, as a beacon does"
			case dst.IsPrivate() || dst.IsLinkLocalUnicast():
				sev, why = SeverityLow, "several connections to one private address outside the containers still in conntrack; often an internal service (a database, a proxy), a beacon only if nothing there should be talking to"
			}
			f := t.finding(k.c, "repeated-contact", sev, fmt.Sprintf("Repeated connections to %s %s:%d (%d in the conntrack snapshot)", k.proto, k.dst, k.dport, len(evs)), why, evs...)
			if isIOC {
				f.Indicator = v
			}
			f.Count, f.group = len(evs), fmt.Sprintf("%s/%s/%d", k.proto, k.dst, k.dport)
			out = append(out, f)
		}
	}
	return out
}

// iocFinding is one observation of contact with an indicator; Run groups
// them per container and indicator.
// A domain is looked up, not contacted: its findings say so.
func (t *state) iocFinding(c *model.Container, ioc string, first, last time.Time, ev ...model.Evidence) Finding {
	title := "Contact with IOC " + ioc
	if _, err := netip.ParsePrefix(ioc); err != nil {
		if _, err := netip.ParseAddr(ioc); err != nil {
			title = "Lookup of IOC domain " + ioc
		}
	}
	f := t.finding(c, "ioc-contact", SeverityCritical, title,
		"this container exchanged traffic with an indicator on the IOC list, or looked it up (captured flows, conntrack entries, DNS lookups: the evidence says which)", ev...)
	f.Indicator, f.Count, f.First, f.Last = ioc, 1, first, last
	return f
}

// portFinding is one observation of traffic to a port that names its
// software: a mining pool's stratum port, Metasploit's default handler.
func (t *state) portFinding(c *model.Container, proto string, port uint16, first, last time.Time, ev ...model.Evidence) (Finding, bool) {
	var f Finding
	switch {
	case (proto == "tcp" || proto == "udp") && miningPorts[port]:
		f = t.finding(c, "mining-pool-port", SeverityMedium, fmt.Sprintf("Traffic to %s port %d (a mining-pool stratum port)", proto, port),
			"mining pools' stratum servers listen on these ports and little else does; check what listens at the remote address and whether a miner runs in the container", ev...)
	case proto == "tcp" && port == metasploitPort:
		f = t.finding(c, "metasploit-default-port", SeverityMedium, fmt.Sprintf("Traffic to tcp port %d (Metasploit's default handler port)", port),
			"4444 is the port a Metasploit reverse shell or Meterpreter stage connects back to by default; other software uses it too, so check what answers at the remote address", ev...)
	default:
		return Finding{}, false
	}
	f.Count, f.First, f.Last, f.group = 1, first, last, fmt.Sprintf("%s/%d", proto, port)
	return f, true
}

func (t *state) flowRules() []Finding {
	if len(t.in.Flows) == 0 {
		return nil
	}
	type key struct {
		container, proto string
		remote           netip.Addr
		port             uint16
	}
	groups := map[key][]FlowSummary{}
	var out []Finding
	for _, f := range t.in.Flows {
		c := t.containerByID(f.Container)
		if c == nil && f.Container != "" {
			c = &model.Container{ID: f.Container}
		}
		ev := f.Evidence
		if len(ev) == 0 {
			ev = []model.Evidence{{Member: "(flows)", Text: fmt.Sprintf("%s %s:%d", f.Proto, f.Remote, f.RemotePort)}}
		}
		if v, ok := MatchAddr(t.in.IOCs, f.Remote); ok {
			out = append(out, t.iocFinding(c, v, f.First, f.Last, ev...))
		}
		if pf, ok := t.portFinding(c, f.Proto, f.RemotePort, f.First, f.Last, ev...); ok {
			out = append(out, pf)
		}
		if f.Estimated {
			continue // an estimated time says nothing of a period
		}
		k := key{f.Container, f.Proto, f.Remote, f.RemotePort}
		groups[k] = append(groups[k], f)
	}
	keys := make([]key, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.container != b.container {
			return a.container < b.container
		}
		if a.remote != b.remote {
			return a.remote.Less(b.remote)
		}
		if a.port != b.port {
			return a.port < b.port
		}
		return a.proto < b.proto
	})
	for _, k := range keys {
		fs := groups[k]
		period, jitter, conns, ok := beaconPeriod(fs)
		if !ok {
			continue
		}
		c := t.containerByID(k.container)
		if c == nil && k.container != "" {
			c = &model.Container{ID: k.container}
		}
		var ev []model.Evidence
		for _, f := range fs {
			ev = append(ev, f.Evidence...)
			if len(ev) >= 10 {
				break
			}
		}
		shown := period.Round(10 * time.Millisecond)
		if period >= 10*time.Second {
			shown = period.Round(time.Second)
		}
		bf := t.finding(c, "beaconing", SeverityHigh,
			fmt.Sprintf("Periodic contact with %s %s:%d every %s (%d connections, jitter %.0f%%)", k.proto, k.remote, k.port, shown, conns, jitter*100),
			"connections at regular intervals to one destination are what an implant checking in with its controller looks like; people and ordinary clients are not regular", ev...)
		if v, ok := MatchAddr(t.in.IOCs, k.remote); ok {
			bf.Severity, bf.Indicator = SeverityCritical, v
			bf.Why = "connections at regular intervals to an indicator on the IOC list: an implant checking in with its controller"
		}
		bf.Count, bf.group = conns, fmt.Sprintf("%s/%s/%d", k.proto, k.remote, k.port)
		for _, f := range fs {
			if bf.First.IsZero() || f.First.Before(bf.First) {
				bf.First = f.First
			}
			if f.Last.After(bf.Last) {
				bf.Last = f.Last
			}
		}
		out = append(out, bf)
	}
	return out
}

// beaconPeriod returns the mean interval between the starts of the
// connections, its coefficient of variation and the number of connections,
// when there are enough of them and they are regular. Flows that start
// within samePacketSkew of each other are one connection captured at
// several points.
func beaconPeriod(fs []FlowSummary) (time.Duration, float64, int, bool) {
	all := make([]time.Time, len(fs))
	for i, f := range fs {
		all[i] = f.First
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Before(all[j]) })
	var starts []time.Time
	for _, s := range all {
		if len(starts) == 0 || s.Sub(starts[len(starts)-1]) > samePacketSkew {
			starts = append(starts, s)
		}
	}
	if len(starts) < beaconMinConnections {
		return 0, 0, 0, false
	}
	var iv []float64
	for i := 1; i < len(starts); i++ {
		iv = append(iv, float64(starts[i].Sub(starts[i-1])))
	}
	var sum float64
	for _, v := range iv {
		sum += v
	}
	mean := sum / float64(len(iv))
	if mean <= 0 {
		return 0, 0, 0, false
	}
	var sq float64
	for _, v := range iv {
		sq += (v - mean) * (v - mean)
	}
	cv := math.Sqrt(sq/float64(len(iv))) / mean
	if cv > beaconMaxJitter {
		return 0, 0, 0, false
	}
	return time.Duration(mean), cv, len(starts), true
}

// shannonBits is the entropy of s in bits per character.
func shannonBits(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h
}

func (t *state) dnsRules() []Finding {
	if len(t.in.DNS) == 0 {
		return nil
	}
	var out []Finding
	seen := map[string]bool{}
	for _, d := range t.in.DNS {
		c := t.containerByID(d.Container)
		if c == nil && d.Container != "" {
			c = &model.Container{ID: d.Container}
		}
		ev := d.Evidence
		if len(ev) == 0 {
			ev = []model.Evidence{{Member: "(dns)", Text: d.Name}}
		}
		name := strings.TrimSuffix(strings.ToLower(d.Name), ".")
		if v, ok := MatchName(t.in.IOCs, name); ok {
			out = append(out, t.iocFinding(c, v, d.Time, d.Time, ev...))
		}
		k := d.Container + "\x00" + name
		if seen[k] {
			continue
		}
		seen[k] = true
		labels := strings.Split(name, ".")
		if len(labels) > 2 {
			labels = labels[:len(labels)-2] // the registered domain is chosen once; the labels under it vary
		}
		for _, l := range labels {
			if len(l) >= dnsEntropyMinLabel && shannonBits(l) >= dnsEntropyMinBits {
				out = append(out, t.finding(c, "dns-high-entropy", SeverityMedium, fmt.Sprintf("High-entropy DNS name %s", truncateText(name, 120)),
					fmt.Sprintf("the label %q (%d characters, %.1f bits a character) looks generated or encoded: domain generation algorithms and DNS tunnels produce such names", truncateText(l, 64), len(l), shannonBits(l)), ev...))
				break
			}
		}
	}
	return out
}

const (
	memberImages = "docker/images.json"
	// maxImagesJSONBytes bounds docker/images.json: inspect and history of
	// each image, a few KiB each; 256 MiB is tens of thousands of images.
	maxImagesJSONBytes = 256 << 20
)

// pipeToShell matches a download piped into a shell in a build step.
var pipeToShell = regexp.MustCompile(`(?i)\b(curl|wget|fetch)\b[^|;&]*\|\s*(sudo\s+)?(\S*/)?(ba|da|z|k|a)?sh\b|\b(curl|wget)\b[^|;&]*\|\s*(sudo\s+)?(\S*/)?(python[0-9.]*|perl|ruby|php)\b`)

// bareIPFetch matches a download from a bare IPv4 address.
var bareIPFetch = regexp.MustCompile(`(?i)\b(curl|wget|fetch|ADD)\b.*\b(https?|ftp)://(\d{1,3}\.){3}\d{1,3}\b`)

func (t *state) imageHistoryRules() []Finding {
	data, ok := t.readMember(memberImages, maxImagesJSONBytes)
	if !ok {
		return nil
	}
	var images []struct {
		ID      string `json:"id"`
		History []struct {
			CreatedBy string `json:"CreatedBy"`
		} `json:"history"`
	}
	if err := json.Unmarshal(data, &images); err != nil {
		t.problem("%s: %v", memberImages, err)
		return nil
	}
	var out []Finding
	for _, c := range t.h.Containers {
		if c.ImageID == "" {
			continue
		}
		for i, im := range images {
			if im.ID != c.ImageID {
				continue
			}
			for j, h := range im.History {
				e := t.ev(memberImages, "/"+strconv.Itoa(i)+"/history/"+strconv.Itoa(j)+"/CreatedBy")
				e.Text = truncateText(h.CreatedBy, 1024)
				if pipeToShell.MatchString(h.CreatedBy) {
					out = append(out, t.finding(c, "image-pipe-to-shell", SeverityHigh, "Image build step pipes a download into a shell",
						"whatever the server sent at build time ran as root in the image, unchecked; if that server or the path to it was hostile, so is the image", e))
				}
				if bareIPFetch.MatchString(h.CreatedBy) {
					out = append(out, t.finding(c, "image-fetch-bare-ip", SeverityMedium, "Image build step downloads from a bare IP address",
						"legitimate sources are named; a download from a bare IP address is a common trait of malicious or tampered images", e))
				}
			}
		}
	}
	return out
}
