package bundle

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCustodyChain(t *testing.T) {
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "case.tar.zst")
	os.WriteFile(bundlePath, []byte("pretend bundle"), 0o644)
	for _, a := range []string{ActionCollected, ActionTransferred, ActionReceived, ActionVerified} {
		if _, err := AppendCustody(bundlePath, CustodyEvent{Action: a, By: "A. Analyst", Note: "note " + a}); err != nil {
			t.Fatalf("AppendCustody(%s) = %v", a, err)
		}
	}
	sum, _ := FileSHA256(bundlePath)
	good, _ := os.ReadFile(CustodyPath(bundlePath))
	events, err := CheckCustody(bytes.NewReader(good), sum)
	if err != nil || len(events) != 4 || events[3].Seq != 4 || events[0].PrevSHA256 != sum {
		t.Fatalf("CheckCustody = %d events, %v", len(events), err)
	}

	lines := strings.SplitAfter(string(good), "\n")
	tests := []struct {
		name     string
		log      string
		bundle   string
		wantLine int
	}{
		{"edited line", lines[0] + strings.Replace(lines[1], "A. Analyst", "B. Other", 1) + lines[2] + lines[3], sum, 3},
		{"removed line", lines[0] + lines[2] + lines[3], sum, 2},
		{"swapped lines", lines[0] + lines[2] + lines[1] + lines[3], sum, 2},
		{"other bundle", string(good), strings.Repeat("0", 64), 1},
		{"cut last line", strings.TrimSuffix(string(good), "\n"), sum, 4},
		{"garbage line", lines[0] + "{not json\n", sum, 2},
	}
	for _, tt := range tests {
		_, err := CheckCustody(strings.NewReader(tt.log), tt.bundle)
		var ce *CustodyError
		if !errors.As(err, &ce) || ce.Line != tt.wantLine {
			t.Errorf("CheckCustody(%s) = %v, want a broken link at line %d", tt.name, err, tt.wantLine)
		}
	}

	// A broken chain is not extended.
	os.WriteFile(CustodyPath(bundlePath), []byte(lines[0]+lines[2]), 0o644)
	if _, err := AppendCustody(bundlePath, CustodyEvent{Action: "copied", By: "x"}); err == nil {
		t.Error("AppendCustody extended a broken chain")
	}
	// Changing the bundle breaks the first link.
	os.WriteFile(CustodyPath(bundlePath), good, 0o644)
	os.WriteFile(bundlePath, []byte("pretend bundle, altered"), 0o644)
	if _, err := AppendCustody(bundlePath, CustodyEvent{Action: "copied", By: "x"}); err == nil {
		t.Error("AppendCustody accepted a changed bundle")
	}
}
