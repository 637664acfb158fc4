package analyze

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestExtractFlows checks the forwarder to flow.Extract: of two TCP flows
// of a hand-made capture, only the packets of the attributed flow handed
// over are written, and a flow seen in no capture (no record) is skipped.
// flow's TestExtract checks the extraction itself.
func TestExtractFlows(t *testing.T) {
	tcp := func(src, dst string, sport, dport layers.TCPPort) []byte {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		l4 := &layers.TCP{SrcPort: sport, DstPort: dport, ACK: true, DataOffset: 5}
		_ = l4.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, eth, ip, l4, gopacket.Payload("x")); err != nil {
			t.Fatalf("serialize: %v", err)
		}
		return bytes.Clone(buf.Bytes())
	}
	recs := []pcapngtest.Rec{
		{Data: tcp("198.18.0.1", "198.18.0.2", 40000, 443)}, // 1: the flow extracted
		{Data: tcp("198.18.0.1", "198.18.0.2", 40001, 443)}, // 2: another flow
		{Data: tcp("198.18.0.2", "198.18.0.1", 443, 40000)}, // 3: the first flow's answer
	}
	file := pcapngtest.Pcap(binary.LittleEndian, false, 1, recs)
	in := flow.Input{Member: "t.pcap", Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(file)), nil }}
	res := traffic.Attribute(model.LoadSource(model.MemSource{}), []flow.Input{in}, traffic.Options{})
	if len(res.Flows) != 2 || res.Flows[0].ClientPort != 40000 {
		t.Fatalf("flows %+v, want the flow from port 40000 first of 2", res.Flows)
	}
	flows := []*traffic.Flow{&res.Flows[0], {}} // the second was read from no capture
	var out bytes.Buffer
	st, err := Extract(&out, []flow.Input{in}, flows)
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets != 2 || st.Interfaces != 1 {
		t.Errorf("stats %+v, want 2 packets, 1 interface", st)
	}
	c, err := pcapng.NewReader(&out, "extract")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{0, 2} {
		rec, err := c.Next()
		if err != nil {
			t.Fatalf("record for frame %d: %v", want+1, err)
		}
		if !bytes.Equal(rec.Data, recs[want].Data) {
			t.Errorf("record %d is not frame %d of the capture", rec.Frame, want+1)
		}
	}
	if _, err := c.Next(); err != io.EOF {
		t.Errorf("after the 2 packets: %v, want io.EOF", err)
	}
}
