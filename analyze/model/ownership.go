package model

import (
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Lease says that a container held an address on a network from From to To.
// A zero To means it still held it when the collection finished. A lease
// with no Addr is an attachment whose address the bundle does not record (a
// past run of a container: the engine's events carry no addresses, and
// inspect only shows the current ones); it tells a reader that someone else
// was on that network then.
type Lease struct {
	Addr          netip.Addr `json:"addr,omitzero"`
	Container     string     `json:"container"`
	ContainerName string     `json:"container_name,omitempty"`
	Network       string     `json:"network,omitempty"`
	NetworkID     string     `json:"network_id,omitempty"`
	From          time.Time  `json:"from,omitzero"`
	To            time.Time  `json:"to,omitzero"`
	Note          string     `json:"note,omitempty"`
	Evidence      []Evidence `json:"evidence"`
}

// Leases returns every lease, sorted by address, then start.
func (h *Host) Leases() []Lease { return h.leases }

// Owner returns the lease under which a container held addr at the time at.
// It returns false when no container is known to have held addr then: a
// time before the holder's lease began, or after it ended, is never
// attributed to it, and neither is a lease whose start is unknown. At the
// instant of reuse (one lease's To equal to the next one's From) the next
// holder owns the address, as in Holders. Owner reads the times as
// recorded; Holders also weighs the clock's uncertainty.
func (h *Host) Owner(addr netip.Addr, at time.Time) (*Lease, bool) {
	for _, i := range h.leaseIdx.byAddr[addr.Unmap()] {
		if l := &h.leases[i]; h.spanOf(l).covers(at, at) {
			return l, true
		}
	}
	return nil, false
}

type leaseKey struct{ container, network string }

// buildLeases derives leases from inspect (current addresses, start times)
// and the engine's events (connect and disconnect of each container to each
// network, start and die).
func (h *Host) buildLeases() {
	h.leases = nil
	netName := func(id string) string {
		if n, ok := h.Network(id); ok {
			return n.Name
		}
		return ""
	}
	// Windows of attachment from the events, per container and network.
	type window struct {
		from, to       time.Time
		fromEv, toEv   *DockerEvent
		networkName    string
		current, ended bool
	}
	open := map[leaseKey]*window{}
	var closed []struct {
		k leaseKey
		w *window
	}
	// The name of each container from its own events: a removed container
	// is named nowhere else.
	names := map[string]string{}
	for i := range h.Events {
		e := &h.Events[i]
		if e.Type == "container" && e.Container != "" && e.Name != "" {
			names[e.Container] = e.Name
		}
		if e.Type != "network" || e.Container == "" {
			continue
		}
		k := leaseKey{e.Container, e.Actor}
		switch e.Action {
		case "connect":
			open[k] = &window{from: e.Time, fromEv: e, networkName: e.Name}
		case "disconnect":
			w := open[k]
			if w == nil {
				// Connected before the events window began.
				w = &window{networkName: e.Name}
			}
			w.to, w.toEv, w.ended = e.Time, e, true
			delete(open, k)
			closed = append(closed, struct {
				k leaseKey
				w *window
			}{k, w})
		}
	}
	for _, c := range h.Containers {
		for _, ep := range c.Endpoints {
			k := leaseKey{c.ID, ep.NetworkID}
			w := open[k]
			if w != nil {
				delete(open, k)
			}
			for _, addr := range []netip.Addr{ep.IP, ep.IPv6} {
				if !addr.IsValid() || !c.Running() {
					continue
				}
				l := Lease{Addr: addr.Unmap(), Container: c.ID, ContainerName: c.Name, Network: ep.Network, NetworkID: ep.NetworkID,
					Evidence: []Evidence{ep.Evidence}}
				switch {
				case w != nil:
					// The address is allocated when the endpoint joins, which
					// for a starting container is just before "start".
					l.From = w.from
					l.Evidence = append(l.Evidence, w.fromEv.Evidence)
				case !c.StartedAt.IsZero():
					l.From = c.StartedAt
					l.Note = "held since the container's last start (no connect event in the bundle)"
					if len(c.Evidence) > 0 {
						e := c.Evidence[len(c.Evidence)-1]
						e.Pointer = "/State/StartedAt"
						e.Text = c.StartedAt.Format(time.RFC3339Nano)
						l.Evidence = append(l.Evidence, e)
					}
				default:
					l.Note = "start time unknown: not attributable in time"
				}
				h.leases = append(h.leases, l)
			}
		}
	}
	// Attachments whose address the bundle does not hold.
	add := func(k leaseKey, w *window, still bool) {
		l := Lease{Container: k.container, Network: w.networkName, NetworkID: k.network, From: w.from, To: w.to,
			Note: "address not recorded: the engine's events carry none and inspect shows only current addresses"}
		if l.Network == "" {
			l.Network = netName(k.network)
		}
		if c, ok := h.byID[k.container]; ok {
			l.ContainerName = c.Name
		} else {
			l.ContainerName = strings.TrimPrefix(names[k.container], "/")
		}
		if w.fromEv != nil {
			l.Evidence = append(l.Evidence, w.fromEv.Evidence)
		}
		if w.toEv != nil {
			l.Evidence = append(l.Evidence, w.toEv.Evidence)
		}
		if still {
			l.Note = "still attached at the end of the events, address not in inspect"
		}
		h.leases = append(h.leases, l)
	}
	for _, cw := range closed {
		add(cw.k, cw.w, false)
	}
	for k, w := range open {
		// No disconnect, but the container died (or was removed) after it
		// connected: the endpoint went with it.
		if e := h.endAfter(k.container, w.from); e != nil {
			w.to, w.toEv, w.ended = e.Time, e, true
			add(k, w, false)
			continue
		}
		add(k, w, true)
	}
	sort.SliceStable(h.leases, func(i, j int) bool {
		a, b := h.leases[i], h.leases[j]
		if a.Addr != b.Addr {
			if !a.Addr.IsValid() || !b.Addr.IsValid() {
				return a.Addr.IsValid()
			}
			return a.Addr.Less(b.Addr)
		}
		if !a.From.Equal(b.From) {
			return a.From.Before(b.From)
		}
		if a.Container != b.Container {
			return a.Container < b.Container
		}
		return a.NetworkID < b.NetworkID
	})
	h.indexLeases()
}

// endAfter is the container's first die or destroy event at or after t.
func (h *Host) endAfter(container string, t time.Time) *DockerEvent {
	for i := range h.Events {
		e := &h.Events[i]
		if e.Type == "container" && e.Container == container && (e.Action == "die" || e.Action == "destroy") && !e.Time.Before(t) {
			return e
		}
	}
	return nil
}
