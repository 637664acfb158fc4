package traffic

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Hashing a --pcap file while it is read: the analysis must give each
// input's SHA-256, and reading the file once for the hash and once for the
// flows costs a second pass over it on the core that parses. The hash is
// computed on a goroutine of its own, from the same open file (the same
// inode, whatever its name comes to be), while the parser reads it from its
// offset: neither waits for or copies for the other. Where the platform
// maps files (hashMapped), the hash reads the file's pages in place, a
// window at a time, rather than copies of them; elsewhere, and past the
// size the file had when opened, by positional reads of hashChunkBytes.
// The file's size and modification time, taken when it is opened and when
// it is closed, and the length hashed must agree, else the hash is
// refused: a file that changed while it was read has no one hash.
const (
	hashChunkBytes  = 1 << 20
	hashWindowBytes = 8 << 20 // a multiple of every page size
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

// hashingReader reads a file while a goroutine hashes it (see
// hashChunkBytes); Close waits for the hash and gives it to finish.
type hashingReader struct {
	f      *os.File
	before os.FileInfo
	hashed chan hashed
	finish func(sum string, err error)
	closed bool
}

// hashed is what the hashing goroutine found: the hash, the length hashed
// and the first read error.
type hashed struct {
	sum []byte
	n   int64
	err error
}

func newHashingReader(f *os.File, finish func(string, error)) *hashingReader {
	r := &hashingReader{f: f, hashed: make(chan hashed, 1), finish: finish}
	fi, err := f.Stat()
	if err != nil {
		r.hashed <- hashed{err: err}
		return r
	}
	r.before = fi
	go func() { r.hashed <- hashFile(f, fi, hashWindowBytes) }()
	return r
}

// hashFile hashes f to its end: the size it had when opened (fi) through
// mappings of window bytes where it can (hashMapped), the rest by reads.
func hashFile(f *os.File, fi os.FileInfo, window int64) hashed {
	h := sha256.New()
	var off int64
	if fi.Mode().IsRegular() {
		var err error
		if off, err = hashMapped(f, fi.Size(), window, h); err != nil {
			return hashed{n: off, err: err}
		}
	}
	buf := make([]byte, hashChunkBytes)
	for {
		n, err := f.ReadAt(buf, off)
		h.Write(buf[:n])
		off += int64(n)
		if err == io.EOF {
			return hashed{sum: h.Sum(nil), n: off}
		}
		if err != nil {
			return hashed{n: off, err: err}
		}
	}
}

func (r *hashingReader) Read(p []byte) (int, error) {
	if r.closed {
		return 0, os.ErrClosed
	}
	return r.f.Read(p)
}

// Close waits for the hash, closes the file, and records the hash, or why
// there is none: a read error, or a file that changed while it was read.
func (r *hashingReader) Close() error {
	if r.closed {
		return os.ErrClosed
	}
	r.closed = true
	res := <-r.hashed
	err := res.err
	if err == nil {
		if after, serr := r.f.Stat(); serr != nil {
			err = serr
		} else if after.Size() != r.before.Size() || !after.ModTime().Equal(r.before.ModTime()) || res.n != after.Size() {
			err = fmt.Errorf("the file changed while it was read (%d bytes, modified %s, when opened; %d bytes, modified %s, when closed; %d bytes hashed)",
				r.before.Size(), r.before.ModTime().UTC().Format(time.RFC3339Nano), after.Size(), after.ModTime().UTC().Format(time.RFC3339Nano), res.n)
		}
	}
	cerr := r.f.Close()
	if err != nil {
		r.finish("", fmt.Errorf("hash %s: %w", r.f.Name(), err))
	} else {
		r.finish(hex.EncodeToString(res.sum), nil)
	}
	return cerr
}
