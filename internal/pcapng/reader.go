package pcapng

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// Limits of the capture reader. A capture may come from the attacker's host or from
// anyone's IDS, so every length read from it is checked against one of these before
// anything is allocated or skipped.
const (
	// MaxSnapLen is the largest record the reader accepts: 256 KiB, libpcap's
	// MAXIMUM_SNAPLEN and Wireshark's limit for every link type we decode (BIG TCP
	// captures reach 185 KiB).
	MaxSnapLen = 262144
	// maxBlockBytes bounds one pcapng block: 16 MiB, a maximal packet plus
	// generous options, far below anything that could exhaust memory.
	maxBlockBytes = 16 << 20
	// maxInterfaces bounds the interface descriptions kept for one file
	// (over all sections): 4096, more than any real capture host has interfaces.
	maxInterfaces = 4096
	// maxStringBytes bounds the interface name and description kept: 256 bytes,
	// Linux names are at most 15 and descriptions a line.
	maxStringBytes = 256
	// growStep is how much the record buffer grows at a time beyond what has
	// already arrived, so that a lying length cannot allocate more than the file holds.
	growStep = 64 << 10
)

// LinkType is a pcap/pcapng link-layer header type (LINKTYPE_* in the tcpdump.org
// registry), the 16 low bits of the pcap header field.
type LinkType uint16

// Link types decoded by packet.Decode.
const (
	LinkTypeNull      LinkType = 0   // BSD loopback, address family in host byte order
	LinkTypeEthernet  LinkType = 1   // Ethernet II and 802.3
	LinkTypeRawBSD12  LinkType = 12  // raw IP, DLT_RAW on most BSDs
	LinkTypeRawBSD14  LinkType = 14  // raw IP, DLT_RAW on OpenBSD
	LinkTypeRaw       LinkType = 101 // raw IPv4 or IPv6
	LinkTypeLoop      LinkType = 108 // OpenBSD loopback, address family in network byte order
	LinkTypeLinuxSLL  LinkType = 113 // Linux "any" cooked capture v1
	LinkTypeIPv4      LinkType = 228 // raw IPv4 only
	LinkTypeIPv6      LinkType = 229 // raw IPv6 only
	LinkTypeLinuxSLL2 LinkType = 276 // Linux "any" cooked capture v2
)

// Format names the container format of a capture file.
type Format uint8

// Capture formats recognised by NewReader.
const (
	FormatPcap     Format = iota + 1 // libpcap, microsecond timestamps
	FormatPcapNano                   // libpcap, nanosecond timestamps
	FormatPcapNG                     // pcapng
)

