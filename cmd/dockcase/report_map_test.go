//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadAnalysisMapped checks the mapped reading of a saved analysis:
// the document decodes as read into a buffer, and one that shrinks while
// mapped is an error naming the file, not a crash.
func TestReadAnalysisMapped(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "analyze", "testdata", "golden", "demo.analysis.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.json")
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	data, unmap, ok, err := mapFile(path, maxReportJSONBytes)
	if err != nil || !ok {
		t.Fatalf("mapFile(%s) = %v, %v, want a mapping", path, ok, err)
	}
	mapped, err := decodeMapped(path, data)
	if err != nil {
		t.Fatal(err)
	}
	read, err := decodeAnalysis(path, doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(mapped.Flows) == 0 || mapped.Bundle.SHA256 != read.Bundle.SHA256 || len(mapped.Flows) != len(read.Flows) {
		t.Fatalf("the mapped document decoded to %d flows, the read one to %d", len(mapped.Flows), len(read.Flows))
	}
	unmap()

	// Shrunk to a page while mapped: the pages after it fault.
	data, unmap, ok, err = mapFile(path, maxReportJSONBytes)
	if err != nil || !ok {
		t.Fatalf("mapFile(%s) = %v, %v, want a mapping", path, ok, err)
	}
	defer unmap()
	if err := os.Truncate(path, 4096); err != nil {
		t.Fatal(err)
	}
	_, err = decodeMapped(path, data)
	if err == nil || !strings.Contains(err.Error(), path+": the file changed while it was read") {
		t.Fatalf("decoding a mapped file that shrank: %v, want the file changed", err)
	}

	// Too large, and not a regular file.
	if _, _, _, err := mapFile(path, 100); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Errorf("mapFile of a 4096-byte file limited to 100: %v", err)
	}
	if _, _, ok, err := mapFile(os.DevNull, maxReportJSONBytes); ok || err != nil {
		t.Errorf("mapFile(%s) = %v, %v, want it left to reading", os.DevNull, ok, err)
	}
}
