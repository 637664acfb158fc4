package flow

import (
	"bytes"
	"net"
	"testing"

	"github.com/gopacket/gopacket"
)

// packetTestSerialize builds a packet with gopacket's encoders, an implementation
// independent of the decoder under test (the flow tests' copy of the decoder
// tests' helper in internal/packet).
func packetTestSerialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return bytes.Clone(buf.Bytes())
}

var (
	packetTestMAC1 = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	packetTestMAC2 = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)
