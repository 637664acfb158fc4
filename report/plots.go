package report

import (
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// Bounds of the two pictures: a page of marks, not a flow dump.
const (
	// maxPlotLanes is how many containers the timeline plot and the
	// traffic bars show, the busiest first.
	maxPlotLanes = 20
	// maxPlotMarks bounds the conversations drawn in the timeline plot.
	maxPlotMarks = 3000
)

// Geometry of the plots, in SVG user units (the SVG scales to the page).
const (
	plotWidth   = 960
	plotLabelW  = 190
	plotLaneH   = 22
	plotTopPad  = 8
	plotAxisPad = 30
)

// plotView is the timeline plot (one lane per container, one mark per
// conversation over the capture window, IOC contacts in red) and the
// traffic per container (bytes, the IOC share in red).
type plotView struct {
	Width, Height int
	Lanes         []plotLane
	Marks         []plotMark
	Ticks         []plotTick
	AxisY         int
	BarsHeight    int
	Bars          []plotBar
	// Note says what the pictures leave out.
	Note string
}

type plotLane struct {
	Y, TextY int
	Label    string
}

type plotMark struct {
	X, Y, W, H int
	Class      string
	Title      string
}

type plotTick struct {
	X, Y          int
	Label, Anchor string
}

type plotBar struct {
	Y, TextY, W, IOCW, ValueX int
	Label, Value              string
}

// plotsSection draws the traffic over time and per container from the
// conversations (a flow captured at several points counted once, at the
// point that saw the most). Nil when nothing was captured.
func plotsSection(res *analyze.Result) *plotView {
	iocRemotes := map[netip.Addr]bool{}
	for _, h := range res.IOCs {
		for _, c := range h.Contacts {
			for _, r := range c.Remotes {
				iocRemotes[r.Unmap()] = true
			}
		}
	}
	// One conversation each, from the contacts that a capture saw (their
	// counting point's bytes); those seen only in sockets or conntrack
	// have no packets to draw.
	type conv struct {
		k   *traffic.Contact
		ioc bool
	}
	var convs []*conv
	for i := range res.Contacts {
		k := &res.Contacts[i]
		if k.CountedAt == "" || !k.Exact {
			continue
		}
		c := &conv{k: k, ioc: iocRemotes[k.Remote.Addr().Unmap()] || iocRemotes[k.Local.Addr().Unmap()]}
		for _, src := range k.Sources {
			if c.ioc || src.Flow == nil || *src.Flow >= len(res.Flows) {
				continue
			}
			f := &res.Flows[*src.Flow]
			c.ioc = iocRemotes[f.Server.Unmap()] || iocRemotes[f.Client.Unmap()]
		}
		convs = append(convs, c)
	}
	if len(convs) == 0 {
		return nil
	}
	type lane struct {
		name       string
		bytes, ioc uint64
		convs      []*conv
	}
	lanes := map[string]*lane{}
	var start, end time.Time
	for _, c := range convs {
		name := contactWho(c.k)
		if name == "host or unknown" {
			name = "host / unknown"
		}
		l := lanes[name]
		if l == nil {
			l = &lane{name: name}
			lanes[name] = l
		}
		b := c.k.BytesToRemote + c.k.BytesFromRemote
		l.bytes += b
		if c.ioc {
			l.ioc += b
		}
		l.convs = append(l.convs, c)
		if start.IsZero() || c.k.First.Before(start) {
			start = c.k.First
		}
		if c.k.Last.After(end) {
			end = c.k.Last
		}
	}
	order := make([]*lane, 0, len(lanes))
	for _, l := range lanes {
		order = append(order, l)
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].bytes != order[j].bytes {
			return order[i].bytes > order[j].bytes
		}
		return order[i].name < order[j].name
	})
	v := &plotView{Width: plotWidth}
	if len(order) > maxPlotLanes {
		v.Note = "The pictures show the " + strconv.Itoa(maxPlotLanes) + " busiest of " + strconv.Itoa(len(order)) + " containers; the conversations table has every one."
		order = order[:maxPlotLanes]
	}
	span := end.Sub(start)
	if span <= 0 {
		span = time.Second
	}
	plotW := plotWidth - plotLabelW - 10
	x := func(t time.Time) int { return plotLabelW + int(float64(plotW)*float64(t.Sub(start))/float64(span)) }
	marks := 0
	for i, l := range order {
		y := plotTopPad + i*plotLaneH
		v.Lanes = append(v.Lanes, plotLane{Y: y, TextY: y + plotLaneH/2 + 4, Label: viewText(l.name)})
		sort.SliceStable(l.convs, func(a, b int) bool { return l.convs[a].k.First.Before(l.convs[b].k.First) })
		for _, c := range l.convs {
			if marks == maxPlotMarks {
				v.Note = "The timeline plot shows the first " + strconv.Itoa(maxPlotMarks) + " conversations; the conversations table has them all."
				break
			}
			marks++
			// A thin bar for how long it lasted, a full-height tick where
			// it began: a beacon's period shows as evenly spaced ticks.
			x0, x1 := x(c.k.First), x(c.k.Last)
			class := "mark"
			if c.ioc {
				class = "mark ioc"
			}
			title := viewText(c.k.Proto + " " + c.k.Local.String() + " → " + c.k.Remote.String() + ", " + viewTime(c.k.First))
			if x1-x0 > 2 {
				v.Marks = append(v.Marks, plotMark{X: x0, Y: y + plotLaneH/2 - 1, W: x1 - x0, H: 3, Class: class + " span", Title: title})
			}
			v.Marks = append(v.Marks, plotMark{X: x0, Y: y + 3, W: 2, H: plotLaneH - 6, Class: class, Title: title})
		}
	}
	v.AxisY = plotTopPad + len(order)*plotLaneH + 4
	for i := 0; i <= 4; i++ {
		t := start.Add(span * time.Duration(i) / 4)
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		v.Ticks = append(v.Ticks, plotTick{X: x(t), Y: v.AxisY + 16, Label: t.UTC().Format("15:04:05"), Anchor: anchor})
	}
	v.Height = v.AxisY + plotAxisPad
	maxBytes := order[0].bytes
	if maxBytes == 0 {
		maxBytes = 1
	}
	barW := plotWidth - plotLabelW - 110
	for i, l := range order {
		y := 4 + i*plotLaneH
		w := int(float64(barW) * float64(l.bytes) / float64(maxBytes))
		iw := int(float64(barW) * float64(l.ioc) / float64(maxBytes))
		v.Bars = append(v.Bars, plotBar{Y: y + 4, TextY: y + plotLaneH/2 + 4, W: max(w, 1), IOCW: iw, ValueX: plotLabelW + max(w, 1) + 6, Label: viewText(l.name), Value: humanBytes(l.bytes)})
	}
	v.BarsHeight = 8 + len(order)*plotLaneH
	return v
}
