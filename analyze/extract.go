package analyze

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// pcapng options written by Extract (the block types and the other option
// codes are capture.go's).
const (
	extractOptComment      = 1
	extractTSResolNanosecs = 9
	// extractMaxOptionBytes bounds a name or description copied into an
	// interface block: 4 KiB (they come from the capture, and a pcapng
	// option length is 16 bits).
	extractMaxOptionBytes = 4 << 10
)

// ExtractStats counts what Extract wrote.
type ExtractStats struct {
	Packets    uint64
	Bytes      uint64
	Interfaces int
	// Fragments counts later IP fragments of selected flows that were
	// written (matched by IP id to a first fragment written before).
	Fragments uint64
}

// Extract writes the packets of the selected flows, from every capture in
// inputs, to w as one pcapng section. Every interface of every input gets
// an interface block with its name and description (renumbered across
// inputs, in input order), so Wireshark shows where each packet was
// captured; timestamps keep nanosecond resolution. Inputs are read one after
// the other; a capture that breaks off ends its part, never the whole.
func Extract(w io.Writer, inputs []CaptureInput, flows []*Flow) (ExtractStats, error) {
	var st ExtractStats
	type memberKey struct {
		member string
		key    FlowKey
	}
	want := make(map[memberKey]bool, len(flows))
	for _, f := range flows {
		if f.rec != nil {
			want[memberKey{f.rec.Point.Member, f.rec.Key()}] = true
		}
	}
	bw := bufio.NewWriterSize(w, flowReadBufferBytes)
	ng := &ngWriter{w: bw}
	ng.header()
	for _, in := range inputs {
		if in.Open == nil {
			continue
		}
		rc, err := in.Open()
		if err != nil {
			return st, fmt.Errorf("extract: open %q: %w", in.Member, err)
		}
		c, err := OpenCapture(bufio.NewReaderSize(rc, flowReadBufferBytes), in.Member)
		if err != nil {
			rc.Close()
			return st, fmt.Errorf("extract: %w", err)
		}
		base := ng.ifaces
		written := 0
		frags := map[flowFragKey]bool{}
		var p Packet
		var ev flowEvent
		for {
			rec, err := c.Next()
			if err != nil {
				break // io.EOF, or a broken capture: what came before is written
			}
			for ifs := c.Interfaces(); written < len(ifs); written++ {
				ng.iface(ifs[written])
			}
			// The flow table's own decoding gives the keys, so that the
			// packets written are exactly those counted in the flows.
			decodeFlowEvent(&rec, &p, &ev)
			switch {
			case ev.kind == flowEvFragment && frags[ev.fragKey()]:
				st.Fragments++
			case ev.kind == flowEvFlow && want[memberKey{in.Member, ev.key}]:
				if ev.has(flowEvFragFirst) && len(frags) < flowMaxFragments {
					frags[ev.fragKey()] = true
				}
			default:
				continue
			}
			ng.packet(base+rec.Interface, &rec)
			st.Packets++
			st.Bytes += uint64(rec.CapLen)
		}
		for ifs := c.Interfaces(); written < len(ifs); written++ {
			ng.iface(ifs[written])
		}
		rc.Close()
		if ng.err != nil {
			break
		}
	}
	st.Interfaces = ng.ifaces
	if ng.err != nil {
		return st, fmt.Errorf("extract: write: %w", ng.err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("extract: write: %w", err)
	}
	return st, nil
}

// ngWriter writes a little-endian pcapng stream; the first write error is
// kept and later writes are skipped.
type ngWriter struct {
	w      io.Writer
	ifaces int
	err    error
	buf    []byte
}

func (n *ngWriter) block(typ uint32, body []byte) {
	if n.err != nil {
		return
	}
	total := 12 + len(body)
	b := n.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = append(b, body...)
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	n.buf = b
	_, n.err = n.w.Write(b)
}

func ngOption(b []byte, code uint16, val []byte) []byte {
	if len(val) > extractMaxOptionBytes {
		val = val[:extractMaxOptionBytes]
	}
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (n *ngWriter) header() {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, ngByteOrderMagic)
	b = binary.LittleEndian.AppendUint16(b, 1) // major
	b = binary.LittleEndian.AppendUint16(b, 0) // minor
	b = binary.LittleEndian.AppendUint64(b, ^uint64(0))
	b = ngOption(b, extractOptComment, []byte("dockcase extract: one container's packets from every capture point"))
	b = ngOption(b, ngOptEnd, nil)
	n.block(ngBlockSHB, b)
}

func (n *ngWriter) iface(ci CaptureInterface) {
	var b []byte
	b = binary.LittleEndian.AppendUint16(b, uint16(ci.LinkType))
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, ci.SnapLen)
	if ci.Name != "" {
		b = ngOption(b, ngOptIfName, []byte(ci.Name))
	}
	if ci.Description != "" {
		b = ngOption(b, ngOptIfDesc, []byte(ci.Description))
	}
	b = ngOption(b, ngOptIfTSResol, []byte{extractTSResolNanosecs})
	b = ngOption(b, ngOptEnd, nil)
	n.block(ngBlockIDB, b)
	n.ifaces++
}

func (n *ngWriter) packet(iface int, r *Record) {
	b := make([]byte, 0, 20+len(r.Data)+3)
	ts := uint64(r.TimeUnixNano)
	b = binary.LittleEndian.AppendUint32(b, uint32(iface))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts>>32))
	b = binary.LittleEndian.AppendUint32(b, uint32(ts))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Data)))
	b = binary.LittleEndian.AppendUint32(b, r.OrigLen)
	b = append(b, r.Data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	n.block(ngBlockEPB, b)
}
