package caselist

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
)

// pathColumns are the columns of path: one hop a row.
var pathColumns = []listing.Column{{Key: "container_name"}, {Key: "container_id"}, {Key: "dst"}, {Key: "hop", Num: true},
	{Key: "kind"}, {Key: "iface"}, {Key: "addr"}, {Key: "src"}, {Key: "text", Text: true}, {Key: "evidence", Text: true},
	{Key: "final_src"}, {Key: "out_iface"}, {Key: "nat"}, {Key: "verdict"}}

// Paths is the listing of paths: their hops, notes and unknowns.
func Paths(paths []*netpath.Path, warning string) *listing.Table {
	l := &listing.Table{Cols: pathColumns, Name: "hops", Warning: warning}
	addr := func(a netip.Addr) string {
		if !a.IsValid() {
			return ""
		}
		return a.String()
	}
	for _, p := range paths {
		tail := []string{addr(p.FinalSrc), p.OutIface, strconv.FormatBool(p.NAT), p.Verdict}
		row := func(cells ...string) {
			l.Add(append(append([]string{p.ContainerName, p.Container, addr(p.Dst)}, cells...), tail...)...)
		}
		for i, h := range p.Hops {
			ev := make([]string, len(h.Evidence))
			for j, e := range h.Evidence {
				ev[j] = EvidenceLine(e)
			}
			row(strconv.Itoa(i+1), h.Kind, h.Iface, addr(h.Addr), addr(h.Src), h.Text, strings.Join(ev, "; "))
		}
		for _, n := range p.Notes {
			row("", "note", "", "", "", n, "")
		}
		for _, u := range p.Unknown {
			row("", "unknown", "", "", "", u, "")
		}
	}
	return l
}
