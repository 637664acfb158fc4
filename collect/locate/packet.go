package locate

import (
	"fmt"
	"net/netip"

	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
)

// locatePacket is what the packet source reads of one packet.
type locatePacket struct {
	proto    uint8 // unix.IPPROTO_TCP or unix.IPPROTO_UDP
	src, dst netip.AddrPort
	tcpFlags uint8
}

func (p locatePacket) String() string {
	return fmt.Sprintf("proto %d %s → %s flags %#x", p.proto, p.src, p.dst, p.tcpFlags)
}

// locateParsePacket reads the addresses and ports of a TCP or UDP packet,
// as internal/packet decodes it. Every other packet, one cut short before
// the TCP flags or the UDP ports, and a fragment other than the first are
// refused: they carry no ports.
func locateParsePacket(data []byte, lt pcapng.LinkType) (locatePacket, bool) {
	p, _, ok := locateParseL4(data, lt)
	return p, ok
}

// locateMinTCPBytes is how much of a TCP header locate needs: up to its
// flags, the 14th byte.
const locateMinTCPBytes = 14

// locateParseL4 is locateParsePacket that also returns the transport
// payload (of a UDP datagram, as far as its length and the capture go).
func locateParseL4(data []byte, lt pcapng.LinkType) (locatePacket, []byte, bool) {
	var d packet.Packet
	if packet.Decode(lt, data, &d) != nil {
		return locatePacket{}, nil, false
	}
	if d.Layers.Has(packet.LayerFragment) && !d.FragFirst {
		return locatePacket{}, nil, false
	}
	p := locatePacket{proto: d.IPProto,
		src: netip.AddrPortFrom(d.Src, d.SrcPort), dst: netip.AddrPortFrom(d.Dst, d.DstPort)}
	switch {
	case d.Layers.Has(packet.LayerTCP):
		if len(data)-d.TransportOffset < locateMinTCPBytes {
			return locatePacket{}, nil, false
		}
		p.tcpFlags = d.TCPFlags
	case d.Layers.Has(packet.LayerUDP):
	default:
		return locatePacket{}, nil, false
	}
	var payload []byte
	if d.Layers.Has(packet.LayerPayload) {
		payload = data[d.PayloadOffset : d.PayloadOffset+d.PayloadLen]
	}
	return p, payload, true
}

// locatePacketFilter is the kernel filter for the target's addresses, and
