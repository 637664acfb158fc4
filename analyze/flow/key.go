package flow

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/dockcase/dockcase/internal/packet"
)

// Key identifies a bidirectional flow at one capture point of one capture: the
// interface index, the IP protocol, and the two endpoints in canonical order (the
// smaller address and port first), so that both directions of a conversation have
// the same key. For ICMP and ICMPv6 the endpoints are ordered by address only and
// the ports hold the ICMP type (echo replies folded onto the request type) and the
// echo identifier, or the code for other types. Key is comparable and is 40
// bytes.
type Key struct {
	aHi, aLo, bHi, bLo uint64
	aPort, bPort       uint16
	iface              uint16
	proto              uint8
	v6                 bool
}

// Interface returns the index of the capture interface (pcapng.Reader.Interfaces).
func (k Key) Interface() int { return int(k.iface) }

// Proto returns the IP protocol number.
func (k Key) Proto() uint8 { return k.proto }

// Addrs returns the two endpoint addresses in canonical order.
func (k Key) Addrs() (a, b netip.Addr) {
	return addrFrom(k.aHi, k.aLo, k.v6), addrFrom(k.bHi, k.bLo, k.v6)
}

// Ports returns the ports of the endpoints in canonical order (for ICMP, the type
// and the identifier or code).
func (k Key) Ports() (a, b uint16) { return k.aPort, k.bPort }

// String returns the key as "proto a:port <-> b:port @iface".
func (k Key) String() string {
	a, b := k.Addrs()
	return fmt.Sprintf("%d %s <-> %s @%d", k.proto,
		netip.AddrPortFrom(a, k.aPort), netip.AddrPortFrom(b, k.bPort), k.iface)
}

func addrFrom(hi, lo uint64, v6 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	a := netip.AddrFrom16(b)
	if !v6 {
		return a.Unmap()
	}
	return a
}

func addrBits(a netip.Addr) (hi, lo uint64) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
}

// NewKey returns the key of a packet from src:sport to dst:dport captured on
// interface iface, and whether src is side A of the key. For ICMP pass the type and
// the identifier (or code) as the ports; they are normalised as Key says.
func NewKey(iface int, proto uint8, src, dst netip.Addr, sport, dport uint16) (k Key, srcIsA bool) {
	sh, sl := addrBits(src)
	dh, dl := addrBits(dst)
	srcIsA = k.set(iface, proto, src.Is6(), [2]uint64{sh, sl}, [2]uint64{dh, dl}, sport, dport)
	return k, srcIsA
}

// set makes k the key of NewKey from the addresses as two big-endian
// halves each (IPv4 mapped into IPv6) and reports whether src is side A.
// It writes k in place: a key built on the stack and copied costs the
// per-packet path a stalled load.
func (k *Key) set(iface int, proto uint8, v6 bool, src, dst [2]uint64, sport, dport uint16) (srcIsA bool) {
	sh, sl, dh, dl := src[0], src[1], dst[0], dst[1]
	if proto == packet.IPProtoICMP || proto == packet.IPProtoICMPv6 {
		sport = icmpType(proto, uint8(sport))
		srcIsA = sh < dh || sh == dh && sl <= dl
	} else {
		srcIsA = sh < dh || sh == dh && (sl < dl || sl == dl && sport <= dport)
		if !srcIsA {
			sport, dport = dport, sport
		}
	}
	if !srcIsA {
		sh, sl, dh, dl = dh, dl, sh, sl
	}
	k.aHi, k.aLo, k.bHi, k.bLo = sh, sl, dh, dl
	k.aPort, k.bPort, k.iface, k.proto, k.v6 = sport, dport, uint16(iface), proto, v6
	return srcIsA
}

// icmpType folds echo replies onto the request type, so a ping and its answer
// are one flow.
func icmpType(proto, typ uint8) uint16 {
	switch {
	case proto == packet.IPProtoICMP && typ == 0:
		return 8
	case proto == packet.IPProtoICMPv6 && typ == 129:
		return 128
	}
	return uint16(typ)
}

func icmpEcho(proto, typ uint8) bool {
	if proto == packet.IPProtoICMP {
		return typ == 0 || typ == 8
	}
	return typ == 128 || typ == 129
}
