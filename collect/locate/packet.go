package locate

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/dockcase/dockcase/internal/pcapng"
	"golang.org/x/sys/unix"
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

// TCP flags (RFC 9293).
const (
	locateTCPFin = 0x01
	locateTCPSyn = 0x02
	locateTCPRst = 0x04
	locateTCPAck = 0x10
)

// locateParsePacket reads the addresses and ports of a TCP or UDP packet
// over IPv4 or IPv6, from Ethernet (with up to locateMaxVLANTags tags) or
// raw IP. Every other packet, a truncated one, and a fragment other than
// the first are refused: they carry no ports.
func locateParsePacket(data []byte, lt pcapng.LinkType) (locatePacket, bool) {
	p, _, ok := locateParseL4(data, lt)
	return p, ok
}

// locateParseL4 is locateParsePacket that also returns the transport
// header and what follows, as far as it was captured.
func locateParseL4(data []byte, lt pcapng.LinkType) (locatePacket, []byte, bool) {
	var p locatePacket
	b := data
	switch lt {
	case pcapng.LinkTypeEthernet:
		if len(b) < 14 {
			return p, nil, false
		}
		etype := binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		for range locateMaxVLANTags {
			if etype != 0x8100 && etype != 0x88a8 {
				break
			}
			if len(b) < 4 {
				return p, nil, false
			}
			etype = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		}
		switch etype {
		case 0x0800, 0x86dd:
		default:
			return p, nil, false
		}
	case pcapng.LinkTypeRaw, pcapng.LinkTypeRawBSD12:
	default:
		return p, nil, false
	}
	if len(b) < 1 {
		return p, nil, false
	}
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return p, nil, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return p, nil, false
		}
		if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
			return p, nil, false // not the first fragment
		}
		p.proto = b[9]
		src, dst := netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		p.src, p.dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		l4 = b[ihl:]
	case 6:
		if len(b) < 40 {
			return p, nil, false
		}
		next := b[6]
		src, dst := netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		p.src, p.dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
		l4 = b[40:]
		for range locateMaxIPv6ExtHeaders {
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(l4) < 8 {
					return p, nil, false
				}
				n := (int(l4[1]) + 1) * 8
				if len(l4) < n {
					return p, nil, false
				}
				next, l4 = l4[0], l4[n:]
				continue
			case 44: // fragment
				if len(l4) < 8 || binary.BigEndian.Uint16(l4[2:])&0xfff8 != 0 {
					return p, nil, false
				}
				next, l4 = l4[0], l4[8:]
				continue
			}
			break
		}
		p.proto = next
	default:
		return p, nil, false
	}
	switch p.proto {
	case unix.IPPROTO_TCP:
		if len(l4) < 14 {
			return p, nil, false
		}
		p.tcpFlags = l4[13]
	case unix.IPPROTO_UDP:
		if len(l4) < 4 {
			return p, nil, false
		}
	default:
		return p, nil, false
	}
	p.src = netip.AddrPortFrom(p.src.Addr(), binary.BigEndian.Uint16(l4[0:]))
	p.dst = netip.AddrPortFrom(p.dst.Addr(), binary.BigEndian.Uint16(l4[2:]))
	return p, l4, true
}

// locatePacketFilter is the kernel filter for the target's addresses, and
