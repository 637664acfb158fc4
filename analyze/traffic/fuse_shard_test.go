package traffic

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestFuseShards fuses flows spread over both shards, one tuple reused
// (two conversations, so that its shard's contacts outgrow their room and
// move), and checks that every flow is in the one contact of its tuple and
// time, and that the sockets merged after the shards are joined find the
// contact of their own tuple: the contacts' indexes survived the join.
func TestFuseShards(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	web := &model.Container{ID: "aaaa000000000000", Name: "web-1", State: "running", NetNS: 4001}
	hostNS := &model.Namespace{Inode: 4000, Host: true}
	ns := &model.Namespace{Inode: 4001, Containers: []string{web.ID}}
	h := &model.Host{Containers: []*model.Container{web}, HostNS: hostNS, Namespaces: []*model.Namespace{hostNS, ns}, Collected: t0.Add(time.Hour)}
	h.Index()
	local := netip.MustParseAddr("172.18.0.2")
	remote := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(1 + i%250)}) }
	flowOf := func(i int, at time.Time) Flow {
		return Flow{Container: web.ID, ContainerName: web.Name, ContainerSide: "client", Rule: RuleVeth, Confidence: ConfidenceHigh, Role: PointVeth, Interface: "veth1", Member: memberCapture,
			Proto: "tcp", Client: local, ClientPort: uint16(30000 + i), Server: remote(i), ServerPort: 443, First: at, Last: at.Add(time.Second), PacketsToServer: 3, PacketsToClient: 2,
			Evidence: []model.Evidence{{Member: memberCapture, Text: fmt.Sprint("flow ", i)}}}
	}
	const n = 400
	var flows []Flow
	shards := map[int]int{}
	for i := range n {
		flows = append(flows, flowOf(i, t0.Add(time.Duration(i)*time.Millisecond)))
		k, _, _ := flowTuple(&flows[i])
		tk := k.key()
		shards[shardOf(&tk)]++
	}
	// Tuple 7 again, an hour later: a second conversation of one point.
	flows = append(flows, flowOf(7, t0.Add(time.Hour)))
	if len(shards) != fuseShards {
		t.Fatalf("the flows fill %d of %d shards: %v", len(shards), fuseShards, shards)
	}
	// The container's sockets of tuples 7 and 300, at the snapshot.
	for _, i := range []int{7, 300} {
		ns.Sockets = append(ns.Sockets, model.HostSocket{Proto: "tcp", LocalIP: local.String(), LocalPort: uint16(30000 + i), RemoteIP: remote(i).String(), RemotePort: 443,
			State: "ESTABLISHED", Evidence: model.Evidence{Member: "netns/4001/sockets.json", Text: fmt.Sprint("socket ", i)}})
	}
	tr := &Result{Flows: flows}
	fuse(h, tr)
	if len(tr.Contacts) != n+1 {
		t.Fatalf("%d contacts, want %d", len(tr.Contacts), n+1)
	}
	seen := map[int]bool{}
	sockets := map[string]netip.AddrPort{}
	for ci := range tr.Contacts {
		c := &tr.Contacts[ci]
		for _, s := range c.Sources {
			switch {
			case s.Kind == SourceSocket:
				sockets[s.Evidence.Text] = c.Remote
				if c.Remote.Addr() == remote(7) && !c.First.Equal(t0.Add(time.Hour)) {
					t.Errorf("socket of tuple 7 in the contact of %v, want the later conversation's (%v)", c.First, t0.Add(time.Hour))
				}
			case s.Flow != nil:
				fl := &flows[*s.Flow]
				if seen[*s.Flow] {
					t.Errorf("flow %d in two contacts", *s.Flow)
				}
				seen[*s.Flow] = true
				if c.Local != netip.AddrPortFrom(fl.Client, fl.ClientPort) || c.Remote != netip.AddrPortFrom(fl.Server, fl.ServerPort) || !c.First.Equal(fl.First) {
					t.Errorf("flow %d (%v:%d → %v:%d at %v) in the contact %v → %v at %v", *s.Flow, fl.Client, fl.ClientPort, fl.Server, fl.ServerPort, fl.First, c.Local, c.Remote, c.First)
				}
			}
		}
	}
	if len(seen) != len(flows) {
		t.Errorf("%d of %d flows in a contact", len(seen), len(flows))
	}
	for _, i := range []int{7, 300} {
		if got, want := sockets[fmt.Sprint("socket ", i)], netip.AddrPortFrom(remote(i), 443); got != want {
			t.Errorf("socket %d merged into the contact with %v, want %v", i, got, want)
		}
	}
}

// TestSortContacts sorts contacts with many ties (equal first times,
// containers and tuples) in one piece, in two halves merged, and as a few
// runs already in order, merged, against a stable sort of the contacts
// themselves.
func TestSortContacts(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var cs []Contact
	for i := range 3000 {
		cs = append(cs, Contact{First: t0.Add(time.Duration(i*7919%13) * time.Millisecond), Container: fmt.Sprint(i * 31 % 3), Proto: []string{"tcp", "udp"}[i%2],
			Local:  netip.AddrPortFrom(netip.AddrFrom4([4]byte{172, 18, 0, byte(i % 5)}), 40000),
			Remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 0, byte(i % 4)}), 443),
			Reason: fmt.Sprint(i)}) // tells equal contacts apart
	}
	order := func(x, y Contact) int {
		return cmp.Or(x.First.Compare(y.First), cmp.Compare(x.Container, y.Container), cmp.Compare(x.Proto, y.Proto), x.Local.Compare(y.Local), x.Remote.Compare(y.Remote))
	}
	// Five runs already in order (as the flows of five kinds of capture
	// point make them), each sorted stably on its own: merged, not sorted.
	var runs []Contact
	for r := range 5 {
		run := slices.Clone(cs[r*600 : (r+1)*600])
		slices.SortStableFunc(run, order)
		runs = append(runs, run...)
	}
	for _, in := range [][]Contact{cs, runs} {
		want := slices.Clone(in)
		slices.SortStableFunc(want, order)
		for _, chunk := range []int{4096, 100} { // one piece; halves
			defer func(old int) { attributeMinChunk = old }(attributeMinChunk)
			attributeMinChunk = chunk
			got := slices.Clone(in)
			sortContacts(got)
			for i := range got {
				if got[i].Reason != want[i].Reason {
					t.Fatalf("chunk %d: position %d holds contact %s, want %s", chunk, i, got[i].Reason, want[i].Reason)
				}
			}
		}
	}
}
