package capture

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/dockcase/dockcase/internal/pcapfilter"
	"golang.org/x/sys/unix"
)

// pcapng (draft-ietf-opsawg-pcapng), written little-endian.
const (
	pcapngTypeSHB       = 0x0A0D0D0A
	pcapngTypeIDB       = 1
	pcapngTypeISB       = 5
	pcapngTypeEPB       = 6
	pcapngByteOrder     = 0x1A2B3C4D
	pcapngOptEnd        = 0
	pcapngOptComment    = 1
	pcapngOptShbOS      = 3
	pcapngOptShbUserApp = 4
	pcapngOptIfName     = 2
	pcapngOptIfDesc     = 3
	pcapngOptIfTsresol  = 9
	pcapngOptIfFilter   = 11
	pcapngOptEpbFlags   = 2
	pcapngOptIsbStart   = 2
	pcapngOptIsbEnd     = 3
	pcapngOptIsbIfRecv  = 4
	pcapngOptIsbIfDrop  = 5
	pcapngOptIsbUsrDel  = 8
	// pcapngStatsBlockBytes is the size of the statistics block written:
	// 12 bytes of header and trailer, 12 of body, 5 options and the end.
	pcapngStatsBlockBytes = 12 + 12 + 5*12 + 4
)

type pcapngOption struct {
	code uint16
	val  []byte
}

// pcapngBlock assembles a block from its body and options.
func pcapngBlock(typ uint32, body []byte, opts []pcapngOption) []byte {
	le := binary.LittleEndian
	n := 12 + len(body)
	for _, o := range opts {
		n += 4 + len(o.val) + (-len(o.val) & 3)
	}
	if len(opts) > 0 {
		n += 4
	}
	b := make([]byte, 0, n)
	b = le.AppendUint32(b, typ)
	b = le.AppendUint32(b, uint32(n))
	b = append(b, body...)
	for _, o := range opts {
		b = le.AppendUint16(b, o.code)
		b = le.AppendUint16(b, uint16(len(o.val)))
		b = append(b, o.val...)
		b = append(b, make([]byte, -len(o.val)&3)...)
	}
	if len(opts) > 0 {
		b = le.AppendUint32(b, pcapngOptEnd)
	}
	return le.AppendUint32(b, uint32(n))
}

func pcapngString(code uint16, s string) pcapngOption {
	return pcapngOption{code, []byte(s)}
}

func pcapngU64(code uint16, v uint64) pcapngOption {
	return pcapngOption{code, binary.LittleEndian.AppendUint64(nil, v)}
}

// pcapngTime is a timestamp option: high then low 32 bits of nanoseconds.
func pcapngTime(code uint16, t time.Time) pcapngOption {
	ns := uint64(t.UnixNano())
	b := binary.LittleEndian.AppendUint32(nil, uint32(ns>>32))
	return pcapngOption{code, binary.LittleEndian.AppendUint32(b, uint32(ns))}
}

// pcapngSectionHeader is the Section Header Block, of unknown section length.
func pcapngSectionHeader(app string) []byte {
	body := binary.LittleEndian.AppendUint32(nil, pcapngByteOrder)
	body = binary.LittleEndian.AppendUint16(body, 1) // major
	body = binary.LittleEndian.AppendUint16(body, 0) // minor
	body = binary.LittleEndian.AppendUint64(body, ^uint64(0))
	opts := []pcapngOption{pcapngString(pcapngOptShbUserApp, app)}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		opts = append(opts, pcapngString(pcapngOptShbOS, unix.ByteSliceToString(u.Sysname[:])+" "+unix.ByteSliceToString(u.Release[:])))
	}
	return pcapngBlock(pcapngTypeSHB, body, opts)
}

// pcapngInterfaceBlock is an Interface Description Block with nanosecond
// timestamps.
func pcapngInterfaceBlock(lt pcapfilter.LinkType, snaplen uint32, name, desc, filter string) []byte {
	body := binary.LittleEndian.AppendUint16(nil, uint16(lt))
	body = binary.LittleEndian.AppendUint16(body, 0)
	body = binary.LittleEndian.AppendUint32(body, snaplen)
	opts := []pcapngOption{
		pcapngString(pcapngOptIfName, name),
		pcapngString(pcapngOptIfDesc, capLabel(desc)),
		{pcapngOptIfTsresol, []byte{9}},
	}
	if filter != "" {
		// The first byte 0 says: a libpcap filter string.
		opts = append(opts, pcapngOption{pcapngOptIfFilter, append([]byte{0}, filter...)})
	}
	return pcapngBlock(pcapngTypeIDB, body, opts)
}

// pcapngStatsBlock is an Interface Statistics Block with the kernel's
// counters and the packets written.
func pcapngStatsBlock(id uint32, start, end time.Time, recv, drop, delivered uint64) []byte {
	ns := uint64(end.UnixNano())
	body := binary.LittleEndian.AppendUint32(nil, id)
	body = binary.LittleEndian.AppendUint32(body, uint32(ns>>32))
	body = binary.LittleEndian.AppendUint32(body, uint32(ns))
	return pcapngBlock(pcapngTypeISB, body, []pcapngOption{
		pcapngTime(pcapngOptIsbStart, start),
		pcapngTime(pcapngOptIsbEnd, end),
		pcapngU64(pcapngOptIsbIfRecv, recv),
		pcapngU64(pcapngOptIsbIfDrop, drop),
		pcapngU64(pcapngOptIsbUsrDel, delivered),
	})
}

// pcapngEPBBytes is the size of an Enhanced Packet Block of capLen bytes
// with its flags option.
func pcapngEPBBytes(capLen int) int {
	return 28 + capLen + (-capLen & 3) + 12 + 4
}

// pcapngAppendPacket appends an Enhanced Packet Block whose data is head
// then data, with an epb_flags option.
func pcapngAppendPacket(b []byte, id uint32, tsNanos uint64, head, data []byte, origLen, flags uint32) []byte {
	n := pcapngEPBBytes(len(head) + len(data))
	off := len(b)
	b = slices.Grow(b, n)[:off+n]
	pcapngPutPacket(b[off:], id, tsNanos, head, data, origLen, flags)
	return b
}

// pcapngPutPacket writes an Enhanced Packet Block whose data is head then
// data, with an epb_flags option, into p, which is exactly its size.
func pcapngPutPacket(p []byte, id uint32, tsNanos uint64, head, data []byte, origLen, flags uint32) {
	le := binary.LittleEndian
	capLen := len(head) + len(data)
	_ = p[27]
	le.PutUint32(p[0:], pcapngTypeEPB)
	le.PutUint32(p[4:], uint32(len(p)))
	le.PutUint32(p[8:], id)
	le.PutUint32(p[12:], uint32(tsNanos>>32))
	le.PutUint32(p[16:], uint32(tsNanos))
	le.PutUint32(p[20:], uint32(capLen))
	le.PutUint32(p[24:], max(origLen, uint32(capLen)))
	// Zero the last word of the data before copying it: what the data
	// does not cover of it is the padding.
	le.PutUint32(p[28+capLen&^3:], 0)
	copy(p[28+copy(p[28:], head):], data)
	t := p[len(p)-16:]
	_ = t[15]
	le.PutUint16(t[0:], pcapngOptEpbFlags)
	le.PutUint16(t[2:], 4)
	le.PutUint32(t[4:], flags)
	le.PutUint32(t[8:], pcapngOptEnd)
	le.PutUint32(t[12:], uint32(len(p)))
}
