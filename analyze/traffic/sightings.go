package traffic

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// SourceSample is a contact source that is a socket sampled through the
// capture window (capture/socket-samples.json).
const SourceSample = "socket-sample"

// sampleGrain is how far a sampled socket's times may be from its
// conversation's: a socket is seen at the round's time, whole seconds,
// while it lived from a moment before the round to a moment after.
const sampleGrain = time.Second

// sightings merges each socket the capture window's sampler saw into the
// contact of its tuple that it overlaps in time (giving it the process and,
// for an estimated one, the window's dating), or makes a contact of its
// own, dated from its first to its last sighting. Who: the containers the
// owners' cgroups name (in the host's namespace: host network mode; in a
// shared one they pick the container of the group), else the namespace's
// containers, else the host.
func (f *fuser) sightings() {
	hostNS := map[uint64]bool{}
	for _, ns := range f.h.Namespaces {
		if ns.Host {
			hostNS[ns.Inode] = true
		}
	}
	for i := range f.h.SocketSightings {
		s := &f.h.SocketSightings[i]
		proto := socketProto(s.Proto)
		local, remote := s.Local.Addr().Unmap(), s.Remote.Addr().Unmap()
		if proto == "" || s.Remote.Port() == 0 || !remote.IsValid() || remote.IsUnspecified() || remote.IsLoopback() || local.IsLoopback() ||
			!sightingConversation(s.States) {
			continue
		}
		k := contactKey{proto, netip.AddrPortFrom(local, s.Local.Port()), netip.AddrPortFrom(remote, s.Remote.Port())}
		f.sighting(s, k, hostNS[s.NetNS])
	}
}

// farFlows adds to the far-end index the conversations captured after NAT
// (a flow reversed through conntrack): the remote end, a namespace of this
// host (a C2 simulated on the host), sees the translated tuple, its
// address and port first, in its snapshot socket or the window's samples.
// The snapshot's conntrack entries index the conversations open at the
// snapshot; these also those whose entry is gone.
//
// Only the tuples some socket or sample has are indexed: a capture has
// tens of thousands of translated flows, a host a few hundred sockets.
func (f *fuser) farFlows() {
	held := map[contactKey]bool{}
	for _, ns := range f.h.Namespaces {
		for i := range ns.Sockets {
			s := &ns.Sockets[i]
			local, err1 := netip.ParseAddr(s.LocalIP)
			remote, err2 := netip.ParseAddr(s.RemoteIP)
			if err1 == nil && err2 == nil && s.RemotePort != 0 {
				held[contactKey{socketProto(s.Proto), unmapAP(local, s.LocalPort), unmapAP(remote, s.RemotePort)}] = true
			}
		}
	}
	for i := range f.h.SocketSightings {
		s := &f.h.SocketSightings[i]
		held[contactKey{socketProto(s.Proto), unmapAP(s.Local.Addr(), s.Local.Port()), unmapAP(s.Remote.Addr(), s.Remote.Port())}] = true
	}
	if len(held) == 0 {
		return
	}
	for i := range f.t.Contacts {
		c := &f.t.Contacts[i]
		if c.Side != "client" {
			continue
		}
		for j := range c.Sources {
			s := &c.Sources[j]
			if s.Flow == nil {
				continue
			}
			fl := &f.t.Flows[*s.Flow]
			if fl.Original == nil || fl.ContainerSide == "server" {
				continue
			}
			k := contactKey{fl.Proto, unmapAP(fl.Server, fl.ServerPort), unmapAP(fl.Client, fl.ClientPort)}
			if held[k] && f.far[k.key()] == nil {
				if b := f.building(i); b != nil {
					f.far[k.key()] = b
				}
			}
		}
	}
}

// building returns the bookkeeping of the contact at index i.
func (f *fuser) building(i int) *building {
	c := &f.t.Contacts[i]
	for b := f.head(contactKey{c.Proto, c.Local, c.Remote}.key()); b != nil; b = b.next {
		if b.i == i {
			return b
		}
	}
	return nil
}

// sightingConversation reports whether a sampled socket's states include
// one of a conversation (not only LISTEN or unconnected).
func sightingConversation(states []string) bool {
	for _, st := range states {
		if !socketStateless[st] {
			return true
		}
	}
	return false
}

// sightingDating says how a contact made of a sighting is dated.
func sightingDating(s *model.SocketSighting) string {
	return fmt.Sprintf("socket %s seen in the capture window from %s to %s, %d sample(s)", strings.Join(s.States, "/"),
		s.First.Format(time.RFC3339), s.Last.Format(time.RFC3339), s.Sightings)
}

