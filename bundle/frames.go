package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"math"
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// frameBytes is the input of one zstd frame. Frames are compressed
// independently, on every core, and written in order: a stream of
// concatenated frames is one zstd stream to every decoder (zstd -d,
// tar --zstd, this package's reader). Larger frames compress a little
// better; 8 MiB matches the window the format allows itself.
const frameBytes = 8 << 20

// frameWriter compresses what is written to it as consecutive zstd frames,
// several at a time. Memory: at most 2×workers frames wait or compress,
// each holding its input and its output.
type frameWriter struct {
	out  io.Writer
	enc  *zstd.Encoder
	buf  []byte
	jobs chan *frameJob // in stream order, to the writer goroutine
	sem  chan struct{}  // bounds the frames compressing at once
	pool sync.Pool      // frame inputs
	outs sync.Pool      // compressed frames
	done chan struct{}
	sum  hash.Hash // of the frames written, for the digest frame
	own  bool      // sum is the writer's own: it hashes the frames itself
	mu   sync.Mutex
	err  error
}

type frameJob struct {
	in  []byte
	out []byte
	ok  chan struct{}
	// written, when not nil, is closed once out is written: in is then
	// the caller's, borrowed, rather than a pooled copy.
	written chan struct{}
}

// borrowBytes is the smallest write whose frames are cut from the caller's
// bytes rather than copied: a chunk of a long member, handed over whole.
const borrowBytes = 1 << 20

// newFrameWriter returns a frameWriter to out. sum, when not nil, is a
// running SHA-256 of exactly the bytes out receives, kept by the caller (the
// bundle's file hash when nothing is encrypted): the digest frame is read
// from it, and the frames are not hashed a second time.
func newFrameWriter(out io.Writer, level zstd.EncoderLevel, sum hash.Hash) (*frameWriter, error) {
	workers := runtime.GOMAXPROCS(0)
	// No XXH64 content checksum: the SHA-256s of the members and of the
	// frames cover every byte already.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(workers),
		zstd.WithWindowSize(frameBytes), zstd.WithEncoderCRC(false))
	if err != nil {
		return nil, err
	}
	fw := &frameWriter{
		out:  out,
		enc:  enc,
		jobs: make(chan *frameJob, workers),
		sem:  make(chan struct{}, workers),
		done: make(chan struct{}),
		sum:  sum,
	}
	if fw.sum == nil {
		fw.sum, fw.own = sha256.New(), true
	}
	fw.pool.New = func() any { return make([]byte, 0, frameBytes) }
	fw.outs.New = func() any { return make([]byte, 0, frameBytes+frameBytes/64) }
	go fw.writeOut(fw.jobs)
	return fw, nil
}

// Write buffers p and hands each full frame to a compressor. The frames of
// a write of at least borrowBytes are p's own bytes, not a copy: Write then
// returns once they are compressed and written, since the caller may reuse
// p. What is buffered before goes first, as a frame of its own.
func (fw *frameWriter) Write(p []byte) (int, error) {
	if err := fw.error(); err != nil {
		return 0, err
	}
	n := len(p)
	if len(p) >= borrowBytes {
		if len(fw.buf) > 0 {
			fw.submit()
		}
		var written chan struct{}
		for len(p) >= borrowBytes {
			k := min(len(p), frameBytes)
			written = make(chan struct{})
			fw.start(&frameJob{in: p[:k], ok: make(chan struct{}), written: written})
			p = p[k:]
		}
		<-written
	}
	for len(p) > 0 {
		if fw.buf == nil {
			fw.buf = fw.pool.Get().([]byte)[:0]
		}
		k := min(len(p), frameBytes-len(fw.buf))
		fw.buf = append(fw.buf, p[:k]...)
		p = p[k:]
		if len(fw.buf) == frameBytes {
			fw.submit()
		}
	}
	return n, nil
}

// submit hands the buffered frame to a compressor.
func (fw *frameWriter) submit() {
	fw.start(&frameJob{in: fw.buf, ok: make(chan struct{})})
	fw.buf = nil
}

