package hugepage

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// TestAdvisePopulates advises a fresh anonymous mapping of 32 MiB, then
// reads every page of it (as the collector scans an untouched slice) and
// writes every page: the pages were faulted in by the advice, so neither
// the reading nor the writing faults more than a few of them. The control,
// a second fresh mapping not advised, faults each page once or twice (the
// zero page under the read, a page of its own on the write). Mappings of
// their own, not the Go heap, so that no memory the runtime reuses (already
// resident, or marked for huge pages by an earlier advice) blurs the count.
func TestAdvisePopulates(t *testing.T) {
	probe, err := syscall.Mmap(-1, 0, pageBytes, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip(err)
	}
	err = syscall.Madvise(probe, madvPopulateWrite)
	_ = syscall.Munmap(probe)
	if err != nil {
		t.Skipf("the kernel does not populate (MADV_POPULATE_WRITE: %v)", err)
	}
	// Under "always", the control gets huge pages too and faults little.
	enabled, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	thpAlways := strings.Contains(string(enabled), "[always]")
	const size = 32 << 20
	pages := int64(size / pageBytes)
	for _, advised := range []bool{true, false} {
		m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			t.Fatal(err)
		}
		before := minorFaults(t)
		if advised {
			advise(unsafe.Pointer(&m[0]), uintptr(len(m)))
			// No huge pages from here on: what the reading and writing
			// find was faulted in by the advice, not by their own faults.
			if err := syscall.Madvise(m, madvNoHugePage); err != nil {
				t.Fatal(err)
			}
		}
		afterAdvise := minorFaults(t)
		var sum byte
		for i := 0; i < len(m); i += pageBytes {
			sum += m[i]
		}
		for i := 0; i < len(m); i += pageBytes {
			m[i] = sum + 1
		}
		faults := minorFaults(t) - afterAdvise
		if err := syscall.Munmap(m); err != nil {
			t.Fatal(err)
		}
		t.Logf("advised %v: %d faults in the advice, %d in reading and writing %d pages", advised, afterAdvise-before, faults, pages)
		if advised && faults > pages/8 {
			t.Errorf("after the advice, reading and writing %d pages faulted %d times, want few", pages, faults)
		}
		if !advised && !thpAlways && faults < pages {
			// The control: the count measures what it should.
			t.Errorf("without the advice, reading and writing %d pages faulted only %d times, want one or two a page", pages, faults)
		}
	}
}

// madvNoHugePage is MADV_NOHUGEPAGE (asm-generic/mman-common.h).
const madvNoHugePage = 15

func minorFaults(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}
