package progress

import (
	"bytes"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the progress goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProgress(t *testing.T) {
	var w lockedBuffer
	p := New(&w)
	p.Phase("quick")
	p.Phase("reading the captures")
	time.Sleep(progressAfter + 3*progressEvery)
	p.End()
	p.End() // twice is harmless
	out := w.String()
	// The quick phase shows nothing; the long one a line rewritten in
	// place, then its final line.
	if regexp.MustCompile(`quick`).MatchString(out) {
		t.Errorf("a phase shorter than %s was shown: %q", progressAfter, out)
	}
	if !regexp.MustCompile(`^(\r\x1b\[Kdockcase: reading the captures… [0-9]+s(, [0-9.]+ [KM]iB read)?)+\r\x1b\[Kdockcase: reading the captures: [0-9]+(\.[0-9])?s\n$`).MatchString(out) {
		t.Errorf("progress wrote %q", out)
	}
	// Not a terminal: nothing, ever.
	var pipe bytes.Buffer
	q := Start(&pipe)
	q.Phase("verifying the bundle")
	q.End()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := Start(f)
	r.Phase("verifying the bundle")
	time.Sleep(progressAfter + 2*progressEvery)
	r.End()
	if info, _ := f.Stat(); pipe.Len() != 0 || info.Size() != 0 {
		t.Errorf("progress wrote to a stderr that is not a terminal: %q, %d bytes to a file", pipe.String(), info.Size())
	}
}
