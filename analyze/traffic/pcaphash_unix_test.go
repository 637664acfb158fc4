//go:build unix

package traffic

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hashTestWindow is a mapping window of the tests: a multiple of every
// page size, small enough for files of a few windows.
const hashTestWindow = 64 << 10

// TestHashMapped hashes files of sizes around the mapping window through
// hashFile and compares each with crypto/sha256 of the bytes: empty, one
// byte, a page less one, a window less one, one window, one more, and two
// and a half.
func TestHashMapped(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4095, hashTestWindow - 1, hashTestWindow, hashTestWindow + 1, hashTestWindow * 5 / 2} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + i>>9)
		}
		path := filepath.Join(dir, "c.pcapng")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		got := hashFile(f, fi, hashTestWindow)
		f.Close()
		want := sha256.Sum256(data)
		if got.err != nil || got.n != int64(size) || hex.EncodeToString(got.sum) != hex.EncodeToString(want[:]) {
			t.Errorf("size %d: hash %x of %d bytes (%v), want %x of %d", size, got.sum, got.n, got.err, want, size)
		}
	}
}

// TestHashMappedShrunk hashes a file that lost two of its three windows
// after it was opened: reading the mapping past the new end faults, and
// the hash is an error that says the file shrank, not a crash.
func TestHashMappedShrunk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.pcapng")
	if err := os.WriteFile(path, make([]byte, 3*hashTestWindow), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, hashTestWindow); err != nil {
		t.Fatal(err)
	}
	got := hashFile(f, fi, hashTestWindow)
	if got.err == nil || !strings.Contains(got.err.Error(), "shrank") {
		t.Fatalf("hash of a file shrunk from %d to %d bytes: %x of %d bytes, error %v; want an error saying it shrank", 3*hashTestWindow, hashTestWindow, got.sum, got.n, got.err)
	}
	t.Log(got.err)
}
