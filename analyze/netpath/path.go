package netpath

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/dockcase/dockcase/analyze/firewall"
	"github.com/dockcase/dockcase/analyze/model"
)

// Path kinds.
const (
	PathEgress    = "egress"    // a container towards an outside address
	PathContainer = "container" // a container towards another container
	PathInbound   = "inbound"   // from an uplink to a published port
)

// Hop kinds, in the order a packet meets them.
const (
	HopContainerIf = "container-if" // the container's interface and its route
	HopVeth        = "veth"         // the host end of the container's veth
	HopBridge      = "bridge"       // the bridge the veth is a port of
	HopParent      = "parent"       // a macvlan/ipvlan parent NIC
	HopRoute       = "route"        // the host's route for the destination
	HopForward     = "forward"      // the filter verdict of the forward path
	HopNAT         = "nat"          // the source NAT rule that applies
	HopDNAT        = "dnat"         // the destination NAT of a published port
	HopOut         = "out"          // the interface the packet leaves by
	HopUplink      = "uplink"       // where an inbound packet arrives
	HopHostStack   = "host-stack"   // a host-network container: the host's own stack
)

// Hop is one step of a path with the evidence for it. Iface is set when the
// packet crosses an interface of the host at this hop, and Src is then its
// source address on the wire there: what a capture on Iface would show.
type Hop struct {
	Kind     string                   `json:"kind"`
	Iface    string                   `json:"iface,omitempty"`
	Ifindex  int                      `json:"ifindex,omitempty"`
	Addr     netip.Addr               `json:"addr,omitzero"`
	Src      netip.Addr               `json:"src,omitzero"`
	Text     string                   `json:"text"`
	Counters *firewall.PacketCounters `json:"counters,omitempty"`
	Evidence []model.Evidence         `json:"evidence"`
}

// Path is how a container's traffic reaches an address (or how inbound
// traffic reaches a container), hop by hop.
type Path struct {
	Kind          string     `json:"kind"`
	Container     string     `json:"container"`
	ContainerName string     `json:"container_name"`
	NetworkMode   string     `json:"network_mode"`
	Dst           netip.Addr `json:"dst"`
	Proto         string     `json:"proto,omitempty"`
	DPort         uint16     `json:"dport,omitempty"`
	// Src is the source address as the packet leaves the container;
	// FinalSrc as it leaves the host (after NAT).
	Src      netip.Addr `json:"src,omitzero"`
	FinalSrc netip.Addr `json:"final_src,omitzero"`
	OutIface string     `json:"out_iface,omitempty"`
	NAT      bool       `json:"nat"`
	// Verdict is the forward path's verdict: accept, drop, reject, or
	// unknown when the firewall is not in the bundle; empty when the
	// packet is not forwarded (host network, macvlan).
	Verdict string `json:"verdict,omitempty"`
	// PeerContainer is the destination container of a container path.
	PeerContainer string   `json:"peer_container,omitempty"`
	Hops          []Hop    `json:"hops"`
	Notes         []string `json:"notes,omitempty"`
	// Unknown says what could not be established and why.
	Unknown []string `json:"unknown,omitempty"`
}

// ErrNoContainer is returned (wrapped) for a container reference that
// matches no container of the bundle.
var ErrNoContainer = errors.New("no such container")

// Summary renders the path on one line, hop by hop.
func (p *Path) Summary() string {
	parts := make([]string, 0, len(p.Hops))
	for _, h := range p.Hops {
		parts = append(parts, h.Text)
	}
	return strings.Join(parts, " → ")
}

func (p *Path) unknown(format string, a ...any) {
	p.Unknown = append(p.Unknown, fmt.Sprintf(format, a...))
}

func (p *Path) hop(h Hop) {
	if h.Evidence == nil {
		h.Evidence = []model.Evidence{}
	}
	p.Hops = append(p.Hops, h)
}

