//go:build unix

package traffic

import (
	"fmt"
	"hash"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// hashMapped writes the first size bytes of f to h through read-only
// mappings of window bytes (a multiple of the page size), each unmapped
// once hashed, so that the pages are read where the page cache holds them
// and only a window of them is resident for the hash at a time. It returns
// how many bytes it hashed: fewer than size, without an error, when the
// file cannot be mapped (the caller reads the rest). A file that shrinks
// while it is hashed loses the pages past its end, whose reading faults:
// an error, not a crash (debug.SetPanicOnFault, for this goroutine).
func hashMapped(f *os.File, size, window int64, h hash.Hash) (n int64, err error) {
	var mapped []byte
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, fault := r.(interface{ Addr() uintptr }); !fault {
			panic(r)
		}
		_ = unix.Munmap(mapped)
		err = fmt.Errorf("the file shrank while it was read: its bytes from about %d to %d, there when it was opened, are gone", n, size)
	}()
	for n < size {
		w := min(window, size-n)
		mapped, err = unix.Mmap(int(f.Fd()), n, int(w), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return n, nil // a file system that cannot map: read
		}
		h.Write(mapped)
		if err := unix.Munmap(mapped); err != nil {
			return n + w, fmt.Errorf("unmap: %w", err)
		}
		mapped = nil
		n += w
	}
	return n, nil
}
