package analyze

import (
	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
)

// A bridge for the move of the header decoder to internal/packet: these names
// keep the rest of analyze compiling until it calls packet directly.

type (
	Packet = packet.Packet
	Layers = packet.Layers
)

const (
	LayerLink     = packet.LayerLink
	LayerMAC      = packet.LayerMAC
	LayerVLAN     = packet.LayerVLAN
	LayerIPv4     = packet.LayerIPv4
	LayerIPv6     = packet.LayerIPv6
	LayerFragment = packet.LayerFragment
	LayerTCP      = packet.LayerTCP
	LayerUDP      = packet.LayerUDP
	LayerICMP     = packet.LayerICMP
	LayerPayload  = packet.LayerPayload

	TCPFlagFIN = packet.TCPFlagFIN
	TCPFlagSYN = packet.TCPFlagSYN
	TCPFlagRST = packet.TCPFlagRST
	TCPFlagPSH = packet.TCPFlagPSH
	TCPFlagACK = packet.TCPFlagACK
	TCPFlagURG = packet.TCPFlagURG
	TCPFlagECE = packet.TCPFlagECE
	TCPFlagCWR = packet.TCPFlagCWR

	IPProtoICMP   = packet.IPProtoICMP
	IPProtoTCP    = packet.IPProtoTCP
	IPProtoUDP    = packet.IPProtoUDP
	IPProtoICMPv6 = packet.IPProtoICMPv6
)

// ErrUnsupportedLinkType is packet.ErrUnsupportedLinkType.
var ErrUnsupportedLinkType = packet.ErrUnsupportedLinkType

// DecodePacket is packet.Decode.
func DecodePacket(lt pcapng.LinkType, data []byte, p *Packet) error {
	return packet.Decode(lt, data, p)
}
