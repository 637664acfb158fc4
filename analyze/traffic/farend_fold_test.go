package traffic

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestFuseFarEnds: the remote end's socket in a namespace of this host (a
// listener no container holds) with no conntrack entry to tie it is folded
// into the one client conversation from the masquerade's source port; when
// the port differs, or two containers behind the masquerade share it, it
// stays a contact of its own. A host client holding that very tuple is the
// far end exactly (no masquerade could give a container the same address
// and port at the same time).
func TestFuseFarEnds(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	web := &model.Container{ID: "aaaa000000000000", Name: "web-1", State: "running", NetNS: 4001}
	web2 := &model.Container{ID: "bbbb000000000000", Name: "web-2", State: "running", NetNS: 4003}
	agent := &model.Container{ID: "cccc000000000000", Name: "agent-1", State: "running", NetworkMode: "host"}
	c2 := "198.18.185.2"
	sock := func(local string, lport uint16, remote string, rport uint16, state string, pid int) model.HostSocket {
		s := model.HostSocket{Proto: "tcp", LocalIP: local, LocalPort: lport, RemoteIP: remote, RemotePort: rport, State: state}
		if pid != 0 {
			s.PIDs = []int{pid}
		}
		return s
	}
	tests := []struct {
		name      string
		serverTo  uint16 // the port the listener's socket names as its remote
		hostAgent bool   // a host-network client from the same port as well
		secondWeb bool   // a second container behind the masquerade from the same port
		want      int    // contacts
	}{
		{"port kept by the masquerade: folded", 41000, false, false, 1},
		{"port changed by the masquerade: kept apart", 50000, false, false, 2},
		{"a host client holds the tuple: its far end", 41000, true, false, 2},
		{"two containers from the port: kept apart", 41000, false, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hostNS := &model.Namespace{Inode: 4000, Host: true, Links: []*model.Link{
				{Name: "eth0", Addrs: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}},
			}}
			webNS := &model.Namespace{Inode: 4001, Containers: []string{web.ID},
				Sockets: []model.HostSocket{sock("172.18.0.2", 41000, c2, 4444, "ESTABLISHED", 400)}}
			c2NS := &model.Namespace{Inode: 4002, Sockets: []model.HostSocket{
				sock(c2, 4444, "0.0.0.0", 0, "LISTEN", 500),
				sock(c2, 4444, "192.0.2.10", tt.serverTo, "ESTABLISHED", 500),
			}}
			if tt.hostAgent {
				hostNS.Sockets = append(hostNS.Sockets, sock("192.0.2.10", 41000, c2, 4444, "ESTABLISHED", 100))
			}
			containers := []*model.Container{web, agent}
			namespaces := []*model.Namespace{hostNS, webNS, c2NS}
			if tt.secondWeb {
				containers = append(containers, web2)
				namespaces = append(namespaces, &model.Namespace{Inode: 4003, Containers: []string{web2.ID},
					Sockets: []model.HostSocket{sock("172.18.0.3", 41000, c2, 4444, "ESTABLISHED", 401)}})
			}
			h := &model.Host{Containers: containers, HostNS: hostNS, Namespaces: namespaces,
				Collected: t0,
				Networks:  []*model.Network{{ID: "n1", Name: "app", Subnets: []netip.Prefix{netip.MustParsePrefix("172.18.0.0/16")}}},
				Processes: []model.HostProcess{
					{PID: 100, Comm: "sh", ContainerID: agent.ID},
					{PID: 400, Comm: "beacon", ContainerID: web.ID},
					{PID: 401, Comm: "beacon", ContainerID: web2.ID},
					{PID: 500, Comm: "listener"},
				}}
			h.Index()
			tr := &Result{}
			fuse(h, tr)
			if len(tr.Contacts) != tt.want {
				for _, c := range tr.Contacts {
					t.Logf("contact %s %s → %s %q rules %v sources %d", c.Proto, c.Local, c.Remote, c.ContainerName, c.Rules, len(c.Sources))
				}
				t.Fatalf("%d contacts, want %d", len(tr.Contacts), tt.want)
			}
			for _, c := range tr.Contacts {
				if c.Local.Addr() == netip.MustParseAddr("172.18.0.2") {
					if c.Container != web.ID || c.Process == nil || c.Process.PID != 400 {
						t.Errorf("web's conversation: container %q process %+v, want web-1's pid 400", c.Container, c.Process)
					}
					if n := len(c.Sources); (tt.want == 1) != (n == 2) {
						t.Errorf("web's conversation has %d sources", n)
					}
				}
			}
		})
	}
}