// egress explains how the container's traffic reaches dst: to a container
// (same bridge or across bridges) or out of the host.
func (h host) egress(containerRef string, dst netip.Addr) (*Path, error) {
	c, ok := h.Container(containerRef)
	if !ok {
		return nil, fmt.Errorf("path: %q: %w", containerRef, ErrNoContainer)
	}
	dst = dst.Unmap()
	p := &Path{Kind: PathEgress, Container: c.ID, ContainerName: c.Name, NetworkMode: c.NetworkMode, Dst: dst, Hops: []Hop{}}
	c = h.resolveShared(c, p)
	if peer := h.containerAt(dst); peer != nil && peer.ID != c.ID {
		p.Kind, p.PeerContainer = PathContainer, peer.ID
	}
	switch {
	case c.NetworkMode == "none":
		p.Notes = append(p.Notes, "network mode none: the container has only a loopback interface; its traffic cannot leave it")
		return p, nil
	case c.NetworkMode == "host":
		h.hostModePath(c, p)
		return p, nil
	}
	h.bridgedPath(c, p)
	return p, nil
}

// resolveShared follows container:<id> mode to the container whose
// namespace is shared.
func (h host) resolveShared(c *model.Container, p *Path) *model.Container {
	seen := map[string]bool{}
	for c.SharesWith != "" && !seen[c.ID] {
		seen[c.ID] = true
		t, ok := h.ContainerByID(c.SharesWith)
		if !ok {
			p.unknown("network mode %s: that container is not in the bundle", c.NetworkMode)
			return c
		}
		p.Notes = append(p.Notes, fmt.Sprintf("network mode container:%s: %s shares the network namespace of %s (%s); traffic of both leaves by the same interfaces and cannot be told apart by address", model.ShortID(t.ID), c.Name, t.Name, model.ShortID(t.ID)))
		c = t
	}
	return c
}

// containerAt returns the running container holding addr now.
func (h host) containerAt(addr netip.Addr) *model.Container {
	for _, c := range h.Containers {
		if !c.Running() {
			continue
		}
		for _, ep := range c.Endpoints {
			if ep.IP == addr || ep.IPv6 == addr {
				return c
			}
		}
	}
	return nil
}

// hostModePath is the path of a container on the host's network stack: no
// veth, no bridge, no NAT; its traffic is the host's, told apart only by
// process and socket.
func (h host) hostModePath(c *model.Container, p *Path) {
	hop := Hop{Kind: HopHostStack, Text: "network mode host: the container's processes use the host's interfaces", Evidence: append([]model.Evidence{}, c.Evidence...)}
	for _, pr := range h.Processes {
		if pr.ContainerID == c.ID {
			hop.Evidence = append(hop.Evidence, pr.Evidence)
		}
	}
	p.hop(hop)
	p.Notes = append(p.Notes, "attribute by process and socket: a capture shows the host's address, and only the socket table (netns sockets.json, with owning processes) ties a connection to this container's processes")
	if h.HostNS == nil {
		p.unknown("the host's namespace is not in the bundle: route unknown")
		return
	}
	rc := h.lookupRoute(h.HostNS, p.Dst, netip.Addr{}, "", p)
	if rc == nil {
		return
	}
	out := h.HostNS.LinkByName(rc.route.Dev)
	src := h.sourceFor(rc.route, out, p.Dst)
	p.Src, p.FinalSrc, p.OutIface = src, src, rc.route.Dev
	p.hop(Hop{Kind: HopOut, Iface: rc.route.Dev, Ifindex: linkIndex(out), Src: src,
		Text: fmt.Sprintf("%s, source %s (the host's own address)", rc.route.Dev, addrText(src)), Evidence: out.Cite()})
	for _, s := range h.SocketsOf(c) {
		p.Notes = append(p.Notes, fmt.Sprintf("socket %s %s:%d → %s:%d %s held by pid %v", s.Proto, s.LocalIP, s.LocalPort, s.RemoteIP, s.RemotePort, s.State, s.PIDs))
	}
}

