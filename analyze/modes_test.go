package analyze

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/bundle"
)

// The modes this machine's engine cannot produce (macvlan on a real NIC,
// overlay, IPv6, container:<id>, host, policy routing) are tested on a small
// hand-made host written through bundle.NewWriter, with members in the
// collector's formats.

type fakeLink struct {
	Index  int    `json:"ifindex"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Iflink int    `json:"iflink,omitempty"`
	Master string `json:"master,omitempty"`
	MAC    string `json:"mac,omitempty"`
}

type fakeAddr struct {
	Index int    `json:"ifindex"`
	Dev   string `json:"dev"`
	CIDR  string `json:"cidr"`
}

type fakeRoute struct {
	Family string `json:"family"`
	Table  int    `json:"table"`
	Type   string `json:"type"`
	Dst    string `json:"dst"`
	Gw     string `json:"gw,omitempty"`
	Dev    string `json:"dev"`
	Src    string `json:"src,omitempty"`
}

type fakeRule struct {
	Family   string `json:"family"`
	Priority int    `json:"priority"`
	Action   string `json:"action"`
	Table    int    `json:"table"`
	Src      string `json:"src,omitempty"`
}

type fakeNS struct {
	PID    int         `json:"pid"`
	Inode  uint64      `json:"inode"`
	Links  []fakeLink  `json:"links"`
	Addrs  []fakeAddr  `json:"addrs"`
	Routes []fakeRoute `json:"routes"`
	Rules  []fakeRule  `json:"rules"`
}

func r4(dst, gw, dev, src string) fakeRoute {
	return fakeRoute{Family: "ipv4", Table: 254, Type: "unicast", Dst: dst, Gw: gw, Dev: dev, Src: src}
}

func r6(dst, gw, dev string) fakeRoute {
	return fakeRoute{Family: "ipv6", Table: 254, Type: "unicast", Dst: dst, Gw: gw, Dev: dev}
}

// containerNS is a container namespace with lo and the given interfaces.
func containerNS(ino uint64, links []fakeLink, addrs []fakeAddr, routes []fakeRoute) fakeNS {
	return fakeNS{PID: int(ino), Inode: ino, Links: append([]fakeLink{{Index: 1, Name: "lo", Kind: "device"}}, links...),
		Addrs: append([]fakeAddr{{1, "lo", "127.0.0.1/8"}}, addrs...), Routes: routes}
}

func fakeInspect(id, name, mode string, pid int, nets map[string]map[string]any) map[string]any {
	state := map[string]any{"Status": "running", "Pid": pid, "StartedAt": "2026-01-02T03:04:05Z", "FinishedAt": "0001-01-01T00:00:00Z"}
	return map[string]any{"Id": id, "Name": "/" + name, "Created": "2026-01-02T03:04:00Z", "Image": "sha256:0",
		"State": state, "Config": map[string]any{"Image": "img"}, "HostConfig": map[string]any{"NetworkMode": mode},
		"Mounts": []any{}, "NetworkSettings": map[string]any{"Networks": nets}}
}

func ep(netID, ip string, plen int, gw, mac string) map[string]any {
	return map[string]any{"NetworkID": netID, "IPAddress": ip, "IPPrefixLen": plen, "Gateway": gw, "MacAddress": mac}
}

func id64(c byte) string { return strings.Repeat(string(c), 64) }

// fakeModesMembers returns the members of the hand-made host.
func fakeModesMembers() map[string]any {
	idB, idS, idH, idN, idM, id6, idO := id64('b'), id64('5'), id64('h'), id64('0'), id64('m'), id64('6'), id64('c')
	netBridge, netMV, netV6, netOv, netGw := id64('1'), id64('2'), id64('3'), id64('4'), id64('7')
	host := fakeNS{PID: 1, Inode: 1,
		Links: []fakeLink{
			{Index: 1, Name: "lo", Kind: "device"},
			{Index: 2, Name: "eth0", Kind: "device"},
			{Index: 3, Name: "docker0", Kind: "bridge"},
			{Index: 4, Name: "br-v6", Kind: "bridge"},
			{Index: 5, Name: "docker_gwbridge", Kind: "bridge"},
			{Index: 10, Name: "vethb", Kind: "veth", Iflink: 9, Master: "docker0"},
			{Index: 12, Name: "veth6", Kind: "veth", Iflink: 11, Master: "br-v6"},
			{Index: 14, Name: "vethgw", Kind: "veth", Iflink: 13, Master: "docker_gwbridge"},
		},
		Addrs: []fakeAddr{{1, "lo", "127.0.0.1/8"}, {2, "eth0", "192.0.2.2/24"}, {2, "eth0", "2001:db8:1::2/64"},
			{3, "docker0", "172.17.0.1/16"}, {3, "docker0", "fd00:17::1/64"}, {4, "br-v6", "172.20.0.1/16"},
			{4, "br-v6", "2001:db8:20::1/64"}, {5, "docker_gwbridge", "172.18.0.1/16"}},
		Routes: []fakeRoute{
			r4("0.0.0.0/0", "192.0.2.1", "eth0", ""), r4("192.0.2.0/24", "", "eth0", "192.0.2.2"),
			r4("172.17.0.0/16", "", "docker0", "172.17.0.1"), r4("172.20.0.0/16", "", "br-v6", "172.20.0.1"),
			r4("172.18.0.0/16", "", "docker_gwbridge", "172.18.0.1"),
			{Family: "ipv4", Table: 100, Type: "unicast", Dst: "0.0.0.0/0", Gw: "192.0.2.254", Dev: "eth0"},
			r6("::/0", "2001:db8:1::1", "eth0"), r6("2001:db8:1::/64", "", "eth0"), r6("2001:db8:20::/64", "", "br-v6"),
			r6("fd00:17::/64", "", "docker0"),
		},
		Rules: []fakeRule{{"ipv4", 0, "to_tbl", 255, ""}, {"ipv4", 100, "to_tbl", 100, "172.17.0.0/16"},
			{"ipv4", 32766, "to_tbl", 254, ""}, {"ipv4", 32767, "to_tbl", 253, ""}, {"ipv6", 32766, "to_tbl", 254, ""}},
	}
	nsB := containerNS(100, []fakeLink{{Index: 9, Name: "eth0", Kind: "veth", Iflink: 10, MAC: "02:42:ac:11:00:02"}},
		[]fakeAddr{{9, "eth0", "172.17.0.2/16"}, {9, "eth0", "fd00:17::2/64"}},
		[]fakeRoute{r4("0.0.0.0/0", "172.17.0.1", "eth0", ""), r4("172.17.0.0/16", "", "eth0", "172.17.0.2"), r6("::/0", "fd00:17::1", "eth0"), r6("fd00:17::/64", "", "eth0")})
	nsN := containerNS(101, nil, nil, nil)
	nsM := containerNS(102, []fakeLink{{Index: 20, Name: "eth0", Kind: "macvlan", Iflink: 2, MAC: "02:42:c0:00:02:32"}},
		[]fakeAddr{{20, "eth0", "192.0.2.50/24"}}, []fakeRoute{r4("0.0.0.0/0", "192.0.2.1", "eth0", ""), r4("192.0.2.0/24", "", "eth0", "192.0.2.50")})
	ns6 := containerNS(103, []fakeLink{{Index: 11, Name: "eth0", Kind: "veth", Iflink: 12, MAC: "02:42:ac:14:00:02"}},
		[]fakeAddr{{11, "eth0", "172.20.0.2/16"}, {11, "eth0", "2001:db8:20::2/64"}},
		[]fakeRoute{r4("0.0.0.0/0", "172.20.0.1", "eth0", ""), r6("::/0", "2001:db8:20::1", "eth0"), r6("2001:db8:20::/64", "", "eth0")})
	nsO := containerNS(104, []fakeLink{{Index: 7, Name: "eth0", Kind: "veth", Iflink: 8, MAC: "02:42:0a:00:01:03"}, {Index: 13, Name: "eth1", Kind: "veth", Iflink: 14, MAC: "02:42:ac:12:00:02"}},
		[]fakeAddr{{7, "eth0", "10.0.1.3/24"}, {13, "eth1", "172.18.0.2/16"}},
		[]fakeRoute{r4("0.0.0.0/0", "172.18.0.1", "eth1", ""), r4("10.0.1.0/24", "", "eth0", "10.0.1.3")})

	m := map[string]any{
		"host/clock.json": map[string]any{"hostname": "fake"},
		"netns/index.json": []map[string]any{
			{"inode": 1, "host": true, "pid": 1, "containers": []string{idH}},
			{"inode": 100, "pid": 100, "containers": []string{idB, idS}},
			{"inode": 101, "pid": 101, "containers": []string{idN}},
			{"inode": 102, "pid": 102, "containers": []string{idM}},
			{"inode": 103, "pid": 103, "containers": []string{id6}},
			{"inode": 104, "pid": 104, "containers": []string{idO}},
		},
		"netns/1/netns.json": host, "netns/100/netns.json": nsB, "netns/101/netns.json": nsN,
		"netns/102/netns.json": nsM, "netns/103/netns.json": ns6, "netns/104/netns.json": nsO,
		"netns/1/sockets.json": []map[string]any{{"proto": "tcp", "local_ip": "192.0.2.2", "local_port": 40000, "remote_ip": "198.51.100.7", "remote_port": 443, "state": "ESTABLISHED", "inode": 5, "owners": []map[string]any{{"pid": 4242, "fd": 3, "comm": "curl"}}}},
		"host/processes.json":  []map[string]any{{"pid": 4242, "ppid": 1, "comm": "curl", "cmdline": []string{"curl", "https://198.51.100.7/"}, "namespaces": map[string]any{"net": 1}, "container_id": idH}},
		"docker/networks.json": []map[string]any{
			{"Name": "bridge", "Id": netBridge, "Driver": "bridge", "EnableIPv6": true, "IPAM": map[string]any{"Config": []map[string]any{{"Subnet": "172.17.0.0/16"}, {"Subnet": "fd00:17::/64"}}}, "Options": map[string]string{"com.docker.network.bridge.name": "docker0"}},
			{"Name": "mv", "Id": netMV, "Driver": "macvlan", "IPAM": map[string]any{"Config": []map[string]any{{"Subnet": "192.0.2.0/24", "Gateway": "192.0.2.1"}}}, "Options": map[string]string{"parent": "eth0"}},
			{"Name": "v6net", "Id": netV6, "Driver": "bridge", "EnableIPv6": true, "IPAM": map[string]any{"Config": []map[string]any{{"Subnet": "172.20.0.0/16"}, {"Subnet": "2001:db8:20::/64"}}}, "Options": map[string]string{"com.docker.network.bridge.name": "br-v6"}},
			{"Name": "ov", "Id": netOv, "Driver": "overlay", "Scope": "swarm", "IPAM": map[string]any{"Config": []map[string]any{{"Subnet": "10.0.1.0/24"}}}},
			{"Name": "docker_gwbridge", "Id": netGw, "Driver": "bridge", "IPAM": map[string]any{"Config": []map[string]any{{"Subnet": "172.18.0.0/16"}}}, "Options": map[string]string{"com.docker.network.bridge.name": "docker_gwbridge"}},
		},
		"docker/containers/" + idB + "/inspect.json": fakeInspect(idB, "c-bridge", "bridge", 100, map[string]map[string]any{"bridge": func() map[string]any {
			e := ep(netBridge, "172.17.0.2", 16, "172.17.0.1", "02:42:ac:11:00:02")
			e["GlobalIPv6Address"], e["GlobalIPv6PrefixLen"], e["IPv6Gateway"] = "fd00:17::2", 64, "fd00:17::1"
			return e
		}()}),
		"docker/containers/" + idS + "/inspect.json": fakeInspect(idS, "c-shared", "container:"+idB, 150, map[string]map[string]any{}),
		"docker/containers/" + idH + "/inspect.json": fakeInspect(idH, "c-host", "host", 4242, map[string]map[string]any{"host": ep(id64('8'), "", 0, "", "")}),
		"docker/containers/" + idN + "/inspect.json": fakeInspect(idN, "c-none", "none", 101, map[string]map[string]any{"none": ep(id64('9'), "", 0, "", "")}),
		"docker/containers/" + idM + "/inspect.json": fakeInspect(idM, "c-macvlan", "mv", 102, map[string]map[string]any{"mv": ep(netMV, "192.0.2.50", 24, "192.0.2.1", "02:42:c0:00:02:32")}),
		"docker/containers/" + id6 + "/inspect.json": fakeInspect(id6, "c-v6", "v6net", 103, map[string]map[string]any{"v6net": func() map[string]any {
			e := ep(netV6, "172.20.0.2", 16, "172.20.0.1", "02:42:ac:14:00:02")
			e["GlobalIPv6Address"], e["GlobalIPv6PrefixLen"], e["IPv6Gateway"] = "2001:db8:20::2", 64, "2001:db8:20::1"
			return e
		}()}),
		"docker/containers/" + idO + "/inspect.json": fakeInspect(idO, "c-overlay", "ov", 104, map[string]map[string]any{
			"ov": ep(netOv, "10.0.1.3", 24, "", "02:42:0a:00:01:03"), "docker_gwbridge": ep(netGw, "172.18.0.2", 16, "172.18.0.1", "02:42:ac:12:00:02")}),
	}
	return m
}

const fakeIPTables = `*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
[1:60] -A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
[2:120] -A POSTROUTING -s 172.18.0.0/16 ! -o docker_gwbridge -j MASQUERADE
[3:180] -A POSTROUTING -s 172.20.0.0/16 ! -o br-v6 -j MASQUERADE
COMMIT
*filter
:FORWARD DROP [0:0]
[4:240] -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
[5:300] -A FORWARD -i br-v6 ! -o br-v6 -j ACCEPT
[6:360] -A FORWARD -i docker_gwbridge ! -o docker_gwbridge -j ACCEPT
COMMIT
`

// IPv6: the default bridge is masqueraded (ip6tables NAT, as with Docker's
// ip6tables option), v6net's global addresses are routed without NAT.
const fakeIP6Tables = `*nat
:POSTROUTING ACCEPT [0:0]
[7:420] -A POSTROUTING -s fd00:17::/64 ! -o docker0 -j MASQUERADE
COMMIT
*filter
:FORWARD ACCEPT [0:0]
COMMIT
`

// writeFakeBundle writes members through bundle.NewWriter and opens the
// result; drop names members to leave out (a collection with gaps).
func writeFakeBundle(t testing.TB, members map[string]any, raw map[string]string, drop ...string) *bundle.Bundle {
	t.Helper()
	var buf bytes.Buffer
	w, err := bundle.NewWriter(&buf, bundle.Meta{CaseID: "FAKE", Host: "fake", Collector: "test", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		bundle.Options{Now: func() time.Time { return time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{}
	for _, d := range drop {
		skip[d] = true
	}
	for name, v := range members {
		if !skip[name] {
			if err := w.AddJSON(name, bundle.MemberInfo{Step: "fake"}, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, v := range raw {
		if !skip[name] {
			if err := w.Add(name, bundle.MemberInfo{Step: "fake"}, []byte(v)); err != nil {
				t.Fatal(err)
			}
		}
	}
	signer, err := bundle.EphemeralSigner()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(signer); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fake.tar.zst")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(path, bundle.OpenOptions{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func fakeFirewall() map[string]string {
	return map[string]string{model.MemberIPTables: fakeIPTables, model.MemberIP6Tables: fakeIP6Tables}
}

func TestPathModes(t *testing.T) {
	h, err := model.Load(writeFakeBundle(t, fakeModesMembers(), fakeFirewall()))
	if err != nil {
		t.Fatal(err)
	}
	// The fake host has no events, conntrack or per-container sockets;
	// everything a path needs is there.
	for _, m := range h.Missing {
		for _, needed := range []string{"netns.json", "inspect.json", "networks.json", "iptables", "index.json"} {
			if strings.Contains(m, needed) {
				t.Errorf("Missing has %q, which paths need", m)
			}
		}
	}
	if !containsSub(h.Missing, "docker/events.jsonl: not in the bundle") {
		t.Errorf("Missing = %q, want events.jsonl listed", h.Missing)
	}
	out4 := netip.MustParseAddr("198.51.100.7")
	out6 := netip.MustParseAddr("2001:db8:99::1")
	tests := []struct {
		name, container string
		dst             netip.Addr
		out, finalSrc   string
		nat             bool
		hopKinds        string
		textHas         string // in a hop, a note, or the summary
	}{
		{"bridge with policy routing", "c-bridge", out4, "eth0", "192.0.2.2", true,
			"container-if veth bridge route forward nat out", "table 100, chosen by ip rule 100"},
		{"container mode shares the namespace", "c-shared", out4, "eth0", "192.0.2.2", true,
			"container-if veth bridge route forward nat out", "shares the network namespace of c-bridge"},
		{"host mode", "c-host", out4, "eth0", "192.0.2.2", false, "host-stack out", "held by pid [4242]"},
		{"none", "c-none", out4, "", "", false, "", "only a loopback"},
		{"macvlan", "c-macvlan", out4, "eth0", "192.0.2.50", false, "container-if parent", "no NAT"},
		{"overlay egress via docker_gwbridge", "c-overlay", out4, "eth0", "192.0.2.2", true,
			"container-if veth bridge route forward nat out", "VXLAN"},
		{"IPv6 with NAT", "c-bridge", out6, "eth0", "2001:db8:1::2", true,
			"container-if veth bridge route forward nat out", "-A POSTROUTING -s fd00:17::/64 ! -o docker0 -j MASQUERADE"},
		{"IPv6 without NAT", "c-v6", out6, "eth0", "2001:db8:20::2", false,
			"container-if veth bridge route forward out", "the source stays 2001:db8:20::2"},
		{"IPv4 of the v6 network still masqueraded", "c-v6", out4, "eth0", "192.0.2.2", true,
			"container-if veth bridge route forward nat out", "[3 pkts/180 bytes]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := netpath.Egress(h, tt.container, tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, hop := range p.Hops {
				kinds = append(kinds, hop.Kind)
			}
			all := p.Summary() + " | " + strings.Join(p.Notes, " | ")
			if got := strings.Join(kinds, " "); got != tt.hopKinds {
				t.Errorf("Path(%q, %s) hops = %q, want %q\n%s", tt.container, tt.dst, got, tt.hopKinds, all)
			}
			if p.OutIface != tt.out || addrOr(p.FinalSrc) != tt.finalSrc || p.NAT != tt.nat {
				t.Errorf("Path(%q, %s) = out %q src %s nat %v, want %q %s %v\n%s", tt.container, tt.dst, p.OutIface, p.FinalSrc, p.NAT, tt.out, tt.finalSrc, tt.nat, all)
			}
			if !strings.Contains(all, tt.textHas) {
				t.Errorf("Path(%q, %s) does not say %q:\n%s", tt.container, tt.dst, tt.textHas, all)
			}
			if len(p.Unknown) > 0 {
				t.Errorf("Path(%q, %s).Unknown = %q", tt.container, tt.dst, p.Unknown)
			}
		})
	}
	// Visibility: the host-mode container shows only on the uplink, as the
	// host; the macvlan container on its parent with its own address.
	for _, r := range netpath.Visibility(h, out4) {
		switch {
		case r.ContainerName == "c-host" && r.Iface == "eth0":
			if r.Visible != netpath.VisibleYes || r.As != "host" {
				t.Errorf("c-host on eth0 = %+v, want visible as the host", r)
			}
		case r.ContainerName == "c-host":
			if r.Visible != netpath.VisibleNo {
				t.Errorf("c-host on %s = %+v, want not visible", r.Iface, r)
			}
		case r.ContainerName == "c-macvlan" && r.Iface == "eth0":
			if r.Visible != netpath.VisibleYes || r.Src.String() != "192.0.2.50" || r.As != "container" {
				t.Errorf("c-macvlan on eth0 = %+v, want visible with its own address", r)
			}
		case r.ContainerName == "c-macvlan" && r.IfaceKind == netpath.IfaceBridge:
			if r.Visible != netpath.VisibleNo {
				t.Errorf("c-macvlan on %s = %+v, want not visible", r.Iface, r)
			}
		}
	}
}

func addrOr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// TestLoadWithGaps: a bundle without Docker members or without namespaces
// still loads, lists what is missing, and answers "unknown because".
func TestLoadWithGaps(t *testing.T) {
	m := fakeModesMembers()
	var docker []string
	for name := range m {
		if strings.HasPrefix(name, "docker/") {
			docker = append(docker, name)
		}
	}
	t.Run("docker unreachable", func(t *testing.T) {
		h, err := model.Load(writeFakeBundle(t, m, fakeFirewall(), docker...))
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Containers) != 0 || !containsSub(h.Missing, "docker/networks.json: not in the bundle") {
			t.Errorf("containers %d, Missing %q: want none and docker/networks.json missing", len(h.Containers), h.Missing)
		}
		if len(netpath.Interfaces(h)) == 0 {
			t.Error("Interfaces() empty: the host's links are in the bundle")
		}
		if _, err := netpath.Egress(h, "c-bridge", netip.MustParseAddr("198.51.100.7")); err == nil {
			t.Error("Path of an unknown container: want an error")
		}
	})
	t.Run("namespaces missing", func(t *testing.T) {
		var drop []string
		for name := range m {
			if strings.HasPrefix(name, "netns/") {
				drop = append(drop, name)
			}
		}
		h, err := model.Load(writeFakeBundle(t, m, nil, drop...))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"netns/index.json: not in the bundle", "host network namespace", "iptables-save.txt: not in the bundle"} {
			if !containsSub(h.Missing, want) {
				t.Errorf("Missing = %q, want an entry with %q", h.Missing, want)
			}
		}
		p, err := netpath.Egress(h, "c-bridge", netip.MustParseAddr("198.51.100.7"))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Unknown) == 0 || !strings.Contains(p.Unknown[0], "not in the bundle") {
			t.Errorf("Path.Unknown = %q, want the namespace named as missing", p.Unknown)
		}
		for _, r := range netpath.Visibility(h, netip.MustParseAddr("198.51.100.7")) {
			t.Errorf("visibility row without host interfaces: %+v", r)
		}
		res := hostResult(h, Options{})
		if !res.Unknown() {
			t.Error("Result.Unknown() = false for a bundle with gaps")
		}
	})
}

func containsSub(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestOwnerNeverBeforeLease: leases from events; an address is never
// attributed outside the window its holder had it.
func TestOwnerNeverBeforeLease(t *testing.T) {
	m := fakeModesMembers()
	idB := id64('b')
	ev := func(typ, action, actor string, attrs map[string]string, at time.Time) string {
		b, _ := json.Marshal(map[string]any{"Type": typ, "Action": action, "Actor": map[string]any{"ID": actor, "Attributes": attrs}, "time": at.Unix(), "timeNano": at.UnixNano()})
		return string(b)
	}
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	old := id64('e')
	netBridge := id64('1')
	events := strings.Join([]string{
		// An earlier container held the network (address unknown) and left.
		ev("network", "connect", netBridge, map[string]string{"container": old, "name": "bridge"}, t0),
		ev("container", "start", old, map[string]string{"name": "old"}, t0.Add(time.Second)),
		ev("container", "die", old, map[string]string{"name": "old"}, t0.Add(2*time.Minute)),
		ev("network", "disconnect", netBridge, map[string]string{"container": old, "name": "bridge"}, t0.Add(2*time.Minute+time.Second)),
		`{"not json`,
		ev("network", "connect", netBridge, map[string]string{"container": idB, "name": "bridge"}, t0.Add(3*time.Minute)),
		ev("container", "start", idB, map[string]string{"name": "c-bridge"}, t0.Add(3*time.Minute+time.Second)),
	}, "\n")
	raw := fakeFirewall()
	raw[model.MemberEvents] = events
	h, err := model.Load(writeFakeBundle(t, m, raw))
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddr("172.17.0.2")
	tests := []struct {
		at   time.Time
		want string
	}{
		{t0.Add(time.Minute), ""},       // the old container's time: not c-bridge's
		{t0.Add(3*time.Minute - 1), ""}, // just before the connect
		{t0.Add(3 * time.Minute), idB},  // from the connect on
		{t0.Add(4 * time.Minute), idB},  // still held at collection
		{t0.Add(24 * time.Hour), ""},    // after the collection finished: not known
	}
	for _, tt := range tests {
		l, ok := h.Owner(addr, tt.at)
		got := ""
		if ok {
			got = l.Container
		}
		if got != tt.want {
			t.Errorf("Owner(%s, %s) = %q, want %q", addr, tt.at, got, tt.want)
		}
	}
	if !containsSub(h.Missing, "1 malformed lines skipped") {
		t.Errorf("Missing = %q, want the malformed event line counted", h.Missing)
	}
	var sawOld bool
	for _, l := range h.Leases() {
		if l.Container == old && !l.Addr.IsValid() && l.To.Equal(t0.Add(2*time.Minute+time.Second)) {
			sawOld = true
		}
	}
	if !sawOld {
		t.Errorf("Leases() = %+v, want the old container's window without address", h.Leases())
	}
}
