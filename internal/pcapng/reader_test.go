package pcapng

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"
)

// captureReadAll reads every record of b, copying the data.
func captureReadAll(t testing.TB, b []byte) (*Reader, []Record, error) {
	t.Helper()
	c, err := NewReader(bytes.NewReader(b), "test")
	if err != nil {
		return nil, nil, err
	}
	var recs []Record
	for {
		r, err := c.Next()
		if err == io.EOF {
			return c, recs, nil
		}
		if err != nil {
			return c, recs, err
		}
		r.Data = bytes.Clone(r.Data)
		recs = append(recs, r)
	}
}

// captureCompareTshark checks frame number, time, lengths and interface of every
// record against tshark's reading of the same file. tshark numbers interfaces within
// their section, and numbers custom blocks as frames, which have no record here.
func captureCompareTshark(t *testing.T, path string, c *Reader, recs []Record) {
	t.Helper()
	rows := pcapngtest.TsharkFrames(t, path, "frame.number", "frame.time_epoch", "frame.cap_len", "frame.len", "frame.interface_id")
	byFrame := make(map[string][]string, len(rows))
	for _, row := range rows {
		if len(row) == 5 && (row[1] != "" || row[4] != "") {
			byFrame[row[0]] = row
		}
	}
	if len(byFrame) != len(recs) {
		t.Errorf("%s: %d records, tshark sees %d packet frames", path, len(recs), len(byFrame))
	}
	ifs := c.Interfaces()
	for _, r := range recs {
		row, ok := byFrame[fmt.Sprint(r.Frame)]
		if !ok {
			t.Errorf("%s: frame %d not a packet for tshark", path, r.Frame)
			continue
		}
		secs, frac, _ := strings.Cut(row[1], ".")
		want, _ := strconv.ParseInt(secs+(frac + "000000000")[:9], 10, 64)
		if r.TimeUnixNano != want {
			t.Errorf("%s frame %d: time %d ns, tshark %s", path, r.Frame, r.TimeUnixNano, row[1])
		}
		if row[2] != fmt.Sprint(r.CapLen) || row[3] != fmt.Sprint(r.OrigLen) {
			t.Errorf("%s: frame %d caplen %d len %d, tshark %v", path, r.Frame, r.CapLen, r.OrigLen, row)
		}
		local := r.Interface
		for local > 0 && ifs[local-1].Section == ifs[r.Interface].Section {
			local--
		}
		local = r.Interface - local
		if row[4] != "" && row[4] != fmt.Sprint(local) {
			t.Errorf("%s frame %d: interface %d of its section, tshark %s", path, r.Frame, local, row[4])
		}
	}
}

func TestOpenCapturePcap(t *testing.T) {
	recs := []pcapngtest.Rec{
		{TS: 1700000000_123456, Data: pcapngtest.EtherUDP(10, 1000)},
		{TS: 1700000001_000001, Data: pcapngtest.EtherUDP(0, 1001)[:30], OrigLen: 42},
	}
	nanoRecs := []pcapngtest.Rec{
		{TS: 1700000000_123456789, Data: pcapngtest.EtherUDP(10, 1000)},
		{TS: 1700000001_000000001, Data: pcapngtest.EtherUDP(3, 1001)},
	}
	tests := []struct {
		name   string
		order  binary.ByteOrder
		nano   bool
		recs   []pcapngtest.Rec
		format Format
		scale  int64
	}{
		{"le-us", binary.LittleEndian, false, recs, FormatPcap, 1000},
		{"be-us", binary.BigEndian, false, recs, FormatPcap, 1000},
		{"le-ns", binary.LittleEndian, true, nanoRecs, FormatPcapNano, 1},
		{"be-ns", binary.BigEndian, true, nanoRecs, FormatPcapNano, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := pcapngtest.Pcap(tt.order, tt.nano, uint32(LinkTypeEthernet), tt.recs)
			c, got, err := captureReadAll(t, file)
			if err != nil {
				t.Fatalf("read %s: %v", tt.name, err)
			}
			if c.Format() != tt.format {
				t.Errorf("Format() = %v, want %v", c.Format(), tt.format)
			}
			if len(got) != len(tt.recs) {
				t.Fatalf("read %d records, want %d", len(got), len(tt.recs))
			}
			for i, r := range got {
				w := tt.recs[i]
				if r.TimeUnixNano != int64(w.TS)*tt.scale || r.Frame != uint64(i+1) || r.LinkType != LinkTypeEthernet ||
					!bytes.Equal(r.Data, w.Data) || r.OrigLen != w.Orig() || r.CapLen != uint32(len(w.Data)) {
					t.Errorf("record %d = %+v, want ts %d data %x orig %d", i, r, int64(w.TS)*tt.scale, w.Data, w.Orig())
				}
			}
			path := filepath.Join(t.TempDir(), tt.name+".pcap")
			if err := os.WriteFile(path, file, 0o600); err != nil {
				t.Fatal(err)
			}
			captureCompareTshark(t, path, c, got)
		})
	}
}

