package hugepage

import (
	"syscall"
	"unsafe"
)

// hugePageBytes is the size of a transparent huge page on the platforms
// Go runs Linux on that have them (x86-64, arm64 with 4 KiB pages).
const hugePageBytes = 2 << 20

func advise(p unsafe.Pointer, n uintptr) {
	addr := uintptr(p)
	start := (addr + hugePageBytes - 1) &^ (hugePageBytes - 1)
	end := (addr + n) &^ (hugePageBytes - 1)
	if end <= start {
		return
	}
	// The range is inside the slice's allocation, which the caller keeps
	// alive; madvise only marks the mapping.
	b := unsafe.Slice((*byte)(unsafe.Add(p, start-addr)), end-start)
	_ = syscall.Madvise(b, madvHugePage)
}

// madvHugePage is MADV_HUGEPAGE (asm-generic/mman-common.h).
const madvHugePage = 14