// start compresses job on a free worker and queues it for the writer.
func (fw *frameWriter) start(job *frameJob) {
	fw.sem <- struct{}{}
	go func() {
		job.out = fw.encode(job.in, fw.outs.Get().([]byte)[:0])
		<-fw.sem
		close(job.ok)
	}()
	fw.jobs <- job // blocks while the writer is behind: backpressure
}

// encode appends in to dst as one or more zstd frames: each run of
// consecutive blocks that compress is one compressed frame, each run that
// does not is a frame of raw blocks, which costs a copy and no entropy
// coding. Decoders read the frames as one stream.
func (fw *frameWriter) encode(in, dst []byte) []byte {
	runStart, runRaw := 0, false
	for off := 0; off < len(in); off += rawBlockBytes {
		blk := in[off:min(off+rawBlockBytes, len(in))]
		raw := incompressible(blk)
		if len(blk) < rawMinBytes && off > 0 {
			raw = runRaw // a short tail goes with the run it ends
		}
		if off > runStart && raw != runRaw {
			dst = fw.encodeRun(in[runStart:off], runRaw, dst)
			runStart = off
		}
		runRaw = raw
	}
	return fw.encodeRun(in[runStart:], runRaw, dst)
}

func (fw *frameWriter) encodeRun(p []byte, raw bool, dst []byte) []byte {
	if len(p) == 0 {
		return dst
	}
	if raw {
		return appendRawFrame(dst, p)
	}
	return fw.enc.EncodeAll(p, dst)
}

// rawBlockBytes is zstd's largest block, and the unit whose compressibility
// is judged.
const rawBlockBytes = 128 << 10

// Compressibility is estimated from the byte histogram of a sample of each
// block: rawSamples pieces of rawSampleBytes, spread evenly. A block whose
// sample's order-0 entropy is above rawEntropyBits a byte is stored raw:
// random or encrypted payloads, compressed files, captured TLS. zstd gains
// a few percent there at most (packet headers between 1400-byte encrypted
// payloads) for most of its CPU. A block whose bytes are evenly spread but
// repeat at a distance (the same random page twice) is stored raw as well:
// it costs size, never correctness. An input under rawMinBytes (a small
// member, a lone tar header) is compressed; a frame's tail that short goes
// with the run it ends.
const (
	rawSamples     = 32
	rawSampleBytes = 128
	rawEntropyBits = 7.5
	rawMinBytes    = rawSamples * rawSampleBytes * 4
)

// incompressible reports whether b is to be stored raw.
func incompressible(b []byte) bool {
	if len(b) < rawMinBytes {
		return false
	}
	var hist [256]uint32
	stride := (len(b) - rawSampleBytes) / (rawSamples - 1)
	for i := range rawSamples {
		for _, c := range b[i*stride : i*stride+rawSampleBytes] {
			hist[c]++
		}
	}
	// The sample's entropy in bits is n·log2(n) - Σ c·log2(c) over the
	// histogram's counts c.
	t := clog2()
	bits := t[rawSampleCount]
	for _, c := range hist {
		bits -= t[c]
	}
	return bits/rawSampleCount > rawEntropyBits
}

const rawSampleCount = rawSamples * rawSampleBytes

// clog2 is the table of c·log2(c) for every count a histogram bin of a
// sample can hold.
var clog2 = sync.OnceValue(func() *[rawSampleCount + 1]float64 {
	var t [rawSampleCount + 1]float64
	for c := 1; c <= rawSampleCount; c++ {
		t[c] = float64(c) * math.Log2(float64(c))
	}
	return &t
})

// appendRawFrame appends p to dst as a zstd frame of raw blocks: the frame
// header (single segment, a 4-byte content size, no checksum: the bundle's
// SHA-256s cover the bytes), then blocks of at most rawBlockBytes, each
// a 3-byte header and p's bytes as they are.
func appendRawFrame(dst, p []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, zstdMagic)
	dst = append(dst, 0xA0) // Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(p)))
	for len(p) > 0 {
		k := min(len(p), rawBlockBytes)
		hdr := uint32(k) << 3 // Block_Type 0: raw
		if k == len(p) {
			hdr |= 1 // Last_Block
		}
		dst = append(dst, byte(hdr), byte(hdr>>8), byte(hdr>>16))
		dst = append(dst, p[:k]...)
		p = p[k:]
	}
	return dst
}

