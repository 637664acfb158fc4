package pcapngtest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchRun is one run of the flow benchmarks' timing mode, which
// scripts/bench-flows.sh starts in the analyze/flow and analyze/traffic test
// binaries: DOCKCASE_FLOWS_BENCH names the mode, DOCKCASE_FLOWS_BENCH_FILES
// the captures (comma-separated).
type BenchRun struct {
	Mode  string
	Files []string
	// Bytes is the captures' size, the throughput's numerator; a mode that
	// reads them twice doubles it.
	Bytes int64
	start time.Time
}

// StartBench reads the mode and the captures, skips the test when they are
// not set, touches DOCKCASE_FLOWS_BENCH_PRETOUCH_MIB of heap first when
// asked (a diagnostic: the run then reuses those pages instead of touching
// fresh ones), and starts the clock.
func StartBench(t testing.TB) *BenchRun {
	t.Helper()
	mode, list := os.Getenv("DOCKCASE_FLOWS_BENCH"), os.Getenv("DOCKCASE_FLOWS_BENCH_FILES")
	if mode == "" || list == "" {
		t.Skip("timing mode for scripts/bench-flows.sh (set DOCKCASE_FLOWS_BENCH and DOCKCASE_FLOWS_BENCH_FILES)")
	}
	r := &BenchRun{Mode: mode, Files: strings.Split(list, ",")}
	for _, f := range r.Files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		r.Bytes += st.Size()
	}
	if v := os.Getenv("DOCKCASE_FLOWS_BENCH_PRETOUCH_MIB"); v != "" {
		var mib int
		if _, err := fmt.Sscan(v, &mib); err != nil {
			t.Fatalf("DOCKCASE_FLOWS_BENCH_PRETOUCH_MIB=%q: %v", v, err)
		}
		TouchHeap(mib)
		runtime.GC()
	}
	r.start = time.Now()
	return r
}

// BenchMaxFlows is DOCKCASE_FLOWS_BENCH_MAX_FLOWS, the flow bound to run
// with; 0 (the default bound) when unset.
func BenchMaxFlows(t testing.TB) int {
	t.Helper()
	var n int
	if v := os.Getenv("DOCKCASE_FLOWS_BENCH_MAX_FLOWS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil {
			t.Fatalf("DOCKCASE_FLOWS_BENCH_MAX_FLOWS=%q: %v", v, err)
		}
	}
	return n
}

// Report prints the run's one line of figures, the line the script reads.
func (r *BenchRun) Report(packets, flows uint64) {
	wall := time.Since(r.start).Seconds()
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	fmt.Printf("BENCH mode=%s files=%d bytes=%d packets=%d flows=%d wall_s=%.3f cpu_s=%.3f mb_per_s=%.1f maxrss_kib=%d\n",
		r.Mode, len(r.Files), r.Bytes, packets, flows, wall, cpu, float64(r.Bytes)/1e6/wall, ru.Maxrss)
}

// TouchHeap allocates mib MiB of fresh heap, writes one byte in each 4 KiB
// page, and lets it go; it returns mib.
func TouchHeap(mib int) int {
	b := make([]byte, mib<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	runtime.KeepAlive(b)
	return mib
}
