//go:build linux && !portable

package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCollectOutputRefusesEvidence checks that collect --out never replaces
// a bundle or a sidecar of one, and leaves nothing behind when it refuses.
func TestCollectOutputRefusesEvidence(t *testing.T) {
	for _, existing := range []string{"case.tar.zst", "case.tar.zst.sha256", "case.tar.zst.custody.jsonl"} {
		dir := t.TempDir()
		name := filepath.Join(dir, "case.tar.zst")
		if err := os.WriteFile(filepath.Join(dir, existing), []byte("evidence\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, file, err := openOutput(name, io.Discard)
		if err == nil {
			file.Fail()
			t.Errorf("openOutput(%q) with %s present = nil error, want a refusal", name, existing)
			continue
		}
		if code := exitCode(err); code != exitUsage {
			t.Errorf("openOutput(%q) with %s present: exit %d, want %d (%v)", name, existing, code, exitUsage, err)
		}
		if left, _ := os.ReadDir(dir); len(left) != 1 {
			t.Errorf("openOutput(%q) refused but left %d files", name, len(left))
		}
	}
}
