package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/dockcase/dockcase/analyze"
)

// Markdown writes the report of an analysis as GitHub-flavoured Markdown for
// tickets and wikis: the sections of the HTML report in the same order, GFM
// tables, and the topology as a plain list of paths. Every value from the
// evidence goes through MarkdownText or MarkdownCode. Its output is
// deterministic for a given result.
func Markdown(w io.Writer, res *analyze.Result) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	m := &mdWriter{w: bw}
	m.report(buildView(res))
	if m.err != nil {
		return fmt.Errorf("render markdown report: %w", m.err)
	}
	return bw.Flush()
}

// mdWriter writes Markdown and keeps the first write error.
type mdWriter struct {
	w   *bufio.Writer
	err error
}

// line writes one line of fixed text; values must already be escaped.
func (m *mdWriter) line(format string, a ...any) {
	if m.err != nil {
		return
	}
	_, m.err = fmt.Fprintf(m.w, format+"\n", a...)
}

// mdT escapes a value for running text or a table cell.
func mdT(s string) string { return MarkdownText(s) }

// mdC renders a value as inline code.
func mdC(s string) string { return MarkdownCode(s) }

func mdJoin(ss []string, f func(string) string, sep string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = f(s)
	}
	return strings.Join(out, sep)
}

// table writes a GFM table; every cell is escaped as text (cells of the
// code columns as inline code).
func (m *mdWriter) table(t viewTable, code ...int) {
	if len(t.Rows) == 0 {
		m.line("%s", t.Empty) // the report's own text, Markdown as written
		m.line("")
		return
	}
	isCode := map[int]bool{}
	for _, c := range code {
		isCode[c] = true
	}
	m.line("| %s |", mdJoin(t.Header, mdT, " | "))
	m.line("|%s", strings.Repeat(" --- |", len(t.Header)))
	for _, r := range t.Rows {
		cells := make([]string, len(r))
		for i, c := range r {
			if isCode[i] && c != "" {
				cells[i] = mdC(c)
			} else {
				cells[i] = mdT(c)
			}
		}
		m.line("| %s |", strings.Join(cells, " | "))
	}
	m.line("")
	if t.Truncated() {
		m.line("> %s", t.Rest)
		m.line("")
	}
}

func (m *mdWriter) facts(facts [][2]string) {
	m.line("| | |")
	m.line("| --- | --- |")
	for _, f := range facts {
		v := mdT(f[1])
		if f[1] != "" {
			v = mdC(f[1])
		}
		m.line("| %s | %s |", mdT(f[0]), v)
	}
	m.line("")
}

func (m *mdWriter) report(v *reportView) {
	if v.Warning != "" {
		m.line("**WARNING: %s**", mdT(v.Warning))
		m.line("")
	}
	m.line("# dockcase report: case %s, host %s", mdT(v.Case), mdT(v.Host))
	m.line("")
	m.answer(v)
	m.line("Every name below comes from the evidence and may have been chosen by an attacker; it is shown as text.")
	m.line("")
	m.topology(v)
	m.integrity(v)
	m.answers(v)
	m.containers(v)
	m.findings(v)
	m.line("## Conversations")
	m.line("")
	m.table(v.Captures, 0)
	m.table(v.Flows, 1, 5, 8)
	m.line("## Timeline")
	m.line("")
	m.table(v.Timeline, 0)
	m.line("## Evidence index")
	m.line("")
	m.line("The bundle members this analysis cites, each with its SHA-256 as the signed manifest records it.")
	m.line("")
	m.table(v.Evidence, 0, 1)
	m.line("## Custody log")
	m.line("")
	m.table(v.Custody, 0, 3)
}

// answer writes the headline: per indicator who, which process, when,
// how much, the path, the rule and the container's worst findings; then
// integrity in one line.
func (m *mdWriter) answer(v *reportView) {
	m.line("## Answer")
	m.line("")
	for _, a := range v.Answer {
		m.line("### %s (%s)", mdC(a.IOC), mdT(a.Kind))
		m.line("")
		if a.NotSeen != "" {
			m.line("**%s**", mdT(a.NotSeen))
			m.line("")
		}
		for _, w := range a.Who {
			m.line("- **who**: %s", mdC(w.Who))
			for _, p := range w.Processes {
				m.line("- **process**: %s", mdC(p))
			}
			m.line("- **when**: %s", mdT(w.When))
			m.line("- **how much**: %s", mdT(w.HowMuch))
			if w.Path != "" {
				m.line("- **path**: %s", mdC(w.Path))
			}
			if w.AsAbove {
				m.line("- process, path, rule and findings as above")
			} else {
				m.line("- **rule**: %s", mdT(w.Rule))
			}
			for _, f := range w.Findings {
				m.line("- **finding**: %s %s %s", mdT(strings.ToUpper(f.Severity)), mdT(f.Title), mdC(f.ID))
			}
			if w.MoreProcesses > 0 {
				m.line("- and %d more process(es): see Answers", w.MoreProcesses)
			}
			if w.MoreFindings > 0 {
				m.line("- and %d more finding(s): see Findings", w.MoreFindings)
			}
			m.line("")
		}
	}
	if len(v.Answer) == 0 {
		m.line("No indicator was given (`--ioc`), so no contact is named.")
		if len(v.AnswerFindings) > 0 {
			m.line("The most severe findings:")
		}
		m.line("")
		for _, f := range v.AnswerFindings {
			m.line("- %s %s: %s %s", mdT(strings.ToUpper(f.Severity)), mdC(f.Container), mdT(f.Title), mdC(f.ID))
		}
		if len(v.AnswerFindings) > 0 {
			m.line("")
		}
	}
	m.line("**Integrity**: %s (details below)", mdT(v.IntegrityLine))
	m.line("")
}

