package report

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
)

// The topology diagram draws six columns, left to right: containers, their
// veths, bridges (with their networks' names), NAT rules, uplinks, and the
// indicators the contacts went to. It is plain inline SVG laid out here
// and written by the HTML template: no script, no external asset, and every
// name is SVG text content (escaped), never an attribute.
const (
	// maxTopologyContainers bounds the containers drawn: a diagram taller
	// than about 13,000 px (300 rows) helps nobody; the page says how many
	// were left out, and the tables below list them all.
	maxTopologyContainers = 300
	// maxTopoLabelRunes is the width of a node's label; the full name is
	// in the node's tooltip and in the tables.
	maxTopoLabelRunes = 26

	topoColumns  = 6
	topoColPitch = 200 // px between column starts
	topoNodeW    = 180
	topoNodeH    = 36
	topoRowPitch = 46
	topoTop      = 34 // room for the column titles
	topoMargin   = 10
	topoLegendH  = 16
)

var topoColumnTitles = [topoColumns]string{"containers", "veths (host end)", "bridges", "NAT rules", "uplinks", "indicators"}

type topoView struct {
	Width, Height int
	Columns       []topoColumn
	Nodes         []topoNode
	Edges         []topoEdge
	LegendY       int
	// Note says what the diagram leaves out.
	Note string
	// Captured and Highlighted say whether any node is a capture point or
	// any path an IOC contact (the legend explains what is drawn).
	Captured    bool
	Highlighted bool
}

type topoColumn struct {
	X, Y  int
	Title string
}

type topoNode struct {
	X, Y, W, H int
	// TX, TY place the label; SY the second line.
	TX, TY, SY int
	Label, Sub string
	// Title is the node's full text (its tooltip).
	Title     string
	Class     string
	Captured  bool
	CX, CY    int // the capture marker
	Highlight bool
}

type topoEdge struct {
	D     string
	Class string
}

type topoKey struct {
	col  int
	name string
}

type topoNodeData struct {
	key       topoKey
	label     string
	sub       string
	title     string
	dim       bool
	highlight bool
	captured  bool
	// virtual marks a waypoint of an edge that spans several columns:
	// it takes a row of its column, so that no box is drawn where the
	// edge passes, and is not drawn itself.
	virtual bool
	y       int
}

// topologySection draws the host's topology from the result.
func topologySection(res *analyze.Result) topoView {
	return buildTopology(res, captureInterfaces(res))
}

// captureInterfaces names the host interfaces a capture of the bundle was
// taken on.
func captureInterfaces(res *analyze.Result) map[string]bool {
	out := map[string]bool{}
	for _, c := range res.Captures {
		for _, p := range c.Points {
			out[p.Name] = true
		}
	}
	return out
}

// topoNATLabel names a NAT hop by its rule: the target and the source
// network (or the DNAT destination), and where the rule is.
func topoNATLabel(h netpath.Hop) string {
	label, where := topoNATRule(h)
	if where != "" {
		label += " (" + where + ")"
	}
	return label
}

// topoNATRule returns a NAT hop's rule in short and where it is.
func topoNATRule(h netpath.Hop) (label, where string) {
	rule := ""
	if len(h.Evidence) > 0 {
		e := h.Evidence[0]
		rule = e.Text
		where = path.Base(e.Member)
		if e.Line > 0 {
			where += ":" + strconv.Itoa(e.Line)
		} else if e.Pointer != "" {
			where += " " + e.Pointer
		}
	}
	f := strings.Fields(rule)
	target, src, to := "", "", ""
	for i := 0; i+1 < len(f); i++ {
		switch f[i] {
		case "-j":
			target = f[i+1]
		case "-s":
			if i > 0 && f[i-1] == "!" {
				src = "not " + f[i+1]
			} else {
				src = f[i+1]
			}
		case "--to-destination", "--to-source", "--to":
			to = f[i+1]
		}
	}
	label = target
	if label == "" {
		label = strings.ToUpper(h.Kind)
	}
	if src != "" {
		label += " " + src
	}
	if to != "" {
		label += " → " + to
	}
	return label, where
}

