package netpath

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/dockcase/dockcase/analyze/model"
)

// Visibility answers.
const (
	VisibleYes     = "yes"
	VisibleNo      = "no"
	VisibleUnknown = "unknown"
)

// Interface kinds in the visibility matrix.
const (
	IfaceBridge = "bridge"
	IfaceVeth   = "veth"
	IfaceUplink = "uplink"
	// IfaceParent is the parent of a container's macvlan or ipvlan link.
	IfaceParent = "parent"
)

// VisibilityRow says whether a capture on one host interface would show one
// container's traffic to Dst, with which source address, and why.
type VisibilityRow struct {
	Container     string     `json:"container"`
	ContainerName string     `json:"container_name"`
	Dst           netip.Addr `json:"dst"`
	Iface         string     `json:"iface"`
	IfaceKind     string     `json:"iface_kind"`
	Visible       string     `json:"visible"`
	// Src is the source address a capture there shows: the container's
	// own, or the host's after NAT.
	Src netip.Addr `json:"src,omitzero"`
	// As says whose address Src is: "container" or "host".
	As  string `json:"as,omitempty"`
	Why string `json:"why"`
}

// HostInterface is an interface of the host that a capture could be taken
// on: every bridge, every veth, every uplink, and every parent of a
// container's macvlan/ipvlan link.
type HostInterface struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Index int    `json:"ifindex"`
	// Container is the container whose veth this is.
	Container string `json:"container,omitempty"`
}

// interfaces lists the host's bridges, veths and uplinks, in that order and
// by name. An uplink is a link (not a bridge, not a bridge port, not
// loopback) that carries a route of the host's main table: the default
// route or a route to a network that is not a container network.
func (h host) interfaces() []HostInterface {
	host := h.HostNS
	if host == nil {
		return nil
	}
	var bridges, veths, uplinks, parents []HostInterface
	parentOf := map[int]bool{} // host ifindex → the parent of a container's macvlan/ipvlan
	for _, ns := range h.Namespaces {
		if ns == host {
			continue
		}
		for _, l := range ns.Links {
			if (l.Kind == "macvlan" || l.Kind == "ipvlan" || l.Kind == "macvtap") && l.Iflink != 0 {
				parentOf[l.Iflink] = true
			}
		}
	}
	routed := map[string]bool{}
	for _, r := range host.Routes {
		if r.Table == 254 && (r.Type == "" || r.Type == "unicast") && !r.Dst.Addr().IsLinkLocalUnicast() {
			routed[r.Dev] = true
			for _, d := range r.Multipath {
				routed[d] = true
			}
		}
	}
	for _, l := range host.Links {
		switch {
		case l.Kind == "bridge":
			bridges = append(bridges, HostInterface{Name: l.Name, Kind: IfaceBridge, Index: l.Index})
		case l.Kind == "veth" && l.Master != "":
			hi := HostInterface{Name: l.Name, Kind: IfaceVeth, Index: l.Index}
			if c := h.containerOfLink(l); c != nil {
				hi.Container = c.ID
			}
			veths = append(veths, hi)
		case l.Name != "lo" && l.Master == "" && routed[l.Name]:
			uplinks = append(uplinks, HostInterface{Name: l.Name, Kind: IfaceUplink, Index: l.Index})
		case parentOf[l.Index]:
			parents = append(parents, HostInterface{Name: l.Name, Kind: IfaceParent, Index: l.Index})
		}
	}
	byName := func(s []HostInterface) {
		sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	}
	byName(bridges)
	byName(veths)
	byName(uplinks)
	byName(parents)
	return slices.Concat(bridges, veths, uplinks, parents)
}

// containerOfLink returns the running container whose namespace holds the
// peer of a host veth.
func (h host) containerOfLink(l *model.Link) *model.Container {
	if l.PeerNS == 0 {
		return nil
	}
	var found *model.Container
	for _, c := range h.Containers {
		if c.NetNS == l.PeerNS && c.Running() {
			if found == nil || (found.SharesWith != "" && c.SharesWith == "") {
				found = c
			}
		}
	}
	return found
}

// visibility builds the matrix for traffic towards dst: for each container
// and each host interface, whether a capture there would show it.
func (h host) visibility(dst netip.Addr) []VisibilityRow {
	ifaces := h.interfaces()
	var rows []VisibilityRow
	for _, c := range h.Containers {
		p, err := h.egress(c.ID, dst)
		if err != nil {
			continue
		}
		for _, hi := range ifaces {
			rows = append(rows, h.visibilityRow(c, p, hi))
		}
	}
	return rows
}

