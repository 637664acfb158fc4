package model

import (
	"fmt"
	"sort"
)

// ContainerProcesses returns the processes that belong to containers.
func (h *Host) ContainerProcesses() []HostProcess {
	out := []HostProcess{}
	for _, p := range h.Processes {
		if p.ContainerID != "" {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ContainerID != out[j].ContainerID {
			return out[i].ContainerID < out[j].ContainerID
		}
		return out[i].PID < out[j].PID
	})
	return out
}

// ContainerSockets returns the TCP, UDP and raw sockets of every container.
// A container's sockets are those in its network namespace, or (host
// network mode) those its processes hold.
func (h *Host) ContainerSockets() []HostSocket {
	out := []HostSocket{}
	for _, c := range h.Containers {
		seen := map[string]bool{}
		add := func(s HostSocket) {
			key := fmt.Sprintf("%s %s:%d %s:%d %s %d", s.Proto, s.LocalIP, s.LocalPort, s.RemoteIP, s.RemotePort, s.State, s.NetNS)
			if s.Proto == "unix" || seen[key] {
				return
			}
			seen[key] = true
			s.Container = c.ID
			out = append(out, s)
		}
		if ns, ok := h.Namespace(c.NetNS); ok && !ns.Host {
			for _, s := range ns.Sockets {
				add(s)
			}
		}
		for _, s := range h.SocketsOf(c) {
			add(s)
		}
	}
	return out
}

// SocketsOf returns the sockets held by the container's processes.
func (h *Host) SocketsOf(c *Container) []HostSocket {
	pids := map[int]bool{}
	for _, pr := range h.Processes {
		if pr.ContainerID == c.ID {
			pids[pr.PID] = true
		}
	}
	var out []HostSocket
	for _, ns := range h.Namespaces {
		for _, s := range ns.Sockets {
			for _, pid := range s.PIDs {
				if pids[pid] && s.Proto != "unix" {
					out = append(out, s)
					break
				}
			}
		}
	}
	return out
}

// ContainerByID returns the container with exactly this id.
func (h *Host) ContainerByID(id string) (*Container, bool) {
	c, ok := h.byID[id]
	return c, ok
}

// Index rebuilds the lookup of containers by id from Containers, for a
// Host built by hand rather than loaded.
func (h *Host) Index() {
	h.byID = make(map[string]*Container, len(h.Containers))
	for _, c := range h.Containers {
		h.byID[c.ID] = c
	}
}

// SetLeases replaces the address leases, for a Host built by hand rather
// than loaded (Load builds them from inspect and the engine's events).
func (h *Host) SetLeases(ls []Lease) { h.leases = ls; h.indexLeases() }