func (f *fuser) sighting(s *model.SocketSighting, k contactKey, inHostNS bool) {
	var owner *model.SightingOwner
	for i := range s.Owners {
		o := &s.Owners[i]
		if owner == nil || (owner.Container == "" && o.Container != "") {
			owner = o
		}
	}
	end := f.far[k.key()]
	if end == nil && !inHostNS && len(s.Containers) == 0 && (owner == nil || owner.Container == "") {
		// A socket of a host process in a namespace no container holds (a
		// C2 simulated on the host) whose tuple, reversed, is a client
		// conversation's own: its remote end, as for a snapshot socket
		// (socket). Without NAT (IPv6 on a bridge, macvlan) no conntrack
		// reply tuple or translated flow indexes it in f.far.
		for b := f.head(contactKey{k.proto, k.remote, k.local}.key()); b != nil; b = b.next {
			if c := f.c(b); c.Side == "client" && overlaps(c, s.First.Add(-sampleGrain), s.Last.Add(sampleGrain)) {
				end = b
				break
			}
		}
	}
	if b := end; b != nil && f.head(k.key()) == nil {
		// The remote end's socket, in a namespace of this host.
		c := f.c(b)
		c.Sources = append(c.Sources, ContactSource{Kind: SourceSample, State: lastState(s.States), Evidence: &s.Evidence})
		f.cite(c, &s.Evidence)
		return
	}
	who := f.sightingWho(s, k, owner, inHostNS)
	var b *building
	for c := f.head(k.key()); c != nil; c = c.next {
		if overlaps(f.c(c), s.First, s.Last) || !f.c(c).Exact {
			b = c
			break
		}
	}
	dating := sightingDating(s)
	if b == nil {
		b = f.add(k, "client", s.First, s.Last, dating)
		if f.sightingServer(s) {
			f.c(b).Side = "server"
		}
	} else if c := f.c(b); !c.Exact {
		// The window dates the conversation better than a snapshot.
		if s.First.Before(c.First) {
			c.First = s.First
		}
		if s.Last.After(c.Last) {
			c.Last = s.Last
		}
		c.Dating = strings.TrimPrefix(c.Dating+"; "+dating, "; ")
	}
	c := f.c(b)
	c.Sources = append(c.Sources, ContactSource{Kind: SourceSample, State: lastState(s.States), Evidence: &s.Evidence})
	f.cite(c, &s.Evidence)
	if c.Process == nil && owner != nil {
		c.Process = &Process{PID: owner.PID, Comm: owner.Comm, Cmdline: owner.Cmdline, Container: owner.Container}
	}
	f.attribute(c, &who, who.Container != "")
}

// sightingServer reports whether a sampled socket is the server side: its
// namespace listens on its local port at the snapshot.
func (f *fuser) sightingServer(s *model.SocketSighting) bool {
	ns, ok := f.h.Namespace(s.NetNS)
	if !ok {
		return false
	}
	for i := range ns.Sockets {
		l := &ns.Sockets[i]
		if l.State == "LISTEN" && l.LocalPort == s.Local.Port() && socketProto(l.Proto) == socketProto(s.Proto) {
			return true
		}
	}
	return false
}

func lastState(states []string) string {
	if len(states) == 0 {
		return ""
	}
	return states[len(states)-1]
}

// sightingWho is who a sampled socket names, by its By.
func (f *fuser) sightingWho(s *model.SocketSighting, k contactKey, owner *model.SightingOwner, inHostNS bool) Contact {
	var who Contact
	held := ""
	if owner != nil {
		held = fmt.Sprintf(" held by pid %d (%q)", owner.PID, owner.Comm)
	}
	window := fmt.Sprintf("in the capture window (%d sample(s))", s.Sightings)
	switch {
	case s.By == model.SightingByOwner && len(s.Containers) == 1 && inHostNS:
		r := f.ref(s.Containers[0])
		who.Container, who.ContainerName = r.ID, r.Name
		who.Rules, who.Confidence = []string{RuleHostSocket}, ConfidenceMedium
		who.Reason = fmt.Sprintf("host network: socket %s → %s%s, whose cgroup is container %q's, %s", k.local, k.remote, held, r.Name, window)
	case s.By == model.SightingByOwner && len(s.Containers) == 1:
		r := f.ref(s.Containers[0])
		who.Container, who.ContainerName = r.ID, r.Name
		who.Rules, who.Confidence = []string{RuleNamespaceSocket}, ConfidenceHigh
		who.Reason = fmt.Sprintf("socket of network namespace %d%s, whose cgroup is container %q's, %s", s.NetNS, held, r.Name, window)
	case len(s.Containers) == 1:
		r := f.ref(s.Containers[0])
		who.Container, who.ContainerName = r.ID, r.Name
		who.Rules, who.Confidence = []string{RuleNamespaceSocket}, ConfidenceHigh
		who.Reason = fmt.Sprintf("socket of network namespace %d, container %q's, %s", s.NetNS, r.Name, window)
	case len(s.Containers) > 1:
		who.Group = f.group(s.Containers[0], s.Containers[1:])
		who.Rules, who.Confidence = []string{RuleNamespaceSocket}, ConfidenceMedium
		who.Reason = fmt.Sprintf("socket of network namespace %d, shared by %d containers, %s; no owner's cgroup picks one", s.NetNS, len(s.Containers), window)
	case s.By == model.SightingByHost || inHostNS:
		who.Rules, who.Confidence = []string{RuleHost}, ConfidenceMedium
		who.Reason = "a socket of the host's namespace" + held + ", in no container's cgroup, " + window
	case owner != nil && owner.Container == "":
		who.Rules, who.Confidence = []string{RuleHost}, ConfidenceMedium
		who.Reason = fmt.Sprintf("socket of network namespace %d, which no known container holds,%s, in no container's cgroup: a host process in a namespace of its own, %s", s.NetNS, held, window)
	default:
		who.Rules, who.Confidence = []string{RuleUnknown}, ConfidenceNone
		who.Reason = fmt.Sprintf("socket of network namespace %d, which no known container holds, %s", s.NetNS, window)
	}
	return who
}
