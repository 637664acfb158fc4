package bundle

import (
	"errors"
	"io"
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
	pool sync.Pool
	done chan struct{}
	mu   sync.Mutex
	err  error
}

type frameJob struct {
	in  []byte
	out []byte
	ok  chan struct{}
}

func newFrameWriter(out io.Writer, level zstd.EncoderLevel) (*frameWriter, error) {
	workers := runtime.GOMAXPROCS(0)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(workers),
		zstd.WithWindowSize(frameBytes))
	if err != nil {
		return nil, err
	}
	fw := &frameWriter{
		out:  out,
		enc:  enc,
		jobs: make(chan *frameJob, workers),
		sem:  make(chan struct{}, workers),
		done: make(chan struct{}),
	}
	fw.pool.New = func() any { return make([]byte, 0, frameBytes) }
	go fw.writeOut()
	return fw, nil
}

// Write buffers p and hands each full frame to a compressor.
func (fw *frameWriter) Write(p []byte) (int, error) {
	if err := fw.error(); err != nil {
		return 0, err
	}
	n := len(p)
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

func (fw *frameWriter) submit() {
	job := &frameJob{in: fw.buf, ok: make(chan struct{})}
	fw.buf = nil
	fw.sem <- struct{}{}
	go func() {
		job.out = fw.enc.EncodeAll(job.in, nil)
		<-fw.sem
		close(job.ok)
	}()
	fw.jobs <- job // blocks while the writer is behind: backpressure
}

// writeOut writes the compressed frames in the order they were submitted.
func (fw *frameWriter) writeOut() {
	defer close(fw.done)
	for job := range fw.jobs {
		<-job.ok
		if fw.error() == nil {
			if _, err := fw.out.Write(job.out); err != nil {
				fw.setError(err)
			}
		}
		fw.pool.Put(job.in[:0])
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
	return fw.error()
}
