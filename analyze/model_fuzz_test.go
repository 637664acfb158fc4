package analyze

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
)

// fakeMemSource marshals the hand-made host's members into memory.
func fakeMemSource(t testing.TB) model.MemSource {
	src := model.MemSource{}
	for name, v := range fakeModesMembers() {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		src[name] = b
	}
	for name, v := range fakeFirewall() {
		src[name] = []byte(v)
	}
	return src
}

// FuzzMemberDecoders feeds one member of the hand-made host with fuzzed
// bytes and builds the model and every answer from it: no input may panic
// or hang. Seeds are the hand-made members and the demo bundle's JSON.
func FuzzMemberDecoders(f *testing.F) {
	base := fakeMemSource(f)
	names := make([]string, 0, len(base))
	for n := range base {
		names = append(names, n)
	}
	names = append(names, model.MemberEvents, model.MemberConntrack, model.MemberContainers, model.MemberProcesses, model.MemberNft)
	sort.Strings(names)
	for i, n := range names {
		if b, ok := base[n]; ok {
			f.Add(uint8(i), b)
		}
	}
	f.Add(uint8(0), []byte(`[{"inode":1,"host":true,"containers":["../../x"]}]`))
	f.Add(uint8(0), []byte(`{"links":[{"ifindex":1,"iflink":1},{"ifindex":1}],"routes":[{"dst":"::/0","table":254}]}`))
	// The demo bundle's small JSON members, when extracted by a previous run
	// of the tests, are not needed: the decoders see the same shapes here.
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		src := model.MemSource{}
		for k, v := range base {
			src[k] = v
		}
		src[names[int(which)%len(names)]] = data
		h := model.LoadSource(src)
		h.Collected = time.Date(2026, 1, 2, 3, 5, 0, 0, time.UTC)
		res := hostResult(h, Options{To: []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8:99::1")}})
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("marshal result: %v", err)
		}
		for _, c := range h.Containers {
			h.Owner(netip.MustParseAddr("172.17.0.2"), h.Collected)
			if _, err := netpath.Egress(h, c.ID, netip.MustParseAddr("172.17.0.2")); err != nil {
				t.Fatalf("Path(%q): %v", c.ID, err)
			}
		}
	})
}

// synthHost generates the members of a host with n containers spread over
// nets bridge networks, in the collector's formats.
func synthHost(n, nets int) model.MemSource {
	src := model.MemSource{}
	host := fakeNS{PID: 1, Inode: 1, Links: []fakeLink{{Index: 1, Name: "lo", Kind: "device"}, {Index: 2, Name: "eth0", Kind: "device"}},
		Addrs:  []fakeAddr{{2, "eth0", "192.0.2.2/24"}},
		Routes: []fakeRoute{r4("0.0.0.0/0", "192.0.2.1", "eth0", "")}}
	var networks []map[string]any
	var ipt strings.Builder
	ipt.WriteString("*nat\n:POSTROUTING ACCEPT [0:0]\n")
	var fwd strings.Builder
	fwd.WriteString("*filter\n:FORWARD DROP [0:0]\n")
	index := []map[string]any{{"inode": 1, "host": true, "pid": 1}}
	for i := 0; i < nets; i++ {
		id := fmt.Sprintf("%064x", i+1)
		br := "br-" + id[:12]
		subnet := fmt.Sprintf("10.%d.0.0/16", i)
		host.Links = append(host.Links, fakeLink{Index: 10 + i, Name: br, Kind: "bridge"})
		host.Addrs = append(host.Addrs, fakeAddr{10 + i, br, fmt.Sprintf("10.%d.0.1/16", i)})
		host.Routes = append(host.Routes, r4(subnet, "", br, fmt.Sprintf("10.%d.0.1", i)))
		networks = append(networks, map[string]any{"Name": fmt.Sprintf("net%d", i), "Id": id, "Driver": "bridge",
			"IPAM": map[string]any{"Config": []map[string]any{{"Subnet": subnet, "Gateway": fmt.Sprintf("10.%d.0.1", i)}}}, "Options": map[string]string{}})
		fmt.Fprintf(&ipt, "[%d:%d] -A POSTROUTING -s %s ! -o %s -j MASQUERADE\n", i, i*60, subnet, br)
		fmt.Fprintf(&fwd, "[0:0] -A FORWARD -i %s ! -o %s -j ACCEPT\n", br, br)
	}
	ipt.WriteString("COMMIT\n")
	fwd.WriteString("COMMIT\n")
	var list []map[string]any
	var events []string
	for c := 0; c < n; c++ {
		id := fmt.Sprintf("c%063x", c)
		net := c % nets
		ip := fmt.Sprintf("10.%d.%d.%d", net, 1+c/250, 2+c%250)
		hostIdx, nsIdx := 1000+2*c, 1001+2*c
		ino := uint64(10000 + c)
		brName := "br-" + fmt.Sprintf("%064x", net+1)[:12]
		host.Links = append(host.Links, fakeLink{Index: hostIdx, Name: fmt.Sprintf("veth%07x", c), Kind: "veth", Iflink: nsIdx, Master: brName})
		ns := containerNS(ino, []fakeLink{{Index: nsIdx, Name: "eth0", Kind: "veth", Iflink: hostIdx, MAC: fmt.Sprintf("02:42:0a:%02x:%02x:%02x", net, c/250, c%250)}},
			[]fakeAddr{{nsIdx, "eth0", ip + "/16"}}, []fakeRoute{r4("0.0.0.0/0", fmt.Sprintf("10.%d.0.1", net), "eth0", "")})
		b, _ := json.Marshal(ns)
		src[fmt.Sprintf("netns/%d/netns.json", ino)] = b
		src[fmt.Sprintf("netns/%d/sockets.json", ino)] = []byte("[]")
		index = append(index, map[string]any{"inode": ino, "pid": 20000 + c, "containers": []string{id}})
		netID := fmt.Sprintf("%064x", net+1)
		insp := fakeInspect(id, fmt.Sprintf("ct-%d", c), fmt.Sprintf("net%d", net), 20000+c,
			map[string]map[string]any{fmt.Sprintf("net%d", net): ep(netID, ip, 16, fmt.Sprintf("10.%d.0.1", net), fmt.Sprintf("02:42:0a:%02x:%02x:%02x", net, c/250, c%250))})
		b, _ = json.Marshal(insp)
		src["docker/containers/"+id+"/inspect.json"] = b
		list = append(list, map[string]any{"id": id, "name": fmt.Sprintf("ct-%d", c), "state": "running", "pid": 20000 + c})
		e, _ := json.Marshal(map[string]any{"Type": "network", "Action": "connect", "Actor": map[string]any{"ID": netID, "Attributes": map[string]string{"container": id, "name": fmt.Sprintf("net%d", net)}}, "timeNano": int64(1e18) + int64(c)})
		events = append(events, string(e))
	}
	b, _ := json.Marshal(host)
	src["netns/1/netns.json"] = b
	src["netns/1/sockets.json"] = []byte("[]")
	b, _ = json.Marshal(index)
	src[model.MemberIndex] = b
	b, _ = json.Marshal(networks)
	src[model.MemberNetworks] = b
	b, _ = json.Marshal(list)
	src[model.MemberContainers] = b
	src[model.MemberEvents] = []byte(strings.Join(events, "\n"))
	src[model.MemberIPTables] = []byte(ipt.String() + fwd.String())
	src[model.MemberConntrack] = []byte(`{"source":"netlink","entries":[]}`)
	src[model.MemberProcesses] = []byte("[]")
	src[model.MemberClock] = []byte(`{"hostname":"synth"}`)
	return src
}