// bridgedPath follows a container with its own namespace: its interface,
// then a veth and bridge (bridge, overlay's docker_gwbridge) or a parent NIC
// (macvlan, ipvlan), then the host's routing, filter and NAT.
func (h host) bridgedPath(c *model.Container, p *Path) {
	v6 := p.Dst.Is6()
	ns, _ := h.Namespace(c.NetNS)
	if c.NetNS == 0 || ns == nil || ns.Member == "" {
		if !c.Running() {
			p.unknown("container %s is %s: it has no network namespace at collection; its last path cannot be rebuilt", c.Name, c.State)
		} else {
			p.unknown("the network namespace of container %s is not in the bundle: its interface and veth are unknown", c.Name)
		}
		h.pathFromInspect(c, p)
		return
	}
	// The container's own route for dst picks its interface.
	rc := h.lookupRoute(ns, p.Dst, netip.Addr{}, "", p)
	if rc == nil {
		p.unknown("the container has no route to %s", p.Dst)
		return
	}
	cl := ns.LinkByName(rc.route.Dev)
	if cl == nil {
		cl = ns.Link(rc.route.DevIndex)
	}
	if cl == nil {
		p.unknown("route %q names interface %q, which the namespace does not list", rc.route.Text(), rc.route.Dev)
		return
	}
	src := h.sourceFor(rc.route, cl, p.Dst)
	p.Src = src
	ep := endpointFor(c, cl, src)
	text := fmt.Sprintf("%s %s (container)", cl.Name, addrText(src))
	if ep != nil && ep.Network != "" {
		text = fmt.Sprintf("%s %s (container, network %s)", cl.Name, addrText(src), ep.Network)
	}
	ev := cl.Cite()
	ev = append(ev, cl.AddrEvidence(src)...)
	ev = append(ev, rc.route.Evidence)
	if ep != nil {
		ev = append(ev, ep.Evidence)
	}
	p.hop(Hop{Kind: HopContainerIf, Ifindex: cl.Index, Addr: src, Text: text + ", route " + quoteRoute(rc.route), Evidence: ev})

	host := h.HostNS
	if host == nil {
		p.unknown("the host's namespace is not in the bundle: veth, bridge and route unknown")
		return
	}
	switch cl.Kind {
	case "macvlan", "ipvlan", "macvtap":
		parent := host.Link(cl.Iflink)
		if parent == nil {
			p.unknown("%s %s: its parent (host ifindex %d) is not among the host's links", cl.Kind, cl.Name, cl.Iflink)
			return
		}
		hopEv := parent.Cite()
		var captured string
		if ci := h.CaptureInterfaceNamed(parent.Name); ci != nil && ci.BlockID >= 0 {
			hopEv = append(hopEv, ci.Evidence)
			captured = fmt.Sprintf("the capture covered the parent %s (role %s): this traffic is in it", parent.Name, ci.Role)
		} else if len(h.CaptureInterfaces) > 0 {
			captured = fmt.Sprintf("the capture did not include the parent %s: this traffic is not in it", parent.Name)
		}
		p.hop(Hop{Kind: HopParent, Iface: parent.Name, Ifindex: parent.Index, Src: src,
			Text:     fmt.Sprintf("%s (parent NIC, host ifindex %d = %s's iflink); %s frames leave with the container's own MAC and address, not through the host's routing or NAT", parent.Name, parent.Index, cl.Name, cl.Kind),
			Evidence: hopEv})
		p.FinalSrc, p.OutIface = src, parent.Name
		p.Notes = append(p.Notes, cl.Kind+": no NAT; the host itself cannot reach the container through the parent, and a capture on a bridge or veth never shows this traffic")
		if captured != "" {
			p.Notes = append(p.Notes, captured)
		}
		return
	case "veth":
	default:
		p.unknown("interface %s is of kind %q: the path beyond it is not modelled", cl.Name, cl.Kind)
		return
	}
	veth := host.Link(cl.PeerIndex)
	if cl.PeerNS != host.Inode || veth == nil {
		p.unknown("the host end of %s (host ifindex %d) was not found: pairing needs the host link whose iflink is %d", cl.Name, cl.Iflink, cl.Index)
		return
	}
	p.hop(Hop{Kind: HopVeth, Iface: veth.Name, Ifindex: veth.Index, Src: src,
		Text:     fmt.Sprintf("%s (host ifindex %d = %s's iflink)", veth.Name, veth.Index, cl.Name),
		Evidence: append(veth.Cite(), cl.Cite()...)})
	if veth.Master == "" {
		p.unknown("%s is not a port of any bridge: the path beyond it is not modelled", veth.Name)
		return
	}
	br := host.LinkByName(veth.Master)
	gw := rc.route.Gw
	brText := veth.Master
	if br != nil {
		if a := firstAddr(br, v6, gw); a.IsValid() {
			brText += " " + a.String()
		}
	}
	bh := Hop{Kind: HopBridge, Iface: veth.Master, Ifindex: linkIndex(br), Src: src, Text: brText, Evidence: br.Cite()}
	if br != nil && gw.IsValid() {
		bh.Addr = gw
		bh.Evidence = append(bh.Evidence, br.AddrEvidence(gw)...)
	}
	if n := h.networkByBridge(veth.Master); n != nil {
		bh.Text += " (network " + n.Name + ")"
		bh.Evidence = append(bh.Evidence, n.Evidence)
		if n.Name == "docker_gwbridge" {
			p.Notes = append(p.Notes, "overlay network: traffic to other containers of the overlay is VXLAN-encapsulated from a namespace the collection does not model; only egress through docker_gwbridge is shown")
		}
	}
	p.hop(bh)
	h.hostForward(p, veth.Master, src, br)
}

