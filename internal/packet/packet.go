// Package packet decodes the link, network and transport headers of one
// captured packet (Ethernet, 802.1Q/QinQ, Linux SLL and SLL2, raw IP, BSD
// loopback, IPv4, IPv6 with its extension headers, TCP, UDP, ICMP) without
// allocating. It is the one header decoder of the module: the offline flow
// table and the live locate both read packets through Decode.
package packet

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/dockcase/dockcase/internal/pcapng"
)

// Limits of the packet decoder: how far it follows chains of headers an attacker can
// lengthen at will.
const (
	// packetMaxVLANTags is how many stacked 802.1Q/802.1ad tags are walked: 8, QinQ
	// uses 2 and nothing real uses more than 3.
	packetMaxVLANTags = 8
	// packetKeptVLANTags is how many VLAN ids the Packet keeps (outer first).
	packetKeptVLANTags = 2
	// packetMaxIPv6ExtHeaders is how many IPv6 extension headers are walked: 16,
	// RFC 8200 order has at most 8 kinds and real packets carry 0 to 3.
	packetMaxIPv6ExtHeaders = 16
)

// Layers is a set of headers Decode found in a packet.
type Layers uint16

// Headers recorded in Packet.Layers.
const (
	LayerLink     Layers = 1 << iota // link header decoded (Ethernet, SLL, SLL2, loopback)
	LayerMAC                         // SrcMAC (and DstMAC for Ethernet) are set
	LayerVLAN                        // at least one VLAN tag
	LayerIPv4                        // IPv4 header, Src and Dst set
	LayerIPv6                        // IPv6 header, Src and Dst set
	LayerFragment                    // the IP packet is a fragment (see FragFirst)
	LayerTCP                         // TCP ports set
	LayerUDP                         // UDP ports set
	LayerICMP                        // ICMPv4 or ICMPv6 type and code set
	LayerPayload                     // PayloadOffset and PayloadLen are set
)

// Has reports whether all layers in m are in l.
func (l Layers) Has(m Layers) bool { return l&m == m }

// TCP flag bits in Packet.TCPFlags (the NS bit is dropped).
const (
	TCPFlagFIN = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
)

// IP protocol numbers the decoder knows.
const (
	IPProtoICMP   = 1
	IPProtoTCP    = 6
	IPProtoUDP    = 17
	IPProtoICMPv6 = 58
)

// ErrUnsupportedLinkType is returned by Decode for a link type it does not
// decode; the packet is then only counted.
var ErrUnsupportedLinkType = errors.New("unsupported link type")

// Packet holds the header fields of one packet as Decode found them. Fields of a
// layer are valid only when Layers has that layer.
type Packet struct {
	Layers    Layers
	Truncated bool // the capture ended inside a header Decode was reading
	Malformed bool // a header contradicts itself (bad version, length below minimum)

	SrcMAC, DstMAC [6]byte
	// SLLPktType is the Linux packet type of SLL/SLL2 captures (0 to us, 4 outgoing).
	SLLPktType uint8
	SLLIfIndex uint32 // SLL2 interface index
	VLANCount  uint8  // VLAN tags walked (up to packetMaxVLANTags)
	VLANs      [packetKeptVLANTags]uint16
	EtherType  uint16 // protocol of the network layer (after VLAN tags)

	Src, Dst   netip.Addr
	IPProto    uint8  // transport protocol (after IPv6 extension headers)
	TTL        uint8  // IPv4 TTL or IPv6 hop limit
	IPTotalLen uint32 // IP header plus payload as the IP header states it
	FragFirst  bool   // first fragment (offset 0, more fragments): transport header present
	FragID     uint32 // IPv4 identification or IPv6 fragment identification
	FragOffset uint16 // fragment offset in bytes / 8

	SrcPort, DstPort uint16
	TCPFlags         uint8
	TCPSeq, TCPAck   uint32
	ICMPType         uint8
	ICMPCode         uint8

	// TransportOffset is where the transport header starts in data, valid
	// with LayerTCP, LayerUDP or LayerICMP.
	TransportOffset int
	PayloadOffset   int // transport payload start in data
	PayloadLen      int // transport payload bytes present in data (link padding excluded)

	// srcBits and dstBits are Src and Dst as two big-endian halves (IPv4
	// mapped into IPv6), read from the header directly: the flow key is
	// made of them, and taking them from a netip.Addr costs a round trip
	// through memory on every packet.
	srcBits, dstBits [2]uint64
}

