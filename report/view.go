package report

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/analyze/triage"
)

// Limits of the rendered reports. A page of a million rows opens on no
// workstation and prints on no printer; the full data stays in the JSON
// document (and in the CSV of `dockcase flows` and `dockcase timeline`),
// and the page says so where it cuts.
const (
	// maxFlowRows is the length of the report's flow table: 2,000 rows
	// are about 40 printed pages.
	maxFlowRows = 2000
	// maxContainerFlowRows bounds each container's own flow list, so that
	// 200 containers do not repeat the whole flow table.
	maxContainerFlowRows = 25
	// maxContainerDetailRows bounds each container's processes, sockets
	// and file changes on the page.
	maxContainerDetailRows = 200
	// maxTimelineRows is the length of the timeline table.
	maxTimelineRows = 5000
	// maxContainerDNSRows bounds each container's DNS log in the page.
	maxContainerDNSRows = 50
	// maxEvidenceTextRunes cuts the quoted text of one piece of evidence
	// (a command line with its environment runs to kilobytes); the JSON
	// document and the bundle member have all of it.
	maxEvidenceTextRunes = 240
	// maxEvidenceRows bounds the evidence index; a bundle has a few
	// thousand members at most, captures included.
	maxEvidenceRows = 20000
	// maxCustodyRows bounds the custody log: a collection has a dozen
	// steps, a bundle's later life a few hand-overs.
	maxCustodyRows = 1000
	// maxPathsShown bounds the paths explained hop by hop in the answers:
	// 200 containers with a few destinations each stay readable.
	maxPathsShown = 400
	// maxMatrixRows bounds the rows of each visibility matrix.
	maxMatrixRows = 500
	// maxAnswerProcesses and maxAnswerFindings bound what the headline
	// answer shows of each contact, so that two or three contacts fit the
	// first screen; the Answers section and the JSON have all.
	maxAnswerProcesses = 1
	maxAnswerFindings  = 2
	// maxPrintedEvidence is how many pieces of evidence a finding prints:
	// a grouped traffic finding cites five conversations, and forty
	// findings of five lines each were most of a printed incident report.
	maxPrintedEvidence = 2
)

// reportView is what the HTML and the Markdown report render: every string
// in it comes from the result through viewText (control characters made
// visible), and each renderer escapes it once more for its format. Each
// section is built by one function from the result, so that a change of an
// analysis type touches one builder.
type reportView struct {
	Warning    string
	Title      string
	Case, Host string
	// Answer is the headline, one entry per indicator; with no indicator,
	// AnswerFindings are the most severe findings instead.
	Answer         []answerView
	AnswerFindings []findingView
	// IntegrityLine is integrity in one line, IntegrityStatus its class
	// (good, warn, bad).
	IntegrityLine   string
	IntegrityStatus string
	Integrity       integrityView
	IOCs            []iocView
	NoIOCs          bool
	Destinations    []string
	Paths           []pathView
	PathsTotal      int
	Matrices        []matrixView
	Topology        topoView
	Plots           *plotView
	Networks        viewTable
	Containers      []containerView
	Findings        []findingGroup
	FindingCount    int
	Flows           viewTable
	Captures        viewTable
	Timeline        viewTable
	Ownership       viewTable
	Evidence        viewTable
	Custody         viewTable
}

// viewTable is a table of text cells. Total is the number of rows the
// analysis has; when it exceeds len(Rows) the renderer says where the rest
// is (Rest). Rest and Empty are the report's own text, never data.
type viewTable struct {
	Header []string
	Rows   [][]string
	Total  int
	Rest   string
	// Empty is said instead of an empty table.
	Empty string
}

// Truncated reports whether rows were left out.
func (t viewTable) Truncated() bool { return t.Total > len(t.Rows) }

type integrityView struct {
	// Status is good (verified, trusted signer), warn (verified, signer not
	// yet trusted) or bad (not verified).
	Status   string
	Verdict  string
	Facts    [][2]string
	Gaps     []string
	Missing  []string
	Complete bool
}

type iocView struct {
	IOC        string
	Kind       string
	Containers []string
	// Contacts has a row per container (and per unattributed share): when,
	// how much, where it was captured, and by which rule.
	Contacts     viewTable
	Unattributed bool
	Paths        []pathView
}

type pathView struct {
	Title   string
	Kind    string
	Summary string
	Verdict string
	// LeavesAs is the source address as the packet leaves the host, and
	// by which interface.
	LeavesAs  string
	Hops      []hopView
	Notes     []string
	Unknown   []string
	Highlight bool
	// Chain is the path as node names, for the Markdown diagram.
	Chain []string
}

type hopView struct {
	Kind     string
	Text     string
	Counters string
	Evidence []string
}

type matrixView struct {
	Dst    string
	Header []string
	Rows   []matrixRow
	Total  int
}

type matrixRow struct {
	Container string
	Cells     []matrixCell
}

type matrixCell struct {
	Text  string
	Class string // yes, no, unknown
	Why   string
}

type containerView struct {
	Name       string
	ID         string
	State      string
	Facts      [][2]string
	Endpoints  viewTable
	Ports      viewTable
	Mounts     viewTable
	Findings   []findingView
	Visibility viewTable
	Flows      viewTable
	DNS        viewTable
	Processes  viewTable
	Sockets    viewTable
	Files      viewTable
}

type answerView struct {
	IOC, Kind string
	NotSeen   string
	Who       []answerWhoView
}

type answerWhoView struct {
	Who, When, HowMuch, Path, Rule string
	// Processes are shown on one line each, the first maxAnswerProcesses;
	// MoreProcesses and MoreFindings say how many more the Answers
	// section (and the JSON) has.
	Processes     []string
	MoreProcesses int
	Findings      []answerFindingView
	MoreFindings  int
	// AsAbove says the process, path, rule and findings are those of the
	// same container under an indicator above (a C2's address and its
	// domain): they are not repeated.
	AsAbove bool
}

type answerFindingView struct {
	Severity, Title, ID string
}

type findingGroup struct {
	Severity string
	Findings []findingView
	// PrintSummary, for the low and info findings, is the one line the
	// printed page gives them instead of their table (the screen and the
	// JSON have every row): a host of many containers has one per
	// container and rule, most of a printed report.
	PrintSummary string
}

