package traffic

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestFuseRemoteEndWithoutConntrack fuses a container's socket to a
// server in a namespace of the host with no conntrack entry between them
// (a macvlan container: its packets never cross the host's stack): the
// server's socket is that conversation's remote end only when it is a
// server socket of a host process in a namespace of its own.
func TestFuseRemoteEndWithoutConntrack(t *testing.T) {
	mv := &model.Container{ID: "aaaa000000000000", Name: "macvlan-1", State: "running", NetNS: 5001}
	other := &model.Container{ID: "bbbb000000000000", Name: "server-1", State: "running", NetNS: 5003}
	client := model.HostSocket{Proto: "tcp", LocalIP: "198.18.101.1", LocalPort: 51070, RemoteIP: "198.18.101.2", RemotePort: 4444, State: "ESTABLISHED", PIDs: []int{100}}
	server := model.HostSocket{Proto: "tcp", LocalIP: "198.18.101.2", LocalPort: 4444, RemoteIP: "198.18.101.1", RemotePort: 51070, State: "ESTABLISHED", PIDs: []int{200}}
	listen := model.HostSocket{Proto: "tcp", LocalIP: "198.18.101.2", LocalPort: 4444, RemoteIP: "0.0.0.0", State: "LISTEN", PIDs: []int{200}}
	tests := []struct {
		name string
		// far is the namespace of the server's socket: no container's
		// (Containers nil) or other's.
		far      []string
		listens  bool
		contacts int
	}{
		{"a host process's server socket: the remote end", nil, true, 1},
		{"a host process's client socket: a conversation of its own", nil, false, 2},
		{"a container's server socket: a conversation of its own", []string{other.ID}, true, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sockets := []model.HostSocket{server}
			if tc.listens {
				sockets = append(sockets, listen)
			}
			procs := []model.HostProcess{{PID: 100, Comm: "workload", ContainerID: mv.ID}, {PID: 200, Comm: "c2"}}
			if tc.far != nil {
				procs[1].ContainerID = other.ID
			}
			hostNS := &model.Namespace{Inode: 5000, Host: true}
			// The far namespace first: the fusion must not depend on the
			// order the bundle lists the namespaces in.
			farNS := &model.Namespace{Inode: 5003, Containers: tc.far, Sockets: sockets}
			mvNS := &model.Namespace{Inode: 5001, Containers: []string{mv.ID}, Sockets: []model.HostSocket{client}}
			h := &model.Host{Containers: []*model.Container{mv, other}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS, farNS, mvNS}, Processes: procs}
			h.Index()
			tr := &Result{}
			fuse(h, tr)
			if len(tr.Contacts) != tc.contacts {
				t.Fatalf("%d contacts, want %d: %+v", len(tr.Contacts), tc.contacts, tr.Contacts)
			}
			c := tr.Contacts[0]
			if tc.contacts == 1 && (c.Container != mv.ID || c.Side != "client" || len(c.Sources) != 2 || c.Process == nil || c.Process.PID != 100) {
				t.Errorf("contact %q side %s, %d sources, process %+v; want macvlan-1's, the client, from both sockets, pid 100", c.Container, c.Side, len(c.Sources), c.Process)
			}
			for _, c := range tr.Contacts {
				if c.Local.Port() == 51070 && c.Container != mv.ID {
					t.Errorf("the container's own conversation is %q's, want macvlan-1's", c.Container)
				}
			}
		})
	}
}

// TestFuseRemoteEndAfterNAT fuses a conversation that began after the
// conntrack snapshot: the uplink's flow, reversed through a conntrack
// event, and the C2's socket in a namespace of the host (its remote end
// the host's address after NAT) are one conversation, the container's;
// the C2's socket names no host process. Without the flow (the capture
// had ended), the container's socket with the C2's peer's port is it.
func TestFuseRemoteEndAfterNAT(t *testing.T) {
	a := netip.MustParseAddr
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	beacon := &model.Container{ID: "aaaa000000000000", Name: "beacon-1", State: "running", NetNS: 6001}
	for _, tc := range []struct {
		name     string
		listens  bool
		captured bool // else only the container's socket has it
		contacts int
	}{
		{"the C2's server socket joins the container's conversation", true, true, 1},
		// The captured flow is that very tuple: the C2's socket is its far
		// end, whether or not a listener was still listed.
		{"no listener, but the captured tuple: the far end", false, true, 1},
		{"not captured: joined by the container's port", true, false, 1},
		{"not captured, a client socket: its own", false, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sockets := []model.HostSocket{{Proto: "tcp", LocalIP: "198.18.7.2", LocalPort: 4444, RemoteIP: "198.18.7.1", RemotePort: 54560, State: "ESTABLISHED", PIDs: []int{200}}}
			if tc.listens {
				sockets = append(sockets, model.HostSocket{Proto: "tcp", LocalIP: "198.18.7.2", LocalPort: 4444, RemoteIP: "0.0.0.0", State: "LISTEN", PIDs: []int{200}})
			}
			hostNS := &model.Namespace{Inode: 6000, Host: true, Links: []*model.Link{{Name: "c2h", Addrs: []netip.Prefix{netip.MustParsePrefix("198.18.7.1/30")}}}}
			c2NS := &model.Namespace{Inode: 6002, Sockets: sockets}
			beaconNS := &model.Namespace{Inode: 6001, Containers: []string{beacon.ID}}
			if !tc.captured {
				beaconNS.Sockets = []model.HostSocket{{Proto: "tcp", LocalIP: "198.19.101.2", LocalPort: 54560, RemoteIP: "198.18.7.2", RemotePort: 4444, State: "ESTABLISHED", PIDs: []int{100}}}
			}
			h := &model.Host{Containers: []*model.Container{beacon}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS, c2NS, beaconNS},
				Networks:  []*model.Network{{ID: "n1", Name: "app", Subnets: []netip.Prefix{netip.MustParsePrefix("198.19.101.0/24")}, Gateways: []netip.Addr{a("198.19.101.1")}}},
				Processes: []model.HostProcess{{PID: 100, Comm: "beacon", ContainerID: beacon.ID}, {PID: 200, Comm: "c2"}}}
			h.Index()
			tr := &Result{}
			if tc.captured {
				tr.Flows = []Flow{{Container: beacon.ID, ContainerName: beacon.Name, ContainerSide: "client", Rule: RuleConntrackEvent, Confidence: ConfidenceHigh,
					Role: PointUplink, Interface: "c2h", Member: memberCapture, Proto: "tcp", Client: a("198.18.7.1"), ClientPort: 54560, Server: a("198.18.7.2"), ServerPort: 4444,
					Original: &FlowTuple{Src: a("198.19.101.2"), SPort: 54560, Dst: a("198.18.7.2"), DPort: 4444}, First: t0, Last: t0.Add(time.Second), PacketsToServer: 5, PacketsToClient: 4}}
			}
			fuse(h, tr)
			if len(tr.Contacts) != tc.contacts {
				t.Fatalf("%d contacts, want %d: %+v", len(tr.Contacts), tc.contacts, tr.Contacts)
			}
			for _, c := range tr.Contacts {
				if c.Local.Port() == 54560 && (c.Container != beacon.ID || (tc.contacts == 1 && len(c.Sources) != 2)) {
					t.Errorf("the beacon's conversation: %q, %d sources; want beacon-1's from its flow or socket and the C2's socket", c.Container, len(c.Sources))
				}
			}
		})
	}
}