func (h host) visibilityRow(c *model.Container, p *Path, hi HostInterface) VisibilityRow {
	row := VisibilityRow{Container: c.ID, ContainerName: c.Name, Dst: p.Dst, Iface: hi.Name, IfaceKind: hi.Kind, Visible: VisibleNo}
	// Where the path crosses this interface.
	for i, hop := range p.Hops {
		if hop.Iface != hi.Name || !hop.Src.IsValid() && hop.Kind != HopOut {
			continue
		}
		row.Visible, row.Src = VisibleYes, hop.Src
		row.As = "container"
		if p.NAT && hop.Kind == HopOut || p.NetworkMode == "host" {
			row.As = "host"
		}
		row.Why = visibleWhy(p, i)
		return row
	}
	if !c.Running() {
		row.Visible = VisibleNo
		row.Why = fmt.Sprintf("%s is %s at collection: it has no interface now; where its earlier traffic went is not in the bundle", c.Name, c.State)
		return row
	}
	if p.NetworkMode == "none" {
		row.Why = "network mode none: the container has only loopback"
		return row
	}
	if p.Verdict == "drop" || p.Verdict == "reject" {
		if hi.Kind == IfaceUplink || hi.Name == p.OutIface {
			row.Why = fmt.Sprintf("the forward path drops it before %s", p.OutIface)
			return row
		}
	}
	if len(p.Unknown) > 0 && len(p.Hops) < 2 {
		row.Visible = VisibleUnknown
		row.Why = "unknown because " + p.Unknown[0]
		return row
	}
	own := pathIface(p, HopBridge)
	ownVeth := pathIface(p, HopVeth)
	switch hi.Kind {
	case IfaceBridge:
		switch {
		case p.NetworkMode == "host":
			row.Why = "network mode host: its traffic never crosses a bridge"
		case own != "":
			row.Why = fmt.Sprintf("its veth %s is a port of %s, not %s", ownVeth, own, hi.Name)
			if p.OutIface != "" && p.OutIface != hi.Name {
				row.Why += fmt.Sprintf(", and the route for %s leaves by %s", p.Dst, p.OutIface)
			}
			if p.NAT {
				row.Why += "; the NAT rule rewrites only the source address, it does not decide which bridge carries the packet"
			}
		case pathIface(p, HopParent) != "":
			row.Why = fmt.Sprintf("%s: frames leave by the parent %s, never by a bridge", p.NetworkMode, pathIface(p, HopParent))
		default:
			row.Visible, row.Why = VisibleUnknown, "unknown because the container's bridge could not be established"
		}
	case IfaceVeth:
		if hi.Container != "" && hi.Container != c.ID {
			row.Why = fmt.Sprintf("%s is the veth of container %s", hi.Name, h.nameOf(hi.Container))
			if p.NetworkMode == "host" {
				row.Why = "network mode host: no veth; " + row.Why
			}
		} else if ownVeth != "" {
			row.Why = fmt.Sprintf("its own veth is %s", ownVeth)
		} else {
			row.Why = fmt.Sprintf("%s does not belong to this container", hi.Name)
		}
	case IfaceParent:
		row.Why = fmt.Sprintf("%s is the parent of another container's macvlan/ipvlan link: only that container's frames cross it", hi.Name)
	case IfaceUplink:
		if p.OutIface != "" {
			row.Why = fmt.Sprintf("the host's route for %s leaves by %s, not %s", p.Dst, p.OutIface, hi.Name)
		} else if p.Kind == PathContainer || (len(p.Notes) > 0 && strings.Contains(strings.Join(p.Notes, " "), "bridged, not routed")) {
			row.Why = fmt.Sprintf("%s is reached on the bridge; the traffic is not routed out", p.Dst)
		} else {
			row.Visible, row.Why = VisibleUnknown, "unknown because the route out could not be established"
			if len(p.Unknown) > 0 {
				row.Why = "unknown because " + p.Unknown[0]
			}
		}
	}
	return row
}

func pathIface(p *Path, kind string) string {
	for _, h := range p.Hops {
		if h.Kind == kind {
			return h.Iface
		}
	}
	return ""
}

func (h host) nameOf(id string) string {
	if c, ok := h.ContainerByID(id); ok {
		return c.Name
	}
	return model.ShortID(id)
}

// visibleWhy explains in one sentence why the path crosses hop i.
func visibleWhy(p *Path, i int) string {
	hop := p.Hops[i]
	switch hop.Kind {
	case HopVeth:
		if p.Kind == PathContainer && i > 0 && p.Hops[i-1].Kind != HopContainerIf {
			return fmt.Sprintf("%s is the veth of the destination container, source %s", hop.Iface, hop.Src)
		}
		return fmt.Sprintf("its interface is paired with %s (%s), source %s", hop.Iface, hop.Text, hop.Src)
	case HopBridge:
		return fmt.Sprintf("its veth %s is a port of %s, before routing and NAT, so the source is still the container's %s", pathIface(p, HopVeth), hop.Iface, hop.Src)
	case HopParent:
		return fmt.Sprintf("%s frames leave by the parent %s with the container's own address %s", p.NetworkMode, hop.Iface, hop.Src)
	case HopOut:
		route := ""
		for _, h := range p.Hops {
			if h.Kind == HopRoute {
				route = h.Text
			}
		}
		if p.NetworkMode == "host" {
			return fmt.Sprintf("network mode host: the host's route sends it out by %s with the host's address %s", hop.Iface, hop.Src)
		}
		if p.NAT {
			nat := ""
			for _, h := range p.Hops {
				if h.Kind == HopNAT {
					nat = h.Text
				}
			}
			return fmt.Sprintf("%s sends it out by %s, and %s, so a capture there shows the host (%s)", route, hop.Iface, nat, hop.Src)
		}
		return fmt.Sprintf("%s sends it out by %s without NAT: the source stays %s", route, hop.Iface, hop.Src)
	}
	return hop.Text
}
