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

// miningPorts are the ports mining pools commonly listen on (stratum).
// Several are also used by other software: a hit is a lead, not a verdict.
var miningPorts = map[uint16]bool{3333: true, 4444: true, 5555: true, 6666: true, 7777: true, 9999: true, 14433: true, 14444: true, 45560: true, 45700: true}

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
		out = append(out, t.finding(k.c, "ioc-contact", SeverityCritical, fmt.Sprintf("Contact with IOC %s (%d connections in the conntrack snapshot)", k.ioc, len(iocHits[k])),
			"the conntrack table holds connections from this container to an address on the IOC list", iocHits[k]...))
	}
	for _, k := range order {
		evs := groups[k]
		if (k.proto == "tcp" || k.proto == "udp") && miningPorts[k.dport] {
			out = append(out, t.finding(k.c, "mining-pool-port", SeverityMedium, fmt.Sprintf("Connection to %s port %d (a common mining-pool port)", k.proto, k.dport),
				"mining pools listen on a few well-known stratum ports; other software uses them too, so check what listens at "+k.dst, evs[0]))
		}
		if len(evs) >= repeatedContactMin {
			out = append(out, t.finding(k.c, "repeated-contact", SeverityLow, fmt.Sprintf("Repeated connections to %s %s:%d (%d in the conntrack snapshot)", k.proto, k.dst, k.dport, len(evs)),
				"several connections to one outside destination still in conntrack at the moment of collection is what a beacon leaves; the snapshot has no start times, so regularity is judged from the captures", evs...))
		}
	}
	return out
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
			out = append(out, t.finding(c, "ioc-contact", SeverityCritical, fmt.Sprintf("Contact with IOC %s", v),
				fmt.Sprintf("captured traffic to an address on the IOC list, first %s, last %s", f.First.UTC().Format(time.RFC3339Nano), f.Last.UTC().Format(time.RFC3339Nano)), ev...))
		}
		if (f.Proto == "tcp" || f.Proto == "udp") && miningPorts[f.RemotePort] {
			out = append(out, t.finding(c, "mining-pool-port", SeverityMedium, fmt.Sprintf("Traffic to %s port %d (a common mining-pool port)", f.Proto, f.RemotePort),
				"mining pools listen on a few well-known stratum ports; other software uses them too", ev...))
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
		period, jitter, ok := beaconPeriod(fs)
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
		out = append(out, t.finding(c, "beaconing", SeverityHigh,
			fmt.Sprintf("Periodic contact with %s %s:%d every %s (%d connections, jitter %.0f%%)", k.proto, k.remote, k.port, shown, len(fs), jitter*100),
			"connections at regular intervals to one destination are what an implant checking in with its controller looks like; people and ordinary clients are not regular", ev...))
	}
	return out
}

// beaconPeriod returns the mean interval between the starts of the flows
// and its coefficient of variation, when there are enough of them and they
// are regular.
func beaconPeriod(fs []FlowSummary) (time.Duration, float64, bool) {
	if len(fs) < beaconMinConnections {
		return 0, 0, false
	}
	starts := make([]time.Time, len(fs))
	for i, f := range fs {
		starts[i] = f.First
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Before(starts[j]) })
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
		return 0, 0, false
	}
	var sq float64
	for _, v := range iv {
		sq += (v - mean) * (v - mean)
	}
	cv := math.Sqrt(sq/float64(len(iv))) / mean
	if cv > beaconMaxJitter {
		return 0, 0, false
	}
	return time.Duration(mean), cv, true
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
			out = append(out, t.finding(c, "ioc-contact", SeverityCritical, fmt.Sprintf("Lookup of IOC domain %s", v),
				fmt.Sprintf("the container resolved %q, on the IOC list", name), ev...))
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
