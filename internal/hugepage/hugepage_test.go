package hugepage

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestAdvise advises a large slice and, on Linux where the kernel takes
// the advice, checks in /proc/self/smaps that its mapping is marked for
// huge pages ("hg" in VmFlags); the slice's contents are unchanged and
// writable, and small or empty slices are left alone.
func TestAdvise(t *testing.T) {
	Advise([]byte(nil))
	Advise(make([]int, 10))
	s := make([]uint64, 16<<20/8)
	Advise(s)
	for i := range s {
		s[i] = uint64(i)
	}
	for i := range s {
		if s[i] != uint64(i) {
			t.Fatalf("s[%d] = %d after Advise", i, s[i])
		}
	}
	if runtime.GOOS != "linux" {
		return
	}
	enabled, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || strings.Contains(string(enabled), "[never]") {
		t.Skipf("transparent huge pages not available (%q, %v)", enabled, err)
	}
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	addr := uint64(uintptr(unsafe.Pointer(&s[len(s)/2])))
	var in bool
	for _, line := range strings.Split(string(smaps), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			lo, hi, _ := strings.Cut(f[0], "-")
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && l <= addr && addr < h
			continue
		}
		if in && len(f) > 0 && f[0] == "VmFlags:" {
			if !strings.Contains(line, " hg") {
				t.Errorf("the mapping of the advised slice has VmFlags %q, want hg", line)
			}
			runtime.KeepAlive(s)
			return
		}
	}
	t.Errorf("no mapping in /proc/self/smaps holds the slice at %#x", addr)
}