// hostForward continues a path from the bridge the packet arrived on:
// same-bridge delivery, or the host's route, forward verdict, NAT and out
// interface.
func (h host) hostForward(p *Path, inBridge string, src netip.Addr, br *model.Link) {
	host := h.HostNS
	v6 := p.Dst.Is6()
	// Same bridge: the bridge delivers the frame itself; no routing, no NAT.
	if br != nil {
		for _, a := range br.Addrs {
			if a.Contains(p.Dst) {
				if p.Kind == PathContainer {
					h.deliverToPeer(p, src)
				} else {
					p.Notes = append(p.Notes, fmt.Sprintf("%s is on %s's own subnet %s: bridged, not routed; no NAT", p.Dst, inBridge, a.Masked()))
				}
				p.FinalSrc = src
				return
			}
		}
	}
	rc := h.lookupRoute(host, p.Dst, src, inBridge, p)
	if rc == nil {
		return
	}
	out := host.LinkByName(rc.route.Dev)
	p.hop(Hop{Kind: HopRoute, Text: "route " + quoteRoute(rc.route) + rc.tableNote, Evidence: append([]model.Evidence{rc.route.Evidence}, rc.ruleEv...)})
	p.OutIface = rc.route.Dev
	if rc.route.Type != "" && rc.route.Type != "unicast" {
		p.Notes = append(p.Notes, fmt.Sprintf("the route is of type %s: the packet does not leave", rc.route.Type))
		return
	}
	// Forward verdict.
	rs, fwEv := h.Firewall4, h.Firewall4Evidence
	if v6 {
		rs, fwEv = h.Firewall6, h.Firewall6Evidence
	}
	if rs == nil {
		p.Verdict = "unknown"
		p.unknown("no firewall dump for %s in the bundle: forward verdict and NAT unknown", map[bool]string{true: "IPv6", false: "IPv4"}[v6])
	} else {
		v := rs.ForwardVerdict(inBridge, rc.route.Dev, src, p.Dst, p.Proto, p.DPort)
		p.Verdict = v.Verdict
		fh := Hop{Kind: HopForward, Text: "forward " + v.Verdict}
		if v.DecidedBy != nil {
			fh.Text += " by " + quoteRule(*v.DecidedBy)
			fh.Counters = v.DecidedBy.Counters
			fh.Evidence = append(fh.Evidence, h.ruleEvidence(fwEv, *v.DecidedBy))
		} else {
			fh.Text += " (no rule decided: the chains' default)"
		}
		for _, u := range v.Uncertain {
			p.Notes = append(p.Notes, "rule not evaluated (taken as not matching): "+u.Raw)
		}
		p.hop(fh)
		if v.Verdict != "accept" {
			p.FinalSrc = src
			p.Notes = append(p.Notes, fmt.Sprintf("the packet is dropped in the forward path: it never reaches %s", rc.route.Dev))
			return
		}
	}
	final := src
	if rs != nil {
		nat := rs.SourceNAT(firewall.Probe{In: inBridge, Out: rc.route.Dev, Src: src, Dst: p.Dst, Proto: p.Proto, DPort: p.DPort, NoMark: true})
		nr := nat.Rule
		for _, u := range nat.Uncertain {
			p.Notes = append(p.Notes, "NAT rule not evaluated (taken as not matching): "+u.Raw)
		}
		if nr != nil {
			ref := nr.Ref()
			nh := Hop{Kind: HopNAT, Counters: ref.Counters, Evidence: []model.Evidence{h.ruleEvidence(fwEv, ref)}}
			switch nr.Target.Name {
			case "SNAT":
				to, _, _ := strings.Cut(nr.Target.ToSource, ":")
				final, _ = netip.ParseAddr(to)
				nh.Text = fmt.Sprintf("nat POSTROUTING %s%s: source becomes %s", quoteRule(ref), counterText(ref.Counters), to)
			default:
				final = h.sourceFor(rc.route, out, p.Dst)
				nh.Text = fmt.Sprintf("nat POSTROUTING %s%s: source becomes %s's address %s", quoteRule(ref), counterText(ref.Counters), rc.route.Dev, addrText(final))
			}
			p.NAT = true
			p.hop(nh)
		} else {
			p.Notes = append(p.Notes, fmt.Sprintf("no MASQUERADE or SNAT rule applies to %s leaving by %s: the source stays %s", src, rc.route.Dev, src))
		}
	}
	p.FinalSrc = final
	if p.Kind == PathContainer {
		if outBr := h.networkByBridge(rc.route.Dev); outBr != nil {
			h.deliverToPeer(p, final)
			return
		}
	}
	oh := Hop{Kind: HopOut, Iface: rc.route.Dev, Ifindex: linkIndex(out), Src: final, Evidence: out.Cite()}
	oh.Text = fmt.Sprintf("%s, source %s", rc.route.Dev, addrText(final))
	if p.NAT && out != nil {
		oh.Evidence = append(oh.Evidence, out.AddrEvidence(final)...)
		oh.Text += " (the host's address)"
	}
	p.hop(oh)
}