// String returns the usual name of the format.
func (f Format) String() string {
	switch f {
	case FormatPcap:
		return "pcap"
	case FormatPcapNano:
		return "pcap-ns"
	case FormatPcapNG:
		return "pcapng"
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// Record is one packet record of a capture. Data aliases the reader's buffer and is
// valid only until the next call to Next.
type Record struct {
	TimeUnixNano int64    // capture time, nanoseconds since the Unix epoch (UTC)
	CapLen       uint32   // bytes captured, len(Data)
	OrigLen      uint32   // bytes on the wire, as the capture states it
	LinkType     LinkType // link type of the interface the record was captured on
	Interface    int      // index into Interfaces(), counted over all sections
	Frame        uint64   // 1-based record number, as Wireshark counts frames
	Data         []byte
}

// Time returns the capture time of r in UTC.
func (r *Record) Time() time.Time { return time.Unix(0, r.TimeUnixNano).UTC() }

// Interface describes one capture interface: the file header of a pcap, or an
// interface description block of a pcapng.
type Interface struct {
	Section     int // 0-based pcapng section holding the interface
	Name        string
	Description string
	LinkType    LinkType
	SnapLen     uint32
	// Statistics from the last interface statistics block for this interface; the
	// Has flags say which counters the block carried.
	HasStats    bool
	HasReceived bool
	HasDropped  bool
	Received    uint64 // isb_ifrecv: packets received by the interface
	Dropped     uint64 // isb_ifdrop: packets dropped by the interface (buffer full)
	OSDropped   uint64 // isb_osdrop: packets dropped by the OS
	HasOSDrop   bool

	// Timestamp conversion of this interface (if_tsresol, if_tsoffset).
	tsDecimal    bool
	tsExp        uint8 // units per second are 10^tsExp or 2^tsExp
	tsOffsetSecs int64
}

// Error reports a capture file that cannot be read further: a malformed header
// or block. Records before it were returned normally.
type Error struct {
	File   string
	Offset int64  // byte offset of the header or block at fault
	Frame  uint64 // frames returned before the fault
	Reason string
	Err    error // underlying read error, if any
}

func (e *Error) Error() string {
	s := fmt.Sprintf("read capture %q at offset %d after %d frames: %s", e.File, e.Offset, e.Frame, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Reader reads the records of a pcap or pcapng stream one by one without
// allocating per record. Errors are sticky: after the first one, Next returns it again.
type Reader struct {
	r      io.Reader
	br     *bufio.Reader // r, when it is buffered: records are then read in place
	name   string
	format Format
	order  binary.ByteOrder
	off    int64 // bytes consumed from r
	frames uint64
	err    error
	buf    []byte
	hdr    [32]byte

	ifaces      []Interface
	sectionBase int // index in ifaces of the current section's interface 0
	section     int
}

// NewReader reads the file header of a pcap or pcapng stream and returns a reader
// of its records. name is used only in error messages. The caller should pass a
// buffered reader for speed; NewReader does not add one, so r is read exactly.
func NewReader(r io.Reader, name string) (*Reader, error) {
	c := &Reader{r: r, name: name}
	c.br, _ = r.(*bufio.Reader)
	var magic [4]byte
	n, err := io.ReadFull(r, magic[:])
	if err != nil {
		return nil, fmt.Errorf("open capture %q: read magic (%d bytes seen: % x): %w", name, n, magic[:n], err)
	}
	c.off = 4
	switch {
	case magic == [4]byte{0x0a, 0x0d, 0x0d, 0x0a}:
		c.format, c.section = FormatPcapNG, -1
		var h [8]byte
		copy(h[:], magic[:])
		if _, err := io.ReadFull(r, h[4:]); err != nil {
			return nil, c.fail(0, "pcapng section header cut short", err)
		}
		c.off = 8
		if err := c.ngSectionHeaderAfter(0, h[:]); err != nil {
			return nil, err
		}
		return c, nil
	case magic == [4]byte{0xd4, 0xc3, 0xb2, 0xa1}:
		c.format, c.order = FormatPcap, binary.LittleEndian
	case magic == [4]byte{0xa1, 0xb2, 0xc3, 0xd4}:
		c.format, c.order = FormatPcap, binary.BigEndian
	case magic == [4]byte{0x4d, 0x3c, 0xb2, 0xa1}:
		c.format, c.order = FormatPcapNano, binary.LittleEndian
	case magic == [4]byte{0xa1, 0xb2, 0x3c, 0x4d}:
		c.format, c.order = FormatPcapNano, binary.BigEndian
	default:
		return nil, fmt.Errorf("open capture %q: unknown magic % x: not pcap or pcapng", name, magic[:])
	}
	h := c.hdr[:20]
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, c.fail(0, "pcap file header cut short", err)
	}
	c.off += 20
	if major := c.order.Uint16(h[0:]); major != 2 {
		return nil, c.fail(0, fmt.Sprintf("pcap version %d.%d not supported", major, c.order.Uint16(h[2:])), nil)
	}
	iface := Interface{
		SnapLen:  c.order.Uint32(h[12:]),
		LinkType: LinkType(c.order.Uint32(h[16:])), // high bits carry FCS length flags
	}
	if c.format == FormatPcapNano {
		iface.tsDecimal, iface.tsExp = true, 9
	} else {
		iface.tsDecimal, iface.tsExp = true, 6
	}
	c.ifaces = append(c.ifaces, iface)
	return c, nil
}

// Format returns the container format of the capture.
func (c *Reader) Format() Format { return c.format }

// Frames returns the frame numbers handed out so far: packet records and the
// non-packet blocks Wireshark numbers as frames.
func (c *Reader) Frames() uint64 { return c.frames }

// Interfaces returns the interfaces described so far (one for a pcap file). The
// slice is shared with the reader and grows as pcapng blocks are read.
func (c *Reader) Interfaces() []Interface { return c.ifaces }

// Next returns the next packet record. It returns io.EOF at the clean end of the
// capture and a *Error when the capture is malformed or cut short.
func (c *Reader) Next() (Record, error) {
	if c.err != nil {
		return Record{}, c.err
	}
	var rec Record
	var err error
	if c.format == FormatPcapNG {
		rec, err = c.ngNext()
	} else {
		rec, err = c.pcapNext()
	}
	if err != nil {
		c.err = err
		return Record{}, err
	}
	c.frames++
	rec.Frame = c.frames
	return rec, nil
}

func (c *Reader) fail(at int64, reason string, err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return &Error{File: c.name, Offset: at, Frame: c.frames, Reason: reason, Err: err}
}

// read returns the next n bytes of the stream: in place in the buffered
// reader's buffer when they fit there (no copy), else in the record buffer,
// which grows only as the bytes actually arrive, so that a length field larger
// than the file costs no memory.
func (c *Reader) read(n int) ([]byte, error) {
	if c.br != nil && n <= c.br.Size() {
		b, err := c.br.Peek(n)
		m, _ := c.br.Discard(len(b)) // the bytes are buffered: Discard cannot fail
		c.off += int64(m)
		return b, err
	}
	if n <= cap(c.buf) {
		b := c.buf[:n]
		m, err := io.ReadFull(c.r, b)
		c.off += int64(m)
		return b, err
	}
	b := c.buf[:0]
	for len(b) < n {
		step := min(n-len(b), max(len(b), growStep))
		if cap(b)-len(b) < step {
			nb := make([]byte, len(b), len(b)+step)
			copy(nb, b)
			b = nb
		}
		m, err := io.ReadFull(c.r, b[len(b):len(b)+step])
		c.off += int64(m)
		b = b[:len(b)+m]
		if err != nil {
			c.buf = b[:0]
			return b, err
		}
	}
	c.buf = b[:0]
	return b, nil
}

func (c *Reader) pcapNext() (Record, error) {
	at := c.off
	h := c.hdr[:16]
	n, err := io.ReadFull(c.r, h)
	c.off += int64(n)
	if err == io.EOF {
		return Record{}, io.EOF
	}
	if err != nil {
		return Record{}, c.fail(at, "pcap record header cut short", err)
	}
	secs := int64(c.order.Uint32(h[0:]))
	frac := int64(c.order.Uint32(h[4:]))
	capLen := c.order.Uint32(h[8:])
	origLen := c.order.Uint32(h[12:])
	if capLen > MaxSnapLen {
		return Record{}, c.fail(at, fmt.Sprintf("record of %d bytes exceeds the %d-byte limit", capLen, MaxSnapLen), nil)
	}
	data, err := c.read(int(capLen))
	if err != nil {
		return Record{}, c.fail(at, "pcap record data cut short", err)
	}
	ns := frac * 1000
	if c.format == FormatPcapNano {
		ns = frac
	}
	return Record{
		TimeUnixNano: secs*1e9 + ns,
		CapLen:       capLen,
		OrigLen:      origLen,
		LinkType:     c.ifaces[0].LinkType,
		Data:         data,
	}, nil
}

// Block types and limits only the reader needs.
const (
	ngBlockJournal      = 9 // systemd journal export
	ngBlockCustom       = 0x00000bad
	ngBlockCustomNoCopy = 0x40000bad

	ngMinBlockBytes  = 12 // type, length, trailing length
	ngMinSHBBytes    = 28
	ngMaxTSResolExp  = 63 // beyond, units per second overflow 64 bits for 2^x (10^x stops at 19)
	ngMaxDecimalExp  = 19
	ngEPBHeaderBytes = 20
)

// ngNext reads blocks until a packet block and returns its record.
func (c *Reader) ngNext() (Record, error) {
	for {
		at := c.off
		h := c.hdr[:8]
		n, err := io.ReadFull(c.r, h)
		c.off += int64(n)
		if err == io.EOF {
			return Record{}, io.EOF
		}
		if err != nil {
			return Record{}, c.fail(at, "pcapng block header cut short", err)
		}
		if binary.LittleEndian.Uint32(h) == BlockSectionHeader {
			// The length field is in the new section's byte order, known only after
			// the byte-order magic, so the header is re-read from there.
			if err := c.ngSectionHeaderAfter(at, h); err != nil {
				return Record{}, err
			}
			continue
		}
		typ, total := c.order.Uint32(h[0:]), c.order.Uint32(h[4:])
		if total < ngMinBlockBytes || total%4 != 0 || total > maxBlockBytes {
			return Record{}, c.fail(at, fmt.Sprintf("pcapng block type %#x length %d invalid", typ, total), nil)
		}
		body, err := c.read(int(total) - 8)
		if err != nil {
			return Record{}, c.fail(at, fmt.Sprintf("pcapng block type %#x cut short", typ), err)
		}
		if trail := c.order.Uint32(body[len(body)-4:]); trail != total {
			return Record{}, c.fail(at, fmt.Sprintf("pcapng block length %d and trailing length %d differ", total, trail), nil)
		}
		body = body[:len(body)-4]
		switch typ {
		case BlockEnhancedPacket, BlockPacket:
			return c.ngPacket(at, typ, body)
		case BlockSimplePacket:
			return c.ngSimplePacket(at, body)
		case BlockInterface:
			if err := c.ngInterface(at, body); err != nil {
				return Record{}, err
			}
		case BlockStatistics:
			if err := c.ngStatistics(at, body); err != nil {
				return Record{}, err
			}
		case ngBlockCustom, ngBlockCustomNoCopy, ngBlockJournal:
			// Wireshark numbers these as frames too; counting them keeps our frame
			// numbers the ones an analyst sees when opening the evidence.
			c.frames++
		}
		// Other blocks (name resolution, decryption secrets, custom) carry nothing
		// the analysis uses and are skipped whole.
	}
}

// ngSectionHeaderAfter handles a section header whose first 8 bytes (type and
// length of unknown byte order) are in h.
func (c *Reader) ngSectionHeaderAfter(at int64, h []byte) error {
	var bom [4]byte
	if _, err := io.ReadFull(c.r, bom[:]); err != nil {
		return c.fail(at, "pcapng section header cut short", err)
	}
	c.off += 4
	switch ByteOrderMagic {
	case binary.LittleEndian.Uint32(bom[:]):
		c.order = binary.LittleEndian
	case binary.BigEndian.Uint32(bom[:]):
		c.order = binary.BigEndian
	default:
		return c.fail(at, fmt.Sprintf("pcapng byte-order magic % x invalid", bom[:]), nil)
	}
	total := c.order.Uint32(h[4:])
	if total < ngMinSHBBytes || total%4 != 0 || total > maxBlockBytes {
		return c.fail(at, fmt.Sprintf("pcapng section header length %d invalid", total), nil)
	}
	body, err := c.read(int(total) - 12)
	if err != nil {
		return c.fail(at, "pcapng section header cut short", err)
	}
	if major := c.order.Uint16(body[0:]); major != 1 {
		return c.fail(at, fmt.Sprintf("pcapng version %d.%d not supported", major, c.order.Uint16(body[2:])), nil)
	}
	if trail := c.order.Uint32(body[len(body)-4:]); trail != total {
		return c.fail(at, fmt.Sprintf("pcapng block length %d and trailing length %d differ", total, trail), nil)
	}
	c.section++
	c.sectionBase = len(c.ifaces)
	return nil
}

// ngOptions calls fn for each option in b, stopping at opt_endofopt. Options that
// overrun the block end the walk: the fixed part of the block is still good.
func (c *Reader) ngOptions(b []byte, fn func(code uint16, val []byte)) {
	for len(b) >= 4 {
		code, n := c.order.Uint16(b[0:]), int(c.order.Uint16(b[2:]))
		if code == OptEnd {
			return
		}
		b = b[4:]
		if n > len(b) {
			return
		}
		fn(code, b[:n])
		pad := (n + 3) &^ 3
		if pad > len(b) {
			return
		}
		b = b[pad:]
	}
}

func (c *Reader) ngInterface(at int64, body []byte) error {
	if len(body) < 8 {
		return c.fail(at, "pcapng interface description too short", nil)
	}
	if len(c.ifaces) >= maxInterfaces {
		return c.fail(at, fmt.Sprintf("more than %d interfaces", maxInterfaces), nil)
	}
	iface := Interface{
		Section:   c.section,
		LinkType:  LinkType(c.order.Uint16(body[0:])),
		SnapLen:   c.order.Uint32(body[4:]),
		tsDecimal: true,
		tsExp:     6,
	}
	var bad string
	c.ngOptions(body[8:], func(code uint16, val []byte) {
		switch code {
		case OptIfName:
			iface.Name = optionString(val)
		case OptIfDescription:
			iface.Description = optionString(val)
		case OptIfTSResol:
			if len(val) < 1 {
				return
			}
			iface.tsDecimal = val[0]&0x80 == 0
			iface.tsExp = val[0] & 0x7f
			if iface.tsDecimal && iface.tsExp > ngMaxDecimalExp || iface.tsExp > ngMaxTSResolExp {
				bad = fmt.Sprintf("if_tsresol %#x out of range", val[0])
			}
		case OptIfTSOffset:
			if len(val) >= 8 {
				iface.tsOffsetSecs = int64(c.order.Uint64(val))
			}
		}
	})
	if bad != "" {
		return c.fail(at, bad, nil)
	}
	c.ifaces = append(c.ifaces, iface)
	return nil
}

// optionString copies an option value into a string, bounded and without the NUL
// padding some writers include.
func optionString(val []byte) string {
	if len(val) > maxStringBytes {
		val = val[:maxStringBytes]
	}
	for len(val) > 0 && val[len(val)-1] == 0 {
		val = val[:len(val)-1]
	}
	return string(val)
}

// ngIface maps a section-local interface id to the global index.
func (c *Reader) ngIface(at int64, id uint32) (int, error) {
	if uint64(id) >= uint64(len(c.ifaces)-c.sectionBase) {
		return 0, c.fail(at, fmt.Sprintf("interface id %d not described in section %d", id, c.section), nil)
	}
	return c.sectionBase + int(id), nil
}

func (c *Reader) ngPacket(at int64, typ uint32, body []byte) (Record, error) {
	if len(body) < ngEPBHeaderBytes {
		return Record{}, c.fail(at, "pcapng packet block too short", nil)
	}
	var id uint32
	if typ == BlockEnhancedPacket {
		id = c.order.Uint32(body[0:])
	} else {
		id = uint32(c.order.Uint16(body[0:])) // the obsolete block also holds a drop count
	}
	idx, err := c.ngIface(at, id)
	if err != nil {
		return Record{}, err
	}
	ts := uint64(c.order.Uint32(body[4:]))<<32 | uint64(c.order.Uint32(body[8:]))
	capLen, origLen := c.order.Uint32(body[12:]), c.order.Uint32(body[16:])
	if capLen > MaxSnapLen {
		return Record{}, c.fail(at, fmt.Sprintf("record of %d bytes exceeds the %d-byte limit", capLen, MaxSnapLen), nil)
	}
	if uint64(capLen) > uint64(len(body)-ngEPBHeaderBytes) {
		return Record{}, c.fail(at, fmt.Sprintf("captured length %d overruns the block", capLen), nil)
	}
	iface := &c.ifaces[idx]
	return Record{
		TimeUnixNano: iface.timeUnixNano(ts),
		CapLen:       capLen,
		OrigLen:      origLen,
		LinkType:     iface.LinkType,
		Interface:    idx,
		Data:         body[ngEPBHeaderBytes : ngEPBHeaderBytes+capLen],
	}, nil
}

func (c *Reader) ngSimplePacket(at int64, body []byte) (Record, error) {
	if len(body) < 4 {
		return Record{}, c.fail(at, "pcapng simple packet block too short", nil)
	}
	idx, err := c.ngIface(at, 0)
	if err != nil {
		return Record{}, err
	}
	iface := &c.ifaces[idx]
	origLen := c.order.Uint32(body[0:])
	// The captured length is implied: the original length cut at the snap length.
	capLen := uint64(origLen)
	if iface.SnapLen != 0 && capLen > uint64(iface.SnapLen) {
		capLen = uint64(iface.SnapLen)
	}
	if capLen > uint64(len(body)-4) {
		return Record{}, c.fail(at, fmt.Sprintf("packet length %d overruns the simple packet block", capLen), nil)
	}
	if capLen > MaxSnapLen {
		return Record{}, c.fail(at, fmt.Sprintf("record of %d bytes exceeds the %d-byte limit", capLen, MaxSnapLen), nil)
	}
	return Record{
		CapLen:    uint32(capLen),
		OrigLen:   origLen,
		LinkType:  iface.LinkType,
		Interface: idx,
		Data:      body[4 : 4+capLen],
	}, nil
}

func (c *Reader) ngStatistics(at int64, body []byte) error {
	if len(body) < 12 {
		return c.fail(at, "pcapng interface statistics block too short", nil)
	}
	idx, err := c.ngIface(at, c.order.Uint32(body[0:]))
	if err != nil {
		return err
	}
	iface := &c.ifaces[idx]
	iface.HasStats = true
	c.ngOptions(body[12:], func(code uint16, val []byte) {
		if len(val) < 8 {
			return
		}
		v := c.order.Uint64(val)
		switch code {
		case OptISBIfRecv:
			iface.Received, iface.HasReceived = v, true
		case OptISBIfDrop:
			iface.Dropped, iface.HasDropped = v, true
		case OptISBOSDrop:
			iface.OSDropped, iface.HasOSDrop = v, true
		}
	})
	return nil
}

// timeUnixNano converts a pcapng timestamp in the interface's units to nanoseconds
// since the epoch. Values beyond the int64 range wrap; they are garbage either way.
func (i *Interface) timeUnixNano(ts uint64) int64 {
	var secs, ns uint64
	if i.tsDecimal {
		per := tenPow[i.tsExp]
		secs = ts / per
		frac := ts % per
		if i.tsExp <= 9 {
			ns = frac * tenPow[9-i.tsExp]
		} else {
			ns = frac / tenPow[i.tsExp-9]
		}
	} else {
		secs = ts >> i.tsExp
		frac := ts & (1<<i.tsExp - 1)
		if i.tsExp > 0 {
			// frac < 2^tsExp, so frac*1e9 >> tsExp < 1e9 even though the product needs 94 bits.
			hi, lo := bits.Mul64(frac, 1e9)
			ns = hi<<(64-i.tsExp) | lo>>i.tsExp
		}
	}
	return (int64(secs)+i.tsOffsetSecs)*1e9 + int64(ns)
}

var tenPow = [ngMaxDecimalExp + 1]uint64{
	1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
	1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}
