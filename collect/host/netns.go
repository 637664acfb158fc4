package host

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsDumpRetries is how often a netlink dump that the kernel marked as
// interrupted (the table changed under it) is repeated before the last,
// possibly inconsistent, answer is kept and the error recorded.
const nsDumpRetries = 3

// NetNS is the network state of one network namespace, read over netlink
// from inside it: what an analyst needs to rebuild the host's topology and
// the path a packet took.
type NetNS struct {
	PID   int    `json:"pid"`   // the process whose namespace this is (1 = host)
	Inode uint64 `json:"inode"` // of /proc/<pid>/ns/net, as read through the handle used

	Links     []NetLink     `json:"links"`
	Addrs     []NetAddr     `json:"addrs"`
	Routes    []NetRoute    `json:"routes"` // every table, IPv4 and IPv6
	Rules     []NetRule     `json:"rules"`
	Neighbors []NetNeighbor `json:"neighbors"`
	// BridgePorts and FDB are filled where the namespace has a bridge.
	BridgePorts []NetBridgePort `json:"bridge_ports,omitempty"`
	FDB         []NetFDBEntry   `json:"fdb,omitempty"`
}

// NetLink is one network interface.
type NetLink struct {
	Index int    `json:"ifindex"`
	Name  string `json:"name"`
	// Kind is the rtnetlink kind: veth, bridge, macvlan, ipvlan, vxlan,
	// dummy, tuntap, … and "device" for hardware without one.
	Kind string `json:"kind"`
	// ParentIndex is IFLA_LINK (iflink): the lower device of a vlan or
	// macvlan, or the peer of a veth. It may be an index in another
	// namespace (see LinkNetNSID).
	ParentIndex int `json:"iflink,omitempty"`
	// PeerIndex is the veth peer's ifindex, when the kernel reports it.
	PeerIndex int `json:"peer_ifindex,omitempty"`
	// LinkNetNSID is IFLA_LINK_NETNSID: this namespace's id for the
	// namespace where ParentIndex lives (a veth's peer), nil when it is
	// this namespace.
	LinkNetNSID *int   `json:"link_netnsid,omitempty"`
	MasterIndex int    `json:"master_ifindex,omitempty"`
	MasterName  string `json:"master,omitempty"`
	MAC         string `json:"mac,omitempty"`
	PermMAC     string `json:"perm_mac,omitempty"`
	MTU         int    `json:"mtu"`
	OperState   string `json:"oper_state"`
	// Flags are the interface flags by name (up, broadcast, loopback, …);
	// RawFlags the whole IFF_* word.
	Flags    []string `json:"flags"`
	RawFlags uint32   `json:"raw_flags"`
	Promisc  bool     `json:"promisc,omitempty"`
	Alias    string   `json:"alias,omitempty"`
	AltNames []string `json:"alt_names,omitempty"`
	// Info holds kind-specific settings (vlan id, vxlan vni and remote,
	// macvlan/ipvlan mode).
	Info  map[string]string `json:"info,omitempty"`
	Stats *NetLinkStats     `json:"stats,omitempty"`
}

// NetLinkStats are an interface's traffic counters since it was created:
// they show which veth carried traffic.
type NetLinkStats struct {
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxDropped uint64 `json:"rx_dropped"`
	TxDropped uint64 `json:"tx_dropped"`
	RxErrors  uint64 `json:"rx_errors"`
	TxErrors  uint64 `json:"tx_errors"`
}

// NetAddr is one interface address.
type NetAddr struct {
	Index     int    `json:"ifindex"`
	Dev       string `json:"dev"`
	Family    string `json:"family"` // "ipv4" or "ipv6"
	CIDR      string `json:"cidr"`
	Peer      string `json:"peer,omitempty"`
	Broadcast string `json:"broadcast,omitempty"`
	Label     string `json:"label,omitempty"`
	Scope     string `json:"scope"`
	Flags     int    `json:"flags,omitempty"` // IFA_F_* word
	// ValidLft and PreferedLft are lifetimes in seconds; 4294967295 is forever.
	ValidLft    int `json:"valid_lft_s"`
	PreferedLft int `json:"preferred_lft_s"`
}