// deliverToPeer ends a container path at the destination container's veth.
func (h host) deliverToPeer(p *Path, src netip.Addr) {
	peer, _ := h.ContainerByID(p.PeerContainer)
	if peer == nil || h.HostNS == nil {
		return
	}
	ns, _ := h.Namespace(peer.NetNS)
	for _, l := range nsLinks(ns) {
		if l.PeerNS != h.HostNS.Inode || !slices.ContainsFunc(l.Addrs, func(a netip.Prefix) bool { return a.Addr() == p.Dst }) {
			continue
		}
		v := h.HostNS.Link(l.PeerIndex)
		if v == nil {
			continue
		}
		p.hop(Hop{Kind: HopVeth, Iface: v.Name, Ifindex: v.Index, Src: src,
			Text:     fmt.Sprintf("%s (host ifindex %d) → %s %s of %s", v.Name, v.Index, l.Name, p.Dst, peer.Name),
			Evidence: append(v.Cite(), l.Cite()...)})
		return
	}
	p.unknown("the veth of container %s is not in the bundle", peer.Name)
}

func nsLinks(ns *model.Namespace) []*model.Link {
	if ns == nil {
		return nil
	}
	return ns.Links
}

// pathFromInspect gives what inspect alone says when the container's
// namespace is not in the bundle: its network and that network's bridge.
func (h host) pathFromInspect(c *model.Container, p *Path) {
	for _, ep := range c.Endpoints {
		n, ok := h.Network(ep.NetworkID)
		if !ok {
			n, ok = h.Network(ep.Network)
		}
		if !ok || n.Bridge == "" {
			continue
		}
		if ep.IP.IsValid() {
			p.Src = ep.IP
		}
		p.hop(Hop{Kind: HopBridge, Iface: n.Bridge, Text: fmt.Sprintf("%s (network %s, from inspect; the veth is unknown)", n.Bridge, n.Name), Evidence: []model.Evidence{ep.Evidence, n.Evidence}})
		return
	}
}