type findingView struct {
	Severity string
	ID       string
	Title    string
	// Seen is how often and when a grouped traffic finding was seen.
	Seen        string
	Container   string
	containerID string
	Why         string
	// RepeatWhy says the finding above in its table has the same rule: the
	// printed page says "as above" instead of the why again.
	RepeatWhy bool
	Evidence  []string
	// PrintMore is how many of Evidence the printed page leaves out (it
	// prints the first maxPrintedEvidence; the screen and the JSON have
	// all).
	PrintMore int
}

// viewText makes a value from the evidence safe to show: control characters,
// escape sequences and bidirectional overrides become visible \x.. text.
// HTML and Markdown escaping come on top of it.
func viewText(s string) string { return TerminalText(s) }

// viewTime renders a time in UTC, or a dash when it is unknown.
func viewTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

func viewShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func viewAddr(a netip.Addr) string {
	if !a.IsValid() {
		return "—"
	}
	return a.String()
}

// viewEvidence cites evidence in one line: member, place, hash prefix, and
// the quoted text.
func viewEvidence(e model.Evidence) string {
	var b strings.Builder
	b.WriteString(e.Member)
	switch {
	case e.Line > 0:
		b.WriteString(":" + strconv.Itoa(e.Line))
	case e.Pointer != "":
		b.WriteString(" " + e.Pointer)
	}
	if len(e.SHA256) >= 12 {
		b.WriteString(" (sha256 " + e.SHA256[:12] + "…)")
	}
	if e.Text != "" {
		b.WriteString(": " + strconv.Quote(viewCut(e.Text)))
	}
	return viewText(b.String())
}

// viewCut shortens a long value (a command line with its environment) to
// maxEvidenceTextRunes; the JSON document has all of it.
func viewCut(s string) string {
	if len(s) <= maxEvidenceTextRunes {
		return s
	}
	if r := []rune(s); len(r) > maxEvidenceTextRunes {
		return string(r[:maxEvidenceTextRunes]) + "…"
	}
	return s
}

func viewEvidenceList(evs []model.Evidence) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, viewEvidence(e))
	}
	return out
}

// buildView turns a result into the report's view, section by section.
func buildView(res *analyze.Result) *reportView {
	v := &reportView{
		Warning:   viewText(res.Warning),
		Title:     viewText("dockcase report: case " + res.Bundle.Case + ", host " + res.Bundle.Host),
		Case:      viewText(res.Bundle.Case),
		Host:      viewText(res.Bundle.Host),
		Integrity: integritySection(res),
	}
	v.Answer, v.AnswerFindings = answerSection(res)
	v.IntegrityLine, v.IntegrityStatus = viewText(IntegrityLine(res.Bundle)), v.Integrity.Status
	if v.IntegrityStatus == "good" && !res.Bundle.Complete {
		v.IntegrityStatus = "warn" // verified and trusted, but with gaps
	}
	for _, d := range res.Host.Destinations {
		v.Destinations = append(v.Destinations, d.String())
	}
	v.IOCs = iocSection(res)
	v.NoIOCs = len(res.IOCs) == 0
	v.Paths, v.PathsTotal = pathsSection(res)
	v.Matrices = visibilitySection(res)
	v.Topology = topologySection(res)
	v.Plots = plotsSection(res)
	v.Networks = networksSection(res)
	v.Containers = containersSection(res)
	v.Findings, v.FindingCount = findingsSection(res)
	v.Flows = flowsSection(res, "", maxFlowRows)
	v.Captures = capturesSection(res)
	v.Timeline = timelineSection(res)
	v.Ownership = ownershipSection(res)
	v.Evidence = evidenceSection(res)
	v.Custody = custodySection(res)
	return v
}

// answerSection is the headline: per indicator, who, which process,
// when, how much, the path, the rule and the container's worst findings;
// without indicators, the most severe findings.
func answerSection(res *analyze.Result) ([]answerView, []findingView) {
	var out []answerView
	shown := map[string]bool{} // who, process, path, rule and findings already shown
	for _, a := range answerOf(res) {
		av := answerView{IOC: viewText(a.IOC), Kind: viewText(a.Kind), NotSeen: viewText(a.NotSeen)}
		for _, c := range a.Who {
			wv := answerWhoView{Who: viewText(answerWho(c)), When: answerWhen(c), HowMuch: answerHowMuch(c), Path: viewText(c.Path), Rule: viewText(answerRule(c))}
			// The headline stays within the first screen with several
			// contacts: one line a field, the first process, the two
			// most severe findings; the Answers section has the rest.
			for i, p := range c.Processes {
				if i == maxAnswerProcesses {
					wv.MoreProcesses = len(c.Processes) - i
					break
				}
				wv.Processes = append(wv.Processes, viewText(answerProcess(p)))
			}
			for i, f := range c.Findings {
				if i == maxAnswerFindings {
					wv.MoreFindings = len(c.Findings) - i
					break
				}
				wv.Findings = append(wv.Findings, answerFindingView{Severity: viewText(f.Severity), Title: viewText(f.Title), ID: viewText(f.ID)})
			}
			k := fmt.Sprintf("%q", []any{wv.Who, wv.Processes, wv.Path, wv.Rule, wv.Findings})
			if shown[k] && (len(wv.Processes) > 0 || wv.Path != "" || len(wv.Findings) > 0) {
				wv.AsAbove, wv.Processes, wv.Path, wv.Rule, wv.Findings, wv.MoreProcesses, wv.MoreFindings = true, nil, "", "", nil, 0, 0
			}
			shown[k] = true
			av.Who = append(av.Who, wv)
		}
		out = append(out, av)
	}
	if len(out) > 0 {
		return out, nil
	}
	hf := headlineFindings(res)
	fs := findingViews(&analyze.Result{Findings: hf})
	return nil, fs
}

