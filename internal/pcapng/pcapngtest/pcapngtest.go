// Package pcapngtest builds pcap and pcapng files byte by byte for tests, in
// either byte order and with any defect a test needs, and finds the oracles
// the capture tests compare with (tshark, the tcpdump corpus).
package pcapngtest

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
)

// pcapng numbers, written out here so that the reader's own tests can use
// this package (it cannot import the package it tests).
const (
	ngBlockSHB       = 0x0a0d0d0a
	ngBlockIDB       = 1
	ngBlockSPB       = 3
	ngBlockISB       = 5
	ngBlockEPB       = 6
	ngByteOrderMagic = 0x1a2b3c4d
	ngOptISBIfRecv   = 4
	ngOptISBIfDrop   = 5
)

// Rec is one record for the test capture writers.
type Rec struct {
	Iface   uint32
	TS      uint64 // in the units of the file or interface
	Data    []byte
	OrigLen uint32 // 0: len(Data)
}

func (r Rec) Orig() uint32 {
	if r.OrigLen != 0 {
		return r.OrigLen
	}
	return uint32(len(r.Data))
}

// Pcap writes a pcap file; TS of each record is seconds*1e6 (or 1e9 when nano).
func Pcap(order binary.ByteOrder, nano bool, lt uint32, recs []Rec) []byte {
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
		order.PutUint32(rh[0:], uint32(r.TS/per))
		order.PutUint32(rh[4:], uint32(r.TS%per))
		order.PutUint32(rh[8:], uint32(len(r.Data)))
		order.PutUint32(rh[12:], r.Orig())
		b.Write(rh)
		b.Write(r.Data)
	}
	return b.Bytes()
}

// Order is binary.LittleEndian or binary.BigEndian.
type Order interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// NG builds pcapng files block by block, in the byte order of its last
// section header.
type NG struct {
	order Order
	B     bytes.Buffer
}

// Order returns the byte order of the current section.
func (w *NG) Order() Order { return w.order }

// Block writes a block of type typ, padding body.
func (w *NG) Block(typ uint32, body []byte) {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	total := uint32(12 + len(body))
	h := make([]byte, 8)
	w.order.PutUint32(h[0:], typ)
	w.order.PutUint32(h[4:], total)
	w.B.Write(h)
	w.B.Write(body)
	w.B.Write(w.order.AppendUint32(nil, total))
}

// Opt returns an option, padded.
func (w *NG) Opt(code uint16, val []byte) []byte {
	o := w.order.AppendUint16(nil, code)
	o = w.order.AppendUint16(o, uint16(len(val)))
	o = append(o, val...)
	for len(o)%4 != 0 {
		o = append(o, 0)
	}
	return o
}

// SHB starts a section in byte order order.
func (w *NG) SHB(order Order) {
	w.order = order
	body := order.AppendUint32(nil, ngByteOrderMagic)
	body = order.AppendUint16(body, 1)
	body = order.AppendUint16(body, 0)
	body = order.AppendUint64(body, ^uint64(0))
	w.Block(ngBlockSHB, body)
}

// IDB writes an interface description with the options opts (from Opt).
func (w *NG) IDB(lt uint16, snap uint32, opts ...[]byte) {
	body := w.order.AppendUint16(nil, lt)
	body = w.order.AppendUint16(body, 0)
	body = w.order.AppendUint32(body, snap)
	for _, o := range opts {
		body = append(body, o...)
	}
	if len(opts) > 0 {
		body = append(body, 0, 0, 0, 0)
	}
	w.Block(ngBlockIDB, body)
}

// EPB writes an enhanced packet block.
func (w *NG) EPB(r Rec) {
	body := w.order.AppendUint32(nil, r.Iface)
	body = w.order.AppendUint32(body, uint32(r.TS>>32))
	body = w.order.AppendUint32(body, uint32(r.TS))
	body = w.order.AppendUint32(body, uint32(len(r.Data)))
	body = w.order.AppendUint32(body, r.Orig())
	body = append(body, r.Data...)
	w.Block(ngBlockEPB, body)
}

// SPB writes a simple packet block.
func (w *NG) SPB(r Rec) {
	body := w.order.AppendUint32(nil, r.Orig())
	w.Block(ngBlockSPB, append(body, r.Data...))
}

// ISB writes an interface statistics block with received and dropped counts.
func (w *NG) ISB(iface uint32, recv, drop uint64) {
	body := w.order.AppendUint32(nil, iface)
	body = w.order.AppendUint64(body, 0)
	body = append(body, w.Opt(ngOptISBIfRecv, w.order.AppendUint64(nil, recv))...)
	body = append(body, w.Opt(ngOptISBIfDrop, w.order.AppendUint64(nil, drop))...)
	body = append(body, 0, 0, 0, 0)
	w.Block(ngBlockISB, body)
}

// EtherUDP returns an Ethernet/IPv4/UDP frame to port 53 with payload n bytes long.
func EtherUDP(n int, sport uint16) []byte {
	f := make([]byte, 14+20+8+n)
	copy(f[0:], []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00})
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+n))
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 19, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], 53)
	binary.BigEndian.PutUint16(ip[24:], uint16(8+n))
	return f
}

// TsharkFrames runs tshark on a file and returns one line of the fields per
// frame; the test is skipped when tshark is not installed.
func TsharkFrames(t *testing.T, path string, fields ...string) [][]string {
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

// CorpusDir finds ../shared/corpus/tcpdump next to the repository root, or
// skips the test.
func CorpusDir(t testing.TB) string {
	t.Helper()
	corpus, err := FuzzCorpusDir()
	if err != nil {
		t.Skipf("tcpdump corpus not found beside the repository (../shared/corpus/tcpdump): %v", err)
	}
	return corpus
}

// FuzzCorpusDir finds the tcpdump corpus without a testing.T, for seeding.
func FuzzCorpusDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "corpus", "tcpdump")
			_, err := os.Stat(d)
			return d, err
		}
		if filepath.Dir(dir) == dir {
			return "", os.ErrNotExist
		}
		dir = filepath.Dir(dir)
	}
}

// Serialize builds a frame with gopacket's encoders, an implementation
// independent of the decoders under test.
func Serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return bytes.Clone(buf.Bytes())
}

// MAC1 and MAC2 are the locally administered MAC addresses of test frames.
var (
	MAC1 = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	MAC2 = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)