// routeChoice is the route a lookup chose and how.
type routeChoice struct {
	route     model.Route
	tableNote string
	ruleEv    []model.Evidence
}

// lookupRoute picks the route for dst in ns: policy rules in priority order
// (when the namespace has any beyond the defaults), each table by longest
// prefix then lowest metric. src and iif are the packet's, for rule
// selectors.
func (h host) lookupRoute(ns *model.Namespace, dst, src netip.Addr, iif string, p *Path) *routeChoice {
	fam := "ipv4"
	if dst.Is6() {
		fam = "ipv6"
	}
	var rules []model.PolicyRule
	for _, r := range ns.Rules {
		if r.Family == fam {
			rules = append(rules, r)
		}
	}
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].Priority < rules[j].Priority })
	if len(rules) == 0 {
		rules = []model.PolicyRule{{Family: fam, Action: "to_tbl", Table: 254}}
	}
	for _, r := range rules {
		if r.Table == 255 || r.Action != "to_tbl" && r.Action != "" {
			if r.Action != "to_tbl" && r.Action != "" && policyMatches(r, dst, src, iif) == 1 {
				p.unknown("ip rule %d (%s) decides the packet: %s", r.Priority, r.Action, r.Action)
				return nil
			}
			continue
		}
		switch policyMatches(r, dst, src, iif) {
		case 0:
			continue
		case -1:
			p.Notes = append(p.Notes, fmt.Sprintf("ip rule %d has selectors the model does not evaluate (fwmark, ports, uid…); taken as not matching", r.Priority))
			continue
		}
		if best, ok := bestRoute(ns.Routes, fam, r.Table, dst); ok {
			rc := &routeChoice{route: best}
			if r.Table != 254 {
				rc.tableNote = fmt.Sprintf(" (table %s, chosen by ip rule %d)", model.TableName(r.Table), r.Priority)
				rc.ruleEv = []model.Evidence{r.Evidence}
			}
			return rc
		}
	}
	p.unknown("no route to %s in namespace %d", dst, ns.Inode)
	return nil
}

// policyMatches says whether a rule's selectors match: 1 yes, 0 no, -1 it
// has selectors the model does not evaluate.
func policyMatches(r model.PolicyRule, dst, src netip.Addr, iif string) int {
	m := true
	if r.Src != "" {
		pf, err := netip.ParsePrefix(r.Src)
		m = m && err == nil && src.IsValid() && pf.Contains(src)
	}
	if r.Dst != "" {
		pf, err := netip.ParsePrefix(r.Dst)
		m = m && err == nil && pf.Contains(dst)
	}
	if r.Iif != "" {
		m = m && r.Iif == iif
	}
	if r.Oif != "" {
		m = false // oif selects only locally generated traffic bound to a device
	}
	if r.Invert {
		m = !m
	}
	if !m {
		return 0
	}
	if r.Mark != 0 || r.Other {
		return -1
	}
	return 1
}

func bestRoute(routes []model.Route, fam string, table int, dst netip.Addr) (model.Route, bool) {
	var best model.Route
	found := false
	for _, r := range routes {
		if r.Family != fam || r.Table != table || !r.Dst.Contains(dst) {
			continue
		}
		switch r.Type {
		case "", "unicast", "blackhole", "unreachable", "prohibit":
		default:
			continue
		}
		if !found || r.Dst.Bits() > best.Dst.Bits() || (r.Dst.Bits() == best.Dst.Bits() && r.Metric < best.Metric) {
			best, found = r, true
		}
	}
	return best, found
}

// sourceFor is the address the kernel picks for traffic out of link by
// route: the route's preferred source, else the link's first address of the
// family (global before link-local).
func (h host) sourceFor(r model.Route, link *model.Link, dst netip.Addr) netip.Addr {
	if r.Src.IsValid() {
		return r.Src
	}
	return firstAddr(link, dst.Is6(), netip.Addr{})
}