// integritySection is the first thing a reader checks: whose bundle, from
// where and when, whether its signature holds and by whom, and what the
// collection could not get.
func integritySection(res *analyze.Result) integrityView {
	b := res.Bundle
	iv := integrityView{Complete: b.Complete}
	switch {
	case !b.Verified:
		iv.Status, iv.Verdict = "bad", "NOT VERIFIED: "+viewText(b.VerificationError)
	case b.Trusted:
		iv.Status, iv.Verdict = "good", "verified: the manifest's signature holds, by a trusted signer, and every member's hash matches it"
	default:
		iv.Status, iv.Verdict = "warn", "verified, but the signer is NOT YET TRUSTED: compare its fingerprint with the case notes"
	}
	window := viewTime(b.Started) + " … " + viewTime(b.Finished)
	iv.Facts = [][2]string{
		{"Case", viewText(b.Case)},
		{"Examiner", viewText(b.Examiner)},
		{"Host", viewText(b.Host)},
		{"Collection window (UTC)", window},
		{"Collector", viewText(b.Collector)},
		{"Bundle", viewText(b.Root)},
		{"Bundle file", viewText(b.Path)},
		{"Bundle SHA-256", viewText(b.SHA256)},
		{"Signer fingerprint", viewText(b.Signer)},
		{"Signature", iv.Verdict},
		{"Analysis", viewText(res.Version)},
	}
	for _, g := range b.Gaps {
		iv.Gaps = append(iv.Gaps, viewText(g))
	}
	for _, m := range res.Missing {
		iv.Missing = append(iv.Missing, viewText(m))
	}
	return iv
}

// iocSection answers the case's question for each indicator: which
// containers, when, how much, where it was captured, and each contact's
// path through the host.
func iocSection(res *analyze.Result) []iocView {
	var out []iocView
	for _, hit := range res.IOCs {
		iv := iocView{IOC: viewText(hit.IOC), Kind: viewText(hit.Kind), Unattributed: hit.Unattributed,
			Contacts: viewTable{Header: []string{"container", "first seen", "last seen", "to the indicator", "from it", "conversations / lookups", "captured on", "attributed by"},
				Empty: "No captured traffic or DNS answer matches this indicator."}}
		for _, c := range hit.Containers {
			iv.Containers = append(iv.Containers, viewText(viewContainerName(res, c)))
		}
		for _, c := range hit.Contacts {
			name := cmp.Or(c.ContainerName, c.Container, c.Who)
			if name == "" {
				name = "host or unknown"
			}
			var points []string
			for _, p := range c.Points {
				points = append(points, fmt.Sprintf("%s (%s)", p.Interface, p.Role))
			}
			iv.Contacts.Rows = append(iv.Contacts.Rows, []string{viewText(name), viewTime(c.First), viewTime(c.Last),
				fmt.Sprintf("%d packets, %d bytes", c.PacketsToIOC, c.BytesToIOC), fmt.Sprintf("%d packets, %d bytes", c.PacketsFrom, c.BytesFrom),
				fmt.Sprintf("%d / %d", c.Conversations, c.Lookups), viewText(strings.Join(points, ", ")), viewText(strings.Join(c.Rules, ", "))})
			if c.Path != nil {
				iv.Paths = append(iv.Paths, pathSection(c.Path, true))
			}
		}
		iv.Contacts.Total = len(iv.Contacts.Rows)
		out = append(out, iv)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].IOC < out[j].IOC })
	return out
}

// iocContactPaths are the paths of the containers that contacted an
// indicator, towards it.
func iocContactPaths(res *analyze.Result) []*netpath.Path {
	var out []*netpath.Path
	for _, hit := range res.IOCs {
		for _, c := range hit.Contacts {
			if c.Path != nil {
				out = append(out, c.Path)
			}
		}
	}
	return out
}

// iocHighlighted reports whether a path is an IOC contact: the path of a
// container that contacted an indicator, towards the indicator's address.
func iocHighlighted(res *analyze.Result, p *netpath.Path) bool {
	if p.Kind == netpath.PathInbound {
		return false
	}
	for _, hit := range res.IOCs {
		for _, c := range hit.Contacts {
			if c.Container == "" || c.Container != p.Container {
				continue
			}
			if c.Path != nil && c.Path.Dst == p.Dst {
				return true
			}
			for _, r := range c.Remotes {
				if r == p.Dst {
					return true
				}
			}
		}
	}
	return false
}

func viewContainerName(res *analyze.Result, ref string) string {
	for _, c := range res.Containers {
		if c.ID == ref {
			return c.Name
		}
	}
	return ref
}

// pathsSection explains every path of the analysis hop by hop, up to
// maxPathsShown.
func pathsSection(res *analyze.Result) ([]pathView, int) {
	var out []pathView
	for i, p := range res.Paths {
		if i == maxPathsShown {
			break
		}
		out = append(out, pathSection(p, iocHighlighted(res, p)))
	}
	return out, len(res.Paths)
}

func pathSection(p *netpath.Path, highlight bool) pathView {
	pv := pathView{Kind: viewText(p.Kind), Highlight: highlight, Verdict: viewText(p.Verdict)}
	switch p.Kind {
	case netpath.PathInbound:
		pv.Title = viewText(fmt.Sprintf("inbound %s/%d → %s", p.Proto, p.DPort, p.ContainerName))
	default:
		pv.Title = viewText(p.ContainerName + " → " + viewAddr(p.Dst))
	}
	var sum []string
	if p.Src.IsValid() {
		sum = append(sum, "leaves the container as "+p.Src.String())
	}
	if p.FinalSrc.IsValid() {
		s := "leaves the host as " + p.FinalSrc.String()
		if p.OutIface != "" {
			s += " by " + p.OutIface
		}
		if p.NAT {
			s += " (after NAT)"
		}
		sum = append(sum, s)
	}
	if p.Verdict != "" {
		sum = append(sum, "forward verdict "+p.Verdict)
	}
	pv.Summary = viewText(strings.Join(sum, "; "))
	switch {
	case p.FinalSrc.IsValid() && p.OutIface != "":
		pv.LeavesAs = viewText(p.FinalSrc.String() + " by " + p.OutIface)
	case p.FinalSrc.IsValid():
		pv.LeavesAs = p.FinalSrc.String()
	default:
		pv.LeavesAs = "—"
	}
	pv.Chain = pathChain(p)
	for _, h := range p.Hops {
		hv := hopView{Kind: viewText(h.Kind), Text: viewText(h.Text), Evidence: viewEvidenceList(h.Evidence)}
		if h.Counters != nil && !strings.Contains(h.Text, " pkts/") { // the NAT hop's text has them
			hv.Counters = fmt.Sprintf("%d packets, %d bytes", h.Counters.Packets, h.Counters.Bytes)
		}
		pv.Hops = append(pv.Hops, hv)
	}
	for _, n := range p.Notes {
		pv.Notes = append(pv.Notes, viewText(n))
	}
	for _, u := range p.Unknown {
		pv.Unknown = append(pv.Unknown, viewText(u))
	}
	return pv
}

