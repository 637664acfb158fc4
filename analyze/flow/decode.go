package flow

import (
	"encoding/binary"

	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
)

// event kinds: what the decoder made of a record.
const (
	evUndecodable = iota // unsupported link type, or cut or malformed before the IP addresses
	evNonIP              // a link layer without IP inside
	evNoPorts            // TCP, UDP or ICMP without its transport header
	evFragment           // a later IP fragment: no transport header
	evFlow               // a packet of a flow: key is set
)

// event bits.
const (
	evTruncated = 1 << iota
	evMalformed
	evFwd       // the sender is side A of the key
	evSynACK    // TCP SYN and ACK set
	evTCP       // TCP header present: flags are set
	evFragFirst // a first fragment: later ones attach to its flow
	evPayload   // transport payload present
	evNameBytes // the payload may hold a TLS server name or an HTTP Host, and is passed on
	evDNSBytes  // the payload may be a DNS response, and is passed on
)

// event is what the flow table needs of one record, decoded: no pointers
// and no packet bytes, except the payload prefix a name or DNS parser reads,
// handed beside it. Decoding (decodeEvent) and counting (Table.apply)
// are separate so that they can run on two cores.
type event struct {
	key      Key // the flow's key (evFlow); for fragments only iface, proto, v6 and the addresses, src first
	time     int64
	frame    uint64
	origLen  uint32
	fragID   uint32
	iface    uint16
	kind     uint8
	bits     uint16
	tcpFlags uint8
}

func (e *event) has(b uint16) bool { return e.bits&b != 0 }

// decodeEvent decodes r into ev using p as scratch space and returns the
// payload bytes the table must see (a name or DNS candidate), or nil.
func decodeEvent(r *pcapng.Record, p *packet.Packet, ev *event) []byte {
	*ev = event{time: r.TimeUnixNano, frame: r.Frame, origLen: r.OrigLen, iface: uint16(r.Interface)}
	if err := packet.Decode(r.LinkType, r.Data, p); err != nil {
		ev.kind = evUndecodable
		return nil
	}
	if p.Truncated {
		ev.bits |= evTruncated
	}
	if p.Malformed {
		ev.bits |= evMalformed
	}
	if p.Layers&(packet.LayerIPv4|packet.LayerIPv6) == 0 {
		ev.kind = evNonIP
		if p.Truncated || p.Malformed || p.Layers&packet.LayerLink == 0 {
			ev.kind = evUndecodable
		}
		return nil
	}
	ev.fragID = p.FragID
	if p.Layers&packet.LayerFragment != 0 && !p.FragFirst {
		ev.kind = evFragment
		ev.key.iface, ev.key.proto, ev.key.v6 = uint16(r.Interface), p.IPProto, p.Src.Is6()
		ev.key.aHi, ev.key.aLo = p.SrcBits()
		ev.key.bHi, ev.key.bLo = p.DstBits()
		return nil
	}
	var sport, dport uint16
	switch p.IPProto {
	case packet.IPProtoTCP, packet.IPProtoUDP:
		if p.Layers&(packet.LayerTCP|packet.LayerUDP) == 0 {
			ev.kind = evNoPorts
			return nil
		}
		sport, dport = p.SrcPort, p.DstPort
	case packet.IPProtoICMP, packet.IPProtoICMPv6:
		if p.Layers&packet.LayerICMP == 0 {
			ev.kind = evNoPorts
			return nil
		}
		sport, dport = uint16(p.ICMPType), uint16(p.ICMPCode)
		if icmpEcho(p.IPProto, p.ICMPType) {
			dport = icmpEchoID(p, r.Data)
		}
	}
	ev.kind = evFlow
	sHi, sLo := p.SrcBits()
	dHi, dLo := p.DstBits()
	if ev.key.set(r.Interface, p.IPProto, p.Src.Is6(), [2]uint64{sHi, sLo}, [2]uint64{dHi, dLo}, sport, dport) {
		ev.bits |= evFwd
	}
	if p.TCPFlags&(packet.TCPFlagSYN|packet.TCPFlagACK) == packet.TCPFlagSYN|packet.TCPFlagACK {
		ev.bits |= evSynACK
	}
	if p.Layers&packet.LayerTCP != 0 {
		ev.bits |= evTCP
		ev.tcpFlags = p.TCPFlags
	}
	if p.Layers&packet.LayerFragment != 0 {
		ev.bits |= evFragFirst
	}
	if p.Layers&packet.LayerPayload == 0 || p.PayloadLen == 0 {
		return nil
	}
	ev.bits |= evPayload
	payload := r.Data[p.PayloadOffset : p.PayloadOffset+p.PayloadLen]
	if p.SrcPort == 53 && (p.IPProto == packet.IPProtoTCP || p.IPProto == packet.IPProtoUDP) {
		ev.bits |= evDNSBytes
		return payload
	}
	if p.IPProto == packet.IPProtoTCP && nameCandidate(payload) {
		ev.bits |= evNameBytes
		return payload[:min(len(payload), maxNamePayloadBytes)]
	}
	return nil
}

// nameCandidate reports whether b passes the first test of parseSNI (a
// TLS handshake record holding a ClientHello) or of parseHTTPHost (an
// upper-case method token and a space). Only such payloads are handed to the
// flow table, so that a capture's other payloads are never copied.
func nameCandidate(b []byte) bool {
	if len(b) >= 6 && b[0] == tlsHandshake && b[1] == 3 && b[5] == tlsClientHello {
		return true
	}
	i := 0
	for i < len(b) && i <= 16 && 'A' <= b[i] && b[i] <= 'Z' {
		i++
	}
	return i >= 3 && i < len(b) && b[i] == ' '
}

// icmpEchoID returns the identifier of an ICMP echo request or reply.
func icmpEchoID(p *packet.Packet, data []byte) uint16 {
	if p.Layers&packet.LayerPayload == 0 {
		return 0
	}
	if p.IPProto == packet.IPProtoICMP {
		// ICMPv4 payload starts after the 8-byte header, the id is at 4.
		return binary.BigEndian.Uint16(data[p.PayloadOffset-4:])
	}
	if p.PayloadLen < 2 { // ICMPv6 body starts after 4 bytes: id first
		return 0
	}
	return binary.BigEndian.Uint16(data[p.PayloadOffset:])
}
