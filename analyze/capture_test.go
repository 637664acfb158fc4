package analyze

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// captureTestRec is one record for the test capture writers.
type captureTestRec struct {
	iface   uint32
	ts      uint64 // in the units of the file or interface
	data    []byte
	origLen uint32 // 0: len(data)
}

func (r captureTestRec) orig() uint32 {
	if r.origLen != 0 {
		return r.origLen
	}
	return uint32(len(r.data))
}

// captureTestPcap writes a pcap file; ts of each record is seconds*1e6 (or 1e9 when nano).
func captureTestPcap(order binary.ByteOrder, nano bool, lt uint32, recs []captureTestRec) []byte {
	var b bytes.Buffer
	magic := uint32(0xa1b2c3d4)
	per := uint64(1e6)
	if nano {
		magic, per = 0xa1b23c4d, 1e9
	}
	h := make([]byte, 24)
	order.PutUint32(h[0:], magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 65535)
	order.PutUint32(h[20:], lt)
	b.Write(h)
	for _, r := range recs {
		rh := make([]byte, 16)
		order.PutUint32(rh[0:], uint32(r.ts/per))
		order.PutUint32(rh[4:], uint32(r.ts%per))
		order.PutUint32(rh[8:], uint32(len(r.data)))
		order.PutUint32(rh[12:], r.orig())
		b.Write(rh)
		b.Write(r.data)
	}
	return b.Bytes()
}

// captureTestOrder is binary.LittleEndian or binary.BigEndian.
type captureTestOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// captureTestNG builds pcapng files block by block.
type captureTestNG struct {
	order captureTestOrder
	b     bytes.Buffer
}

func (w *captureTestNG) block(typ uint32, body []byte) {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	total := uint32(12 + len(body))
	h := make([]byte, 8)
	w.order.PutUint32(h[0:], typ)
	w.order.PutUint32(h[4:], total)
	w.b.Write(h)
	w.b.Write(body)
	w.b.Write(w.order.AppendUint32(nil, total))
}

func (w *captureTestNG) opt(code uint16, val []byte) []byte {
	o := w.order.AppendUint16(nil, code)
	o = w.order.AppendUint16(o, uint16(len(val)))
	o = append(o, val...)
	for len(o)%4 != 0 {
		o = append(o, 0)
	}
	return o
}

func (w *captureTestNG) shb(order captureTestOrder) {
	w.order = order
	body := order.AppendUint32(nil, ngByteOrderMagic)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0))
	w.block(ngBlockSHB, body)
}

func (w *captureTestNG) idb(lt uint16, snap uint32, opts ...[]byte) {
	body := w.order.AppendUint16(nil, lt)
	body = w.order.AppendUint16(body, 0)
	body = w.order.AppendUint32(body, snap)
	for _, o := range opts {
		body = append(body, o...)
	}
	if len(opts) > 0 {
		body = append(body, 0, 0, 0, 0)
	}
	w.block(ngBlockIDB, body)
}

func (w *captureTestNG) epb(r captureTestRec) {
	body := w.order.AppendUint32(nil, r.iface)
	body = w.order.AppendUint32(body, uint32(r.ts>>32))
	body = w.order.AppendUint32(body, uint32(r.ts))
	body = w.order.AppendUint32(body, uint32(len(r.data)))
	body = w.order.AppendUint32(body, r.orig())
	body = append(body, r.data...)
	w.block(ngBlockEPB, body)
}

func (w *captureTestNG) spb(r captureTestRec) {
	body := w.order.AppendUint32(nil, r.orig())
	w.block(ngBlockSPB, append(body, r.data...))
}

func (w *captureTestNG) isb(iface uint32, recv, drop uint64) {
	body := w.order.AppendUint32(nil, iface)
	body = w.order.AppendUint64(body, 0)
	body = append(body, w.opt(ngOptISBIfRecv, w.order.AppendUint64(nil, recv))...)
	body = append(body, w.opt(ngOptISBIfDrop, w.order.AppendUint64(nil, drop))...)
	body = append(body, 0, 0, 0, 0)
	w.block(ngBlockISB, body)
}

// captureTestEtherUDP returns an Ethernet/IPv4/UDP frame with payload n bytes long.
func captureTestEtherUDP(n int, sport uint16) []byte {
	f := make([]byte, 14+20+8+n)
	copy(f[0:], []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00})
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, IPProtoUDP
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+n))
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 19, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], 53)
	binary.BigEndian.PutUint16(ip[24:], uint16(8+n))
	return f
}

// captureReadAll reads every record of b, copying the data.
func captureReadAll(t testing.TB, b []byte) (*CaptureReader, []Record, error) {
	t.Helper()
	c, err := OpenCapture(bytes.NewReader(b), "test")
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

// tsharkFrames runs tshark on a file and returns one line of the fields per frame.
func tsharkFrames(t *testing.T, path string, fields ...string) [][]string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed: it is the oracle for this test")
	}
	args := []string{"-n", "-r", path, "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-T", "fields", "-E", "separator=|", "-E", "occurrence=f"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", path, err)
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if l != "" {
			rows = append(rows, strings.Split(l, "|"))
		}
	}
	return rows
}