func (m *mdWriter) integrity(v *reportView) {
	iv := v.Integrity
	m.line("## Integrity")
	m.line("")
	m.line("**%s**", mdT(iv.Verdict))
	m.line("")
	facts := append([][2]string{}, iv.Facts...)
	complete := "yes"
	if !iv.Complete {
		complete = "NO"
	}
	m.facts(facts)
	m.line("Collection complete: **%s**", complete)
	m.line("")
	if len(iv.Gaps) > 0 {
		m.line("What the collection could not get:")
		m.line("")
		for _, g := range iv.Gaps {
			m.line("- %s", mdT(g))
		}
		m.line("")
	}
	if len(iv.Missing) > 0 {
		m.line("Unknown to the analysis (the bundle lacks it):")
		m.line("")
		for _, g := range iv.Missing {
			m.line("- %s", mdT(g))
		}
		m.line("")
	}
}

func (m *mdWriter) answers(v *reportView) {
	m.line("## Contacts and paths")
	m.line("")
	if v.NoIOCs {
		m.line("No indicator was given (`--ioc`), so no contact is named. Below: each container's path towards %s, hop by hop with its evidence, and where a capture would see it.", mdJoin(v.Destinations, mdC, ", "))
		m.line("")
	} else {
		m.line("| indicator | kind | containers |")
		m.line("| --- | --- | --- |")
		for _, i := range v.IOCs {
			cs := mdJoin(i.Containers, mdC, ", ")
			if cs == "" {
				cs = "none"
			}
			m.line("| %s | %s | %s |", mdC(i.IOC), mdT(i.Kind), cs)
		}
		m.line("")
		for _, i := range v.IOCs {
			m.line("### Contacts with %s", mdC(i.IOC))
			m.line("")
			m.table(i.Contacts, 0)
			if i.Unattributed {
				m.line("Some traffic with this indicator stays attributed to the host or unknown: see the flow table.")
				m.line("")
			}
			for _, p := range i.Paths {
				m.path(p)
			}
		}
	}
	m.line("### Where a capture sees each container")
	m.line("")
	m.line("Would a capture on the interface show the container's traffic, and under which source address? A container on a user-defined network crosses its own `br-` bridge, not `docker0`; after the NAT rule an uplink shows the host's address. Each container's section gives the reasons.")
	m.line("")
	for _, mx := range v.Matrices {
		m.line("Towards %s:", mdC(mx.Dst))
		m.line("")
		m.line("| %s |", mdJoin(mx.Header, mdT, " | "))
		m.line("|%s", strings.Repeat(" --- |", len(mx.Header)))
		for _, r := range mx.Rows {
			cells := []string{mdC(r.Container)}
			for _, c := range r.Cells {
				cells = append(cells, mdT(c.Text))
			}
			m.line("| %s |", strings.Join(cells, " | "))
		}
		m.line("")
		if mx.Total > len(mx.Rows) {
			m.line("> Showing %d of %d containers; the JSON document (key \"visibility\") has every row.", len(mx.Rows), mx.Total)
			m.line("")
		}
	}
	m.line("### Each path, hop by hop")
	m.line("")
	for _, p := range v.Paths {
		m.path(p)
	}
	if len(v.Paths) == 0 {
		m.line("No path could be explained (no container with a network namespace at collection).")
		m.line("")
	}
	if v.PathsTotal > len(v.Paths) {
		m.line("> Showing %d of %d paths; the JSON document (key \"paths\") has them all.", len(v.Paths), v.PathsTotal)
		m.line("")
	}
	m.line("### Networks")
	m.line("")
	m.table(v.Networks, 0, 4)
	m.line("### Address ownership")
	m.line("")
	m.table(v.Ownership, 0, 1, 3, 4)
}

