package pcapng

import (
	"encoding/binary"
	"io"
	"slices"
)

// maxOptionBytes is the longest option value a block can hold: its length is
// a 16-bit field. Longer values are cut there.
const maxOptionBytes = 0xffff

// Option is one option of a block: its code (Opt*, per block type) and value.
type Option struct {
	Code  uint16
	Value []byte
}

// StringOption returns an option holding s.
func StringOption(code uint16, s string) Option { return Option{code, []byte(s)} }

// Uint64Option returns an option holding v, little-endian.
func Uint64Option(code uint16, v uint64) Option {
	return Option{code, binary.LittleEndian.AppendUint64(nil, v)}
}

// TimeOption returns a timestamp option (isb_starttime, isb_endtime) in
// nanoseconds: the high then the low 32 bits.
func TimeOption(code uint16, unixNano int64) Option {
	ns := uint64(unixNano)
	b := binary.LittleEndian.AppendUint32(nil, uint32(ns>>32))
	return Option{code, binary.LittleEndian.AppendUint32(b, uint32(ns))}
}

// optionsBytes is the size of opts in a block, end of options included
// (written only when there are options).
func optionsBytes(opts []Option) int {
	if len(opts) == 0 {
		return 0
	}
	n := 4
	for _, o := range opts {
		v := min(len(o.Value), maxOptionBytes)
		n += 4 + v + (-v & 3)
	}
	return n
}

// AppendBlock appends a little-endian block of type typ to b: the header,
// body (padded to 32 bits), the options followed by opt_endofopt when there
// are any, and the trailing length. It grows b once.
func AppendBlock(b []byte, typ uint32, body []byte, opts ...Option) []byte {
	le := binary.LittleEndian
	n := 12 + len(body) + (-len(body) & 3) + optionsBytes(opts)
	b = slices.Grow(b, n)
	b = le.AppendUint32(b, typ)
	b = le.AppendUint32(b, uint32(n))
	b = append(b, body...)
	b = appendZeros(b, -len(body)&3)
	for _, o := range opts {
		v := o.Value[:min(len(o.Value), maxOptionBytes)]
		b = le.AppendUint16(b, o.Code)
		b = le.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
		b = appendZeros(b, -len(v)&3)
	}
	if len(opts) > 0 {
		b = le.AppendUint32(b, OptEnd)
	}
	return le.AppendUint32(b, uint32(n))
}

func appendZeros(b []byte, n int) []byte {
	for range n {
		b = append(b, 0)
	}
	return b
}

// AppendSectionHeader appends a Section Header Block, version 1.0, of
// unknown section length.
func AppendSectionHeader(b []byte, opts ...Option) []byte {
	var body [16]byte
	binary.LittleEndian.PutUint32(body[0:], ByteOrderMagic)
	binary.LittleEndian.PutUint16(body[4:], 1) // major
	binary.LittleEndian.PutUint16(body[6:], 0) // minor
	binary.LittleEndian.PutUint64(body[8:], ^uint64(0))
	return AppendBlock(b, BlockSectionHeader, body[:], opts...)
}

// AppendInterface appends an Interface Description Block. Its timestamp
// resolution is the default (microseconds) unless opts hold an
// if_tsresol; every packet encoder here writes nanoseconds, so pass
// Option{OptIfTSResol, []byte{TSResolNanoseconds}}.
func AppendInterface(b []byte, lt LinkType, snaplen uint32, opts ...Option) []byte {
	var body [8]byte
	binary.LittleEndian.PutUint16(body[0:], uint16(lt))
	binary.LittleEndian.PutUint32(body[4:], snaplen)
	return AppendBlock(b, BlockInterface, body[:], opts...)
}

// AppendStatistics appends an Interface Statistics Block for interface
// iface at tsNanos (nanoseconds since the epoch).
func AppendStatistics(b []byte, iface uint32, tsNanos uint64, opts ...Option) []byte {
	var body [12]byte
	binary.LittleEndian.PutUint32(body[0:], iface)
	binary.LittleEndian.PutUint32(body[4:], uint32(tsNanos>>32))
	binary.LittleEndian.PutUint32(body[8:], uint32(tsNanos))
	return AppendBlock(b, BlockStatistics, body[:], opts...)
}

// PacketBytes is the size of the Enhanced Packet Block without options that
// AppendPacket writes for capLen bytes of data.
func PacketBytes(capLen int) int { return 32 + capLen + (-capLen & 3) }

