//go:build unix

package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mapFile maps the regular file at path read-only, for a decoding that
// reads it once: reading a 100 MB document into a buffer was a sixth of
// a report's time, the buffer's pages faulted in one by one, and as much
// memory again as the decoded result. unmap releases the mapping; ok is
// false for a file that cannot be mapped (not a regular file, empty), for
// the caller to read. A file that grows meanwhile is mapped at the size it
// had; one that shrinks faults on the pages it lost, which the caller
// turns into an error (debug.SetPanicOnFault).
func mapFile(path string, limit int64) (data []byte, unmap func(), ok bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 || int64(int(fi.Size())) != fi.Size() {
		return nil, nil, false, nil
	}
	if fi.Size() > limit {
		return nil, nil, false, fmt.Errorf("read analysis %s: larger than %d bytes", path, limit)
	}
	data, err = unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, false, nil // a file system that cannot map: read it
	}
	// The decoding reads the document from start to end, once.
	_ = unix.Madvise(data, unix.MADV_SEQUENTIAL)
	return data, func() { _ = unix.Munmap(data) }, true, nil
}