// BenchmarkLoad500 builds the model of a host with 500 containers on 50
// networks through the same decoders as Load; the issue asks for under 1 s.
func BenchmarkLoad500(b *testing.B) {
	src := synthHost(500, 50)
	b.ResetTimer()
	for b.Loop() {
		h := model.LoadSource(src)
		if len(h.Containers) != 500 || len(h.Networks) != 50 || len(h.Missing) != 0 {
			b.Fatalf("model: %d containers, %d networks, missing %q", len(h.Containers), len(h.Networks), h.Missing)
		}
	}
}

// TestLoad500 checks the synthetic host is modelled right: every container
// paired with its veth and masqueraded by its network's rule. Its time is
// BenchmarkLoad500's to measure, not this test's to assert: the machines
// are shared.
func TestLoad500(t *testing.T) {
	h := model.LoadSource(synthHost(500, 50))
	for _, c := range []string{"ct-0", "ct-499", "ct-251"} {
		p, err := netpath.Egress(h, c, netip.MustParseAddr("198.51.100.7"))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Hops) != 7 || !p.NAT || p.OutIface != "eth0" || p.FinalSrc.String() != "192.0.2.2" {
			t.Errorf("Path(%s) = %s", c, p.Summary())
		}
	}
	if n := len(h.Leases()); n != 500 {
		t.Errorf("Leases() = %d, want 500", n)
	}
}

// TestMutatedMembers is a seeded, always-run complement to the fuzz
// targets: it corrupts a few bytes of one member at a time and builds every
// answer. (It found a nil veth that fuzzing had not reached.)
func TestMutatedMembers(t *testing.T) {
	base := fakeMemSource(t)
	names := make([]string, 0, len(base))
	for n := range base {
		names = append(names, n)
	}
	sort.Strings(names)
	r := rand.New(rand.NewSource(1))
	dsts := []netip.Addr{netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8:99::1")}
	for i := 0; i < 500; i++ {
		src := model.MemSource{}
		for k, v := range base {
			src[k] = v
		}
		name := names[r.Intn(len(names))]
		data := append([]byte{}, base[name]...)
		for j := 0; j < 1+r.Intn(4); j++ {
			data[r.Intn(len(data))] = byte(r.Intn(256))
		}
		src[name] = data
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("mutation %d of %s: panic %v\n%s", i, name, p, data)
				}
			}()
			h := model.LoadSource(src)
			if _, err := json.Marshal(hostResult(h, Options{To: dsts})); err != nil {
				t.Fatalf("mutation %d of %s: marshal: %v", i, name, err)
			}
		}()
	}
}
