package analyze

import (
	"bufio"
	"fmt"
	"io"

	"github.com/dockcase/dockcase/internal/pcapng"
)

// Limits of what Extract writes.
const (
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
	ng := pcapng.NewWriter(bw, extractOption(pcapng.OptComment, "dockcase extract: one container's packets from every capture point"))
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
		base := ng.Interfaces()
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
				extractInterface(ng, ifs[written])
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
			ng.WritePacket(base+rec.Interface, rec.TimeUnixNano, rec.Data, rec.OrigLen)
			st.Packets++
			st.Bytes += uint64(rec.CapLen)
		}
		for ifs := c.Interfaces(); written < len(ifs); written++ {
			extractInterface(ng, ifs[written])
		}
		rc.Close()
		if ng.Err() != nil {
			break
		}
	}
	st.Interfaces = ng.Interfaces()
	if err := ng.Err(); err != nil {
		return st, fmt.Errorf("extract: write: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("extract: write: %w", err)
	}
	return st, nil
}

// extractOption is an option of a block Extract writes, its value cut at
// extractMaxOptionBytes.
func extractOption(code uint16, s string) pcapng.Option {
	if len(s) > extractMaxOptionBytes {
		s = s[:extractMaxOptionBytes]
	}
	return pcapng.StringOption(code, s)
}

// extractInterface writes the interface block of ci: its name and
// description, and nanosecond timestamps.
func extractInterface(ng *pcapng.Writer, ci pcapng.Interface) {
	opts := make([]pcapng.Option, 0, 3)
	if ci.Name != "" {
		opts = append(opts, extractOption(pcapng.OptIfName, ci.Name))
	}
	if ci.Description != "" {
		opts = append(opts, extractOption(pcapng.OptIfDescription, ci.Description))
	}
	opts = append(opts, pcapng.Option{Code: pcapng.OptIfTSResol, Value: []byte{pcapng.TSResolNanoseconds}})
	ng.AddInterface(ci.LinkType, ci.SnapLen, opts...)
}
