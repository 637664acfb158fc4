// Command sha256 hashes files once with Go's crypto/sha256 and prints them
// in sha256sum's format: the peer scripts/bench-e2e.sh measures the
// analysis against, since the analysis must hash every input it reads.
//
//	go run ./scripts/bench/sha256 FILE...
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// readBufferBytes is the size of each read: 1 MiB, what the analysis reads
// a capture with.
const readBufferBytes = 1 << 20

func main() {
	status := 0
	for _, path := range os.Args[1:] {
		sum, err := hashFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sha256:", err)
			status = 1
			continue
		}
		fmt.Printf("%s  %s\n", sum, path)
	}
	os.Exit(status)
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, readBufferBytes)); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
