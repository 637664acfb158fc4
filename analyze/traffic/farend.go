package traffic

import (
	"net/netip"
	"slices"
)

// farEnds folds into its conversation a contact made only of the remote
// end's socket, where conntrack gave no reply tuple to tie the two (the
// connection began after the table was read, so the fusion's far-end index
// lacks it): a server socket of this host's, no container named for it,
// whose remote is one of the host's own addresses, a masquerade source.
// Its conversation is the one client contact from that source port to the
// socket's local end, from the host's namespace or a container behind the
// masquerade. The masquerade keeps the source port where it can; where it
// changed it, or two clients could match, nothing is folded and the
// contact stays as it was. Without this the answer named the C2's own
// listener ("host process …") as a party to a beacon's conversation.
func (f *fuser) farEnds() {
	type end struct {
		proto  string
		remote netip.AddrPort
		port   uint16
	}
	// The far ends first: most analyses have none, and then no index of
	// the clients is built.
	var far []int
	for i := range f.t.Contacts {
		c := &f.t.Contacts[i]
		if c.Side == "server" && !c.Named() && f.hostAddrs[c.Remote.Addr()] && len(c.Sources) > 0 &&
			!slices.ContainsFunc(c.Sources, func(s ContactSource) bool { return s.Kind != SourceSocket }) {
			far = append(far, i)
		}
	}
	if len(far) == 0 {
		return
	}
	clients := make(map[end][]int, len(far))
	for _, i := range far {
		c := &f.t.Contacts[i]
		clients[end{c.Proto, c.Local, c.Remote.Port()}] = nil
	}
	for i := range f.t.Contacts {
		c := &f.t.Contacts[i]
		k := end{c.Proto, c.Remote, c.Local.Port()}
		if _, wanted := clients[k]; wanted && c.Side == "client" && (f.hostAddrs[c.Local.Addr()] || f.isContainerAddr(c.Local.Addr())) {
			clients[k] = append(clients[k], i)
		}
	}
	var drop []bool
	for _, i := range far {
		c := &f.t.Contacts[i]
		m := clients[end{c.Proto, c.Local, c.Remote.Port()}]
		if len(m) != 1 || m[0] == i {
			continue
		}
		// The remote end's socket is evidence of the conversation, not of
		// who began it: the client keeps its attribution and process.
		to := &f.t.Contacts[m[0]]
		for _, s := range c.Sources {
			to.Sources = append(to.Sources, s)
			f.cite(to, s.Evidence)
		}
		if drop == nil {
			drop = make([]bool, len(f.t.Contacts))
		}
		drop[i] = true
	}
	if drop == nil {
		return
	}
	j := 0
	for i := range f.t.Contacts {
		if !drop[i] {
			f.t.Contacts[j] = f.t.Contacts[i]
			j++
		}
	}
	clear(f.t.Contacts[j:])
	f.t.Contacts = f.t.Contacts[:j]
}