// captureCompareTshark checks frame number, time, lengths and interface of every
// record against tshark's reading of the same file. tshark numbers interfaces within
// their section, and numbers custom blocks as frames, which have no record here.
func captureCompareTshark(t *testing.T, path string, c *CaptureReader, recs []Record) {
	t.Helper()
	rows := tsharkFrames(t, path, "frame.number", "frame.time_epoch", "frame.cap_len", "frame.len", "frame.interface_id")
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
	recs := []captureTestRec{
		{ts: 1700000000_123456, data: captureTestEtherUDP(10, 1000)},
		{ts: 1700000001_000001, data: captureTestEtherUDP(0, 1001)[:30], origLen: 42},
	}
	nanoRecs := []captureTestRec{
		{ts: 1700000000_123456789, data: captureTestEtherUDP(10, 1000)},
		{ts: 1700000001_000000001, data: captureTestEtherUDP(3, 1001)},
	}
	tests := []struct {
		name   string
		order  binary.ByteOrder
		nano   bool
		recs   []captureTestRec
		format CaptureFormat
		scale  int64
	}{
		{"le-us", binary.LittleEndian, false, recs, FormatPcap, 1000},
		{"be-us", binary.BigEndian, false, recs, FormatPcap, 1000},
		{"le-ns", binary.LittleEndian, true, nanoRecs, FormatPcapNano, 1},
		{"be-ns", binary.BigEndian, true, nanoRecs, FormatPcapNano, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := captureTestPcap(tt.order, tt.nano, uint32(LinkTypeEthernet), tt.recs)
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
				if r.TimeUnixNano != int64(w.ts)*tt.scale || r.Frame != uint64(i+1) || r.LinkType != LinkTypeEthernet ||
					!bytes.Equal(r.Data, w.data) || r.OrigLen != w.orig() || r.CapLen != uint32(len(w.data)) {
					t.Errorf("record %d = %+v, want ts %d data %x orig %d", i, r, int64(w.ts)*tt.scale, w.data, w.orig())
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
	w := &captureTestNG{}
	w.shb(binary.LittleEndian)
	w.idb(uint16(LinkTypeEthernet), 65535, w.opt(ngOptIfName, []byte("eth0")), w.opt(ngOptIfDesc, []byte("uplink")))
	w.idb(uint16(LinkTypeRaw), 65535, w.opt(ngOptIfName, []byte("tun0")), w.opt(ngOptIfTSResol, []byte{9}))
	eth := captureTestEtherUDP(5, 4000)
	w.epb(captureTestRec{iface: 0, ts: 1700000000_000001, data: eth})
	w.epb(captureTestRec{iface: 1, ts: 1700000000_000000002, data: eth[14:]})
	w.block(4, []byte{0, 0, 0, 0})      // name resolution block, skipped
	w.block(0x0BAD, []byte{1, 2, 3, 4}) // custom block: Wireshark numbers it as a frame
	w.block(0x0101, []byte{1, 2, 3, 4}) // unknown block: skipped
	w.isb(0, 100, 7)
	w.shb(binary.BigEndian)
	// 2^-20 units plus an offset of 1000 s.
	w.idb(uint16(LinkTypeLinuxSLL2), 30, w.opt(ngOptIfName, []byte("any")),
		w.opt(ngOptIfTSResol, []byte{0x80 | 20}), w.opt(ngOptIfTSOffset, binary.BigEndian.AppendUint64(nil, 1000)))
	sll2 := append(make([]byte, 20), eth[14:]...)
	binary.BigEndian.PutUint16(sll2[0:], 0x0800)
	w.epb(captureTestRec{iface: 0, ts: 1700000000<<20 | 1<<19, data: sll2})
	w.spb(captureTestRec{data: sll2[:30], origLen: uint32(len(sll2))})
	w.isb(0, 5, 0)

	c, got, err := captureReadAll(t, w.b.Bytes())
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
	if err := os.WriteFile(path, w.b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	captureCompareTshark(t, path, c, got)
}

func TestOpenCaptureHostile(t *testing.T) {
	eth := captureTestEtherUDP(4, 1)
	good := captureTestPcap(binary.LittleEndian, false, 1, []captureTestRec{{ts: 1, data: eth}})
	ng := func(f func(w *captureTestNG)) []byte {
		w := &captureTestNG{}
		w.shb(binary.LittleEndian)
		f(w)
		return w.b.Bytes()
	}
	bigCap := bytes.Clone(good)
	binary.LittleEndian.PutUint32(bigCap[24+8:], captureMaxSnapLen+1)
	lyingLen := bytes.Clone(good)
	binary.LittleEndian.PutUint32(lyingLen[24+8:], captureMaxSnapLen)
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
		{"ng block length 8", ng(func(w *captureTestNG) {
			w.b.Write([]byte{6, 0, 0, 0, 8, 0, 0, 0})
		}), 0, "length 8 invalid"},
		{"ng block length unaligned", ng(func(w *captureTestNG) {
			w.b.Write([]byte{6, 0, 0, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0})
		}), 0, "length 13 invalid"},
		{"ng block length huge", ng(func(w *captureTestNG) {
			w.b.Write([]byte{6, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff})
		}), 0, "invalid"},
		{"ng block longer than file", ng(func(w *captureTestNG) {
			w.b.Write([]byte{6, 0, 0, 0, 0, 0, 0xf0, 0, 1, 2, 3})
		}), 0, "cut short"},
		{"ng trailing length differs", ng(func(w *captureTestNG) {
			w.idb(1, 0)
			b := w.b.Bytes()
			b[len(b)-4]++
		}), 0, "trailing length"},
		{"ng packet before interface", ng(func(w *captureTestNG) {
			w.epb(captureTestRec{data: eth})
		}), 0, "interface id 0 not described in section 0"},
		{"ng interface of previous section", ng(func(w *captureTestNG) {
			w.idb(1, 0)
			w.epb(captureTestRec{data: eth})
			w.shb(binary.BigEndian)
			w.epb(captureTestRec{data: eth})
		}), 1, "interface id 0 not described in section 1"},
		{"ng caplen overruns block", ng(func(w *captureTestNG) {
			w.idb(1, 0)
			w.epb(captureTestRec{data: eth})
			b := w.b.Bytes()
			binary.LittleEndian.PutUint32(b[len(b)-4-len(eth)-8-2:], 200)
		}), 0, "captured length 200 overruns the block"},
		{"ng tsresol out of range", ng(func(w *captureTestNG) {
			w.idb(1, 0, w.opt(ngOptIfTSResol, []byte{20}))
		}), 0, "if_tsresol 0x14 out of range"},
		{"ng bad byte-order magic", []byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4}, 0, "byte-order magic 01 02 03 04 invalid"},
		{"ng version 2", func() []byte {
			b := ng(func(*captureTestNG) {})
			b[12] = 2
			return b
		}(), 0, "pcapng version 2.0 not supported"},
		{"ng option overruns block", ng(func(w *captureTestNG) {
			body := w.order.AppendUint16(nil, 1)
			body = w.order.AppendUint16(body, 0)
			body = w.order.AppendUint32(body, 0)
			body = append(body, 2, 0, 0xff, 0x00, 'e', 't', 'h', '0') // if_name claims 255 bytes
			w.block(ngBlockIDB, body)
			w.epb(captureTestRec{data: eth})
		}), 1, ""},
		{"ng too many interfaces", ng(func(w *captureTestNG) {
			for range captureMaxInterfaces + 1 {
				w.idb(1, 0)
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
			var ce *CaptureError
			if err != nil && strings.Contains(got, "after") && !errors.As(err, &ce) {
				t.Errorf("read %s: error %T is not a *CaptureError", tt.name, err)
			}
		})
	}
}

// TestCaptureLyingLengthNoAlloc checks that a length field promising more than the
// file holds costs memory only for the bytes that exist.
func TestCaptureLyingLengthNoAlloc(t *testing.T) {
	w := &captureTestNG{}
	w.shb(binary.LittleEndian)
	w.b.Write([]byte{6, 0, 0, 0, 0, 0, 0, 0x01}) // 16 MiB block
	w.b.Write(make([]byte, 100))
	file := w.b.Bytes()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 20 {
		if _, _, err := captureReadAll(t, file); err == nil {
			t.Fatal("read of a cut block succeeded")
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 20*(captureGrowStep+16<<10) {
		t.Errorf("20 reads of a 160-byte file allocated %d bytes", n)
	}
}

func TestCaptureNextAllocs(t *testing.T) {
	var recs []captureTestRec
	for i := range 1000 {
		recs = append(recs, captureTestRec{iface: uint32(i % 2), ts: uint64(i), data: captureTestEtherUDP(i%700, uint16(i))})
	}
	w := &captureTestNG{}
	w.shb(binary.LittleEndian)
	w.idb(1, 0)
	w.idb(uint16(LinkTypeLinuxSLL2), 0)
	for _, r := range recs {
		w.epb(r)
	}
	files := map[string][]byte{
		"pcap":   captureTestPcap(binary.BigEndian, true, 1, recs),
		"pcapng": w.b.Bytes(),
	}
	for name, file := range files {
		c, err := OpenCapture(bufio.NewReader(bytes.NewReader(file)), name)
		if err != nil {
			t.Fatal(err)
		}
		for range 700 { // let the buffer reach its size: record 700 is the largest
			if _, err := c.Next(); err != nil {
				t.Fatal(err)
			}
		}
		var p Packet
		allocs := testing.AllocsPerRun(290, func() {
			r, err := c.Next()
			if err != nil {
				t.Fatal(err)
			}
			_ = DecodePacket(r.LinkType, r.Data, &p)
		})
		if allocs != 0 {
			t.Errorf("%s: Next+DecodePacket allocates %v times per record, want 0", name, allocs)
		}
	}
}
