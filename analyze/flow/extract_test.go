package flow

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"
	"github.com/gopacket/gopacket/layers"
)

// TestExtract selects a TCP flow and a fragmented UDP flow of a hand-made
// capture and checks that exactly their packets are written, the later
// fragment attached by its IP id, the ICMP flow and a stray fragment left out.
func TestExtract(t *testing.T) {
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, ACK: true, DataOffset: 5}
	back := &layers.TCP{SrcPort: 443, DstPort: 40000, ACK: true, DataOffset: 5}
	echo := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}
	udp := &layers.UDP{SrcPort: 5000, DstPort: 6000}
	frag := func(id, off uint16, more bool) func(*layers.IPv4) {
		return func(ip *layers.IPv4) {
			ip.Id, ip.FragOffset = id, off
			if more {
				ip.Flags = layers.IPv4MoreFragments
			}
		}
	}
	later := func(id uint16) []byte {
		b := flowsPacket(t, "198.18.0.1", "198.18.0.2", nil, make([]byte, 100), frag(id, 4, false))
		b[14+9] = byte(layers.IPProtocolUDP)
		return b
	}
	recs := []pcapngtest.Rec{
		{Data: flowsPacket(t, "198.18.0.1", "198.18.0.2", tcp, []byte("x"), nil)},                   // 1: TCP
		{Data: flowsPacket(t, "198.18.0.1", "198.18.0.3", echo, make([]byte, 8), nil)},              // 2: ICMP, not selected
		{Data: flowsPacket(t, "198.18.0.2", "198.18.0.1", back, nil, nil)},                          // 3: TCP back
		{Data: flowsPacket(t, "198.18.0.1", "198.18.0.2", udp, make([]byte, 24), frag(9, 0, true))}, // 4: UDP, first fragment
		{Data: later(9)},  // 5: its later fragment
		{Data: later(10)}, // 6: a fragment of nothing selected
	}
	file := pcapngtest.Pcap(binary.LittleEndian, false, 1, recs)
	res, err := Read(bytes.NewReader(file), "t.pcap", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []MemberKey
	for i := range res.Flows {
		if r := &res.Flows[i]; r.Proto == packet.IPProtoTCP || r.Proto == packet.IPProtoUDP {
			keys = append(keys, r.MemberKey())
		}
	}
	if len(keys) != 2 {
		t.Fatalf("%d TCP and UDP flows, want 2: %+v", len(keys), res.Flows)
	}
	in := Input{Member: "t.pcap", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(file)), nil }}
	var out bytes.Buffer
	st, err := Extract(&out, []Input{in}, keys)
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != 4 || st.Fragments != 1 || st.Interfaces != 1 {
		t.Errorf("stats %+v, want 4 packets, 1 fragment, 1 interface", st)
	}
	c, err := pcapng.NewReader(&out, "extract")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{0, 2, 3, 4} {
		rec, err := c.Next()
		if err != nil {
			t.Fatalf("record for frame %d: %v", want+1, err)
		}
		if !bytes.Equal(rec.Data, recs[want].Data) {
			t.Errorf("record %d is not frame %d of the capture", rec.Frame, want+1)
		}
	}
	if _, err := c.Next(); err != io.EOF {
		t.Errorf("after the 4 packets: %v, want io.EOF", err)
	}
}

// TestExtractKnownInterfaces extracts from two captures, the second with
// no flow to extract: given the interfaces a first reading of it found,
// Extract writes the same bytes as when it reads it again, without opening
// it; without them it opens it.
func TestExtractKnownInterfaces(t *testing.T) {
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, ACK: true, DataOffset: 5}
	first := pcapngtest.Pcap(binary.LittleEndian, false, 1, []pcapngtest.Rec{{Data: flowsPacket(t, "198.18.0.1", "198.18.0.2", tcp, []byte("x"), nil)}})
	second := pcapngtest.Pcap(binary.BigEndian, false, 1, []pcapngtest.Rec{{Data: flowsPacket(t, "198.18.1.1", "198.18.1.2", tcp, []byte("y"), nil)}})
	res, err := Read(bytes.NewReader(first), "first.pcap", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Read(bytes.NewReader(second), "second.pcap", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys := []MemberKey{res.Flows[0].MemberKey()}
	opened := 0
	input := func(member string, file []byte) Input {
		return Input{Member: member, Open: func() (io.ReadCloser, error) { opened++; return io.NopCloser(bytes.NewReader(file)), nil }}
	}
	var reread bytes.Buffer
	if _, err := Extract(&reread, []Input{input("first.pcap", first), input("second.pcap", second)}, keys); err != nil {
		t.Fatal(err)
	}
	if opened != 2 {
		t.Fatalf("without known interfaces, %d inputs opened, want 2", opened)
	}
	opened = 0
	known := input("second.pcap", second)
	for _, p := range other.Points {
		known.Interfaces = append(known.Interfaces, p.Interface)
	}
	var skipped bytes.Buffer
	st, err := Extract(&skipped, []Input{input("first.pcap", first), known}, keys)
	if err != nil {
		t.Fatal(err)
	}
	if opened != 1 || st.Interfaces != 2 || st.Packets != 1 {
		t.Errorf("with known interfaces: %d inputs opened, stats %+v; want 1 opened, 2 interfaces, 1 packet", opened, st)
	}
	if !bytes.Equal(skipped.Bytes(), reread.Bytes()) {
		t.Errorf("with known interfaces the extract differs from the one that read the input again (%d and %d bytes)", skipped.Len(), reread.Len())
	}
}
