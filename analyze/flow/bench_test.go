package flow

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"

	"github.com/dockcase/dockcase/internal/packet"
	"github.com/dockcase/dockcase/internal/pcapng"
	"github.com/dockcase/dockcase/internal/pcapng/pcapngtest"
	"github.com/gopacket/gopacket/layers"
)

// flowsBenchRecords returns records of n distinct TCP flows (one packet each,
// alternating directions over the set) for steady-state benchmarks.
func flowsBenchRecords(t testing.TB, n int) []pcapng.Record {
	t.Helper()
	recs := make([]pcapng.Record, 0, 2*n)
	for i := range n {
		src := fmt.Sprintf("172.%d.%d.%d", 20+i%2, i/250%250, 2+i%250)
		dst := fmt.Sprintf("198.51.100.%d", 1+i%254)
		out := &layers.TCP{SrcPort: layers.TCPPort(32768 + i%20000), DstPort: 443, ACK: true, DataOffset: 5}
		back := &layers.TCP{SrcPort: 443, DstPort: layers.TCPPort(32768 + i%20000), ACK: true, DataOffset: 5}
		for _, d := range [][]byte{
			flowsPacket(t, src, dst, out, make([]byte, 100+i%1300), nil),
			flowsPacket(t, dst, src, back, make([]byte, i%200), nil),
		} {
			recs = append(recs, pcapng.Record{TimeUnixNano: int64(len(recs)), CapLen: uint32(len(d)), OrigLen: uint32(len(d)),
				LinkType: pcapng.LinkTypeEthernet, Frame: uint64(len(recs) + 1), Data: d})
		}
	}
	return recs
}

// BenchmarkFlowTableAdd measures the per-packet update of flows already in the
// table (decoding included): the steady state, which must not allocate.
func BenchmarkFlowTableAdd(b *testing.B) {
	recs := flowsBenchRecords(b, 4096)
	t := NewTable("bench", "", Options{})
	for i := range recs {
		t.Add(&recs[i])
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t.Add(&recs[i])
		i++
		if i == len(recs) {
			i = 0
		}
	}
}

func TestFlowTableAddAllocs(t *testing.T) {
	recs := flowsBenchRecords(t, 512)
	tab := NewTable("allocs", "", Options{})
	for i := range recs {
		tab.Add(&recs[i])
	}
	i := 0
	if n := testing.AllocsPerRun(10000, func() {
		tab.Add(&recs[i%len(recs)])
		i++
	}); n != 0 {
		t.Errorf("Table.Add of a known flow allocates %v times per packet, want 0", n)
	}
}

