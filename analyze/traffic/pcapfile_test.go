package traffic

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenPcapFile checks that a gzip file is read decompressed, by its
// magic whatever its name, and any other file as it is.
func TestOpenPcapFile(t *testing.T) {
	dir := t.TempDir()
	capture := []byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 'p', 'c', 'a', 'p', 'n', 'g'}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(capture)
	zw.Close()
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"plain.pcapng", capture},
		{"ids.pcapng.gz", gz.Bytes()},
		{"named-plain.pcapng", gz.Bytes()},
	} {
		path := filepath.Join(dir, tc.name)
		if err := os.WriteFile(path, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		rc, err := openPcapFile(path)
		if err != nil {
			t.Fatalf("openPcapFile(%q) = %v", tc.name, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, capture) {
			t.Errorf("openPcapFile(%q) read %q, %v; want %q", tc.name, got, err, capture)
		}
	}
	cut := filepath.Join(dir, "cut.pcapng.gz")
	if err := os.WriteFile(cut, gz.Bytes()[:gz.Len()-6], 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := openPcapFile(cut)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if err == nil {
		t.Errorf("openPcapFile(cut.pcapng.gz): read to the end without error")
	}
}

// TestBoundedReader checks the bound: a stream of exactly the bound ends
// cleanly, one byte more is an error naming the file.
func TestBoundedReader(t *testing.T) {
	for _, tc := range []struct {
		size    int
		wantErr bool
	}{{10, false}, {11, true}} {
		b := &boundedReader{r: bytes.NewReader(make([]byte, tc.size)), left: 10, name: "ids.pcap.gz"}
		_, err := io.ReadAll(b)
		if (err != nil) != tc.wantErr {
			t.Errorf("boundedReader over %d bytes, bound 10: err %v, want error %v", tc.size, err, tc.wantErr)
		}
		if err != nil && !bytes.Contains([]byte(err.Error()), []byte("ids.pcap.gz")) {
			t.Errorf("boundedReader error %q does not name the file", err)
		}
	}
}