// pathChain names the nodes of a path the way the topology draws them:
// container, veth, bridge, NAT rule, uplink.
func pathChain(p *netpath.Path) []string {
	name := p.ContainerName
	var chain []string
	for _, h := range p.Hops {
		switch h.Kind {
		case netpath.HopContainerIf:
			if h.Addr.IsValid() {
				name += " (" + h.Addr.String() + ")"
			}
		case netpath.HopVeth, netpath.HopBridge, netpath.HopParent:
			chain = append(chain, viewText(h.Iface))
		case netpath.HopNAT, netpath.HopDNAT:
			chain = append(chain, viewText(topoNATLabel(h)))
		case netpath.HopOut, netpath.HopUplink:
			s := h.Iface
			if h.Src.IsValid() && h.Kind == netpath.HopOut {
				s += " as " + h.Src.String()
			}
			chain = append(chain, viewText(s))
		case netpath.HopHostStack:
			chain = append(chain, "host network stack")
		}
	}
	if p.Kind == netpath.PathInbound {
		// An inbound path's hops run from the uplink to the container.
		return append(chain, viewText(name))
	}
	chain = append([]string{viewText(name)}, chain...)
	if p.Dst.IsValid() {
		chain = append(chain, p.Dst.String())
	}
	return chain
}

// visibilitySection is the capture puzzle: for each destination, would a
// capture on each bridge and uplink show each container's traffic, and
// under which source address. Veths are one column ("its veth"): every
// other container's veth is a plain no.
func visibilitySection(res *analyze.Result) []matrixView {
	var ifaces []string
	for _, hi := range res.Interfaces {
		if hi.Kind != netpath.IfaceVeth {
			ifaces = append(ifaces, hi.Name)
		}
	}
	type key struct{ dst, container string }
	byKey := map[key]map[string]netpath.VisibilityRow{}
	own := map[key]netpath.VisibilityRow{}
	var order []key
	for _, r := range res.Visibility {
		k := key{r.Dst.String(), r.ContainerName}
		if byKey[k] == nil {
			byKey[k] = map[string]netpath.VisibilityRow{}
			order = append(order, k)
		}
		if r.IfaceKind == netpath.IfaceVeth {
			if r.Visible == netpath.VisibleYes || own[k].Iface == "" {
				own[k] = r
			}
			continue
		}
		byKey[k][r.Iface] = r
	}
	var out []matrixView
	for _, d := range res.Host.Destinations {
		m := matrixView{Dst: d.String(), Header: append([]string{"container", "its veth"}, viewTextAll(ifaces)...)}
		for _, k := range order {
			if k.dst != d.String() {
				continue
			}
			m.Total++
			if len(m.Rows) == maxMatrixRows {
				continue
			}
			row := matrixRow{Container: viewText(k.container)}
			ov, ok := own[k]
			if ok && ov.Visible == netpath.VisibleYes {
				row.Cells = append(row.Cells, visibilityCell(ov, ov.Iface+" "))
			} else {
				row.Cells = append(row.Cells, matrixCell{Text: "—", Class: "na"})
			}
			for _, iface := range ifaces {
				r, ok := byKey[k][iface]
				if !ok {
					row.Cells = append(row.Cells, matrixCell{Text: "—", Class: "na"})
					continue
				}
				row.Cells = append(row.Cells, visibilityCell(r, ""))
			}
			m.Rows = append(m.Rows, row)
		}
		out = append(out, m)
	}
	return out
}

func viewTextAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = viewText(s)
	}
	return out
}

func visibilityCell(r netpath.VisibilityRow, prefix string) matrixCell {
	c := matrixCell{Class: r.Visible, Why: viewText(r.Why)}
	switch r.Visible {
	case netpath.VisibleYes:
		c.Text = prefix + "yes " + viewAddr(r.Src)
		if r.As == "host" {
			c.Text += " (host)"
		}
	case netpath.VisibleNo:
		c.Text = "no"
	default:
		c.Text = r.Visible
	}
	c.Text = viewText(c.Text)
	return c
}

func networksSection(res *analyze.Result) viewTable {
	t := viewTable{Header: []string{"network", "driver", "subnets", "gateways", "bridge / parent", "containers", "flags"}, Empty: "The bundle records no network."}
	for _, n := range res.Networks {
		var subnets, gws []string
		for _, s := range n.Subnets {
			subnets = append(subnets, s.String())
		}
		for _, g := range n.Gateways {
			gws = append(gws, g.String())
		}
		iface := n.Bridge
		if n.Parent != "" {
			iface = "parent " + n.Parent
		}
		var flags []string
		if n.Internal {
			flags = append(flags, "internal")
		}
		if n.EnableIPv6 {
			flags = append(flags, "ipv6")
		}
		if n.Masquerade != nil && !*n.Masquerade {
			flags = append(flags, "no masquerade")
		}
		var names []string
		for _, c := range n.Containers {
			names = append(names, viewContainerName(res, c))
		}
		t.Rows = append(t.Rows, viewTextAll([]string{n.Name, n.Driver, strings.Join(subnets, " "), strings.Join(gws, " "), iface, strings.Join(names, ", "), strings.Join(flags, ", ")}))
	}
	t.Total = len(t.Rows)
	return t
}

