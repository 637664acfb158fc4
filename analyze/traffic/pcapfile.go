package traffic

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// MaxGzipCaptureBytes bounds what a gzip-compressed --pcap file may
// decompress to: 16 GiB is well beyond the exports IDS and firewalls rotate
// (1 to 4 GiB); a larger capture can be given uncompressed, and a gzip bomb
// (some 1000 times its size) stops here instead of filling the disk cache
// and the flow table.
const MaxGzipCaptureBytes int64 = 16 << 30

// openPcapFile opens a --pcap file; a gzip file (by its magic, not its
// name) is decompressed, within MaxGzipCaptureBytes. The evidence hash
// stays that of the file as given.
func openPcapFile(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return openPcapStream(f, path)
}

// gzipReadBytes is the read buffer in front of a gzip decompressor: 64
// KiB, so that the file (and its hash) is read in large blocks.
const gzipReadBytes = 64 << 10

// openPcapStream is openPcapFile of the file f, opened from path (whose
// hashing reader, say); the reader returned closes f.
func openPcapStream(f io.ReadCloser, path string) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(f, gzipReadBytes)
	if head, _ := br.Peek(2); len(head) < 2 || head[0] != 0x1f || head[1] != 0x8b {
		return struct {
			io.Reader
			io.Closer
		}{br, f}, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: gzip: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{&boundedReader{r: zr, left: MaxGzipCaptureBytes, name: path}, f}, nil
}

// boundedReader fails, naming the file, past its bound.
type boundedReader struct {
	r    io.Reader
	left int64
	name string
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.r.Read(one[:]); n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("%s: decompresses to more than %d GiB: refused as a gzip bomb", b.name, MaxGzipCaptureBytes>>30)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
