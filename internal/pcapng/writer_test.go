package pcapng

import (
	"bytes"
	"io"
	"testing"
)

// TestWriterRoundTrip writes a section with the Writer and reads it back.
func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, StringOption(OptSHBUserApp, "test"))
	nano := Option{OptIfTSResol, []byte{TSResolNanoseconds}}
	eth, _ := w.AddInterface(LinkTypeEthernet, 65535, StringOption(OptIfName, "eth0"), StringOption(OptIfDescription, "uplink"), nano)
	raw, _ := w.AddInterface(LinkTypeRaw, 128, nano)
	w.WritePacket(eth, 1700000000_123456789, []byte{1, 2, 3, 4, 5}, 60)
	w.WritePacket(raw, 1700000001_000000001, []byte{0x45}, 1)
	w.WriteStatistics(eth, 1700000002_000000000, Uint64Option(OptISBIfRecv, 7), Uint64Option(OptISBIfDrop, 2))
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	c, err := NewReader(bytes.NewReader(buf.Bytes()), "written")
	if err != nil {
		t.Fatalf("NewReader = %v", err)
	}
	want := []Record{
		{TimeUnixNano: 1700000000_123456789, CapLen: 5, OrigLen: 60, LinkType: LinkTypeEthernet, Interface: 0, Frame: 1},
		{TimeUnixNano: 1700000001_000000001, CapLen: 1, OrigLen: 1, LinkType: LinkTypeRaw, Interface: 1, Frame: 2},
	}
	for i, wr := range want {
		r, err := c.Next()
		if err != nil {
			t.Fatalf("Next %d = %v", i, err)
		}
		r.Data = nil
		if r.TimeUnixNano != wr.TimeUnixNano || r.CapLen != wr.CapLen || r.OrigLen != wr.OrigLen || r.LinkType != wr.LinkType || r.Interface != wr.Interface || r.Frame != wr.Frame {
			t.Errorf("record %d = %+v, want %+v", i, r, wr)
		}
	}
	if _, err := c.Next(); err != io.EOF {
		t.Fatalf("Next at end = %v, want io.EOF", err)
	}
	ifs := c.Interfaces()
	if len(ifs) != 2 || ifs[0].Name != "eth0" || ifs[0].Description != "uplink" || ifs[1].SnapLen != 128 {
		t.Errorf("interfaces = %+v", ifs)
	}
	if !ifs[0].HasReceived || ifs[0].Received != 7 || !ifs[0].HasDropped || ifs[0].Dropped != 2 {
		t.Errorf("statistics = %+v, want received 7 dropped 2", ifs[0])
	}
}

// TestFlaggedPacket checks the hot-path encoder: the block it writes reads
// back with head and data joined, the original length at least the captured
// one, and it allocates nothing.
func TestFlaggedPacket(t *testing.T) {
	head, data := []byte{0xaa, 0xbb, 0xcc}, []byte{1, 2, 3, 4, 5, 6}
	b := AppendSectionHeader(nil)
	b = AppendInterface(b, LinkTypeEthernet, 0, Option{OptIfTSResol, []byte{TSResolNanoseconds}})
	before := len(b)
	b = AppendFlaggedPacket(b, 0, 42, head, data, 2, 1)
	if n := len(b) - before; n != FlaggedPacketBytes(len(head)+len(data)) {
		t.Errorf("block of %d bytes, FlaggedPacketBytes says %d", n, FlaggedPacketBytes(len(head)+len(data)))
	}
	c, err := NewReader(bytes.NewReader(b), "flagged")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Data, append(head, data...)) || r.OrigLen != 9 || r.TimeUnixNano != 42 {
		t.Errorf("record = %+v, want data %x orig 9 time 42", r, append(head, data...))
	}
	p := make([]byte, FlaggedPacketBytes(len(head)+len(data)))
	if n := testing.AllocsPerRun(100, func() { PutFlaggedPacket(p, 0, 42, head, data, 2, 1) }); n != 0 {
		t.Errorf("PutFlaggedPacket allocates %v times, want 0", n)
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = AppendPacket(buf[:0], 0, 42, data, 6) }); n != 0 {
		t.Errorf("AppendPacket into room allocates %v times, want 0", n)
	}
}

// BenchmarkPutFlaggedPacket measures the live capture's per-packet encoder
// on a full-size Ethernet frame.
func BenchmarkPutFlaggedPacket(b *testing.B) {
	data := make([]byte, 1514)
	p := make([]byte, FlaggedPacketBytes(len(data)))
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	for i := range b.N {
		PutFlaggedPacket(p, 0, uint64(i), nil, data, 1514, 1)
	}
}