// containersSection renders each container: configuration, its findings,
// where a capture shows it, and its flows. Processes, sockets, DNS and file
// changes are named as absent until the analysis document carries them.
func containersSection(res *analyze.Result) []containerView {
	var out []containerView
	findings := findingViews(res)
	for _, c := range res.Containers {
		cv := containerView{Name: viewText(c.Name), ID: viewText(c.ID), State: viewText(c.State)}
		p := c.Privileges
		priv := "no"
		if p.Privileged {
			priv = "YES"
		}
		cv.Facts = [][2]string{
			{"Id", viewText(c.ID)},
			{"Image", viewText(c.Image)},
			{"Image id", viewText(c.ImageID)},
			{"State", viewText(c.State)},
			{"Created", viewTime(c.Created)},
			{"Started", viewTime(c.StartedAt)},
			{"Finished", viewTime(c.FinishedAt)},
			{"Network mode", viewText(c.NetworkMode)},
			{"Shares the namespace of", viewText(viewContainerName(res, c.SharesWith))},
			{"Network namespace", viewUint(c.NetNS)},
			{"Init pid", viewUint(uint64(max(c.Pid, 0)))},
			{"Privileged", priv},
			{"Capabilities added", viewText(strings.Join(p.CapAdd, ", "))},
			{"Capabilities dropped", viewText(strings.Join(p.CapDrop, ", "))},
			{"Pid / IPC / UTS mode", viewText(strings.Join([]string{orNone(p.PidMode), orNone(p.IpcMode), orNone(p.UTSMode)}, " / "))},
			{"Security options", viewText(strings.Join(p.SecurityOpt, ", "))},
			{"Labels", viewText(viewLabels(c.Labels))},
		}
		cv.Endpoints = viewTable{Header: []string{"network", "address", "gateway", "IPv6", "MAC", "evidence"}, Empty: "No network endpoint."}
		for _, ep := range c.Endpoints {
			addr := viewAddr(ep.IP)
			if ep.IP.IsValid() && ep.PrefixLen > 0 {
				addr += "/" + strconv.Itoa(ep.PrefixLen)
			}
			v6 := ""
			if ep.IPv6.IsValid() {
				v6 = ep.IPv6.String()
			}
			cv.Endpoints.Rows = append(cv.Endpoints.Rows, []string{viewText(ep.Network), addr, viewAddr(ep.Gateway), v6, viewText(ep.MAC), viewEvidence(ep.Evidence)})
		}
		cv.Ports = viewTable{Header: []string{"host address", "host port", "container port", "protocol"}, Empty: "No published port."}
		for _, pb := range c.Ports {
			cv.Ports.Rows = append(cv.Ports.Rows, []string{viewText(pb.HostIP), strconv.Itoa(int(pb.HostPort)), strconv.Itoa(int(pb.ContainerPort)), viewText(pb.Proto)})
		}
		cv.Mounts = viewTable{Header: []string{"type", "source", "destination", "mode"}, Empty: "No mount."}
		for _, m := range c.Mounts {
			mode := "ro"
			if m.RW {
				mode = "rw"
			}
			cv.Mounts.Rows = append(cv.Mounts.Rows, []string{viewText(m.Type), viewText(m.Source), viewText(m.Destination), mode})
		}
		for _, f := range findings {
			if f.containerID == c.ID {
				cv.Findings = append(cv.Findings, f)
			}
		}
		cv.Visibility = viewTable{Header: []string{"towards", "interface", "visible", "source there", "why"}, Empty: "No visibility answer (the container has no path)."}
		for _, r := range res.Visibility {
			if r.Container != c.ID || (r.IfaceKind == netpath.IfaceVeth && r.Visible == netpath.VisibleNo) {
				continue
			}
			src := viewAddr(r.Src)
			if r.As != "" && r.Src.IsValid() {
				src += " (" + r.As + ")"
			}
			cv.Visibility.Rows = append(cv.Visibility.Rows, []string{r.Dst.String(), viewText(r.Iface), viewText(r.Visible), viewText(src), viewText(r.Why)})
		}
		cv.Flows = flowsSection(res, c.ID, maxContainerFlowRows)
		cv.Flows.Empty = "No conversation is attributed to this container."
		cv.DNS = dnsSection(res, c.ID)
		cv.Processes, cv.Sockets, cv.Files = containerDetail(res, c.ID)
		for _, t := range []*viewTable{&cv.Endpoints, &cv.Ports, &cv.Mounts, &cv.Visibility} {
			t.Total = len(t.Rows)
		}
		out = append(out, cv)
	}
	return out
}