// SrcBits returns Src as two big-endian halves, an IPv4 address mapped into
// IPv6 (::ffff:a.b.c.d): the form of a flow key, read from the header
// without a round trip through netip.Addr.
func (p *Packet) SrcBits() (hi, lo uint64) { return p.srcBits[0], p.srcBits[1] }

// DstBits returns Dst as SrcBits returns Src.
func (p *Packet) DstBits() (hi, lo uint64) { return p.dstBits[0], p.dstBits[1] }

// packetV4Mapped is the low half of ::ffff:0.0.0.0, the IPv6 form of an
// IPv4 address.
const packetV4Mapped = 0xffff << 32

// Decode fills p with the headers of data, a record of link type lt. It never
// allocates and never fails on unknown protocols: it stops there, and p.Layers says
// how far it got. The only error is ErrUnsupportedLinkType.
func Decode(lt pcapng.LinkType, data []byte, p *Packet) error {
	*p = Packet{}
	switch lt {
	case pcapng.LinkTypeEthernet:
		packetEthernet(data, p)
	case pcapng.LinkTypeLinuxSLL:
		packetSLL(data, p)
	case pcapng.LinkTypeLinuxSLL2:
		packetSLL2(data, p)
	case pcapng.LinkTypeRaw, pcapng.LinkTypeRawBSD12, pcapng.LinkTypeRawBSD14:
		packetRawIP(data, p)
	case pcapng.LinkTypeIPv4:
		packetIPv4(data, 0, p)
	case pcapng.LinkTypeIPv6:
		packetIPv6(data, 0, p)
	case pcapng.LinkTypeNull, pcapng.LinkTypeLoop:
		packetLoopback(lt, data, p)
	default:
		return ErrUnsupportedLinkType
	}
	return nil
}

func packetEthernet(data []byte, p *Packet) {
	if len(data) < 14 {
		p.Truncated = true
		return
	}
	copy(p.DstMAC[:], data[0:6])
	copy(p.SrcMAC[:], data[6:12])
	p.Layers |= LayerLink | LayerMAC
	packetEtherType(binary.BigEndian.Uint16(data[12:]), data, 14, p)
}

// packetEtherType dispatches on EtherType et whose payload starts at data[off:],
// walking VLAN tags.
func packetEtherType(et uint16, data []byte, off int, p *Packet) {
	for et == 0x8100 || et == 0x88a8 || et == 0x9100 {
		if p.VLANCount >= packetMaxVLANTags {
			p.EtherType = et
			return
		}
		if len(data) < off+4 {
			p.Truncated = true
			return
		}
		if p.VLANCount < packetKeptVLANTags {
			p.VLANs[p.VLANCount] = binary.BigEndian.Uint16(data[off:]) & 0x0fff
		}
		p.VLANCount++
		p.Layers |= LayerVLAN
		et = binary.BigEndian.Uint16(data[off+2:])
		off += 4
	}
	p.EtherType = et // ARP, LLC length fields and others are recorded, not decoded
	switch et {
	case 0x0800:
		packetIPv4(data, off, p)
	case 0x86dd:
		packetIPv6(data, off, p)
	}
}

func packetSLL(data []byte, p *Packet) {
	if len(data) < 16 {
		p.Truncated = true
		return
	}
	p.SLLPktType = uint8(binary.BigEndian.Uint16(data[0:]))
	p.Layers |= LayerLink
	if binary.BigEndian.Uint16(data[2:]) == 1 && binary.BigEndian.Uint16(data[4:]) == 6 { // ARPHRD_ETHER
		copy(p.SrcMAC[:], data[6:12])
		p.Layers |= LayerMAC
	}
	packetEtherType(binary.BigEndian.Uint16(data[14:]), data, 16, p)
}