// TestOpenCapturePcapNG covers what pcapgo gets wrong or lacks: several sections of
// both byte orders, interfaces of mixed link types (no packet may be dropped),
// if_tsresol and if_tsoffset, simple packet blocks and statistics, unknown blocks.
func TestOpenCapturePcapNG(t *testing.T) {
	w := &pcapngtest.NG{}
	w.SHB(binary.LittleEndian)
	w.IDB(uint16(LinkTypeEthernet), 65535, w.Opt(OptIfName, []byte("eth0")), w.Opt(OptIfDescription, []byte("uplink")))
	w.IDB(uint16(LinkTypeRaw), 65535, w.Opt(OptIfName, []byte("tun0")), w.Opt(OptIfTSResol, []byte{9}))
	eth := pcapngtest.EtherUDP(5, 4000)
	w.EPB(pcapngtest.Rec{Iface: 0, TS: 1700000000_000001, Data: eth})
	w.EPB(pcapngtest.Rec{Iface: 1, TS: 1700000000_000000002, Data: eth[14:]})
	w.Block(4, []byte{0, 0, 0, 0})      // name resolution block, skipped
	w.Block(0x0BAD, []byte{1, 2, 3, 4}) // custom block: Wireshark numbers it as a frame
	w.Block(0x0101, []byte{1, 2, 3, 4}) // unknown block: skipped
	w.ISB(0, 100, 7)
	w.SHB(binary.BigEndian)
	// 2^-20 units plus an offset of 1000 s.
	w.IDB(uint16(LinkTypeLinuxSLL2), 30, w.Opt(OptIfName, []byte("any")),
		w.Opt(OptIfTSResol, []byte{0x80 | 20}), w.Opt(OptIfTSOffset, binary.BigEndian.AppendUint64(nil, 1000)))
	sll2 := append(make([]byte, 20), eth[14:]...)
	binary.BigEndian.PutUint16(sll2[0:], 0x0800)
	w.EPB(pcapngtest.Rec{Iface: 0, TS: 1700000000<<20 | 1<<19, Data: sll2})
	w.SPB(pcapngtest.Rec{Data: sll2[:30], OrigLen: uint32(len(sll2))})
	w.ISB(0, 5, 0)

	c, got, err := captureReadAll(t, w.B.Bytes())
	if err != nil {
		t.Fatalf("read pcapng: %v", err)
	}
	type want struct {
		iface int
		lt    LinkType
		ts    int64
		cap   int
	}
	wants := []want{
		{0, LinkTypeEthernet, 1700000000_000001000, len(eth)},
		{1, LinkTypeRaw, 1700000000_000000002, len(eth) - 14},
		{2, LinkTypeLinuxSLL2, 1700001000_500000000, len(sll2)}, // frame 4
		{2, LinkTypeLinuxSLL2, 0, 30},
	}
	if len(got) != len(wants) {
		t.Fatalf("read %d records, want %d", len(got), len(wants))
	}
	for i, r := range got {
		w := wants[i]
		frame := uint64(i + 1)
		if i >= 2 {
			frame++ // the custom block
		}
		if r.Interface != w.iface || r.LinkType != w.lt || r.TimeUnixNano != w.ts || int(r.CapLen) != w.cap || r.Frame != frame {
			t.Errorf("record %d = iface %d lt %d ts %d cap %d frame %d, want %+v", i, r.Interface, r.LinkType, r.TimeUnixNano, r.CapLen, r.Frame, w)
		}
	}
	ifs := c.Interfaces()
	if len(ifs) != 3 || ifs[0].Name != "eth0" || ifs[0].Description != "uplink" || ifs[1].Name != "tun0" ||
		ifs[2].Name != "any" || ifs[2].Section != 1 || ifs[2].LinkType != LinkTypeLinuxSLL2 {
		t.Errorf("Interfaces() = %+v", ifs)
	}
	if !ifs[0].HasStats || ifs[0].Received != 100 || ifs[0].Dropped != 7 || !ifs[2].HasDropped || ifs[2].Received != 5 || ifs[1].HasStats {
		t.Errorf("interface statistics = %+v", ifs)
	}
	path := filepath.Join(t.TempDir(), "mixed.pcapng")
	if err := os.WriteFile(path, w.B.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	captureCompareTshark(t, path, c, got)
}

func TestOpenCaptureHostile(t *testing.T) {
	eth := pcapngtest.EtherUDP(4, 1)
	good := pcapngtest.Pcap(binary.LittleEndian, false, 1, []pcapngtest.Rec{{TS: 1, Data: eth}})
	ng := func(f func(w *pcapngtest.NG)) []byte {
		w := &pcapngtest.NG{}
		w.SHB(binary.LittleEndian)
		f(w)
		return w.B.Bytes()
	}
	bigCap := bytes.Clone(good)
	binary.LittleEndian.PutUint32(bigCap[24+8:], MaxSnapLen+1)
	lyingLen := bytes.Clone(good)
	binary.LittleEndian.PutUint32(lyingLen[24+8:], MaxSnapLen)
	tests := []struct {
		name    string
		file    []byte
		records int
		want    string // substring of the error; "" for a clean EOF
	}{
		{"empty", nil, 0, `open capture "test": read magic (0 bytes seen: )`},
		{"text", []byte("GET / HTTP/1.1\r\n"), 0, `unknown magic 47 45 54 20`},
		{"pcap header cut", good[:10], 0, "pcap file header cut short"},
		{"pcap record header cut", good[:30], 0, "pcap record header cut short"},
		{"pcap data cut", good[:len(good)-1], 0, "pcap record data cut short"},
		{"pcap caplen over limit", bigCap, 0, "exceeds the 262144-byte limit"},
		{"pcap caplen larger than file", lyingLen, 0, "pcap record data cut short"},
		{"pcap clean", good, 1, ""},
		{"ng block length 8", ng(func(w *pcapngtest.NG) {
			w.B.Write([]byte{6, 0, 0, 0, 8, 0, 0, 0})
		}), 0, "length 8 invalid"},
		{"ng block length unaligned", ng(func(w *pcapngtest.NG) {
			w.B.Write([]byte{6, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0})
		}), 0, "length 13 invalid"},
		{"ng block length huge", ng(func(w *pcapngtest.NG) {
			w.B.Write([]byte{6, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff})
		}), 0, "invalid"},
		{"ng block longer than file", ng(func(w *pcapngtest.NG) {
			w.B.Write([]byte{6, 0, 0, 0, 0, 0, 0xf0, 0, 1, 2, 3})
		}), 0, "cut short"},
		{"ng trailing length differs", ng(func(w *pcapngtest.NG) {
			w.IDB(1, 0)
			b := w.B.Bytes()
			b[len(b)-4]++
		}), 0, "trailing length"},
		{"ng packet before interface", ng(func(w *pcapngtest.NG) {
			w.EPB(pcapngtest.Rec{Data: eth})
		}), 0, "interface id 0 not described in section 0"},
		{"ng interface of previous section", ng(func(w *pcapngtest.NG) {
			w.IDB(1, 0)
			w.EPB(pcapngtest.Rec{Data: eth})
			w.SHB(binary.BigEndian)
			w.EPB(pcapngtest.Rec{Data: eth})
		}), 1, "interface id 0 not described in section 1"},
		{"ng caplen overruns block", ng(func(w *pcapngtest.NG) {
			w.IDB(1, 0)
			w.EPB(pcapngtest.Rec{Data: eth})
			b := w.B.Bytes()
			binary.LittleEndian.PutUint32(b[len(b)-4-len(eth)-8-2:], 200)
		}), 0, "captured length 200 overruns the block"},
		{"ng tsresol out of range", ng(func(w *pcapngtest.NG) {
			w.IDB(1, 0, w.Opt(OptIfTSResol, []byte{20}))
		}), 0, "if_tsresol 0x14 out of range"},
		{"ng bad byte-order magic", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4}, 0, "byte-order magic 01 02 03 04 invalid"},
		{"ng version 2", func() []byte {
			b := ng(func(*pcapngtest.NG) {})
			b[12] = 2
			return b
		}(), 0, "pcapng version 2.0 not supported"},
		{"ng option overruns block", ng(func(w *pcapngtest.NG) {
			body := w.Order().AppendUint16(nil, 1)
			body = w.Order().AppendUint16(body, 0)
			body = w.Order().AppendUint32(body, 0)
			body = append(body, 2, 0, 0xff, 0x00, 'e', 't', 'h', '0') // if_name claims 255 bytes
			w.Block(BlockInterface, body)
			w.EPB(pcapngtest.Rec{Data: eth})
		}), 1, ""},
		{"ng too many interfaces", ng(func(w *pcapngtest.NG) {
			for range maxInterfaces + 1 {
				w.IDB(1, 0)
			}
		}), 0, "more than 4096 interfaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, recs, err := captureReadAll(t, tt.file)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if tt.want == "" && err != nil || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("read %s: error %q, want containing %q", tt.name, got, tt.want)
			}
			if len(recs) != tt.records {
				t.Errorf("read %s: %d records, want %d", tt.name, len(recs), tt.records)
			}
			var ce *Error
			if err != nil && strings.Contains(got, "after") && !errors.As(err, &ce) {
				t.Errorf("read %s: error %T is not a *Error", tt.name, err)
			}
		})
	}
}

// TestCaptureLyingLengthNoAlloc checks that a length field promising more than the
// file holds costs memory only for the bytes that exist.
func TestCaptureLyingLengthNoAlloc(t *testing.T) {
	w := &pcapngtest.NG{}
	w.SHB(binary.LittleEndian)
	w.B.Write([]byte{6, 0, 0, 0, 0, 0, 0, 0x01}) // 16 MiB block
	w.B.Write(make([]byte, 100))
	file := w.B.Bytes()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 20 {
		if _, _, err := captureReadAll(t, file); err == nil {
			t.Fatal("read of a cut block succeeded")
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 20*(growStep+16<<10) {
		t.Errorf("20 reads of a 160-byte file allocated %d bytes", n)
	}
}