// viewLabels lists labels as key=value, sorted, cut like any long value.
func viewLabels(labels map[string]string) string {
	kv := make([]string, 0, len(labels))
	for k, v := range labels {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return viewCut(strings.Join(kv, ", "))
}

// containerDetail renders a container's processes, sockets and file
// changes, each cut at maxContainerDetailRows.
func containerDetail(res *analyze.Result, id string) (procs, socks, files viewTable) {
	procs = viewTable{Header: []string{"pid", "ppid", "command line", "executable", "started", "evidence"},
		Empty: "No process of this container was running at collection."}
	for _, p := range res.Processes {
		if p.ContainerID != id {
			continue
		}
		procs.Total++
		if len(procs.Rows) < maxContainerDetailRows {
			procs.Rows = append(procs.Rows, []string{strconv.Itoa(p.PID), strconv.Itoa(p.PPID), viewText(viewCut(strings.Join(p.Cmdline, " "))),
				viewText(p.Exe), viewTime(p.StartTime), viewEvidence(p.Evidence)})
		}
	}
	socks = viewTable{Header: []string{"proto", "local", "remote", "state", "pids", "evidence"},
		Empty: "No TCP, UDP or raw socket in this container's network namespace at collection."}
	for _, so := range res.Sockets {
		if so.Container != id {
			continue
		}
		socks.Total++
		if len(socks.Rows) < maxContainerDetailRows {
			pids := make([]string, len(so.PIDs))
			for i, p := range so.PIDs {
				pids[i] = strconv.Itoa(p)
			}
			socks.Rows = append(socks.Rows, []string{viewText(so.Proto), viewText(so.LocalIP + ":" + strconv.Itoa(int(so.LocalPort))),
				viewText(so.RemoteIP + ":" + strconv.Itoa(int(so.RemotePort))), viewText(so.State), strings.Join(pids, " "), viewEvidence(so.Evidence)})
		}
	}
	files = viewTable{Header: []string{"change", "path", "size", "mode", "modified", "sha256", "from"},
		Empty: "No file change recorded for this container."}
	for _, f := range res.FileChanges {
		if f.Container != id {
			continue
		}
		files.Total++
		if len(files.Rows) < maxContainerDetailRows {
			size := ""
			if f.Source != "docker diff" {
				size = strconv.FormatInt(f.Size, 10)
			}
			files.Rows = append(files.Rows, []string{viewText(f.Kind), viewText(f.Path), size, viewText(f.Mode), viewTime(f.ModTime),
				viewText(f.SHA256), viewText(f.Source)})
		}
	}
	for _, t := range []*viewTable{&procs, &socks, &files} {
		t.Rest = fmt.Sprintf("Showing %d of %d; the JSON analysis holds them all.", len(t.Rows), t.Total)
	}
	return procs, socks, files
}

func orNone(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func viewUint(n uint64) string {
	if n == 0 {
		return "—"
	}
	return strconv.FormatUint(n, 10)
}

// findingViews renders the triage findings: what, where, why, and the
// evidence (with the file a file rule is about).
func findingViews(res *analyze.Result) []findingView {
	out := make([]findingView, 0, len(res.Findings))
	for _, f := range res.Findings {
		fv := findingView{Severity: viewText(f.Severity), ID: viewText(f.ID), Title: viewText(orNonEmpty(f.Title, f.ID)),
			Container: viewText(orNonEmpty(orNonEmpty(f.ContainerName, viewShortID(f.Container)), "host")), containerID: f.Container, Why: viewText(f.Why),
			Evidence: viewEvidenceList(f.Evidence), Seen: FindingSeen(f)}
		if lf := f.File; lf != nil {
			fv.Evidence = append(fv.Evidence, viewText(fmt.Sprintf("file %s: %s, %d bytes, mode %s, modified %s, sha256 %s",
				strconv.Quote(lf.Path), lf.Type, lf.Size, lf.ModeText, viewTime(lf.ModTime), orNonEmpty(lf.SHA256, "not computed"))))
		}
		fv.PrintMore = max(0, len(fv.Evidence)-maxPrintedEvidence)
		out = append(out, fv)
	}
	return out
}

// viewSeverities are the severities, most severe first; a finding of
// another name is shown last.
var viewSeverities = []string{triage.SeverityCritical, triage.SeverityHigh, triage.SeverityMedium, triage.SeverityLow, triage.SeverityInfo}

// findingsSection groups the findings by severity, most severe first, and
// by id and container within a group.
func findingsSection(res *analyze.Result) ([]findingGroup, int) {
	fs := findingViews(res)
	groups := map[string][]findingView{}
	for _, f := range fs {
		groups[f.Severity] = append(groups[f.Severity], f)
	}
	names := append([]string{}, viewSeverities...)
	var other []string
	for s := range groups {
		if triage.SeverityRank(s) < 0 {
			other = append(other, s)
		}
	}
	sort.Strings(other)
	names = append(names, other...)
	var out []findingGroup
	for _, s := range names {
		g := groups[s]
		if len(g) == 0 {
			continue
		}
		sort.SliceStable(g, func(i, j int) bool {
			if g[i].ID != g[j].ID {
				return g[i].ID < g[j].ID
			}
			return g[i].Container < g[j].Container
		})
		fg := findingGroup{Severity: s, Findings: g}
		ids := map[string]int{}
		var order []string
		for i := range g {
			g[i].RepeatWhy = i > 0 && g[i-1].ID == g[i].ID && g[i-1].Why == g[i].Why
			if ids[g[i].ID] == 0 {
				order = append(order, g[i].ID)
			}
			ids[g[i].ID]++
		}
		if triage.SeverityRank(s) >= 0 && triage.SeverityRank(s) < triage.SeverityRank(triage.SeverityMedium) {
			parts := make([]string, len(order))
			for i, id := range order {
				parts[i] = fmt.Sprintf("%s ×%d", id, ids[id])
			}
			fg.PrintSummary = fmt.Sprintf("%d %s finding(s), not printed: %s (on screen and in the JSON document)", len(g), s, strings.Join(parts, ", "))
		}
		out = append(out, fg)
	}
	return out, len(fs)
}

// flowsSection is the conversations table (of one container when
// container is set: itself, one of its group or its candidates), in time
// order, cut at limit rows: one row per contact, however many capture
// points saw it, with the point that counted it and the others; a contact
// seen only in the sockets or conntrack says so and how it was dated.
func flowsSection(res *analyze.Result, container string, limit int) viewTable {
	t := viewTable{Header: []string{"time (UTC)", "who", "process", "attributed by", "seen at", "conversation", "packets, bytes → / ←", "names", "evidence"},
		Empty: "No conversation in this analysis (no capture, socket or conntrack entry gave one)."}
	records := 0
	for i := range res.Contacts {
		k := &res.Contacts[i]
		if container != "" && !contactOfContainer(k, container) {
			continue
		}
		t.Total++
		for _, s := range k.Sources {
			if s.Flow != nil {
				records++
			}
		}
		if len(t.Rows) >= limit {
			continue
		}
		t.Rows = append(t.Rows, contactRow(k))
	}
	t.Rest = fmt.Sprintf("Showing the first %d of %d conversations (one row each; %d flow records across the capture points). The full table is in the JSON document (--json, key \"contacts\") and as CSV from `dockcase flows BUNDLE --csv=FILE`.", len(t.Rows), t.Total, records)
	return t
}

// contactOfContainer reports whether the conversation is the container's:
// alone, as one of its namespace group or as one of the candidates.
func contactOfContainer(k *traffic.Contact, id string) bool {
	return k.Container == id || slices.ContainsFunc(k.Group, func(g traffic.ContainerRef) bool { return g.ID == id }) ||
		slices.ContainsFunc(k.Candidates, func(g traffic.Candidate) bool { return g.ID == id })
}

// contactWho names who a conversation is attributed to, in words.
func contactWho(k *traffic.Contact) string {
	refs := func(n int, at func(int) (string, string)) string {
		var out []string
		for i := range n {
			id, name := at(i)
			out = append(out, orNonEmpty(name, model.ShortID(id)))
		}
		return strings.Join(out, ", ")
	}
	switch {
	case k.Container != "":
		return orNonEmpty(k.ContainerName, k.Container)
	case len(k.Group) > 0:
		return "group " + refs(len(k.Group), func(i int) (string, string) { return k.Group[i].ID, k.Group[i].Name }) + " (shared network namespace)"
	case len(k.Candidates) > 0:
		return "candidates " + refs(len(k.Candidates), func(i int) (string, string) { return k.Candidates[i].ID, k.Candidates[i].Name }) + " (not separable)"
	case k.Process != nil:
		return fmt.Sprintf("host process %s (pid %d)", k.Process.Comm, k.Process.PID)
	}
	return "host or unknown"
}

// contactRow is one conversation as a row of flowsSection.
func contactRow(k *traffic.Contact) []string {
	proc := ""
	if p := k.Process; p != nil {
		proc = fmt.Sprintf("pid %d %s", p.PID, p.Comm)
		if len(p.Cmdline) > 0 {
			proc += ": " + cutRunes(strings.Join(p.Cmdline, " "), 80)
		}
	}
	rule := strings.Join(k.Rules, ", ") + " (" + k.Confidence + ")"
	var points, kinds []string
	for _, s := range k.Sources {
		if s.Interface != "" && s.Interface != k.CountedAt && !slices.Contains(points, s.Interface) {
			points = append(points, s.Interface)
		}
		if s.Kind != traffic.SourceCapture && !slices.Contains(kinds, s.Kind) {
			kinds = append(kinds, s.Kind)
		}
	}
	seen := k.CountedAt
	switch {
	case seen != "" && len(points) > 0:
		seen += " (also " + strings.Join(points, ", ") + ")"
	case seen == "":
		seen = "not captured"
	}
	if len(kinds) > 0 {
		seen += "; " + strings.Join(kinds, ", ")
	}
	tuple := k.Proto + " " + k.Local.String() + " → " + k.Remote.String()
	if k.Side == "server" {
		tuple = k.Proto + " " + k.Remote.String() + " → " + k.Local.String() + " (inbound)"
	}
	var names []string
	for _, n := range append([]string{k.SNI, k.HTTPHost}, k.Names...) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	ev := ""
	for _, s := range k.Sources {
		if s.Evidence != nil && (ev == "" || s.Interface == k.CountedAt && k.CountedAt != "") {
			ev = viewEvidence(*s.Evidence)
		}
	}
	if ev == "" && len(k.Evidence) > 0 {
		ev = viewEvidence(*k.Evidence[0])
	}
	when := viewTime(k.First)
	if !k.Last.Equal(k.First) {
		when += " … " + viewTime(k.Last)
	}
	if !k.Exact {
		when += " (estimated)"
	}
	counts := "—"
	if k.CountedAt != "" {
		counts = fmt.Sprintf("%d / %d packets, %d / %d bytes", k.PacketsToRemote, k.PacketsFromRemote, k.BytesToRemote, k.BytesFromRemote)
	}
	return []string{when, viewText(contactWho(k)), viewText(proc), viewText(rule), viewText(seen), viewText(tuple), counts,
		viewText(strings.Join(names, ", ")), ev}
}

// flowConversationKey names a flow's conversation the same at every
// capture point: the container, the protocol and the pre-NAT tuple.
func flowConversationKey(f *traffic.Flow) string {
	if f.Original != nil {
		return fmt.Sprintf("%s|%s|%s|%s", f.Container, f.Proto, netip.AddrPortFrom(f.Original.Src, f.Original.SPort), netip.AddrPortFrom(f.Original.Dst, f.Original.DPort))
	}
	return fmt.Sprintf("%s|%s|%s|%s", f.Container, f.Proto, netip.AddrPortFrom(f.Client, f.ClientPort), netip.AddrPortFrom(f.Server, f.ServerPort))
}

func viewAddrPort(a netip.Addr, port uint16) string {
	if !a.IsValid() {
		return "—"
	}
	if port == 0 {
		return a.String()
	}
	return netip.AddrPortFrom(a, port).String()
}

// dnsSection is one container's DNS log, cut at maxContainerDNSRows.
func dnsSection(res *analyze.Result, container string) viewTable {
	t := viewTable{Header: []string{"time (UTC)", "question", "type", "answers", "captured on", "evidence"}, Empty: "No DNS answer to this container was captured."}
	for _, q := range res.DNS {
		if q.Container != container {
			continue
		}
		t.Total++
		if len(t.Rows) < maxContainerDNSRows {
			t.Rows = append(t.Rows, []string{viewTime(q.Time), viewText(q.QName), strconv.Itoa(int(q.QType)), viewText(strings.Join(q.Answers, "; ")), viewText(q.Interface), viewEvidence(q.Evidence)})
		}
	}
	t.Rest = fmt.Sprintf("Showing %d of %d DNS answers; the JSON document (key \"dns\") has them all.", len(t.Rows), t.Total)
	return t
}

// capturesSection lists the captures the flows come from, and what reading
// them could not decode.
func capturesSection(res *analyze.Result) viewTable {
	t := viewTable{Header: []string{"capture", "format", "frames", "flows", "interfaces", "problems"}, Empty: "The bundle holds no capture."}
	for _, c := range res.Captures {
		var ifaces []string
		for _, p := range c.Points {
			ifaces = append(ifaces, fmt.Sprintf("%s (%s, %d packets)", p.Name, p.Role, p.Packets))
		}
		problems := append([]string{}, c.Problems...)
		if c.Error != "" {
			problems = append(problems, c.Error)
		}
		if c.Limit != nil {
			problems = append(problems, fmt.Sprintf("flow table full at %d flows from frame %d: %d flows evicted", c.Limit.MaxFlows, c.Limit.AtFrame, c.Limit.Evicted))
		}
		t.Rows = append(t.Rows, []string{viewText(c.Member), viewText(c.Format), strconv.FormatUint(c.Frames, 10), strconv.Itoa(c.Flows), viewText(strings.Join(ifaces, "; ")), viewText(strings.Join(problems, "; "))})
	}
	for _, p := range res.TrafficProblems {
		t.Rows = append(t.Rows, []string{"(all)", "", "", "", "", viewText(p)})
	}
	t.Total = len(t.Rows)
	return t
}

// timelineSection is the case timeline in time order, cut at
// maxTimelineRows.
func timelineSection(res *analyze.Result) viewTable {
	t := viewTable{Header: []string{"time (UTC)", "what", "container", "event", "source", "evidence"}, Empty: "No timeline in this analysis."}
	idx := make([]int, len(res.Timeline))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return res.Timeline[idx[a]].Time.Before(res.Timeline[idx[b]].Time) })
	t.Total = len(idx)
	for _, i := range idx[:min(len(idx), maxTimelineRows)] {
		e := &res.Timeline[i]
		ev := ""
		if e.Evidence != nil {
			ev = viewEvidence(*e.Evidence)
		}
		t.Rows = append(t.Rows, []string{viewTime(e.Time), viewText(e.Kind), viewText(orNonEmpty(e.ContainerName, viewShortID(e.Container))), viewText(viewCut(e.Message)), viewText(e.Source), ev})
	}
	t.Rest = fmt.Sprintf("Showing the first %d of %d events. The full timeline is in the JSON document (key \"timeline\") and from `dockcase timeline BUNDLE --csv FILE` or `--timesketch FILE`.", len(t.Rows), t.Total)
	return t
}