// zstdMagic opens every zstd frame.
const zstdMagic = 0xFD2FB528

// writeOut writes the compressed frames in the order they were submitted.
// It gets the channel as an argument: Close clears the field.
func (fw *frameWriter) writeOut(jobs <-chan *frameJob) {
	defer close(fw.done)
	for job := range jobs {
		<-job.ok
		if fw.error() == nil {
			if fw.own {
				fw.sum.Write(job.out)
			}
			if _, err := fw.out.Write(job.out); err != nil {
				fw.setError(err)
			}
		}
		if job.written != nil {
			close(job.written)
		} else {
			fw.pool.Put(job.in[:0])
		}
		fw.outs.Put(job.out[:0])
	}
}

func (fw *frameWriter) error() error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	return fw.err
}

func (fw *frameWriter) setError(err error) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err == nil {
		fw.err = err
	}
}

// Close compresses what is left, waits for every frame to be written and
// reports the first write error.
func (fw *frameWriter) Close() error {
	if fw.jobs == nil {
		return errors.New("zstd frames: closed twice")
	}
	if len(fw.buf) > 0 {
		fw.submit()
	}
	close(fw.jobs)
	fw.jobs = nil
	<-fw.done
	fw.enc.Close()
	if err := fw.error(); err != nil {
		return err
	}
	_, err := fw.out.Write(digestFrame(fw.sum.Sum(nil)))
	return err
}

// The stream ends with a zstd skippable frame (which every decoder passes
// over) holding the SHA-256 of the frames before it. zstd leaves bits that
// do not change what a stream decodes to; the digest makes a change to any
// byte of the file detectable all the same.
const (
	digestMagic      = 0x184D2A5D
	digestFrameBytes = 8 + sha256.Size
)

func digestFrame(sum []byte) []byte {
	f := binary.LittleEndian.AppendUint32(nil, digestMagic)
	f = binary.LittleEndian.AppendUint32(f, sha256.Size)
	return append(f, sum...)
}

// digestReader hashes the bytes it passes on, all but the last
// digestFrameBytes, which it keeps: at the end they are the digest frame.
type digestReader struct {
	r    io.Reader
	h    hash.Hash
	tail []byte
	// fileSum is the SHA-256 of every byte read, the digest frame's
	// included, once check has read to the end.
	fileSum string
}

func newDigestReader(r io.Reader) *digestReader {
	return &digestReader{r: r, h: sha256.New()}
}

func (d *digestReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.tail = append(d.tail, p[:n]...)
	if over := len(d.tail) - digestFrameBytes; over > 0 {
		d.h.Write(d.tail[:over])
		d.tail = append(d.tail[:0], d.tail[over:]...)
	}
	return n, err
}

// check reads what is left and compares the digest frame, when the stream
// ends with one (bundles written before it existed do not).
func (d *digestReader) check() error {
	if _, err := io.Copy(io.Discard, d); err != nil {
		return err
	}
	whole := d.h.(hash.Cloner)
	if c, err := whole.Clone(); err == nil {
		c.Write(d.tail)
		d.fileSum = hex.EncodeToString(c.Sum(nil))
	}
	if len(d.tail) != digestFrameBytes {
		return nil // too short to hold one: the stream was already judged
	}
	magic := binary.LittleEndian.Uint32(d.tail)
	if magic&^0xF != digestMagic&^0xF || binary.LittleEndian.Uint32(d.tail[4:]) != sha256.Size {
		return nil // no digest frame: a bundle from before it existed
	}
	// Any skippable frame of a digest's size at the end is one: a flipped
	// low bit of its magic still makes a skippable frame.
	if magic != digestMagic || !bytes.Equal(d.tail[8:], d.h.Sum(nil)) {
		return &FormatError{Reason: "the compressed stream does not match its SHA-256 digest frame: the file was changed"}
	}
	return nil
}
