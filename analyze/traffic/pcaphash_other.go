//go:build !unix

package traffic

import (
	"hash"
	"os"
)

// hashMapped hashes nothing where files are not mapped: the caller reads
// the whole file.
func hashMapped(f *os.File, size, window int64, h hash.Hash) (int64, error) { return 0, nil }