func (m *mdWriter) path(p pathView) {
	mark := ""
	if p.Highlight {
		mark = " — **IOC contact**"
	}
	m.line("#### %s (%s)%s", mdT(p.Title), mdT(p.Kind), mark)
	m.line("")
	m.line("%s", mdJoin(p.Chain, mdC, " → "))
	m.line("")
	if p.Summary != "" {
		m.line("%s", mdT(p.Summary))
		m.line("")
	}
	for i, h := range p.Hops {
		counters := ""
		if h.Counters != "" {
			counters = " \\[" + mdT(h.Counters) + "\\]"
		}
		m.line("%d. %s %s%s", i+1, mdT(h.Kind), mdC(h.Text), counters)
		for _, e := range h.Evidence {
			m.line("   - evidence: %s", mdC(e))
		}
	}
	if len(p.Hops) > 0 {
		m.line("")
	}
	for _, n := range p.Notes {
		m.line("- note: %s", mdT(n))
	}
	for _, u := range p.Unknown {
		m.line("- **unknown**: %s", mdT(u))
	}
	if len(p.Notes)+len(p.Unknown) > 0 {
		m.line("")
	}
}

// topology writes the diagram as the list of paths it draws.
func (m *mdWriter) topology(v *reportView) {
	m.line("## Topology")
	m.line("")
	m.line("Containers → veths → bridges → NAT → uplinks, one line per path; IOC contacts are marked.")
	m.line("")
	for _, p := range v.Paths {
		mark := ""
		if p.Highlight {
			mark = " — **IOC contact**"
		}
		m.line("- %s%s", mdJoin(p.Chain, mdC, " → "), mark)
	}
	if len(v.Paths) == 0 {
		m.line("No path to draw.")
	}
	m.line("")
	if v.Topology.Note != "" {
		m.line("> %s", mdT(v.Topology.Note))
		m.line("")
	}
}

func (m *mdWriter) containers(v *reportView) {
	m.line("## Containers")
	m.line("")
	if len(v.Containers) == 0 {
		m.line("The bundle records no container.")
		m.line("")
	}
	for _, c := range v.Containers {
		m.line("### %s (%s)", mdC(c.Name), mdT(c.State))
		m.line("")
		m.facts(c.Facts)
		m.line("**Network endpoints**")
		m.line("")
		m.table(c.Endpoints, 0, 1, 5)
		m.line("**Published ports**")
		m.line("")
		m.table(c.Ports)
		m.line("**Mounts**")
		m.line("")
		m.table(c.Mounts, 1, 2)
		m.line("**Findings**")
		m.line("")
		if len(c.Findings) == 0 {
			m.line("No finding for this container.")
			m.line("")
		} else {
			// Listed once in full under Findings by severity.
			for _, f := range c.Findings {
				seen := ""
				if f.Seen != "" {
					seen = " (" + mdT(f.Seen) + ")"
				}
				m.line("- %s %s %s%s", mdT(strings.ToUpper(f.Severity)), mdT(f.Title), mdC(f.ID), seen)
			}
			m.line("")
		}
		m.line("**Where a capture sees it**")
		m.line("")
		m.table(c.Visibility, 1)
		m.line("**Conversations**")
		m.line("")
		m.table(c.Flows, 1, 5, 8)
		m.line("**DNS**")
		m.line("")
		m.table(c.DNS, 0, 1)
		m.line("**Processes**")
		m.line("")
		m.table(c.Processes, 2, 3)
		m.line("**Sockets**")
		m.line("")
		m.table(c.Sockets, 1, 2)
		m.line("**File changes**")
		m.line("")
		m.table(c.Files, 1, 5)
	}
}

func (m *mdWriter) findings(v *reportView) {
	m.line("## Findings by severity")
	m.line("")
	m.line("The catalogue of the rules, what each means and what to check next, is docs/findings.md.")
	m.line("")
	if len(v.Findings) == 0 {
		m.line("No finding in this analysis.")
		m.line("")
	}
	for _, g := range v.Findings {
		m.line("### %s (%d)", mdT(strings.ToUpper(g.Severity)), len(g.Findings))
		m.line("")
		m.findingTable(g.Findings)
	}
}

func (m *mdWriter) findingTable(fs []findingView) {
	m.line("| severity | finding | container | why | evidence |")
	m.line("| --- | --- | --- | --- | --- |")
	for _, f := range fs {
		seen := ""
		if f.Seen != "" {
			seen = "<br>" + mdT(f.Seen)
		}
		m.line("| %s | **%s** %s%s | %s | %s | %s |", mdT(f.Severity), mdT(f.Title), mdC(f.ID), seen, mdT(f.Container), mdT(f.Why), mdJoin(f.Evidence, mdC, "<br>"))
	}
	m.line("")
}