// flowsBenchBytesPerFlow fills a table with n flows and returns the heap it holds
// per flow.
func flowsBenchBytesPerFlow(t testing.TB, n int) float64 {
	t.Helper()
	var p packet.Packet
	rec := pcapng.Record{LinkType: pcapng.LinkTypeEthernet}
	data := flowsPacket(t, "172.20.0.2", "198.51.100.1", &layers.UDP{SrcPort: 1, DstPort: 53}, nil, nil)
	rec.Data = data
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tab := NewTable("mem", "", Options{MaxFlows: n + 1})
	for i := range n {
		// Vary the source address and port: every packet a new flow.
		binary.BigEndian.PutUint32(data[14+12:], 0xac140000|uint32(i>>8))
		binary.BigEndian.PutUint16(data[14+20:], uint16(i))
		rec.Frame = uint64(i + 1)
		tab.Add(&rec)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if tab.Len() != n {
		t.Fatalf("table has %d flows, want %d", tab.Len(), n)
	}
	_ = packet.Decode(pcapng.LinkTypeEthernet, data, &p)
	runtime.KeepAlive(tab)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestFlowTableBytesPerFlow checks the flow table's part of the memory figure
// DefaultMaxFlows is based on.
func TestFlowTableBytesPerFlow(t *testing.T) {
	per := flowsBenchBytesPerFlow(t, 300_000)
	t.Logf("%.0f bytes per flow; a full default table holds %.0f MiB", per, per*DefaultMaxFlows/(1<<20))
	if per > 170 {
		t.Errorf("%.0f bytes per flow, want at most 170 (DefaultMaxFlows assumes at most 152)", per)
	}
}

// BenchmarkFlowTableMemory reports the heap held per flow.
func BenchmarkFlowTableMemory(b *testing.B) {
	for b.Loop() {
		b.ReportMetric(flowsBenchBytesPerFlow(b, 200_000), "B/flow")
	}
}

// BenchmarkFlowPipeline compares the bare record walk and the flow pipeline on the
// same generated capture held in memory.
func BenchmarkFlowPipeline(b *testing.B) {
	capture, _ := flowsGenCapture(b, b.TempDir(), "-size", "64MB", "-flows", "8000")
	file, err := os.ReadFile(capture)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("walk", func(b *testing.B) {
		b.SetBytes(int64(len(file)))
		for b.Loop() {
			if _, err := flowsWalk(bytes.NewReader(file)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pipeline", func(b *testing.B) {
		b.SetBytes(int64(len(file)))
		for b.Loop() {
			if _, err := Read(bytes.NewReader(file), "bench", "", Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// flowsWalk is the bare record walk: read each record and decode its headers.
func flowsWalk(r io.Reader) (packets uint64, err error) {
	c, err := pcapng.NewReader(bufio.NewReaderSize(r, readBufferBytes), "walk")
	if err != nil {
		return 0, err
	}
	var p packet.Packet
	for {
		rec, err := c.Next()
		if err == io.EOF {
			return packets, nil
		}
		if err != nil {
			return packets, err
		}
		_ = packet.Decode(rec.LinkType, rec.Data, &p)
		packets++
	}
}

// TestFlowsBenchMode is the timing mode scripts/bench-flows.sh runs from a test
// binary: DOCKCASE_FLOWS_BENCH=walk|walk2|touch|pipeline over the
// comma-separated files in DOCKCASE_FLOWS_BENCH_FILES (the attribution mode,
// which needs the host model, is analyze's TestFlowsBenchMode). It prints one
// line of figures; it asserts only that the files read.
func TestFlowsBenchMode(t *testing.T) {
	run := pcapngtest.StartBench(t)
	mode, files, size := run.Mode, run.Files, run.Bytes
	var packets, flows uint64
	switch mode {
	case "walk":
		for _, f := range files {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			n, err := flowsWalk(fh)
			fh.Close()
			if err != nil {
				t.Fatal(err)
			}
			packets += n
		}
	case "pipeline":
		var inputs []Input
		for _, f := range files {
			inputs = append(inputs, Input{Member: f, Open: func() (io.ReadCloser, error) { return os.Open(f) }})
		}
		set := ReadAll(inputs, Options{MaxFlows: pcapngtest.BenchMaxFlows(t)})
		for _, c := range set.Captures {
			if c.Err != nil {
				t.Fatal(c.Err)
			}
			for _, p := range c.Points {
				packets += p.Counts.Packets
			}
		}
		flows = uint64(len(set.Flows))
	case "touch":
		// The first touch of fresh heap memory, one write per 4 KiB page:
		// what each page of the pipeline's peak memory costs on this
		// machine before it holds anything (under some hypervisors much
		// more than the work done in it).
		size = int64(pcapngtest.TouchHeap(256)) << 20
	case "walk2":
		// Two walks of the files at once, one goroutine each: how much of
		// a second core the machine gives to the walk's kind of work.
		var wg sync.WaitGroup
		var n [2]uint64
		for w := range 2 {
			wg.Go(func() {
				for _, f := range files {
					fh, err := os.Open(f)
					if err != nil {
						t.Error(err)
						return
					}
					k, err := flowsWalk(fh)
					fh.Close()
					if err != nil {
						t.Error(err)
					}
					n[w] += k
				}
			})
		}
		wg.Wait()
		packets = n[0] + n[1]
		size *= 2
	default:
		t.Fatalf("DOCKCASE_FLOWS_BENCH=%q: want walk, walk2, touch or pipeline (attribution: the analyze test binary)", mode)
	}
	run.Bytes = size
	run.Report(packets, flows)
}