func packetSLL2(data []byte, p *Packet) {
	if len(data) < 20 {
		p.Truncated = true
		return
	}
	p.SLLIfIndex = binary.BigEndian.Uint32(data[4:])
	p.SLLPktType = data[10]
	p.Layers |= LayerLink
	if binary.BigEndian.Uint16(data[8:]) == 1 && data[11] == 6 { // ARPHRD_ETHER
		copy(p.SrcMAC[:], data[12:18])
		p.Layers |= LayerMAC
	}
	packetEtherType(binary.BigEndian.Uint16(data[0:]), data, 20, p)
}

func packetRawIP(data []byte, p *Packet) {
	if len(data) < 1 {
		p.Truncated = true
		return
	}
	switch data[0] >> 4 {
	case 4:
		packetIPv4(data, 0, p)
	case 6:
		packetIPv6(data, 0, p)
	default:
		p.Malformed = true
	}
}

func packetLoopback(lt pcapng.LinkType, data []byte, p *Packet) {
	if len(data) < 4 {
		p.Truncated = true
		return
	}
	af := binary.BigEndian.Uint32(data)
	if lt == pcapng.LinkTypeNull && af&0xffff0000 != 0 {
		// DLT_NULL is in the byte order of the capturing host; a big-endian reading
		// with high bits set means it was little-endian.
		af = binary.LittleEndian.Uint32(data)
	}
	p.Layers |= LayerLink
	switch af {
	case 2: // AF_INET everywhere
		p.EtherType = 0x0800
		packetIPv4(data, 4, p)
	case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin
		p.EtherType = 0x86dd
		packetIPv6(data, 4, p)
	}
}

func packetIPv4(data []byte, off int, p *Packet) {
	b := data[off:]
	if len(b) > 0 && b[0]>>4 != 4 {
		p.Malformed = true
		return
	}
	if len(b) < 20 {
		p.Truncated = true
		return
	}
	hl := int(b[0]&0x0f) * 4
	if hl < 20 {
		p.Malformed = true
		return
	}
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.srcBits = [2]uint64{0, packetV4Mapped | uint64(binary.BigEndian.Uint32(b[12:16]))}
	p.dstBits = [2]uint64{0, packetV4Mapped | uint64(binary.BigEndian.Uint32(b[16:20]))}
	p.Layers |= LayerIPv4
	p.EtherType = 0x0800
	p.TTL = b[8]
	p.IPProto = b[9]
	total := int(binary.BigEndian.Uint16(b[2:]))
	p.IPTotalLen = uint32(total)
	p.FragID = uint32(binary.BigEndian.Uint16(b[4:]))
	flags := binary.BigEndian.Uint16(b[6:])
	p.FragOffset = flags & 0x1fff
	more := flags&0x2000 != 0
	if len(b) < hl {
		p.Truncated = true
		return
	}
	end := len(b)
	switch {
	case total == 0:
		// TSO/GSO captures carry total length 0: the capture is the only length.
	case total < hl:
		p.Malformed = true
		return
	case total < end:
		end = total // drop link-layer padding
	}
	if p.FragOffset != 0 || more {
		p.Layers |= LayerFragment
		p.FragFirst = p.FragOffset == 0
		if !p.FragFirst {
			return // later fragments hold no transport header
		}
	}
	packetTransport(data[:off+end], off+hl, p)
}

// ipv6 extension headers with the generic (next header, length in 8 octets) layout.
func packetIPv6ExtGeneric(nh uint8) bool {
	switch nh {
	case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination, mobility, HIP, shim6
		return true
	}
	return false
}

