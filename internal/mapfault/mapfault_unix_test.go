//go:build unix

package mapfault

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRun reads a mapping of a file truncated after it was mapped: Run
// reports the fault instead of the process crashing; a function that
// reads only what is left reports none, and another panic goes on.
func TestRun(t *testing.T) {
	const size = 1 << 16
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Skip(err)
	}
	defer syscall.Munmap(m)
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	var sum byte
	if Run(func() { sum += m[0] }) {
		t.Error("reading the page still in the file: a fault")
	}
	if !Run(func() { sum += m[size-1] }) {
		t.Error("reading a page past the truncated end: no fault reported")
	}
	defer func() {
		if r := recover(); r != "not a fault" {
			t.Errorf("a panic other than a fault: recovered %v, want it to go on", r)
		}
	}()
	Run(func() { panic("not a fault") })
	t.Error("Run returned after a panic that is no fault")
}
