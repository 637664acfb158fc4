package flow

import (
	"bufio"
	"fmt"
	"io"

	"github.com/dockcase/dockcase/internal/packet"
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

// MemberKey names one flow for Extract: the capture member it was seen in
// and its key there (a key alone is not enough: interface indexes repeat
// across members).
type MemberKey struct {
	Member string
	Key    Key
}

// MemberKey returns the member and key of the flow.
func (r *Record) MemberKey() MemberKey { return MemberKey{r.Point.Member, r.Key()} }

// Extract writes the packets of the flows in keys, from every capture in
// inputs, to w as one pcapng section. Every interface of every input gets
// an interface block with its name and description (renumbered across
// inputs, in input order), so Wireshark shows where each packet was
// captured; timestamps keep nanosecond resolution. Inputs are read one after
// the other; a capture that breaks off ends its part, never the whole.
func Extract(w io.Writer, inputs []Input, keys []MemberKey) (ExtractStats, error) {
	var st ExtractStats
	want := make(map[MemberKey]bool, len(keys))
	members := map[string]bool{} // the inputs with a flow to extract
	for _, k := range keys {
		want[k] = true
		members[k.Member] = true
	}
	bw := bufio.NewWriterSize(w, readBufferBytes)
	ng := pcapng.NewWriter(bw, extractOption(pcapng.OptComment, "dockcase extract: one container's packets from every capture point"))
	for _, in := range inputs {
		if !members[in.Member] && in.Interfaces != nil {
			// Nothing to take from it, and its interfaces are known:
			// their blocks, without a second reading.
			for _, ci := range in.Interfaces {
				extractInterface(ng, ci)
			}
			continue
		}
		if in.Open == nil {
			continue
		}
		rc, err := in.Open()
		if err != nil {
			return st, fmt.Errorf("extract: open %q: %w", in.Member, err)
		}
		c, err := pcapng.NewReader(bufio.NewReaderSize(rc, readBufferBytes), in.Member)
		if err != nil {
			rc.Close()
			return st, fmt.Errorf("extract: %w", err)
		}
		base := ng.Interfaces()
		written := 0
		frags := map[datagramKey]bool{}
		var p packet.Packet
		var ev event
		for {
			rec, err := c.Next()
			if err != nil {
				break // io.EOF, or a broken capture: what came before is written
			}
			for ifs := c.Interfaces(); written < len(ifs); written++ {
				extractInterface(ng, ifs[written])
			}
			if !members[in.Member] {
				continue // only its interface blocks are written
			}
			// The flow table's own decoding gives the keys, so that the
			// packets written are exactly those counted in the flows.
			decodeEvent(&rec, &p, &ev)
			switch {
			case ev.kind == evFragment && frags[ev.fragKey()]:
				st.Fragments++
			case ev.kind == evFlow && want[MemberKey{in.Member, ev.key}]:
				if ev.has(evFragFirst) && len(frags) < maxFragments {
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