func packetIPv6(data []byte, off int, p *Packet) {
	b := data[off:]
	if len(b) > 0 && b[0]>>4 != 6 {
		p.Malformed = true
		return
	}
	if len(b) < 40 {
		p.Truncated = true
		return
	}
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	p.srcBits = [2]uint64{binary.BigEndian.Uint64(b[8:16]), binary.BigEndian.Uint64(b[16:24])}
	p.dstBits = [2]uint64{binary.BigEndian.Uint64(b[24:32]), binary.BigEndian.Uint64(b[32:40])}
	p.Layers |= LayerIPv6
	p.EtherType = 0x86dd
	p.TTL = b[7]
	plen := int(binary.BigEndian.Uint16(b[4:]))
	p.IPTotalLen = uint32(plen) + 40
	end := len(b)
	if plen != 0 && 40+plen < end { // 0: jumbogram or TSO, the capture is the only length
		end = 40 + plen
	}
	nh := b[6]
	pos := 40
	for range packetMaxIPv6ExtHeaders {
		switch {
		case packetIPv6ExtGeneric(nh):
			if end < pos+8 {
				p.IPProto = nh
				p.Truncated = true
				return
			}
			n := 8 + int(b[pos+1])*8
			nh = b[pos]
			pos += n
			if pos > end {
				p.IPProto = nh
				p.Truncated = true
				return
			}
		case nh == 51: // AH: length in 4 octets, minus 2
			if end < pos+8 {
				p.IPProto = nh
				p.Truncated = true
				return
			}
			n := (int(b[pos+1]) + 2) * 4
			nh = b[pos]
			pos += n
			if pos > end {
				p.IPProto = nh
				p.Truncated = true
				return
			}
		case nh == 44: // fragment
			if end < pos+8 {
				p.IPProto = nh
				p.Truncated = true
				return
			}
			fo := binary.BigEndian.Uint16(b[pos+2:])
			p.FragOffset = fo >> 3
			p.FragID = binary.BigEndian.Uint32(b[pos+4:])
			more := fo&1 != 0
			nh = b[pos]
			pos += 8
			if p.FragOffset != 0 || more {
				p.Layers |= LayerFragment
				p.FragFirst = p.FragOffset == 0
				if !p.FragFirst {
					p.IPProto = nh
					return
				}
			}
		default:
			p.IPProto = nh
			packetTransport(data[:off+end], off+pos, p)
			return
		}
	}
	// Too many extension headers: the transport is not located, which the caller
	// sees as an IPv6 packet without transport layer.
	p.IPProto = nh
	p.Malformed = true
}

// packetTransport decodes the transport header at data[off:]; data ends where the IP
// packet ends.
func packetTransport(data []byte, off int, p *Packet) {
	if off > len(data) {
		p.Truncated = true
		return
	}
	b := data[off:]
	p.TransportOffset = off
	switch p.IPProto {
	case IPProtoTCP:
		if len(b) < 4 {
			p.Truncated = true
			return
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:])
		p.DstPort = binary.BigEndian.Uint16(b[2:])
		p.Layers |= LayerTCP
		if len(b) < 20 {
			if len(b) >= 14 {
				p.TCPFlags = b[13]
			}
			p.Truncated = true
			return
		}
		p.TCPSeq = binary.BigEndian.Uint32(b[4:])
		p.TCPAck = binary.BigEndian.Uint32(b[8:])
		p.TCPFlags = b[13]
		hl := int(b[12]>>4) * 4
		if hl < 20 {
			p.Malformed = true
			return
		}
		if len(b) < hl {
			p.Truncated = true
			return
		}
		p.PayloadOffset, p.PayloadLen = off+hl, len(b)-hl
		p.Layers |= LayerPayload
	case IPProtoUDP:
		if len(b) < 4 {
			p.Truncated = true
			return
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:])
		p.DstPort = binary.BigEndian.Uint16(b[2:])
		p.Layers |= LayerUDP
		if len(b) < 8 {
			p.Truncated = true
			return
		}
		n := len(b) - 8
		if ul := int(binary.BigEndian.Uint16(b[4:])); ul >= 8 && ul-8 < n {
			n = ul - 8
		}
		p.PayloadOffset, p.PayloadLen = off+8, n
		p.Layers |= LayerPayload
	case IPProtoICMP, IPProtoICMPv6:
		if len(b) < 2 {
			p.Truncated = true
			return
		}
		p.ICMPType, p.ICMPCode = b[0], b[1]
		p.Layers |= LayerICMP
		// ICMPv4 headers are 8 bytes for every type (RFC 792); ICMPv6 has 4 and a
		// type-specific body (RFC 4443).
		hl := 8
		if p.IPProto == IPProtoICMPv6 {
			hl = 4
		}
		if len(b) < hl {
			p.Truncated = true
			return
		}
		p.PayloadOffset, p.PayloadLen = off+hl, len(b)-hl
		p.Layers |= LayerPayload
	}
}
