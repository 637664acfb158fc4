package packet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"

	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	packetTestV4a = net.IP{198, 18, 0, 1}
	packetTestV4b = net.IP{198, 19, 0, 2}
	packetTestV6a = net.ParseIP("2001:db8::1")
	packetTestV6b = net.ParseIP("2001:db8::2")
)

func packetTestIPv4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: packetTestV4a, DstIP: packetTestV4b}
}

func packetTestIPv6(nh layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 63, NextHeader: nh, SrcIP: packetTestV6a, DstIP: packetTestV6b}
}

func TestDecodePacket(t *testing.T) {
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: pcapngtest.MAC1, DstMAC: pcapngtest.MAC2, EthernetType: et}
	}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true, ACK: true, DataOffset: 5, Seq: 7}
	udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
	payload := gopacket.Payload("hello")
	ethTCP := pcapngtest.Serialize(t, eth(layers.EthernetTypeIPv4), packetTestIPv4(layers.IPProtocolTCP), tcp, payload)
	ip4UDP := pcapngtest.Serialize(t, packetTestIPv4(layers.IPProtocolUDP), udp, payload)
	ip6UDP := pcapngtest.Serialize(t, packetTestIPv6(layers.IPProtocolUDP), udp, payload)
	qinq := pcapngtest.Serialize(t, eth(layers.EthernetTypeQinQ),
		&layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeIPv6},
		packetTestIPv6(layers.IPProtocolUDP), udp, payload)
	// IPv6 with hop-by-hop, routing and fragment headers, then UDP; the later
	// fragment has no UDP header.
	v6ext := func(fragOff uint16, more bool) []byte {
		ext := []byte{43, 0, 1, 4, 0, 0, 0, 0} // hop-by-hop: next routing, PadN
		ext = append(ext, 44, 2, 0, 0, 0, 0, 0, 0)
		ext = append(ext, make([]byte, 16)...) // routing type 0, one address
		fo := fragOff << 3
		if more {
			fo |= 1
		}
		ext = append(ext, 17, 0, byte(fo>>8), byte(fo), 0, 0, 0x12, 0x34)
		body := pcapngtest.Serialize(t, udp, payload)
		return pcapngtest.Serialize(t, eth(layers.EthernetTypeIPv6), packetTestIPv6(layers.IPProtocolIPv6HopByHop), gopacket.Payload(append(ext, body...)))
	}
	frag4 := func(off uint16, more bool) []byte {
		ip := packetTestIPv4(layers.IPProtocolUDP)
		ip.FragOffset = off
		if more {
			ip.Flags = layers.IPv4MoreFragments
		}
		return pcapngtest.Serialize(t, ip, udp, payload)
	}
	ip4opts := packetTestIPv4(layers.IPProtocolTCP)
	ip4opts.Options = []layers.IPv4Option{{OptionType: 7, OptionLength: 7, OptionData: []byte{4, 1, 2, 3, 4}}} // record route
	withOpts := pcapngtest.Serialize(t, eth(layers.EthernetTypeIPv4), ip4opts, tcp, payload)
	sll := append([]byte{0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ip4UDP...)
	sll2 := append([]byte{0x86, 0xdd, 0, 0, 0, 0, 0, 9, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, ip6UDP...)
	icmp4 := pcapngtest.Serialize(t, packetTestIPv4(layers.IPProtocolICMPv4), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, payload)
	icmp6 := pcapngtest.Serialize(t, packetTestIPv6(layers.IPProtocolICMPv6), gopacket.Payload([]byte{128, 0, 0, 0, 0, 1, 0, 1}))
	null := func(order pcapngtest.Order, af uint32, ip []byte) []byte {
		return append(order.AppendUint32(nil, af), ip...)
	}
	padded := append(bytes.Clone(ethTCP), make([]byte, 10)...)

	v4a, v4b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.19.0.2")
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	type want struct {
		layers     Layers
		src, dst   netip.Addr
		proto      uint8
		sport      uint16
		dport      uint16
		flags      uint8
		vlans      uint8
		vlan0      uint16
		vlan1      uint16
		fragFirst  bool
		payloadLen int
		truncated  bool
		malformed  bool
	}
	l4 := LayerIPv4
	l6 := LayerIPv6
	eth4 := LayerLink | LayerMAC | l4
	tests := []struct {
		name string
		lt   pcapng.LinkType
		data []byte
		want want
	}{
		{"ethernet tcp", pcapng.LinkTypeEthernet, ethTCP, want{layers: eth4 | LayerTCP | LayerPayload, src: v4a, dst: v4b, proto: 6, sport: 40000, dport: 443, flags: TCPFlagSYN | TCPFlagACK, payloadLen: 5}},
		{"ethernet padding excluded", pcapng.LinkTypeEthernet, padded, want{layers: eth4 | LayerTCP | LayerPayload, src: v4a, dst: v4b, proto: 6, sport: 40000, dport: 443, flags: TCPFlagSYN | TCPFlagACK, payloadLen: 5}},
		{"ipv4 options", pcapng.LinkTypeEthernet, withOpts, want{layers: eth4 | LayerTCP | LayerPayload, src: v4a, dst: v4b, proto: 6, sport: 40000, dport: 443, flags: TCPFlagSYN | TCPFlagACK, payloadLen: 5}},
		{"qinq ipv6 udp", pcapng.LinkTypeEthernet, qinq, want{layers: LayerLink | LayerMAC | LayerVLAN | l6 | LayerUDP | LayerPayload, src: v6a, dst: v6b, proto: 17, sport: 5353, dport: 53, vlans: 2, vlan0: 100, vlan1: 200, payloadLen: 5}},
		{"ipv6 ext first fragment", pcapng.LinkTypeEthernet, v6ext(0, true), want{layers: LayerLink | LayerMAC | l6 | LayerFragment | LayerUDP | LayerPayload, src: v6a, dst: v6b, proto: 17, sport: 5353, dport: 53, fragFirst: true, payloadLen: 5}},
		{"ipv6 ext later fragment", pcapng.LinkTypeEthernet, v6ext(100, false), want{layers: LayerLink | LayerMAC | l6 | LayerFragment, src: v6a, dst: v6b, proto: 17}},
		{"ipv6 ext not fragmented", pcapng.LinkTypeEthernet, v6ext(0, false), want{layers: LayerLink | LayerMAC | l6 | LayerUDP | LayerPayload, src: v6a, dst: v6b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"ipv4 first fragment", pcapng.LinkTypeRaw, frag4(0, true), want{layers: l4 | LayerFragment | LayerUDP | LayerPayload, src: v4a, dst: v4b, proto: 17, sport: 5353, dport: 53, fragFirst: true, payloadLen: 5}},
		{"ipv4 later fragment", pcapng.LinkTypeRaw, frag4(185, false), want{layers: l4 | LayerFragment, src: v4a, dst: v4b, proto: 17}},
		{"raw 12", pcapng.LinkTypeRawBSD12, ip4UDP, want{layers: l4 | LayerUDP | LayerPayload, src: v4a, dst: v4b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"raw 14 ipv6", pcapng.LinkTypeRawBSD14, ip6UDP, want{layers: l6 | LayerUDP | LayerPayload, src: v6a, dst: v6b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"ipv4 link", pcapng.LinkTypeIPv4, ip4UDP, want{layers: l4 | LayerUDP | LayerPayload, src: v4a, dst: v4b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"ipv6 link", pcapng.LinkTypeIPv6, ip6UDP, want{layers: l6 | LayerUDP | LayerPayload, src: v6a, dst: v6b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"ipv6 link given ipv4", pcapng.LinkTypeIPv6, ip4UDP, want{malformed: true}},
		{"sll", pcapng.LinkTypeLinuxSLL, sll, want{layers: LayerLink | LayerMAC | l4 | LayerUDP | LayerPayload, src: v4a, dst: v4b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"sll2", pcapng.LinkTypeLinuxSLL2, sll2, want{layers: LayerLink | LayerMAC | l6 | LayerUDP | LayerPayload, src: v6a, dst: v6b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"null little-endian", pcapng.LinkTypeNull, null(binary.LittleEndian, 2, ip4UDP), want{layers: LayerLink | l4 | LayerUDP | LayerPayload, src: v4a, dst: v4b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"null big-endian ipv6 darwin", pcapng.LinkTypeNull, null(binary.BigEndian, 30, ip6UDP), want{layers: LayerLink | l6 | LayerUDP | LayerPayload, src: v6a, dst: v6b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"loop ipv6 openbsd", pcapng.LinkTypeLoop, null(binary.BigEndian, 24, ip6UDP), want{layers: LayerLink | l6 | LayerUDP | LayerPayload, src: v6a, dst: v6b, proto: 17, sport: 5353, dport: 53, payloadLen: 5}},
		{"icmp", pcapng.LinkTypeRaw, icmp4, want{layers: l4 | LayerICMP | LayerPayload, src: v4a, dst: v4b, proto: 1, payloadLen: 5}},
		{"icmpv6", pcapng.LinkTypeRaw, icmp6, want{layers: l6 | LayerICMP | LayerPayload, src: v6a, dst: v6b, proto: 58, payloadLen: 4}},
		{"arp", pcapng.LinkTypeEthernet, pcapngtest.Serialize(t, eth(layers.EthernetTypeARP), gopacket.Payload(make([]byte, 28))), want{layers: LayerLink | LayerMAC}},
		{"ethernet cut", pcapng.LinkTypeEthernet, ethTCP[:10], want{truncated: true}},
		{"ipv4 header cut", pcapng.LinkTypeEthernet, ethTCP[:30], want{layers: LayerLink | LayerMAC, truncated: true}},
		{"tcp ports only", pcapng.LinkTypeEthernet, ethTCP[:38], want{layers: eth4 | LayerTCP, src: v4a, dst: v4b, proto: 6, sport: 40000, dport: 443, truncated: true}},
		{"tcp header cut after flags", pcapng.LinkTypeEthernet, ethTCP[:50], want{layers: eth4 | LayerTCP, src: v4a, dst: v4b, proto: 6, sport: 40000, dport: 443, flags: TCPFlagSYN | TCPFlagACK, truncated: true}},
		{"ipv6 ext cut", pcapng.LinkTypeEthernet, v6ext(0, true)[:60], want{layers: LayerLink | LayerMAC | l6, src: v6a, dst: v6b, proto: 0, truncated: true}},
		{"ipv4 ihl 4", pcapng.LinkTypeRaw, append([]byte{0x44}, ip4UDP[1:]...), want{malformed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Packet
			if err := Decode(tt.lt, tt.data, &p); err != nil {
				t.Fatalf("Decode(%d, %x) error %v", tt.lt, tt.data, err)
			}
			w := tt.want
			got := want{p.Layers, p.Src, p.Dst, p.IPProto, p.SrcPort, p.DstPort, p.TCPFlags, p.VLANCount, p.VLANs[0], p.VLANs[1], p.FragFirst, p.PayloadLen, p.Truncated, p.Malformed}
			if got != w {
				t.Errorf("Decode(%d, %s) = %+v, want %+v", tt.lt, hex.EncodeToString(tt.data), got, w)
			}
			if p.Layers.Has(LayerPayload) && (p.PayloadOffset+p.PayloadLen > len(tt.data) || string(tt.data[p.PayloadOffset:p.PayloadOffset+p.PayloadLen]) != "hello"[:min(5, p.PayloadLen)] && p.IPProto != IPProtoICMPv6) {
				t.Errorf("Decode(%s): payload [%d:+%d] does not hold the payload", tt.name, p.PayloadOffset, p.PayloadLen)
			}
			if p.Layers.Has(LayerMAC) && p.SrcMAC != [6]byte(pcapngtest.MAC1) {
				t.Errorf("Decode(%s): SrcMAC %x, want %x", tt.name, p.SrcMAC, pcapngtest.MAC1)
			}
		})
	}
	var p Packet
	if err := Decode(pcapng.LinkType(127), ethTCP, &p); err != ErrUnsupportedLinkType {
		t.Errorf("Decode(127) error %v, want ErrUnsupportedLinkType", err)
	}
}

// packetTestMix returns Ethernet frames of several kinds for the allocation test
// and the benchmarks.
func packetTestMix(t testing.TB) [][]byte {
	eth := &layers.Ethernet{SrcMAC: pcapngtest.MAC1, DstMAC: pcapngtest.MAC2, EthernetType: layers.EthernetTypeIPv4}
	eth6 := &layers.Ethernet{SrcMAC: pcapngtest.MAC1, DstMAC: pcapngtest.MAC2, EthernetType: layers.EthernetTypeIPv6}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, ACK: true, DataOffset: 5}
	udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
	return [][]byte{
		pcapngtest.Serialize(t, eth, packetTestIPv4(layers.IPProtocolTCP), tcp, gopacket.Payload(make([]byte, 1400))),
		pcapngtest.Serialize(t, eth, packetTestIPv4(layers.IPProtocolUDP), udp, gopacket.Payload(make([]byte, 60))),
		pcapngtest.Serialize(t, eth6, packetTestIPv6(layers.IPProtocolTCP), tcp, gopacket.Payload(make([]byte, 200))),
		pcapngtest.Serialize(t, eth, packetTestIPv4(layers.IPProtocolTCP), tcp),
	}
}

func TestDecodePacketAllocs(t *testing.T) {
	mix := packetTestMix(t)
	var p Packet
	allocs := testing.AllocsPerRun(1000, func() {
		for _, d := range mix {
			_ = Decode(pcapng.LinkTypeEthernet, d, &p)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %v times per 4 packets, want 0", allocs)
	}
}

func FuzzDecodePacket(f *testing.F) {
	for _, d := range packetTestMix(f) {
		f.Add(uint16(pcapng.LinkTypeEthernet), d)
		f.Add(uint16(pcapng.LinkTypeRaw), d[14:])
	}
	f.Add(uint16(pcapng.LinkTypeLinuxSLL2), append([]byte{0x81, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0, 5, 0x86, 0xdd}, make([]byte, 48)...))
	f.Add(uint16(pcapng.LinkTypeNull), []byte{2, 0, 0, 0, 0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, lt uint16, data []byte) {
		var p Packet
		if err := Decode(pcapng.LinkType(lt), data, &p); err != nil {
			return
		}
		if p.PayloadOffset < 0 || p.PayloadLen < 0 || p.PayloadOffset+p.PayloadLen > len(data) {
			t.Fatalf("payload [%d:+%d] outside %d bytes", p.PayloadOffset, p.PayloadLen, len(data))
		}
		if p.Layers&(LayerTCP|LayerUDP) != 0 && p.IPProto != IPProtoTCP && p.IPProto != IPProtoUDP {
			t.Fatalf("ports decoded for protocol %d", p.IPProto)
		}
		if p.Layers.Has(LayerFragment) && !p.FragFirst && p.Layers&(LayerTCP|LayerUDP|LayerICMP) != 0 {
			t.Fatalf("transport decoded in a later fragment")
		}
		if p.Layers&(LayerIPv4|LayerIPv6) != 0 && !p.Src.IsValid() {
			t.Fatalf("IP layer without source address")
		}
		// The flow key takes the addresses' bits from the header itself:
		// they must be those of Src and Dst.
		if p.Layers&(LayerIPv4|LayerIPv6) != 0 {
			for _, a := range []struct {
				addr netip.Addr
				bits [2]uint64
			}{{p.Src, p.srcBits}, {p.Dst, p.dstBits}} {
				if hi, lo := packetTestAddrBits(a.addr); [2]uint64{hi, lo} != a.bits {
					t.Fatalf("address %s has bits %x, header bits %x", a.addr, [2]uint64{hi, lo}, a.bits)
				}
			}
		}
	})
}

func BenchmarkDecodePacket(b *testing.B) {
	mix := packetTestMix(b)
	var bytesPerOp int64
	for _, d := range mix {
		bytesPerOp += int64(len(d))
	}
	b.Run("hand", func(b *testing.B) {
		var p Packet
		b.SetBytes(bytesPerOp)
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range mix {
				_ = Decode(pcapng.LinkTypeEthernet, d, &p)
			}
		}
	})
	b.Run("gopacket.NewPacket", func(b *testing.B) {
		b.SetBytes(bytesPerOp)
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range mix {
				pk := gopacket.NewPacket(d, layers.LayerTypeEthernet, gopacket.NoCopy)
				_ = pk.NetworkLayer()
				_ = pk.TransportLayer()
			}
		}
	})
	b.Run("DecodingLayerParser", func(b *testing.B) {
		var (
			eth  layers.Ethernet
			dot  layers.Dot1Q
			ip4  layers.IPv4
			ip6  layers.IPv6
			tcp  layers.TCP
			udp  layers.UDP
			icmp layers.ICMPv4
			pl   gopacket.Payload
		)
		parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot, &ip4, &ip6, &tcp, &udp, &icmp, &pl)
		parser.IgnoreUnsupported = true
		decoded := make([]gopacket.LayerType, 0, 8)
		b.SetBytes(bytesPerOp)
		b.ReportAllocs()
		for b.Loop() {
			for _, d := range mix {
				_ = parser.DecodeLayers(d, &decoded)
			}
		}
	})
}

// BenchmarkRecordWalk reads and decodes every record of an in-memory pcap of mixed
// packet sizes: the bare record walk the attribution pipeline is measured against.
func BenchmarkRecordWalk(b *testing.B) {
	mix := packetTestMix(b)
	var recs []pcapngtest.Rec
	for i := range 20000 {
		recs = append(recs, pcapngtest.Rec{TS: uint64(i), Data: mix[i%len(mix)]})
	}
	file := pcapngtest.Pcap(binary.LittleEndian, true, 1, recs)
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	var p Packet
	for b.Loop() {
		c, err := pcapng.NewReader(bufio.NewReaderSize(bytes.NewReader(file), 1<<20), "bench")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			r, err := c.Next()
			if err != nil {
				break
			}
			_ = Decode(r.LinkType, r.Data, &p)
			n++
		}
		if n != len(recs) {
			b.Fatalf("walked %d records, want %d", n, len(recs))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

func TestCaptureNextAllocs(t *testing.T) {
	var recs []pcapngtest.Rec
	for i := range 1000 {
		recs = append(recs, pcapngtest.Rec{Iface: uint32(i % 2), TS: uint64(i), Data: pcapngtest.EtherUDP(i%700, uint16(i))})
	}
	w := &pcapngtest.NG{}
	w.SHB(binary.LittleEndian)
	w.IDB(1, 0)
	w.IDB(uint16(pcapng.LinkTypeLinuxSLL2), 0)
	for _, r := range recs {
		w.EPB(r)
	}
	files := map[string][]byte{
		"pcap":   pcapngtest.Pcap(binary.BigEndian, true, 1, recs),
		"pcapng": w.B.Bytes(),
	}
	for name, file := range files {
		c, err := pcapng.NewReader(bufio.NewReader(bytes.NewReader(file)), name)
		if err != nil {
			t.Fatal(err)
		}
		for range 700 { // let the buffer reach its size: record 700 is the largest
			if _, err := c.Next(); err != nil {
				t.Fatal(err)
			}
		}
		var p Packet
		allocs := testing.AllocsPerRun(290, func() {
			r, err := c.Next()
			if err != nil {
				t.Fatal(err)
			}
			_ = Decode(r.LinkType, r.Data, &p)
		})
		if allocs != 0 {
			t.Errorf("%s: Next+Decode allocates %v times per record, want 0", name, allocs)
		}
	}
}

// packetTestAddrBits is a as the two big-endian halves of its 16-byte form.
func packetTestAddrBits(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// TestDecodeTransportOffset checks what the live locate needs of Decode: the
// transport header's offset (its DNS parser starts there), the ports, and the
// TCP flags of a header cut after them.
func TestDecodeTransportOffset(t *testing.T) {
	udp := pcapngtest.Serialize(t, &layers.Ethernet{SrcMAC: pcapngtest.MAC1, DstMAC: pcapngtest.MAC2, EthernetType: layers.EthernetTypeIPv4},
		packetTestIPv4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 5353, DstPort: 53}, gopacket.Payload("q"))
	tcp := pcapngtest.Serialize(t, &layers.Ethernet{SrcMAC: pcapngtest.MAC1, DstMAC: pcapngtest.MAC2, EthernetType: layers.EthernetTypeIPv6},
		packetTestIPv6(layers.IPProtocolTCP), &layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true, DataOffset: 5})
	tests := []struct {
		name       string
		data       []byte
		off        int
		sport      uint16
		flags      uint8
		hasPayload bool
	}{
		{"udp", udp, 14 + 20, 5353, 0, true},
		{"tcp", tcp, 14 + 40, 40000, TCPFlagSYN, true},
		{"tcp cut after flags", tcp[:14+40+14], 14 + 40, 40000, TCPFlagSYN, false},
	}
	for _, tt := range tests {
		var p Packet
		if err := Decode(pcapng.LinkTypeEthernet, tt.data, &p); err != nil {
			t.Fatal(err)
		}
		if p.TransportOffset != tt.off || p.SrcPort != tt.sport || p.TCPFlags != tt.flags || p.Layers.Has(LayerPayload) != tt.hasPayload {
			t.Errorf("Decode(%s) = transport at %d, port %d, flags %#x, payload %v; want %d, %d, %#x, %v",
				tt.name, p.TransportOffset, p.SrcPort, p.TCPFlags, p.Layers.Has(LayerPayload), tt.off, tt.sport, tt.flags, tt.hasPayload)
		}
	}
}
