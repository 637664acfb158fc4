package analyze_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestExtractContactsOnce extracts the demo beacon's conversations and
// checks that each packet is written once: no two records of two
// interfaces are one packet (the same IP id, TCP sequence, flags and
// payload within 100 ms: a veth's and a bridge's copy have the same bytes,
// the uplink's after NAT the same IP id and payload), and tshark finds no
// more retransmissions in it than on the beacon's veth alone in the
// bundle's capture. The per-point extraction (every flow of each
// conversation) is checked too: it has the copies, so the check can fail.
func TestExtractContactsOnce(t *testing.T) {
	tshark := analyzetest.Tshark(t)
	beacon := analyzetest.Scenario(t, "beacon", 2)
	c, err := analyze.Open(analyzetest.OpenDemo(t), analyze.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := c.Traffic()
	if err != nil {
		t.Fatal(err)
	}
	inputs, err := c.CaptureInputs()
	if err != nil {
		t.Fatal(err)
	}
	var contacts []*traffic.Contact
	var all []*traffic.Flow
	veth := ""
	for i := range tr.Contacts {
		k := &tr.Contacts[i]
		if k.Container != beacon {
			continue
		}
		contacts = append(contacts, k)
		for _, s := range k.Sources {
			if s.Flow != nil {
				all = append(all, &tr.Flows[*s.Flow])
			}
		}
		// A conversation seen on the veth is taken from it; one the
		// uplink alone saw (the embedded resolver's forwarded queries)
		// from the uplink.
		f := tr.ClosestFlow(k)
		for _, s := range k.Sources {
			if s.Role == traffic.PointVeth && (f == nil || f.Role != traffic.PointVeth) {
				t.Errorf("conversation %s %s → %s seen on the veth %s, not taken from it", k.Proto, k.Local, k.Remote, s.Interface)
			}
		}
		if f != nil && f.Role == traffic.PointVeth {
			veth = f.Interface
		}
	}
	if veth == "" {
		t.Fatal("no conversation of the beacon taken from its veth")
	}
	var once, perPoint bytes.Buffer
	st, flows, err := analyze.ExtractContacts(&once, inputs, tr, contacts)
	if err != nil {
		t.Fatal(err)
	}
	stAll, err := analyze.Extract(&perPoint, inputs, all)
	if err != nil {
		t.Fatal(err)
	}
	copies := duplicates(t, once.Bytes())
	copiesAll := duplicates(t, perPoint.Bytes())
	dir := t.TempDir()
	onceFile, allFile := filepath.Join(dir, "once.pcapng"), filepath.Join(dir, "all.pcapng")
	os.WriteFile(onceFile, once.Bytes(), 0o600)
	os.WriteFile(allFile, perPoint.Bytes(), 0o600)
	capture := analyzetest.DemoCapture(t)
	retrans := func(file, filter string) int {
		t.Helper()
		f := "tcp.analysis.retransmission || tcp.analysis.fast_retransmission || tcp.analysis.spurious_retransmission"
		if filter != "" {
			f = "(" + f + ") && " + filter
		}
		out, err := exec.Command(tshark, "-r", file, "-n", "-Y", f, "-T", "fields", "-e", "frame.number").Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v", file, err)
		}
		return len(strings.Fields(string(out)))
	}
	onVeth := retrans(capture, fmt.Sprintf(`frame.interface_name=="%s"`, veth))
	rOnce, rAll := retrans(onceFile, ""), retrans(allFile, "")
	t.Logf("beacon: %d conversations, %d taken from a capture: %d packets written once (%d copies); per point %d packets (%d copies); tshark retransmissions: %d (per point %d, on the veth in the capture %d)",
		len(contacts), len(flows), st.Packets, copies, stAll.Packets, copiesAll, rOnce, rAll, onVeth)
	if copies != 0 {
		t.Errorf("the extract holds %d packets written twice", copies)
	}
	if copiesAll == 0 {
		t.Errorf("the per-point extraction holds no copy: the duplicate check finds nothing")
	}
	if rOnce > onVeth {
		t.Errorf("tshark finds %d retransmissions in the extract, %d on the veth in the capture: copies taken for retransmissions", rOnce, onVeth)
	}
	if st.Packets == 0 || st.Packets >= stAll.Packets {
		t.Errorf("%d packets written once, %d per point: want fewer, not none", st.Packets, stAll.Packets)
	}
}

// duplicates counts the records of a pcapng that repeat a packet of
// another interface within 100 ms: the same IP id, transport header
// (sequence, acknowledgement, flags) and payload, whatever NAT rewrote.
func duplicates(t *testing.T, file []byte) int {
	t.Helper()
	r, err := pcapng.NewReader(bytes.NewReader(file), "extract")
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		iface int
		at    int64
	}
	first := map[string]seen{}
	n := 0
	for {
		rec, err := r.Next()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(rec.Data, layers.LayerTypeEthernet, gopacket.NoCopy)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if ip == nil {
			continue
		}
		key := fmt.Sprintf("%d/%d", ip.Id, ip.Protocol)
		switch l4 := p.TransportLayer().(type) {
		case *layers.TCP:
			key += fmt.Sprintf("/%d/%d/%v%v%v%v/%x", l4.Seq, l4.Ack, l4.SYN, l4.ACK, l4.FIN, l4.RST, l4.Payload)
		case *layers.UDP:
			key += fmt.Sprintf("/%x", l4.Payload)
		default:
			continue
		}
		if s, ok := first[key]; ok && s.iface != rec.Interface && rec.TimeUnixNano-s.at < 100e6 {
			n++
			continue
		}
		first[key] = seen{rec.Interface, rec.TimeUnixNano}
	}
	return n
}