// topoHopKey places a hop in the diagram; ok is false for hops that are
// not drawn (routes, filter verdicts, the container's own interface).
func topoHopKey(h netpath.Hop) (topoKey, bool) {
	switch h.Kind {
	case netpath.HopVeth:
		return topoKey{1, h.Iface}, true
	case netpath.HopBridge:
		return topoKey{2, h.Iface}, true
	case netpath.HopNAT, netpath.HopDNAT:
		return topoKey{3, topoNATLabel(h)}, true
	case netpath.HopOut, netpath.HopUplink, netpath.HopParent:
		return topoKey{4, h.Iface}, true
	}
	return topoKey{}, false
}

// buildTopology lays the diagram out: nodes from the host's interfaces and
// from every path's hops, edges from consecutive hops of the paths (and from
// each veth to its container), the paths of IOC contacts highlighted, and
// captured interfaces marked. Each column is ordered by the mean height of
// its neighbours to the left (a barycentre pass), which keeps a container,
// its veth and its bridge on one line where it can.
func buildTopology(res *analyze.Result, captured map[string]bool) topoView {
	nodes := map[topoKey]*topoNodeData{}
	names := map[string]string{} // container id → name
	add := func(k topoKey) *topoNodeData {
		n := nodes[k]
		if n == nil {
			n = &topoNodeData{key: k, label: k.name, title: k.name}
			nodes[k] = n
		}
		return n
	}
	containers := append([]*model.Container{}, res.Containers...)
	sort.SliceStable(containers, func(i, j int) bool { return containers[i].Name < containers[j].Name })
	var tv topoView
	drawn := map[string]bool{}
	for i, c := range containers {
		if i >= maxTopologyContainers {
			tv.Note = fmt.Sprintf("%d of %d containers drawn (the limit of the diagram); the tables below list every container.", maxTopologyContainers, len(containers))
			break
		}
		drawn[c.ID] = true
		names[c.ID] = c.Name
		n := add(topoKey{0, c.ID})
		n.label, n.title = c.Name, c.Name+" ("+viewShortID(c.ID)+", "+c.State+")"
		var addrs []string
		for _, ep := range c.Endpoints {
			if ep.IP.IsValid() {
				addrs = append(addrs, ep.IP.String())
			}
		}
		n.sub = strings.Join(addrs, " ")
		if c.NetworkMode == "host" {
			n.sub = "host network"
		}
		if !c.Running() {
			n.dim = true
			n.sub = strings.TrimSpace(c.State + " " + n.sub)
		}
	}
	for _, hi := range res.Interfaces {
		switch hi.Kind {
		case netpath.IfaceVeth:
			if hi.Container != "" && !drawn[hi.Container] {
				continue
			}
			add(topoKey{1, hi.Name})
		case netpath.IfaceBridge:
			n := add(topoKey{2, hi.Name})
			for _, nw := range res.Networks {
				if nw.Bridge == hi.Name && n.sub == "" {
					n.sub = "network " + nw.Name
				}
			}
		case netpath.IfaceUplink:
			add(topoKey{4, hi.Name})
		}
	}
	type edgeKey struct{ a, b topoKey }
	edges := map[edgeKey]bool{}
	link := func(a, b topoKey, hl bool) {
		if a.col > b.col {
			a, b = b, a
		}
		if a == b {
			return
		}
		k := edgeKey{a, b}
		edges[k] = edges[k] || hl
	}
	for _, hi := range res.Interfaces {
		if hi.Kind == netpath.IfaceVeth && drawn[hi.Container] {
			link(topoKey{0, hi.Container}, topoKey{1, hi.Name}, false)
		}
	}
	contacts := iocContactPaths(res)
	for i, p := range append(append([]*netpath.Path{}, res.Paths...), contacts...) {
		if !drawn[p.Container] || p.Kind == netpath.PathContainer {
			continue
		}
		hl := i >= len(res.Paths) || iocHighlighted(res, p)
		prev := topoKey{0, p.Container}
		if hl {
			nodes[prev].highlight = true
		}
		for _, h := range p.Hops {
			k, ok := topoHopKey(h)
			if !ok || k.name == "" {
				continue
			}
			if k.col == 2 {
				add(k) // a bridge the interfaces did not list keeps its label
			}
			n := add(k)
			if k.col == 3 {
				// The target on the first line, what it matches and where
				// the rule is on the second: a long rule fits its box.
				label, where := topoNATRule(h)
				target, rest, _ := strings.Cut(label, " ")
				n.label, n.sub = target, strings.TrimSpace(rest+" · "+where)
				n.sub = strings.TrimPrefix(n.sub, "· ")
				n.title = h.Text
			}
			if h.Kind == netpath.HopOut && h.Src.IsValid() && k.col == 4 && n.sub == "" {
				n.sub = "as " + h.Src.String()
			}
			if hl {
				n.highlight = true
			}
			link(prev, k, hl)
			prev = k
		}
		// The indicator the contact went to: a node of its own at the
		// end of the path.
		if names := iocNames(res, p.Dst); hl && len(names) > 0 && prev.col == 4 {
			k := topoKey{5, p.Dst.String()}
			n := add(k)
			var other []string
			for _, nm := range names {
				if nm != p.Dst.String() {
					other = append(other, nm)
				}
			}
			n.label, n.sub, n.title, n.highlight = p.Dst.String(), strings.Join(other, ", "), "indicator "+strings.Join(names, ", "), true
			if n.sub == "" {
				n.sub = "indicator"
			}
			link(prev, k, true)
		}
	}
	for _, n := range nodes {
		if n.key.col >= 1 && n.key.col != 3 && captured[n.key.name] {
			n.captured = true
			tv.Captured = true
		}
		if n.highlight {
			tv.Highlighted = true
		}
	}

	// An edge that spans columns (a veth straight to its uplink, a host
	// network container to the host's) passes through a waypoint in each
	// column between, which the layout gives a row of its own.
	chains := map[edgeKey][]topoKey{}
	hops := map[edgeKey]bool{}
	for e, hl := range edges {
		chain := []topoKey{e.a}
		for c := e.a.col + 1; c < e.b.col; c++ {
			k := topoKey{c, "\x00" + e.a.name + "\x00" + e.b.name}
			nodes[k] = &topoNodeData{key: k, virtual: true}
			chain = append(chain, k)
		}
		chain = append(chain, e.b)
		chains[e] = chain
		for i := 1; i < len(chain); i++ {
			k := edgeKey{chain[i-1], chain[i]}
			hops[k] = hops[k] || hl
		}
	}

	// Columns and their order.
	cols := make([][]*topoNodeData, topoColumns)
	for _, n := range nodes {
		cols[n.key.col] = append(cols[n.key.col], n)
	}
	rows := 1
	for _, col := range cols {
		rows = max(rows, len(col))
	}
	neighbours := map[topoKey][]topoKey{}
	for e := range hops {
		neighbours[e.b] = append(neighbours[e.b], e.a)
	}
	sortByName := func(col []*topoNodeData) {
		sort.Slice(col, func(i, j int) bool {
			if col[i].label != col[j].label {
				return col[i].label < col[j].label
			}
			return col[i].key.name < col[j].key.name
		})
	}
	place := func(c int) {
		off := (rows - len(cols[c])) * topoRowPitch / 2
		for i, n := range cols[c] {
			n.y = topoTop + off + i*topoRowPitch
		}
	}
	sortByName(cols[0])
	place(0)
	for c := 1; c < topoColumns; c++ {
		bary := map[*topoNodeData]float64{}
		for _, n := range cols[c] {
			sum, cnt := 0, 0
			for _, nb := range neighbours[n.key] {
				if m := nodes[nb]; m != nil && nb.col < c {
					sum += m.y
					cnt++
				}
			}
			if cnt == 0 {
				bary[n] = 1e12
			} else {
				bary[n] = float64(sum) / float64(cnt)
			}
		}
		sortByName(cols[c])
		sort.SliceStable(cols[c], func(i, j int) bool { return bary[cols[c][i]] < bary[cols[c][j]] })
		place(c)
	}

	tv.Width = topoMargin*2 + (topoColumns-1)*topoColPitch + topoNodeW
	tv.LegendY = topoTop + rows*topoRowPitch + 6
	tv.Height = tv.LegendY + topoLegendH
	for c, title := range topoColumnTitles {
		tv.Columns = append(tv.Columns, topoColumn{X: topoMargin + c*topoColPitch, Y: 18, Title: title})
	}
	for c, col := range cols {
		x := topoMargin + c*topoColPitch
		for _, n := range col {
			if n.virtual {
				continue
			}
			class := "node"
			switch {
			case n.highlight:
				class = "node hl"
			case n.dim:
				class = "node dim"
			}
			tn := topoNode{X: x, Y: n.y, W: topoNodeW, H: topoNodeH, TX: x + 8, TY: n.y + 15, SY: n.y + 29,
				Label: viewText(topoTruncate(n.label)), Sub: viewText(topoTruncate(n.sub)), Title: viewText(n.title),
				Class: class, Captured: n.captured, CX: x + topoNodeW - 10, CY: n.y + 10, Highlight: n.highlight}
			tv.Nodes = append(tv.Nodes, tn)
		}
	}
	ekeys := make([]edgeKey, 0, len(edges))
	for e := range edges {
		ekeys = append(ekeys, e)
	}
	sort.Slice(ekeys, func(i, j int) bool {
		a, b := ekeys[i], ekeys[j]
		if edges[a] != edges[b] {
			return !edges[a] // highlighted edges last: drawn on top
		}
		if a.a != b.a {
			return a.a.col < b.a.col || (a.a.col == b.a.col && a.a.name < b.a.name)
		}
		return a.b.col < b.b.col || (a.b.col == b.b.col && a.b.name < b.b.name)
	})
	for _, e := range ekeys {
		class := "edge"
		if edges[e] {
			class = "edge hl"
		}
		tv.Edges = append(tv.Edges, topoEdge{D: topoEdgePath(nodes, chains[e]), Class: class})
	}
	return tv
}

