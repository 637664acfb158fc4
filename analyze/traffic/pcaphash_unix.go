//go:build unix

package traffic

import (
	"fmt"
	"hash"
	"os"

	"github.com/dockcase/dockcase/internal/mapfault"
	"golang.org/x/sys/unix"
)

// hashMapped writes the first size bytes of f to h through read-only
// mappings of window bytes (a multiple of the page size), each unmapped
// once hashed, so that the pages are read where the page cache holds them
// and only a window of them is resident for the hash at a time. It returns
// how many bytes it hashed: fewer than size, without an error, when the
// file cannot be mapped (the caller reads the rest). A file that shrinks
// while it is hashed loses the pages past its end, whose reading faults:
// an error, not a crash (mapfault).
func hashMapped(f *os.File, size, window int64, h hash.Hash) (n int64, err error) {
	var mapped []byte
	faulted := mapfault.Run(func() {
		for n < size {
			w := min(window, size-n)
			var merr error
			if mapped, merr = unix.Mmap(int(f.Fd()), n, int(w), unix.PROT_READ, unix.MAP_SHARED); merr != nil {
				mapped = nil
				return // a file system that cannot map: read
			}
			h.Write(mapped)
			if merr := unix.Munmap(mapped); merr != nil {
				err = fmt.Errorf("unmap: %w", merr)
				n += w
				return
			}
			mapped = nil
			n += w
		}
	})
	if faulted {
		_ = unix.Munmap(mapped)
		return n, fmt.Errorf("the file shrank while it was read: its bytes from about %d to %d, there when it was opened, are gone", n, size)
	}
	return n, err
}