// NetRoute is one route of any table.
type NetRoute struct {
	Family   string       `json:"family"`
	Table    int          `json:"table"` // 254 main, 255 local, 253 default
	Type     string       `json:"type"`  // unicast, local, broadcast, blackhole, …
	Dst      string       `json:"dst"`   // CIDR; 0.0.0.0/0 or ::/0 for default
	Gw       string       `json:"gw,omitempty"`
	DevIndex int          `json:"dev_ifindex,omitempty"`
	Dev      string       `json:"dev,omitempty"`
	Src      string       `json:"src,omitempty"` // preferred source
	Protocol string       `json:"protocol"`      // kernel, boot, static, dhcp, …
	Scope    string       `json:"scope"`
	Metric   int          `json:"metric"`
	Tos      int          `json:"tos,omitempty"`
	Flags    int          `json:"flags,omitempty"`
	Nexthops []NetNexthop `json:"nexthops,omitempty"` // multipath routes
}

// NetNexthop is one path of a multipath route.
type NetNexthop struct {
	Gw       string `json:"gw,omitempty"`
	DevIndex int    `json:"dev_ifindex"`
	Dev      string `json:"dev,omitempty"`
	Weight   int    `json:"weight"`
}

// NetRule is one policy routing rule.
type NetRule struct {
	Family            string  `json:"family"`
	Priority          int     `json:"priority"`
	Action            string  `json:"action"` // to_tbl, goto, nop, blackhole, unreachable, prohibit
	Table             int     `json:"table,omitempty"`
	Src               string  `json:"src,omitempty"`
	Dst               string  `json:"dst,omitempty"`
	IifName           string  `json:"iif,omitempty"`
	OifName           string  `json:"oif,omitempty"`
	Mark              uint32  `json:"fwmark,omitempty"`
	Mask              *uint32 `json:"fwmask,omitempty"`
	Tos               uint    `json:"tos,omitempty"`
	Goto              int     `json:"goto,omitempty"`
	Invert            bool    `json:"not,omitempty"`
	IPProto           int     `json:"ipproto,omitempty"`
	Sport             string  `json:"sport,omitempty"`
	Dport             string  `json:"dport,omitempty"`
	UIDRange          string  `json:"uidrange,omitempty"`
	SuppressPrefixlen int     `json:"suppress_prefixlength,omitempty"`
	SuppressIfgroup   int     `json:"suppress_ifgroup,omitempty"`
	Protocol          uint8   `json:"protocol,omitempty"`
	TunID             uint    `json:"tun_id,omitempty"`
}

// NetNeighbor is one ARP or NDP entry.
type NetNeighbor struct {
	Family string   `json:"family"`
	Index  int      `json:"ifindex"`
	Dev    string   `json:"dev"`
	IP     string   `json:"ip"`
	MAC    string   `json:"mac,omitempty"`
	State  []string `json:"state"` // NUD_* by name: REACHABLE, STALE, PERMANENT, …
	Flags  []string `json:"flags,omitempty"`
}

// NetBridgePort is an interface enslaved to a bridge.
type NetBridgePort struct {
	Index      int    `json:"ifindex"`
	Name       string `json:"name"`
	BridgeIdx  int    `json:"bridge_ifindex"`
	Bridge     string `json:"bridge"`
	Hairpin    bool   `json:"hairpin"`
	Learning   bool   `json:"learning"`
	Flood      bool   `json:"flood"`
	Isolated   bool   `json:"isolated"`
	ProxyARP   bool   `json:"proxy_arp"`
	Guard      bool   `json:"guard"`
	RootBlock  bool   `json:"root_block"`
	FastLeave  bool   `json:"fast_leave"`
	NeighSupp  bool   `json:"neigh_suppress"`
	VlanTunnel bool   `json:"vlan_tunnel"`
}