// topoEdgePath draws an edge through its chain of nodes: a curve in each
// gap between two columns, a straight line across each column the edge
// passes through (where its waypoint keeps the row free of boxes).
func topoEdgePath(nodes map[topoKey]*topoNodeData, chain []topoKey) string {
	var d strings.Builder
	for i := 1; i < len(chain); i++ {
		a, b := nodes[chain[i-1]], nodes[chain[i]]
		x1 := topoMargin + a.key.col*topoColPitch + topoNodeW
		x2 := topoMargin + b.key.col*topoColPitch
		y1, y2 := a.y+topoNodeH/2, b.y+topoNodeH/2
		if i == 1 {
			fmt.Fprintf(&d, "M%d,%d", x1, y1)
		} else {
			fmt.Fprintf(&d, " L%d,%d", x1, y1) // across the waypoint's column
		}
		mid := (x1 + x2) / 2
		fmt.Fprintf(&d, " C%d,%d %d,%d %d,%d", mid, y1, mid, y2, x2, y2)
	}
	return d.String()
}

func topoTruncate(s string) string {
	r := []rune(s)
	if len(r) <= maxTopoLabelRunes {
		return s
	}
	return string(r[:maxTopoLabelRunes-1]) + "…"
}

// iocNames are the indicators a contact with the address matched, as the
// list names them.
func iocNames(res *analyze.Result, dst netip.Addr) []string {
	var out []string
	for _, h := range res.IOCs {
		for _, c := range h.Contacts {
			if slices.Contains(c.Remotes, dst) && !slices.Contains(out, h.IOC) {
				out = append(out, h.IOC)
			}
		}
	}
	return out
}
