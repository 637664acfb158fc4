package traffic

import (
	"io"
	"os"
	"testing"

	"github.com/dockcase/dockcase/analyze/flow"
)

// BenchmarkFuseCapture fuses the flows of the capture named by
// DOCKCASE_FUSE_BENCH_FILE (one scripts/gencapture writes), attributed as
// TestFlowsBenchMode attributes them: the fusion's own cost, apart from
// reading the capture.
func BenchmarkFuseCapture(b *testing.B) {
	file := os.Getenv("DOCKCASE_FUSE_BENCH_FILE")
	if file == "" {
		b.Skip("DOCKCASE_FUSE_BENCH_FILE names no capture (scripts/gencapture writes one)")
	}
	set := flow.ReadAll([]flow.Input{{Member: file, Open: func() (io.ReadCloser, error) { return os.Open(file) }}}, flow.Options{})
	for _, c := range set.Captures {
		if c.Err != nil {
			b.Fatal(c.Err)
		}
	}
	a := flowsBenchAttributor(set)
	tr := a.attribute(set)
	b.ReportAllocs()
	for b.Loop() {
		tr.Contacts = nil
		fuse(a.h, tr)
	}
	b.ReportMetric(float64(len(tr.Contacts)), "contacts")
}
