package hugepage

import (
	"runtime"
	"syscall"
	"testing"
	"unsafe"
)

// TestAdvisePopulates makes a large slice of pointers, advises it, lets
// the collector run (it scans the slice) and fills it: the pages were
// faulted in by Advise, so neither the collector's reading nor the
// filling faults more than a few of them. Without the populating advice
// each page faults once or twice (the zero page under the collector's
// read, then a page of its own on the write).
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
	for _, advised := range []bool{true, false} {
		s := make([]*int, 32<<20/8)
		pages := int64(len(s) * int(unsafe.Sizeof(s[0])) / pageBytes)
		before := minorFaults(t)
		if advised {
			Advise(s)
		}
		afterAdvise := minorFaults(t)
		runtime.GC()
		x := new(int)
		for i := range s {
			s[i] = x
		}
		faults := minorFaults(t) - afterAdvise
		runtime.KeepAlive(s)
		t.Logf("advised %v: %d faults in Advise, %d in the collection and filling of %d pages", advised, afterAdvise-before, faults, pages)
		if advised && faults > pages/8 {
			t.Errorf("after Advise, collecting and filling %d pages faulted %d times, want few", pages, faults)
		}
		if !advised && faults < pages/2 {
			// The control: the count measures what it should.
			t.Errorf("without Advise, collecting and filling %d pages faulted only %d times", pages, faults)
		}
	}
}

func minorFaults(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}
