package traffic

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
)

// Hashing a --pcap file while it is read: the analysis must give each
// input's SHA-256, and reading the file once for the hash and once for the
// flows costs a second pass over it on the core that parses. hashChunkBytes
// and hashChunks bound what is queued for the hashing goroutine: 4 chunks
// of up to 1 MiB, each a copy of what one read returned.
const (
	hashChunkBytes = 1 << 20
	hashChunks     = 4
)

// pcapHash is the SHA-256 of one --pcap file, computed by the first read
// of the file to its end (through open) and kept for the run: a second
// reading (extract) opens the file without hashing it again.
type pcapHash struct {
	path string

	mu   sync.Mutex
	sum  string
	err  error
	done bool
}

// open opens the file for reading; until the hash is known, what is read
// is hashed on a goroutine of its own, and Close reads the rest of the file
// (what a reader that stopped early left) so that the hash covers it all.
func (p *pcapHash) open() (io.ReadCloser, error) {
	f, err := os.Open(p.path)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done {
		return f, nil
	}
	return newHashingReader(f, p.finish), nil
}

// finish records the hash of the file's first complete reading.
func (p *pcapHash) finish(sum string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		p.sum, p.err, p.done = sum, err, true
	}
}

// result is the file's hash once a reading has been closed; "" when the
// file was never opened (its Capture.Err says why).
func (p *pcapHash) result() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sum, p.err
}

// hashingReader reads a file and hands a copy of every read to a goroutine
// that hashes it; Close reads what is left of the file, waits for the
// hash, and gives it to finish.
type hashingReader struct {
	f      *os.File
	chunks chan []byte
	free   chan []byte
	hashed chan []byte // the hash, once chunks is closed and drained
	finish func(sum string, err error)
	err    error // the first read error other than io.EOF
	closed bool
}

func newHashingReader(f *os.File, finish func(string, error)) *hashingReader {
	r := &hashingReader{f: f, chunks: make(chan []byte, hashChunks), free: make(chan []byte, hashChunks),
		hashed: make(chan []byte, 1), finish: finish}
	for range hashChunks {
		r.free <- nil
	}
	go func() {
		h := sha256.New()
		for c := range r.chunks {
			h.Write(c)
			r.free <- c
		}
		r.hashed <- h.Sum(nil)
	}()
	return r
}

func (r *hashingReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	n, err := r.f.Read(p)
	for rest := p[:n]; len(rest) > 0; {
		c := <-r.free
		m := min(len(rest), hashChunkBytes)
		c = append(c[:0], rest[:m]...)
		r.chunks <- c
		rest = rest[m:]
	}
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// Close hashes the rest of the file, closes it, and records the hash (or
// the read error that left it unknown).
func (r *hashingReader) Close() error {
	if r.closed {
		return os.ErrClosed
	}
	buf := make([]byte, hashChunkBytes)
	for r.err == nil {
		if _, err := r.Read(buf); err != nil {
			break
		}
	}
	r.closed = true
	close(r.chunks)
	sum := <-r.hashed
	cerr := r.f.Close()
	if r.err != nil {
		r.finish("", fmt.Errorf("hash %s: %w", r.f.Name(), r.err))
	} else {
		r.finish(hex.EncodeToString(sum), nil)
	}
	return cerr
}
