package hugepage

import (
	"syscall"
	"unsafe"
)

// hugePageBytes is the size of a transparent huge page on the platforms
// Go runs Linux on that have them (x86-64, arm64 with 4 KiB pages).
const hugePageBytes = 2 << 20

func advise(p unsafe.Pointer, n uintptr) {
	// The ranges are inside the slice's allocation, which the caller keeps
	// alive; madvise marks the mapping and faults pages in, nothing else.
	addr := uintptr(p)
	if start, end := roundUp(addr, hugePageBytes), roundDown(addr+n, hugePageBytes); start < end {
		_ = syscall.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, start-addr)), end-start), madvHugePage)
	}
	if start, end := roundUp(addr, pageBytes), roundDown(addr+n, pageBytes); start < end {
		_ = syscall.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, start-addr)), end-start), madvPopulateWrite)
	}
}

func roundUp(a, to uintptr) uintptr   { return (a + to - 1) &^ (to - 1) }
func roundDown(a, to uintptr) uintptr { return a &^ (to - 1) }

// pageBytes is the size of the small pages of the platforms Go runs Linux
// on with transparent huge pages; a larger page size only makes the
// populated range's ends unaligned, which the kernel refuses (ignored).
const pageBytes = 4 << 10

// madvHugePage is MADV_HUGEPAGE, madvPopulateWrite MADV_POPULATE_WRITE
// (asm-generic/mman-common.h).
const (
	madvHugePage      = 14
	madvPopulateWrite = 23
)