func ownershipSection(res *analyze.Result) viewTable {
	t := viewTable{Header: []string{"address", "container", "network", "from", "to", "note"}, Empty: "No address ownership recorded."}
	for _, l := range res.IPOwnership {
		to := viewTime(l.To)
		if l.To.IsZero() {
			to = "collection"
		}
		t.Rows = append(t.Rows, []string{viewAddr(l.Addr), viewText(orNonEmpty(l.ContainerName, l.Container)), viewText(l.Network), viewTime(l.From), to, viewText(l.Note)})
	}
	t.Total = len(t.Rows)
	return t
}

func orNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// evidenceSection is the evidence index. Until the analysis document lists
// every member of the bundle, it is the members this analysis cites, each
// with its SHA-256 from the signed manifest and how often it is cited.
func evidenceSection(res *analyze.Result) viewTable {
	t := viewTable{Header: []string{"member", "bytes", "sha256", "step", "cited"}, Empty: "The analysis lists no member."}
	type entry struct {
		sha   string
		count int
	}
	members := map[string]*entry{}
	add := func(e model.Evidence) {
		if e.Member == "" {
			return
		}
		m := members[e.Member]
		if m == nil {
			m = &entry{}
			members[e.Member] = m
		}
		if m.sha == "" {
			m.sha = e.SHA256
		}
		m.count++
	}
	for _, c := range res.Containers {
		for _, e := range c.Evidence {
			add(e)
		}
		for _, ep := range c.Endpoints {
			add(ep.Evidence)
		}
		for _, pb := range c.Ports {
			add(pb.Evidence)
		}
	}
	for _, n := range res.Networks {
		add(n.Evidence)
	}
	for _, p := range res.Paths {
		for _, h := range p.Hops {
			for _, e := range h.Evidence {
				add(e)
			}
		}
	}
	for _, l := range res.IPOwnership {
		for _, e := range l.Evidence {
			add(e)
		}
	}
	for _, f := range res.Flows {
		for _, e := range f.Evidence {
			add(e)
		}
	}
	for _, f := range res.Findings {
		for _, e := range f.Evidence {
			add(e)
		}
	}
	for _, q := range res.DNS {
		add(q.Evidence)
	}
	for _, e := range res.Timeline {
		if e.Evidence != nil {
			add(*e.Evidence)
		}
	}
	for _, hit := range res.IOCs {
		for _, c := range hit.Contacts {
			for _, e := range c.Evidence {
				add(e)
			}
		}
	}
	// Every member of the bundle, with how often the analysis cites it;
	// an analysis saved before the index existed lists the cited ones.
	index := res.Members
	if len(index) == 0 {
		for m, e := range members {
			index = append(index, analyze.BundleMember{Path: m, SHA256: e.sha, Size: -1})
		}
		sort.Slice(index, func(i, j int) bool { return index[i].Path < index[j].Path })
	}
	for _, m := range index {
		t.Total++
		if len(t.Rows) >= maxEvidenceRows {
			continue
		}
		size, cited := "", "0"
		if m.Size >= 0 {
			size = strconv.FormatInt(m.Size, 10)
		}
		if e := members[m.Path]; e != nil {
			cited = strconv.Itoa(e.count)
		}
		t.Rows = append(t.Rows, []string{viewText(m.Path), size, viewText(m.SHA256), viewText(m.Step), cited})
	}
	t.Rest = fmt.Sprintf("Showing %d of %d members; `dockcase inspect BUNDLE` lists them all.", len(t.Rows), t.Total)
	return t
}

