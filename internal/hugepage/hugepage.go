// Package hugepage prepares large slices that are about to be filled:
// it asks the kernel to back them with transparent huge pages, where it
// can, and to fault their pages in at once.
//
// The first touch of each 4 KiB page of fresh memory is a page fault; in
// a virtual machine each costs some microseconds (the guest's fault and the
// host's), so that touching the 100 MB of flows and contacts an analysis
// of a large capture holds costs more than building them. A 2 MiB huge
// page is one fault. The Go runtime asks for none (transparent huge pages
// are most often enabled "madvise", for memory that asks), so the slices
// that are large and filled at once ask for themselves.
//
// A slice of a type with pointers is faulted twice when the collector
// runs between its allocation and its filling: the collector scans the
// untouched slice, which maps the kernel's zero page under each page read,
// and each first write then faults again to get a page of its own. A
// fault of a mapping's every page in one call, before the slice is
// filled, takes neither.
package hugepage

import "unsafe"

// MinBytes is the smallest slice Advise acts on: below two huge pages the
// aligned part is too small to matter.
const MinBytes = 4 << 20

// Advise prepares s, to its capacity, to be written whole: on Linux, it
// asks for huge pages (madvise(MADV_HUGEPAGE)) on the 2 MiB-aligned part of
// it, then faults every page of it in for writing in one call
// (MADV_POPULATE_WRITE, Linux 5.14 and later); elsewhere, and for a slice
// under MinBytes, it does nothing. Call it right after making the slice,
// before it is first written or the collector reads it: memory already
// touched keeps its small pages. Pass only the capacity that will be
// written (s[:0:n]): what Advise faults in is resident from then on. It
// changes nothing a program can observe but time and resident memory; a
// kernel that refuses either request is ignored.
func Advise[T any](s []T) {
	var zero T
	n := uintptr(cap(s)) * unsafe.Sizeof(zero)
	if n < MinBytes {
		return
	}
	advise(unsafe.Pointer(unsafe.SliceData(s[:cap(s)])), n)
}
