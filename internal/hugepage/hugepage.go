// Package hugepage asks the kernel to back large slices with transparent
// huge pages, where it can.
//
// The first touch of each 4 KiB page of fresh memory is a page fault; in
// a virtual machine each costs some microseconds (the guest's fault and the
// host's), so that touching the 100 MB of flows and contacts an analysis
// of a large capture holds costs more than building them. A 2 MiB huge
// page is one fault. The Go runtime asks for none (transparent huge pages
// are most often enabled "madvise", for memory that asks), so the slices
// that are large and filled at once ask for themselves.
package hugepage

import "unsafe"

// MinBytes is the smallest slice Advise acts on: below two huge pages the
// aligned part is too small to matter.
const MinBytes = 4 << 20

// Advise asks that the memory of s, to its capacity, be backed by huge
// pages: on Linux, madvise(MADV_HUGEPAGE) of the 2 MiB-aligned part of it;
// elsewhere, and for a slice under MinBytes, nothing. Call it before the
// slice is first written: memory already touched keeps its small pages.
// It changes nothing a program can observe but time and the granularity of
// its resident memory; a kernel that refuses is ignored.
func Advise[T any](s []T) {
	var zero T
	n := uintptr(cap(s)) * unsafe.Sizeof(zero)
	if n < MinBytes {
		return
	}
	advise(unsafe.Pointer(unsafe.SliceData(s[:cap(s)])), n)
}