// firstAddr returns the link's address equal to want, else its first global
// address of the family.
func firstAddr(l *model.Link, v6 bool, want netip.Addr) netip.Addr {
	if l == nil {
		return netip.Addr{}
	}
	var fallback netip.Addr
	for _, a := range l.Addrs {
		if want.IsValid() && a.Addr() == want {
			return want
		}
		if a.Addr().Is6() != v6 {
			continue
		}
		if a.Addr().IsLinkLocalUnicast() || a.Addr().IsLoopback() {
			if !fallback.IsValid() {
				fallback = a.Addr()
			}
			continue
		}
		if !want.IsValid() {
			return a.Addr()
		}
	}
	if want.IsValid() {
		return netip.Addr{}
	}
	return fallback
}

func endpointFor(c *model.Container, l *model.Link, src netip.Addr) *model.Endpoint {
	for i := range c.Endpoints {
		ep := &c.Endpoints[i]
		if (ep.MAC != "" && ep.MAC == l.MAC) || (src.IsValid() && (ep.IP == src || ep.IPv6 == src)) {
			return ep
		}
	}
	return nil
}

func (h host) networkByBridge(name string) *model.Network {
	for _, n := range h.Networks {
		if n.Bridge == name && n.Bridge != "" {
			return n
		}
	}
	return nil
}

// inbound explains how traffic from outside reaches a published port of the
// container: the uplink it arrives on, the DNAT rule, the bridge and veth.
func (h host) inbound(containerRef string, pb model.PortBinding) (*Path, error) {
	c, ok := h.Container(containerRef)
	if !ok {
		return nil, fmt.Errorf("inbound: %q: %w", containerRef, ErrNoContainer)
	}
	p := &Path{Kind: PathInbound, Container: c.ID, ContainerName: c.Name, NetworkMode: c.NetworkMode, Proto: pb.Proto, DPort: pb.HostPort, Hops: []Hop{}}
	hostIP, _ := netip.ParseAddr(pb.HostIP)
	if hostIP.IsUnspecified() {
		hostIP = netip.Addr{}
	}
	p.Dst = hostIP
	host := h.HostNS
	if host == nil {
		p.unknown("the host's namespace is not in the bundle: uplink and bridge unknown")
		return p, nil
	}
	// The uplink: the interface holding the published address, else the
	// one carrying the default route.
	var up *model.Link
	if hostIP.IsValid() {
		for _, l := range host.Links {
			if slices.ContainsFunc(l.Addrs, func(a netip.Prefix) bool { return a.Addr() == hostIP }) {
				up = l
			}
		}
	} else if r, ok := bestRoute(host.Routes, "ipv4", 254, netip.IPv4Unspecified()); ok {
		up = host.LinkByName(r.Dev)
		hostIP = h.sourceFor(r, up, netip.IPv4Unspecified())
		p.Dst = hostIP
	}
	if up == nil {
		p.unknown("no host interface holds %s", pb.HostIP)
		return p, nil
	}
	p.hop(Hop{Kind: HopUplink, Iface: up.Name, Ifindex: up.Index, Addr: hostIP,
		Text: fmt.Sprintf("%s %s:%d/%s (published %s)", up.Name, addrText(hostIP), pb.HostPort, pb.Proto, pb.Evidence.Text), Evidence: append(up.Cite(), pb.Evidence)})
	if up.Kind == "device" && up.Name == "lo" || hostIP.IsLoopback() {
		p.Notes = append(p.Notes, fmt.Sprintf("published on %s: reachable only from the host itself (nat OUTPUT, or docker-proxy), not from an uplink", hostIP))
	}
	var ep *model.Endpoint
	for i := range c.Endpoints {
		if c.Endpoints[i].IP.IsValid() {
			ep = &c.Endpoints[i]
			break
		}
	}
	if ep == nil {
		p.unknown("container %s has no address at collection", c.Name)
		return p, nil
	}
	rs, fwEv := h.Firewall4, h.Firewall4Evidence
	if rs == nil {
		p.Verdict = "unknown"
		p.unknown("no firewall dump in the bundle: DNAT and forward verdict unknown")
		return p, nil
	}
	for _, d := range rs.PublishedPorts() {
		if d.ContainerIP != ep.IP.String() || (d.ContainerPort != 0 && d.ContainerPort != pb.ContainerPort) || (d.HostPort != 0 && d.HostPort != pb.HostPort) {
			continue
		}
		p.hop(Hop{Kind: HopDNAT, Addr: ep.IP, Counters: d.Ref.Counters,
			Text:     fmt.Sprintf("nat %s %s%s: destination becomes %s", d.Ref.Chain, quoteRule(d.Ref), counterText(d.Ref.Counters), d.ToDestination),
			Evidence: []model.Evidence{h.ruleEvidence(fwEv, d.Ref)}})
		break
	}
	if len(p.Hops) < 2 {
		p.unknown("no DNAT rule for %s:%d in the firewall dump", ep.IP, pb.ContainerPort)
	}
	n, ok := h.Network(ep.NetworkID)
	if !ok || n.Bridge == "" {
		p.unknown("network %q of the container has no bridge", ep.Network)
		return p, nil
	}
	v := rs.Evaluate(firewall.Probe{In: up.Name, Out: n.Bridge, Src: netip.IPv4Unspecified(), Dst: ep.IP, Proto: pb.Proto, DPort: pb.ContainerPort, CTState: "NEW"})
	p.Verdict = v.Verdict
	fh := Hop{Kind: HopForward, Text: "forward " + v.Verdict}
	if v.DecidedBy != nil {
		fh.Text += " by " + quoteRule(*v.DecidedBy)
		fh.Counters = v.DecidedBy.Counters
		fh.Evidence = []model.Evidence{h.ruleEvidence(fwEv, *v.DecidedBy)}
	}
	p.hop(fh)
	br := host.LinkByName(n.Bridge)
	p.hop(Hop{Kind: HopBridge, Iface: n.Bridge, Ifindex: linkIndex(br), Text: fmt.Sprintf("%s (network %s)", n.Bridge, n.Name), Evidence: append(br.Cite(), n.Evidence)})
	p.PeerContainer = c.ID
	save := p.Kind
	p.Kind, p.Dst = PathContainer, ep.IP
	h.deliverToPeer(p, netip.Addr{})
	p.Kind, p.Dst = save, hostIP
	return p, nil
}