// NetFDBEntry is one bridge forwarding database entry (bridge fdb show).
type NetFDBEntry struct {
	Index       int      `json:"ifindex"`
	Dev         string   `json:"dev"`
	MAC         string   `json:"mac"`
	Vlan        int      `json:"vlan,omitempty"`
	VNI         int      `json:"vni,omitempty"`
	MasterIndex int      `json:"master_ifindex,omitempty"`
	Master      string   `json:"master,omitempty"`
	Dst         string   `json:"dst,omitempty"` // vxlan remote
	State       []string `json:"state"`
	Flags       []string `json:"flags,omitempty"` // self, master, extern_learn, …
}

// NetNSInode returns the inode number of the network namespace of pid,
// the identity that groups containers sharing a namespace.
func NetNSInode(pid int) (uint64, error) {
	var st unix.Stat_t
	p := "/proc/" + strconv.Itoa(pid) + "/ns/net"
	if err := unix.Stat(p, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", p, err)
	}
	return st.Ino, nil
}

// ReadNetNS reads links, addresses, routes of all tables, rules, neighbours
// and, where bridges exist, bridge ports and the FDB of the network namespace
// of pid, over netlink sockets opened inside that namespace. The calling
// goroutine's thread is not moved into the namespace. What could not be read
// is named in the error; the rest is returned.
//
// PID 1 names the host. Where /proc/1/ns is hidden even from root (some
// sandboxes run a supervisor as PID 1), the collector's own PID reads the
// namespace the collector runs in, which is the host's for a host install.
func ReadNetNS(pid int) (NetNS, error) {
	n := NetNS{PID: pid}
	ns, err := netns.GetFromPid(pid)
	if err != nil {
		return n, fmt.Errorf("open netns of pid %d: %w", pid, err)
	}
	defer ns.Close()
	// The inode comes from the handle itself, so that it names the namespace
	// that was read even if pid exits and its number is reused meanwhile.
	var st unix.Stat_t
	if err := unix.Fstat(int(ns), &st); err != nil {
		return n, fmt.Errorf("stat netns of pid %d: %w", pid, err)
	}
	n.Inode = st.Ino

	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return n, fmt.Errorf("netlink handle in netns of pid %d: %w", pid, err)
	}
	defer h.Close()

	var errs []error
	links, err := nsRetry(h.LinkList)
	if err != nil {
		errs = append(errs, fmt.Errorf("list links: %w", err))
	}
	names := make(map[int]string, len(links))
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	n.Links = make([]NetLink, 0, len(links))
	hasBridge := false
	for _, l := range links {
		n.Links = append(n.Links, nsFromLink(l, names))
		if l.Type() == "bridge" {
			hasBridge = true
		}
	}

	addrs, err := nsRetry(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		errs = append(errs, fmt.Errorf("list addresses: %w", err))
	}
	n.Addrs = make([]NetAddr, 0, len(addrs))
	for _, a := range addrs {
		n.Addrs = append(n.Addrs, nsFromAddr(a, names))
	}

	routes, err := nsRetry(func() ([]netlink.Route, error) {
		// RT_FILTER_TABLE with RT_TABLE_UNSPEC: every table, not just main.
		return h.RouteListFiltered(netlink.FAMILY_ALL,
			&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("list routes: %w", err))
	}
	n.Routes = make([]NetRoute, 0, len(routes))
	for _, r := range routes {
		n.Routes = append(n.Routes, nsFromRoute(r, names))
	}

	n.Rules = []NetRule{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := nsRetry(func() ([]netlink.Rule, error) { return h.RuleList(fam) })
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s rules: %w", nsFamily(fam), err))
		}
		actions, err := nsRuleActionsAt(ns, fam)
		if err == nil && len(actions) != len(rules) {
			err = fmt.Errorf("%d actions for %d rules (rules changed during the dump)", len(actions), len(rules))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s rule actions: %w", nsFamily(fam), err))
			actions = nil
		}
		for i, r := range rules {
			nr := nsFromRule(r, fam)
			nr.Action = "unknown"
			if actions != nil && actions[i].priority == r.Priority {
				nr.Action = nsRuleAction(actions[i].action)
			}
			n.Rules = append(n.Rules, nr)
		}
	}

	n.Neighbors = []NetNeighbor{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		neighs, err := nsRetry(func() ([]netlink.Neigh, error) { return h.NeighList(0, fam) })
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s neighbours: %w", nsFamily(fam), err))
		}
		for _, nb := range neighs {
			n.Neighbors = append(n.Neighbors, nsFromNeigh(nb, names))
		}
	}

	if hasBridge {
		n.BridgePorts, n.FDB, err = nsReadBridges(h, links, names)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// nsRetry repeats a dump the kernel flagged as interrupted, and keeps the
// last answer (with the error) when it stays interrupted.
func nsRetry[T any](dump func() ([]T, error)) ([]T, error) {
	var res []T
	var err error
	for range nsDumpRetries {
		res, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return res, err
		}
	}
	return res, err
}

