package analyze

import "github.com/dockcase/dockcase/internal/packet"

// A bridge for the move of the header decoder to internal/packet: the
// protocol numbers attribution still uses unqualified. It goes when
// attribution calls packet directly.
const (
	IPProtoICMP   = packet.IPProtoICMP
	IPProtoTCP    = packet.IPProtoTCP
	IPProtoUDP    = packet.IPProtoUDP
	IPProtoICMPv6 = packet.IPProtoICMPv6
)