// AppendPacket appends an Enhanced Packet Block without options: data
// captured on interface iface at tsNanos, with the original length as
// given. It grows b at most once and allocates nothing else.
func AppendPacket(b []byte, iface uint32, tsNanos uint64, data []byte, origLen uint32) []byte {
	le := binary.LittleEndian
	n := PacketBytes(len(data))
	b = slices.Grow(b, n)
	b = le.AppendUint32(b, BlockEnhancedPacket)
	b = le.AppendUint32(b, uint32(n))
	b = le.AppendUint32(b, iface)
	b = le.AppendUint32(b, uint32(tsNanos>>32))
	b = le.AppendUint32(b, uint32(tsNanos))
	b = le.AppendUint32(b, uint32(len(data)))
	b = le.AppendUint32(b, origLen)
	b = append(b, data...)
	b = appendZeros(b, -len(data)&3)
	return le.AppendUint32(b, uint32(n))
}

// FlaggedPacketBytes is the size of the Enhanced Packet Block with an
// epb_flags option that PutFlaggedPacket writes for capLen bytes of data.
func FlaggedPacketBytes(capLen int) int {
	return 28 + capLen + (-capLen & 3) + 12 + 4
}

// PutFlaggedPacket writes an Enhanced Packet Block whose data is head then
// data, with an epb_flags option, into p, which must be exactly
// FlaggedPacketBytes(len(head)+len(data)) long. The original length written
// is at least the captured length. This is the encoder of the live capture's
// hot path: it writes in place and allocates nothing.
func PutFlaggedPacket(p []byte, iface uint32, tsNanos uint64, head, data []byte, origLen, flags uint32) {
	le := binary.LittleEndian
	capLen := len(head) + len(data)
	_ = p[27]
	le.PutUint32(p[0:], BlockEnhancedPacket)
	le.PutUint32(p[4:], uint32(len(p)))
	le.PutUint32(p[8:], iface)
	le.PutUint32(p[12:], uint32(tsNanos>>32))
	le.PutUint32(p[16:], uint32(tsNanos))
	le.PutUint32(p[20:], uint32(capLen))
	le.PutUint32(p[24:], max(origLen, uint32(capLen)))
	// Zero the last word of the data before copying it: what the data does
	// not cover of it is the padding.
	le.PutUint32(p[28+capLen&^3:], 0)
	copy(p[28+copy(p[28:], head):], data)
	t := p[len(p)-16:]
	_ = t[15]
	le.PutUint16(t[0:], OptEPBFlags)
	le.PutUint16(t[2:], 4)
	le.PutUint32(t[4:], flags)
	le.PutUint32(t[8:], OptEnd)
	le.PutUint32(t[12:], uint32(len(p)))
}

// AppendFlaggedPacket appends the block PutFlaggedPacket writes, growing b
// at most once.
func AppendFlaggedPacket(b []byte, iface uint32, tsNanos uint64, head, data []byte, origLen, flags uint32) []byte {
	n := FlaggedPacketBytes(len(head) + len(data))
	off := len(b)
	b = slices.Grow(b, n)[:off+n]
	PutFlaggedPacket(b[off:], iface, tsNanos, head, data, origLen, flags)
	return b
}

// Writer writes one little-endian pcapng section to a stream, block by
// block. Errors are sticky: after the first write error every call returns
// it and writes nothing. It does not buffer: give it a bufio.Writer.
type Writer struct {
	w      io.Writer
	buf    []byte
	ifaces int
	err    error
}

// NewWriter writes a section header with opts (say, shb_userappl or a
// comment) to w and returns a writer of the section's blocks; an error
// writing the header is returned by Err and every later call.
func NewWriter(w io.Writer, opts ...Option) *Writer {
	pw := &Writer{w: w}
	pw.write(AppendSectionHeader(pw.buf[:0], opts...))
	return pw
}

func (w *Writer) write(b []byte) error {
	w.buf = b[:0]
	if w.err != nil {
		return w.err
	}
	_, w.err = w.w.Write(b)
	return w.err
}

// AddInterface writes an Interface Description Block and returns the id
// packets on the interface are written with: 0 for the first, then 1, 2...
func (w *Writer) AddInterface(lt LinkType, snaplen uint32, opts ...Option) (int, error) {
	id := w.ifaces
	w.ifaces++
	return id, w.write(AppendInterface(w.buf[:0], lt, snaplen, opts...))
}

// WritePacket writes an Enhanced Packet Block: data captured on interface
// iface (an id AddInterface returned) at tsNanos, nanoseconds since the
// epoch, whose length on the wire was origLen.
func (w *Writer) WritePacket(iface int, tsNanos int64, data []byte, origLen uint32) error {
	return w.write(AppendPacket(w.buf[:0], uint32(iface), uint64(tsNanos), data, origLen))
}

// WriteStatistics writes an Interface Statistics Block for interface iface
// at tsNanos with the counters in opts (OptISB*).
func (w *Writer) WriteStatistics(iface int, tsNanos int64, opts ...Option) error {
	return w.write(AppendStatistics(w.buf[:0], uint32(iface), uint64(tsNanos), opts...))
}

// Interfaces returns how many interfaces have been added.
func (w *Writer) Interfaces() int { return w.ifaces }

// Err returns the first write error, if any.
func (w *Writer) Err() error { return w.err }
