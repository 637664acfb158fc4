package report

import (
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// Summary prints the terminal summary of an analysis: the answer first
// (for each indicator who talked to it, with which process, when, how
// much, by which path, and the container's worst findings; integrity in
// one line), then the bundle, tables of containers, networks, paths and
// the visibility matrix, then what is unknown. A result from an
// unverified bundle says so on the first line.
func Summary(w io.Writer, res *analyze.Result) error { return SummaryWidth(w, res, 0) }

// SummaryWidth is Summary with its tables fitted to a terminal width
// columns wide (cells wrapped); 0 leaves them their natural width.
func SummaryWidth(w io.Writer, res *analyze.Result, width int) error {
	t := TerminalText
	if res.Warning != "" {
		fmt.Fprintf(w, "WARNING: %s\n\n", t(res.Warning))
	}
	summaryAnswer(w, res)
	fmt.Fprintln(w)
	b := res.Bundle
	fmt.Fprintf(w, "analysis:  %s\n", res.Version)
	fmt.Fprintf(w, "bundle:    %s\n", t(b.Root))
	if b.SHA256 != "" {
		fmt.Fprintf(w, "sha256:    %s\n", b.SHA256)
	}
	fmt.Fprintf(w, "case:      %s\n", t(b.Case))
	fmt.Fprintf(w, "host:      %s\n", t(b.Host))
	fmt.Fprintf(w, "window:    %s … %s\n", b.Started.UTC().Format(time.RFC3339), b.Finished.UTC().Format(time.RFC3339))
	switch {
	case !b.Verified:
		fmt.Fprintf(w, "verified:  NO: %s\n", t(b.VerificationError))
	case b.Trusted:
		fmt.Fprintf(w, "signer:    %s (trusted)\n", t(b.Signer))
	default:
		fmt.Fprintf(w, "signer:    %s (NOT YET TRUSTED: compare with the case notes, then use --fingerprint)\n", t(b.Signer))
	}
	if b.Complete {
		fmt.Fprintln(w, "complete:  yes")
	} else {
		fmt.Fprintln(w, "complete:  NO")
		for _, g := range b.Gaps {
			fmt.Fprintf(w, "  gap: %s\n", t(g))
		}
	}
	fmt.Fprintf(w, "firewall:  layout %s, forward policy %s\n", t(orDash(res.Host.FirewallLayout)), t(orDash(res.Host.ForwardPolicy)))
	var dsts []string
	for _, d := range res.Host.Destinations {
		dsts = append(dsts, d.String())
	}
	fmt.Fprintf(w, "towards:   %s\n", strings.Join(dsts, ", "))

	sections := []struct {
		title string
		fn    func(io.Writer, *analyze.Result, int) error
	}{
		{"Containers", containersTable},
		{"Networks", networksTable},
		{"Paths", pathsTable},
		{"Visibility (would a capture on the interface show the container's traffic?)", visibilityTable},
	}
	if len(res.Captures) > 0 {
		sections = append(sections, struct {
			title string
			fn    func(io.Writer, *analyze.Result, int) error
		}{"Traffic (conversations by who and attribution rule)", trafficTable})
	}
	if len(res.IOCs) > 0 {
		sections = append(sections, struct {
			title string
			fn    func(io.Writer, *analyze.Result, int) error
		}{"Indicators (who talked to them; packets at the busiest capture point)", iocTable})
	}
	for _, s := range sections {
		fmt.Fprintf(w, "\n%s\n", s.title)
		if err := s.fn(w, res, width); err != nil {
			return err
		}
	}
	if n := res.Unattributed(); n > 0 {
		fmt.Fprintf(w, "\nUnattributed: %d captured flows stay \"host or unknown\" (rule unknown; see dockcase flows)\n", n)
	}
	for _, p := range res.TrafficProblems {
		fmt.Fprintf(w, "  traffic: %s\n", t(p))
	}
	// A capture read in part (cut short, the flow table bound hit) is said
	// here too: the tables above hold less than the capture.
	for _, c := range res.Captures {
		for _, p := range c.Problems {
			fmt.Fprintf(w, "  capture %s: %s\n", t(c.Member), t(p))
		}
	}
	if len(res.Missing) > 0 {
		fmt.Fprintln(w, "\nUnknown (the bundle lacks it)")
		for _, m := range res.Missing {
			fmt.Fprintf(w, "  - %s\n", t(m))
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func containersTable(w io.Writer, res *analyze.Result, width int) error {
	var rows [][]string
	for _, c := range res.Containers {
		var addrs, ports []string
		for _, ep := range c.Endpoints {
			a := ep.Network
			if ep.IP.IsValid() {
				a += " " + ep.IP.String()
			}
			if ep.IPv6.IsValid() {
				a += " " + ep.IPv6.String()
			}
			addrs = append(addrs, a)
		}
		for _, p := range c.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d->%d/%s", p.HostIP, p.HostPort, p.ContainerPort, p.Proto))
		}
		netns := ""
		if c.NetNS != 0 {
			netns = strconv.FormatUint(c.NetNS, 10)
		}
		rows = append(rows, []string{c.Name, shortID(c.ID), c.State, c.NetworkMode, strings.Join(addrs, "; "), strings.Join(ports, " "), netns})
	}
	return TableWidth(w, width, []string{"container", "id", "state", "mode", "addresses", "published", "netns"}, rows)
}

func networksTable(w io.Writer, res *analyze.Result, width int) error {
	var rows [][]string
	for _, n := range res.Networks {
		var subnets []string
		for _, s := range n.Subnets {
			subnets = append(subnets, s.String())
		}
		iface := n.Bridge
		if n.Parent != "" {
			iface = "parent " + n.Parent
		}
		flags := ""
		if n.Internal {
			flags = "internal"
		}
		rows = append(rows, []string{n.Name, n.Driver, strings.Join(subnets, " "), iface, strconv.Itoa(len(n.Containers)), flags})
	}
	return TableWidth(w, width, []string{"network", "driver", "subnets", "bridge", "containers", "flags"}, rows)
}

func pathsTable(w io.Writer, res *analyze.Result, width int) error {
	var rows [][]string
	for _, p := range res.Paths {
		var via []string
		natRule := ""
		for _, h := range p.Hops {
			switch h.Kind {
			case netpath.HopVeth, netpath.HopBridge, netpath.HopParent:
				if len(via) == 0 || via[len(via)-1] != h.Iface {
					via = append(via, h.Iface)
				}
			case netpath.HopNAT, netpath.HopDNAT:
				for _, e := range h.Evidence {
					if e.Line > 0 {
						natRule = fmt.Sprintf("%s:%d", e.Member[strings.LastIndex(e.Member, "/")+1:], e.Line)
					}
				}
			}
		}
		nat := "no"
		if p.NAT {
			nat = "yes " + natRule
		} else if p.Kind == netpath.PathInbound && natRule != "" {
			nat = "dnat " + natRule
		}
		dst := addrOr(p.Dst, "-")
		if p.DPort != 0 {
			dst += ":" + strconv.Itoa(int(p.DPort)) + "/" + p.Proto
		}
		status := orDash(p.Verdict)
		if len(p.Unknown) > 0 {
			status = "unknown: " + p.Unknown[0]
		} else if len(p.Hops) == 0 && len(p.Notes) > 0 {
			status = p.Notes[0]
		}
		rows = append(rows, []string{p.ContainerName, p.Kind, dst, strings.Join(via, " → "), orDash(p.OutIface), addrOr(p.FinalSrc, "-"), nat, status})
	}
	return TableWidth(w, width, []string{"container", "kind", "to", "via", "out", "source out", "nat", "verdict"}, rows)
}

func addrOr(a netip.Addr, alt string) string {
	if !a.IsValid() {
		return alt
	}
	return a.String()
}

// visibilityTable prints one matrix per destination: a row per container, a
// column per interface.
func visibilityTable(w io.Writer, res *analyze.Result, width int) error {
	for _, dst := range res.Host.Destinations {
		var ifaces []string
		seen := map[string]bool{}
		cells := map[string]map[string]string{}
		var order []string
		for _, v := range res.Visibility {
			if v.Dst != dst {
				continue
			}
			if !seen[v.Iface] {
				seen[v.Iface] = true
				ifaces = append(ifaces, v.Iface)
			}
			if cells[v.ContainerName] == nil {
				cells[v.ContainerName] = map[string]string{}
				order = append(order, v.ContainerName)
			}
			cell := v.Visible
			switch v.Visible {
			case netpath.VisibleYes:
				cell = "yes " + addrOr(v.Src, "?")
				if v.As == "host" {
					cell += " (host)"
				}
			case netpath.VisibleNo:
				cell = "-"
			case netpath.VisibleUnknown:
				cell = "?"
			}
			cells[v.ContainerName][v.Iface] = cell
		}
		fmt.Fprintf(w, "towards %s\n", dst)
		var rows [][]string
		for _, name := range order {
			row := []string{name}
			for _, i := range ifaces {
				row = append(row, cells[name][i])
			}
			rows = append(rows, row)
		}
		if err := TableWidth(w, width, append([]string{"container"}, ifaces...), rows); err != nil {
			return err
		}
	}
	return nil
}

// PathDetail prints one path hop by hop, each hop with its evidence.
func PathDetail(w io.Writer, p *netpath.Path) error {
	t := TerminalText
	fmt.Fprintf(w, "%s path of %s (%s, network mode %s) to %s\n", p.Kind, t(p.ContainerName), shortID(p.Container), t(p.NetworkMode), addrOr(p.Dst, "-"))
	for i, h := range p.Hops {
		fmt.Fprintf(w, "%2d. [%s] %s\n", i+1, h.Kind, t(h.Text))
		for _, e := range h.Evidence {
			where := e.Pointer
			if e.Line > 0 {
				where = "line " + strconv.Itoa(e.Line)
			}
			sum := ""
			if len(e.SHA256) >= 12 {
				sum = " sha256:" + e.SHA256[:12]
			}
			text := ""
			if e.Text != "" {
				text = ": " + e.Text
			}
			fmt.Fprintf(w, "      evidence: %s %s%s%s\n", t(e.Member), t(where), sum, t(text))
		}
	}
	if p.Verdict == "drop" || p.Verdict == "reject" {
		fmt.Fprintf(w, "dropped in the forward path (%s): it does not leave by %s\n", p.Verdict, t(p.OutIface))
	} else if p.FinalSrc.IsValid() {
		fmt.Fprintf(w, "source as it leaves: %s", p.FinalSrc)
		if p.OutIface != "" {
			fmt.Fprintf(w, " by %s", t(p.OutIface))
		}
		if p.NAT {
			fmt.Fprint(w, " (after NAT)")
		}
		fmt.Fprintln(w)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", t(n))
	}
	for _, u := range p.Unknown {
		fmt.Fprintf(w, "unknown: %s\n", t(u))
	}
	return nil
}

// trafficTable counts the conversations (contacts) per who, rule and
// confidence: each once, its packets those of its counting point, with the
// capture points (or other sources) that saw them.
func trafficTable(w io.Writer, res *analyze.Result, width int) error {
	type key struct{ who, rule, conf string }
	type agg struct {
		flows, pkts int
		points      map[string]bool
	}
	m := map[key]*agg{}
	var keys []key
	for i := range res.Contacts {
		c := &res.Contacts[i]
		rule := traffic.RuleUnknown
		if len(c.Rules) > 0 {
			rule = c.Rules[0]
		}
		who := contactWho(c)
		if who == "host or unknown" {
			who = "(" + rule + ")"
		}
		k := key{who, rule, c.Confidence}
		a := m[k]
		if a == nil {
			a = &agg{points: map[string]bool{}}
			m[k] = a
			keys = append(keys, k)
		}
		a.flows++
		a.pkts += int(c.PacketsToRemote + c.PacketsFromRemote)
		for _, s := range c.Sources {
			if s.Interface != "" {
				a.points[s.Interface] = true
			} else {
				a.points["("+s.Kind+")"] = true
			}
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.who != b.who {
			return a.who < b.who
		}
		return a.rule < b.rule
	})
	var rows [][]string
	for _, k := range keys {
		a := m[k]
		var pts []string
		for p := range a.points {
			pts = append(pts, p)
		}
		sort.Strings(pts)
		rows = append(rows, []string{k.who, k.rule, k.conf, strconv.Itoa(a.flows), strconv.Itoa(a.pkts), strings.Join(pts, " ")})
	}
	for _, c := range res.Captures {
		if c.Error != "" {
			rows = append(rows, []string{"(capture " + c.Member + ")", "error", "-", "-", "-", c.Error})
		}
	}
	return TableWidth(w, width, []string{"who", "rule", "confidence", "conversations", "packets", "seen at"}, rows)
}

// iocTable lists each indicator's contacts.
func iocTable(w io.Writer, res *analyze.Result, width int) error {
	var rows [][]string
	for _, h := range res.IOCs {
		if len(h.Contacts) == 0 {
			rows = append(rows, []string{h.IOC, "(not seen)", "-", "-", "-", "-", "-"})
			continue
		}
		for _, c := range h.Contacts {
			who := c.ContainerName
			if who == "" {
				who = c.Who
			}
			if who == "" {
				who = "(" + strings.Join(c.Rules, ",") + ")"
			}
			var pts []string
			for _, p := range c.Points {
				pts = append(pts, p.Interface)
			}
			rows = append(rows, []string{h.IOC, who, strings.Join(c.Rules, ","),
				c.First.UTC().Format(time.RFC3339) + " … " + c.Last.UTC().Format(time.RFC3339),
				fmt.Sprintf("%d/%d", c.PacketsToIOC, c.PacketsFrom), strconv.Itoa(c.Lookups), strings.Join(pts, " ")})
		}
	}
	return TableWidth(w, width, []string{"indicator", "container", "rules", "first … last", "pkts to/from", "dns", "capture points"}, rows)
}