// custodySection is the custody log: the collection steps (custody.jsonl
// in the bundle), containment, and the custody sidecar's entries (who held
// the bundle since), as the timeline carries them, in time order.
func custodySection(res *analyze.Result) viewTable {
	t := viewTable{Header: []string{"time (UTC)", "entry", "status", "ended", "members", "what", "source"},
		Empty: "The analysis holds no custody entry: `dockcase inspect BUNDLE` prints the collection steps (custody.jsonl) and `dockcase custody show BUNDLE` the sidecar's chain."}
	idx := []int{}
	for i, e := range res.Timeline {
		switch e.Kind {
		case timeline.CollectionStep, timeline.Containment, timeline.Custody:
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return res.Timeline[idx[a]].Time.Before(res.Timeline[idx[b]].Time) })
	t.Total = len(idx)
	for _, i := range idx[:min(len(idx), maxCustodyRows)] {
		e := &res.Timeline[i]
		entry := e.Attrs["step"]
		if entry == "" {
			entry = e.Kind
		}
		status := orNonEmpty(e.Attrs["status"], e.Attrs["custody"])
		ended := ""
		if t, err := time.Parse(time.RFC3339Nano, e.Attrs["ended"]); err == nil {
			ended = viewTime(t)
		}
		source := e.Source
		if e.Evidence != nil {
			source = viewEvidence(*e.Evidence)
		}
		t.Rows = append(t.Rows, []string{viewTime(e.Time), viewText(entry), viewText(status), ended, viewText(viewCut(e.Attrs["members"])), viewText(viewCut(e.Message)), viewText(source)})
	}
	t.Rest = fmt.Sprintf("Showing %d of %d custody entries; `dockcase inspect BUNDLE` and `dockcase custody show BUNDLE` print them all.", len(t.Rows), t.Total)
	return t
}

// cutRunes cuts s to n runes, marking the cut with "…".
func cutRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