// nsRuleActionEntry is the action of one rule, as the kernel sent it.
type nsRuleActionEntry struct {
	priority int
	action   uint8
}

// nsRuleActionsAt dumps the rules of one family in ns and returns each
// rule's action (the rtmsg type: to_tbl, blackhole, prohibit, …), which
// netlink.RuleList does not report, in dump order.
func nsRuleActionsAt(ns netns.NsHandle, family int) ([]nsRuleActionEntry, error) {
	sock, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	defer sock.Close()
	req := nl.NewNetlinkRequest(unix.RTM_GETRULE, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: sock}}
	req.AddData(nl.NewIfInfomsg(family))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWRULE)
	if err != nil {
		return nil, err
	}
	out := make([]nsRuleActionEntry, 0, len(msgs))
	for _, m := range msgs {
		msg := nl.DeserializeRtMsg(m)
		e := nsRuleActionEntry{action: msg.Type}
		attrs, err := nl.ParseRouteAttr(m[msg.Len():])
		if err != nil {
			return nil, fmt.Errorf("parse rule: %w", err)
		}
		for _, a := range attrs {
			if a.Attr.Type == nl.FRA_PRIORITY && len(a.Value) >= 4 {
				e.priority = int(binary.NativeEndian.Uint32(a.Value[:4]))
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func nsReadBridges(h *netlink.Handle, links []netlink.Link, names map[int]string) ([]NetBridgePort, []NetFDBEntry, error) {
	var errs []error
	kinds := make(map[int]string, len(links))
	for _, l := range links {
		kinds[l.Attrs().Index] = l.Type()
	}
	ports := []NetBridgePort{}
	for _, l := range links {
		a := l.Attrs()
		if a.MasterIndex == 0 || kinds[a.MasterIndex] != "bridge" {
			continue
		}
		p := NetBridgePort{Index: a.Index, Name: a.Name, BridgeIdx: a.MasterIndex, Bridge: names[a.MasterIndex]}
		pi, err := h.LinkGetProtinfo(l)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			errs = append(errs, fmt.Errorf("bridge port %q: %w", a.Name, err))
		} else {
			p.Hairpin, p.Learning, p.Flood, p.Isolated = pi.Hairpin, pi.Learning, pi.Flood, pi.Isolated
			p.ProxyARP, p.Guard, p.RootBlock, p.FastLeave = pi.ProxyArp, pi.Guard, pi.RootBlock, pi.FastLeave
			p.NeighSupp, p.VlanTunnel = pi.NeighSuppress, pi.VlanTunnel
		}
		ports = append(ports, p)
	}

	fdb := []NetFDBEntry{}
	entries, err := nsRetry(func() ([]netlink.Neigh, error) { return h.NeighList(0, unix.AF_BRIDGE) })
	if err != nil {
		errs = append(errs, fmt.Errorf("list fdb: %w", err))
	}
	for _, e := range entries {
		f := NetFDBEntry{
			Index:       e.LinkIndex,
			Dev:         names[e.LinkIndex],
			MAC:         nsMAC(e.HardwareAddr),
			Vlan:        e.Vlan,
			VNI:         e.VNI,
			MasterIndex: e.MasterIndex,
			Master:      names[e.MasterIndex],
			State:       nsNUDState(e.State),
			Flags:       nsNTFFlags(e.Flags),
		}
		if e.IP != nil {
			f.Dst = e.IP.String()
		}
		fdb = append(fdb, f)
	}
	return ports, fdb, errors.Join(errs...)
}

func nsFromLink(l netlink.Link, names map[int]string) NetLink {
	a := l.Attrs()
	nl := NetLink{
		Index:       a.Index,
		Name:        a.Name,
		Kind:        l.Type(),
		ParentIndex: a.ParentIndex,
		MasterIndex: a.MasterIndex,
		MasterName:  names[a.MasterIndex],
		MAC:         nsMAC(a.HardwareAddr),
		PermMAC:     nsMAC(a.PermHWAddr),
		MTU:         a.MTU,
		OperState:   a.OperState.String(),
		Flags:       nsLinkFlags(a.Flags),
		RawFlags:    a.RawFlags,
		Promisc:     a.RawFlags&unix.IFF_PROMISC != 0,
		Alias:       a.Alias,
		AltNames:    a.AltNames,
	}
	if a.NetNsID >= 0 {
		id := a.NetNsID
		nl.LinkNetNSID = &id
	}
	if s := a.Statistics; s != nil {
		nl.Stats = &NetLinkStats{
			RxPackets: s.RxPackets, TxPackets: s.TxPackets,
			RxBytes: s.RxBytes, TxBytes: s.TxBytes,
			RxDropped: s.RxDropped, TxDropped: s.TxDropped,
			RxErrors: s.RxErrors, TxErrors: s.TxErrors,
		}
	}
	info := map[string]string{}
	switch v := l.(type) {
	case *netlink.Veth:
		// For a veth, IFLA_LINK is the peer's ifindex (in the namespace
		// named by IFLA_LINK_NETNSID when that is set).
		nl.PeerIndex = a.ParentIndex
	case *netlink.Vlan:
		info["vlan_id"] = strconv.Itoa(v.VlanId)
		info["vlan_protocol"] = v.VlanProtocol.String()
	case *netlink.Vxlan:
		info["vni"] = strconv.Itoa(v.VxlanId)
		info["port"] = strconv.Itoa(v.Port)
		if v.VtepDevIndex != 0 {
			info["vtep_dev_ifindex"] = strconv.Itoa(v.VtepDevIndex)
		}
		if v.Group != nil {
			info["remote"] = v.Group.String()
		}
		if v.SrcAddr != nil {
			info["local"] = v.SrcAddr.String()
		}
	case *netlink.Macvlan:
		info["mode"] = nsMacvlanMode(v.Mode)
	case *netlink.Macvtap:
		info["mode"] = nsMacvlanMode(v.Mode)
	case *netlink.IPVlan:
		info["mode"] = nsIPVlanMode(v.Mode)
	case *netlink.Tuntap:
		info["owner_uid"] = strconv.FormatUint(uint64(v.Owner), 10)
		info["group_gid"] = strconv.FormatUint(uint64(v.Group), 10)
	}
	if len(info) > 0 {
		nl.Info = info
	}
	return nl
}

func nsFromAddr(a netlink.Addr, names map[int]string) NetAddr {
	na := NetAddr{
		Index:       a.LinkIndex,
		Dev:         names[a.LinkIndex],
		Label:       a.Label,
		Scope:       netlink.Scope(a.Scope).String(),
		Flags:       a.Flags,
		ValidLft:    a.ValidLft,
		PreferedLft: a.PreferedLft,
	}
	if a.IPNet != nil {
		na.CIDR = a.IPNet.String()
		na.Family = nsIPFamily(a.IP)
	}
	if a.Peer != nil {
		na.Peer = a.Peer.String()
	}
	if a.Broadcast != nil {
		na.Broadcast = a.Broadcast.String()
	}
	return na
}

func nsFromRoute(r netlink.Route, names map[int]string) NetRoute {
	nr := NetRoute{
		Family:   nsFamily(r.Family),
		Table:    r.Table,
		Type:     nsRouteType(r.Type),
		DevIndex: r.LinkIndex,
		Dev:      names[r.LinkIndex],
		Protocol: r.Protocol.String(),
		Scope:    r.Scope.String(),
		Metric:   r.Priority,
		Tos:      r.Tos,
		Flags:    r.Flags,
	}
	switch {
	case r.Dst != nil:
		nr.Dst = r.Dst.String()
	case r.Family == netlink.FAMILY_V6:
		nr.Dst = "::/0"
	default:
		nr.Dst = "0.0.0.0/0"
	}
	if r.Gw != nil {
		nr.Gw = r.Gw.String()
	} else if r.Via != nil {
		nr.Gw = r.Via.String()
	}
	if r.Src != nil {
		nr.Src = r.Src.String()
	}
	for _, nh := range r.MultiPath {
		x := NetNexthop{DevIndex: nh.LinkIndex, Dev: names[nh.LinkIndex], Weight: nh.Hops + 1}
		if nh.Gw != nil {
			x.Gw = nh.Gw.String()
		} else if nh.Via != nil {
			x.Gw = nh.Via.String()
		}
		nr.Nexthops = append(nr.Nexthops, x)
	}
	return nr
}

func nsFromRule(r netlink.Rule, fam int) NetRule {
	nr := NetRule{
		Family:   nsFamily(fam),
		Priority: r.Priority,
		Table:    r.Table,
		IifName:  r.IifName,
		OifName:  r.OifName,
		Mark:     r.Mark,
		Mask:     r.Mask,
		Tos:      r.Tos,
		Invert:   r.Invert,
		IPProto:  r.IPProto,
		Protocol: r.Protocol,
		TunID:    r.TunID,
	}
	if r.Src != nil {
		nr.Src = r.Src.String()
	}
	if r.Dst != nil {
		nr.Dst = r.Dst.String()
	}
	if r.Goto > 0 {
		nr.Goto = r.Goto
	}
	if r.SuppressPrefixlen >= 0 {
		nr.SuppressPrefixlen = r.SuppressPrefixlen
	}
	if r.SuppressIfgroup >= 0 {
		nr.SuppressIfgroup = r.SuppressIfgroup
	}
	if r.Sport != nil {
		nr.Sport = fmt.Sprintf("%d-%d", r.Sport.Start, r.Sport.End)
	}
	if r.Dport != nil {
		nr.Dport = fmt.Sprintf("%d-%d", r.Dport.Start, r.Dport.End)
	}
	if r.UIDRange != nil {
		nr.UIDRange = fmt.Sprintf("%d-%d", r.UIDRange.Start, r.UIDRange.End)
	}
	return nr
}

func nsFromNeigh(nb netlink.Neigh, names map[int]string) NetNeighbor {
	n := NetNeighbor{
		Family: nsFamily(nb.Family),
		Index:  nb.LinkIndex,
		Dev:    names[nb.LinkIndex],
		MAC:    nsMAC(nb.HardwareAddr),
		State:  nsNUDState(nb.State),
		Flags:  nsNTFFlags(nb.Flags),
	}
	if nb.IP != nil {
		n.IP = nb.IP.String()
	}
	return n
}

func nsMAC(hw net.HardwareAddr) string {
	if len(hw) == 0 {
		return ""
	}
	return hw.String()
}

func nsIPFamily(ip net.IP) string {
	if ip.To4() != nil {
		return "ipv4"
	}
	return "ipv6"
}

func nsFamily(fam int) string {
	switch fam {
	case unix.AF_INET:
		return "ipv4"
	case unix.AF_INET6:
		return "ipv6"
	case unix.AF_BRIDGE:
		return "bridge"
	case unix.AF_MPLS:
		return "mpls"
	}
	return "af" + strconv.Itoa(fam)
}

// nsLinkFlagNames names the net.Flags bits as ip(8) does, lower case.
var nsLinkFlagNames = []struct {
	f    net.Flags
	name string
}{
	{net.FlagUp, "up"},
	{net.FlagBroadcast, "broadcast"},
	{net.FlagLoopback, "loopback"},
	{net.FlagPointToPoint, "pointopoint"},
	{net.FlagMulticast, "multicast"},
	{net.FlagRunning, "running"},
}

func nsLinkFlags(f net.Flags) []string {
	out := []string{}
	for _, n := range nsLinkFlagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// nsRouteTypes names the RTN_* route types (include/uapi/linux/rtnetlink.h).
var nsRouteTypes = []string{"unspec", "unicast", "local", "broadcast", "anycast",
	"multicast", "blackhole", "unreachable", "prohibit", "throw", "nat", "xresolve"}

func nsRouteType(t int) string {
	if t >= 0 && t < len(nsRouteTypes) {
		return nsRouteTypes[t]
	}
	return "type" + strconv.Itoa(t)
}

// nsRuleActions names the FR_ACT_* rule actions (include/uapi/linux/fib_rules.h).
var nsRuleActions = []string{"unspec", "to_tbl", "goto", "nop", "res3", "res4",
	"blackhole", "unreachable", "prohibit"}

func nsRuleAction(t uint8) string {
	if int(t) < len(nsRuleActions) {
		return nsRuleActions[t]
	}
	return "action" + strconv.Itoa(int(t))
}

// nsNUDStates names the NUD_* neighbour states (include/uapi/linux/neighbour.h).
var nsNUDStates = []struct {
	bit  int
	name string
}{
	{unix.NUD_INCOMPLETE, "INCOMPLETE"},
	{unix.NUD_REACHABLE, "REACHABLE"},
	{unix.NUD_STALE, "STALE"},
	{unix.NUD_DELAY, "DELAY"},
	{unix.NUD_PROBE, "PROBE"},
	{unix.NUD_FAILED, "FAILED"},
	{unix.NUD_NOARP, "NOARP"},
	{unix.NUD_PERMANENT, "PERMANENT"},
}

func nsNUDState(s int) []string {
	out := []string{}
	for _, n := range nsNUDStates {
		if s&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	if len(out) == 0 {
		out = append(out, "NONE")
	}
	return out
}

// nsNTFFlagNames names the NTF_* neighbour flags (include/uapi/linux/neighbour.h).
var nsNTFFlagNames = []struct {
	bit  int
	name string
}{
	{unix.NTF_USE, "use"},
	{unix.NTF_SELF, "self"},
	{unix.NTF_MASTER, "master"},
	{unix.NTF_PROXY, "proxy"},
	{unix.NTF_EXT_LEARNED, "extern_learn"},
	{unix.NTF_OFFLOADED, "offload"},
	{unix.NTF_ROUTER, "router"},
}

func nsNTFFlags(f int) []string {
	var out []string
	for _, n := range nsNTFFlagNames {
		if f&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func nsMacvlanMode(m netlink.MacvlanMode) string {
	modes := map[netlink.MacvlanMode]string{
		netlink.MACVLAN_MODE_DEFAULT:  "default",
		netlink.MACVLAN_MODE_PRIVATE:  "private",
		netlink.MACVLAN_MODE_VEPA:     "vepa",
		netlink.MACVLAN_MODE_BRIDGE:   "bridge",
		netlink.MACVLAN_MODE_PASSTHRU: "passthru",
		netlink.MACVLAN_MODE_SOURCE:   "source",
	}
	if s, ok := modes[m]; ok {
		return s
	}
	return "mode" + strconv.Itoa(int(m))
}

func nsIPVlanMode(m netlink.IPVlanMode) string {
	switch m {
	case netlink.IPVLAN_MODE_L2:
		return "l2"
	case netlink.IPVLAN_MODE_L3:
		return "l3"
	case netlink.IPVLAN_MODE_L3S:
		return "l3s"
	}
	return "mode" + strconv.Itoa(int(m))
}