// --- evidence helpers ---

func linkIndex(l *model.Link) int {
	if l == nil {
		return 0
	}
	return l.Index
}

func (h host) ruleEvidence(member *model.Evidence, ref firewall.RuleRef) model.Evidence {
	if ref.Line == 0 && ref.Path != "" && h.NftEvidence != nil {
		// A rule of an nft table merged beside iptables' (netavark's).
		member = h.NftEvidence
	}
	e := model.Evidence{Text: ref.Raw}
	if member != nil {
		e.Member, e.SHA256 = member.Member, member.SHA256
	}
	if ref.Line != 0 {
		e.Line = ref.Line
	} else if ref.Path != "" {
		e.Pointer = nftPointer(ref.Path)
	}
	return e
}

// nftPointer turns the parser's "nftables[3].rule.expr[0]" into a JSON
// pointer.
func nftPointer(p string) string {
	var b strings.Builder
	for _, part := range strings.Split(p, ".") {
		name, idx, hasIdx := strings.Cut(part, "[")
		b.WriteString(model.JSONPointer(name))
		if hasIdx {
			b.WriteString("/" + strings.TrimSuffix(idx, "]"))
		}
	}
	return b.String()
}

func quoteRule(r firewall.RuleRef) string { return fmt.Sprintf("%q", r.Raw) }

func quoteRoute(r model.Route) string { return fmt.Sprintf("%q", r.Text()) }

func counterText(c *firewall.PacketCounters) string {
	if c == nil {
		return ""
	}
	return fmt.Sprintf(" [%d pkts/%d bytes]", c.Packets, c.Bytes)
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "(unknown)"
	}
	return a.String()
}

// DefaultDestination is the gateway of the host's IPv4 default route, or
// the documentation address.
func DefaultDestination(m *model.Host) netip.Addr {
	h := host{m}
	if h.HostNS != nil {
		if r, ok := bestRoute(h.HostNS.Routes, "ipv4", 254, netip.IPv4Unspecified()); ok && r.Dst.Bits() == 0 && r.Gw.IsValid() {
			return r.Gw
		}
	}
	return Documentation
}
