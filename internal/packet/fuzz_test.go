package packet

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"
)

// FuzzOpenCapture reads hostile captures and decodes every record: the reader and
// the decoder together, as the flow table uses them.
func FuzzOpenCapture(f *testing.F) {
	var recs []pcapngtest.Rec
	for i, d := range packetTestMix(f) {
		recs = append(recs, pcapngtest.Rec{Iface: uint32(i % 2), TS: uint64(i), Data: d[:min(len(d), 120)]})
	}
	f.Add(pcapngtest.Pcap(binary.LittleEndian, false, 1, recs))
	f.Add(pcapngtest.Pcap(binary.BigEndian, true, 113, recs))
	w := &pcapngtest.NG{}
	w.SHB(binary.BigEndian)
	w.IDB(1, 0, w.Opt(pcapng.OptIfTSResol, []byte{0x80 | 30}), w.Opt(pcapng.OptIfName, []byte("eth0")))
	w.IDB(101, 64)
	for _, r := range recs {
		w.EPB(r)
	}
	w.SPB(recs[0])
	w.ISB(1, 3, 4)
	w.SHB(binary.LittleEndian)
	w.IDB(276, 0)
	w.EPB(pcapngtest.Rec{Data: recs[1].Data})
	f.Add(w.B.Bytes())
	if dir, err := pcapngtest.FuzzCorpusDir(); err == nil {
		for _, name := range []string{"802.1ad_QinQ.pcap", "OSPFv2_Capture_FINAL.pcapng", "ipv6-routing-header.pcap"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		c, err := pcapng.NewReader(bufio.NewReader(bytes.NewReader(file)), "fuzz")
		if err != nil {
			return
		}
		var p Packet
		var last uint64
		for range 10000 {
			r, err := c.Next()
			if err != nil {
				if err != io.EOF {
					if _, again := c.Next(); again != err {
						t.Fatalf("error not sticky: %v then %v", err, again)
					}
				}
				return
			}
			if int(r.CapLen) != len(r.Data) || r.CapLen > pcapng.MaxSnapLen || r.Frame <= last ||
				r.Interface < 0 || r.Interface >= len(c.Interfaces()) || c.Interfaces()[r.Interface].LinkType != r.LinkType {
				t.Fatalf("bad record %+v after frame %d", r, last)
			}
			last = r.Frame
			_ = Decode(r.LinkType, r.Data, &p)
		}
	})
}
