package traffic

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestFuseSightings fuses the capture window's socket samples: each is a
// source of a contact like a snapshot socket, merged into the conversation
// of its tuple or a contact of its own, dated by the window.
func TestFuseSightings(t *testing.T) {
	a := netip.MustParseAddr
	ap := netip.MustParseAddrPort
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	web := &model.Container{ID: "aaaa000000000000", Name: "web-1", State: "running", NetNS: 4001}
	side := &model.Container{ID: "bbbb000000000000", Name: "sidecar-1", State: "running", NetworkMode: "container:aaaa000000000000", SharesWith: web.ID, NetNS: 4001}
	hostnet := &model.Container{ID: "cccc000000000000", Name: "agent-1", State: "running", NetworkMode: "host"}
	c2 := ap("198.18.185.2:4444")
	newHost := func() *model.Host {
		hostNS := &model.Namespace{Inode: 4000, Host: true, Links: []*model.Link{
			{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}},
		}}
		shared := &model.Namespace{Inode: 4001, Containers: []string{web.ID, side.ID}}
		h := &model.Host{Containers: []*model.Container{web, side, hostnet}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS, shared},
			Collected: t0.Add(time.Hour),
			Networks:  []*model.Network{{ID: "n1", Name: "app", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}, Gateways: []netip.Addr{a("172.18.0.1")}}}}
		h.Index()
		h.SetLeases([]model.Lease{{Addr: a("172.18.0.2"), Container: web.ID, ContainerName: web.Name, From: t0.Add(-time.Hour)}})
		return h
	}
	sighting := func(ns uint64, local string, by string, containers []string, owners ...model.SightingOwner) model.SocketSighting {
		return model.SocketSighting{NetNS: ns, Inode: 77, Proto: "tcp", Local: ap(local), Remote: c2, States: []string{"ESTABLISHED"},
			First: t0.Add(10 * time.Second), Last: t0.Add(40 * time.Second), Sightings: 31, Owners: owners, Containers: containers, By: by,
			Evidence: model.Evidence{Member: model.MemberSocketSamples, Pointer: "/sockets/0"}}
	}
	shell := model.SightingOwner{PID: 100, Comm: "sh", Cmdline: []string{"sh", "-i"}, Container: hostnet.ID}
	curl := model.SightingOwner{PID: 200, Comm: "curl", Container: side.ID}
	tests := []struct {
		name  string
		setup func(h *model.Host) *Result
		check func(t *testing.T, cs []Contact)
	}{
		{"host network, idle session, no capture: a contact of its own", func(h *model.Host) *Result {
			h.SocketSightings = []model.SocketSighting{sighting(4000, "192.0.2.10:50123", model.SightingByOwner, []string{hostnet.ID}, shell)}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 {
				t.Fatalf("%d contacts, want 1", len(cs))
			}
			c := cs[0]
			if c.Container != hostnet.ID || c.Rules[0] != RuleHostSocket || c.Process == nil || c.Process.PID != 100 || c.Process.Cmdline[1] != "-i" {
				t.Errorf("contact %q rules %v process %+v, want agent-1 by host-socket, pid 100 sh -i", c.Container, c.Rules, c.Process)
			}
			if c.Exact || c.First != t0.Add(10*time.Second) || c.Last != t0.Add(40*time.Second) || !strings.Contains(c.Dating, "seen in the capture window") ||
				!strings.Contains(c.Dating, "31 sample(s)") {
				t.Errorf("dated %v to %v exact %v (%q), want the window's 10 s to 40 s, estimated, 31 samples", c.First, c.Last, c.Exact, c.Dating)
			}
			if len(c.Sources) != 1 || c.Sources[0].Kind != SourceSample || c.Sources[0].Evidence.Member != model.MemberSocketSamples {
				t.Errorf("sources %+v, want the sample citing %s", c.Sources, model.MemberSocketSamples)
			}
		}},
		{"merged into the captured conversation: the process, not the dating", func(h *model.Host) *Result {
			h.Namespaces[1].Containers = []string{web.ID}
			h.SocketSightings = []model.SocketSighting{sighting(4001, "172.18.0.2:40000", model.SightingByOwner, []string{web.ID},
				model.SightingOwner{PID: 400, Comm: "beacon", Container: web.ID})}
			return &Result{Flows: []Flow{{Container: web.ID, ContainerName: web.Name, ContainerSide: "client", Rule: RuleVeth, Confidence: ConfidenceHigh, Role: PointVeth,
				Interface: "veth1", Member: memberCapture, Proto: "tcp", Client: a("172.18.0.2"), ClientPort: 40000, Server: c2.Addr(), ServerPort: c2.Port(),
				First: t0.Add(20 * time.Second), Last: t0.Add(30 * time.Second), PacketsToServer: 4}}}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 {
				t.Fatalf("%d contacts, want 1", len(cs))
			}
			c := cs[0]
			if c.Container != web.ID || c.Process == nil || c.Process.Comm != "beacon" || len(c.Sources) != 2 || !c.Exact || c.First != t0.Add(20*time.Second) || c.Dating != "" {
				t.Errorf("contact %q process %+v sources %d exact %v first %v dating %q, want web-1 by beacon, two sources, the packets' times",
					c.Container, c.Process, len(c.Sources), c.Exact, c.First, c.Dating)
			}
		}},
		{"shared namespace: the owner picks the container of the group", func(h *model.Host) *Result {
			h.SocketSightings = []model.SocketSighting{sighting(4001, "172.18.0.2:40001", model.SightingByOwner, []string{side.ID}, curl)}
			return &Result{Flows: []Flow{{Container: web.ID, ContainerName: web.Name, NamespaceGroup: []string{side.ID}, ContainerSide: "client", Rule: RuleVeth,
				Confidence: ConfidenceHigh, Role: PointVeth, Interface: "veth1", Member: memberCapture, Proto: "tcp", Client: a("172.18.0.2"), ClientPort: 40001,
				Server: c2.Addr(), ServerPort: c2.Port(), First: t0.Add(20 * time.Second), Last: t0.Add(30 * time.Second), PacketsToServer: 4}}}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 || cs[0].Container != side.ID || len(cs[0].Group) != 0 || cs[0].Process == nil || cs[0].Process.Comm != "curl" {
				t.Fatalf("contacts %+v, want one of sidecar-1, picked from the group by curl's cgroup", cs)
			}
		}},
		{"shared namespace, no owner: the group", func(h *model.Host) *Result {
			h.SocketSightings = []model.SocketSighting{sighting(4001, "172.18.0.2:40002", model.SightingByNamespace, []string{web.ID, side.ID})}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 || cs[0].Container != "" || len(cs[0].Group) != 2 || cs[0].Group[0].ID != web.ID || cs[0].Confidence == ConfidenceHigh {
				t.Fatalf("contacts %+v, want one of the group web-1, sidecar-1, not high", cs)
			}
		}},
		{"the snapshot's socket dated by the window", func(h *model.Host) *Result {
			h.HostNS.Sockets = []model.HostSocket{{Proto: "tcp", LocalIP: "192.0.2.10", LocalPort: 50123, RemoteIP: c2.Addr().String(), RemotePort: c2.Port(),
				State: "ESTABLISHED", NetNS: 4000}}
			h.SocketSightings = []model.SocketSighting{sighting(4000, "192.0.2.10:50123", model.SightingByOwner, []string{hostnet.ID}, shell)}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 {
				t.Fatalf("%d contacts, want 1 (the snapshot's socket and its sighting are one conversation)", len(cs))
			}
			c := cs[0]
			if c.First != t0.Add(10*time.Second) || c.Last != h0(t0) || c.Container != hostnet.ID || c.Process == nil || !strings.Contains(c.Dating, "capture window") {
				t.Errorf("contact %q process %+v from %v to %v (%q), want agent-1 by sh from the first sample to the snapshot", c.Container, c.Process, c.First, c.Last, c.Dating)
			}
		}},
		{"a host process", func(h *model.Host) *Result {
			h.SocketSightings = []model.SocketSighting{sighting(4000, "192.0.2.10:50124", model.SightingByHost, nil, model.SightingOwner{PID: 300, Comm: "sshd"})}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 || cs[0].Named() || cs[0].Rules[0] != RuleHost || cs[0].Process == nil || cs[0].Process.Comm != "sshd" {
				t.Fatalf("contacts %+v, want one of the host, held by sshd", cs)
			}
		}},
		{"the remote end's socket, after NAT, in a namespace of the host: the same conversation", func(h *model.Host) *Result {
			h.Namespaces[1].Containers = []string{web.ID}
			h.Namespaces = append(h.Namespaces, &model.Namespace{Inode: 4009})
			c2side := sighting(4009, c2.String(), model.SightingByNamespace, nil, model.SightingOwner{PID: 900, Comm: "listener"})
			c2side.Remote = ap("192.0.2.10:61000")
			h.SocketSightings = []model.SocketSighting{c2side}
			return &Result{Flows: []Flow{
				{Container: web.ID, ContainerName: web.Name, ContainerSide: "client", Rule: RuleVeth, Confidence: ConfidenceHigh, Role: PointVeth, Interface: "veth1", Member: memberCapture,
					Proto: "tcp", Client: a("172.18.0.2"), ClientPort: 40000, Server: c2.Addr(), ServerPort: c2.Port(), First: t0, Last: t0.Add(time.Second), PacketsToServer: 6},
				{Container: web.ID, ContainerName: web.Name, ContainerSide: "client", Rule: RuleConntrack, Confidence: ConfidenceHigh, Role: PointUplink, Interface: "eth0", Member: memberCapture,
					Proto: "tcp", Client: a("192.0.2.10"), ClientPort: 61000, Server: c2.Addr(), ServerPort: c2.Port(), Original: &FlowTuple{Src: a("172.18.0.2"), SPort: 40000, Dst: c2.Addr(), DPort: c2.Port()},
					First: t0, Last: t0.Add(time.Second), PacketsToServer: 6},
			}}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 || cs[0].Container != web.ID || len(cs[0].Sources) != 3 || cs[0].Process != nil {
				t.Fatalf("contacts %+v, want one of web-1 with the far end's sample as a third source, no process of it", cs)
			}
		}},
		{"the remote end's socket, no NAT (IPv6, macvlan), sampled a second off: the same conversation", func(h *model.Host) *Result {
			h.Namespaces[1].Containers = []string{web.ID}
			h.Namespaces = append(h.Namespaces, &model.Namespace{Inode: 4009})
			// The sample's times are the round's, whole seconds: the
			// conversation's packets came 400 ms after it.
			c2side := sighting(4009, c2.String(), model.SightingByNamespace, nil, model.SightingOwner{PID: 900, Comm: "listener"})
			c2side.Remote = ap("172.18.0.2:40000")
			c2side.First, c2side.Last = t0, t0
			h.SocketSightings = []model.SocketSighting{c2side}
			return &Result{Flows: []Flow{
				{Container: web.ID, ContainerName: web.Name, ContainerSide: "client", Rule: RuleVeth, Confidence: ConfidenceHigh, Role: PointVeth, Interface: "veth1", Member: memberCapture,
					Proto: "tcp", Client: a("172.18.0.2"), ClientPort: 40000, Server: c2.Addr(), ServerPort: c2.Port(), First: t0.Add(400 * time.Millisecond), Last: t0.Add(500 * time.Millisecond), PacketsToServer: 6},
			}}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 || cs[0].Container != web.ID || len(cs[0].Sources) != 2 || cs[0].Process != nil {
				t.Fatalf("contacts %+v, want one of web-1 with the far end's sample as a second source, no process of it", cs)
			}
		}},
		{"a host process in a namespace of its own", func(h *model.Host) *Result {
			h.Namespaces = append(h.Namespaces, &model.Namespace{Inode: 4009})
			h.SocketSightings = []model.SocketSighting{sighting(4009, "198.18.185.9:40000", model.SightingByNamespace, nil, model.SightingOwner{PID: 900, Comm: "listener"})}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 1 || cs[0].Rules[0] != RuleHost || slices.Contains(cs[0].Rules, RuleUnknown) {
				t.Fatalf("contacts %+v, want one of the host (a process in no container's cgroup), not unknown", cs)
			}
		}},
		{"listening and loopback sockets are no conversation", func(h *model.Host) *Result {
			l := sighting(4000, "192.0.2.10:22", model.SightingByHost, nil)
			l.States = []string{"LISTEN"}
			lo := sighting(4000, "127.0.0.1:5000", model.SightingByHost, nil)
			h.SocketSightings = []model.SocketSighting{l, lo}
			return &Result{}
		}, func(t *testing.T, cs []Contact) {
			if len(cs) != 0 {
				t.Fatalf("contacts %+v, want none", cs)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost()
			tr := tc.setup(h)
			fuse(h, tr)
			tc.check(t, tr.Contacts)
		})
	}
}
