// Package progress is the progress line of dockcase's long commands: on
// stderr, and only when stderr is a terminal.
package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progressAfter is how long a phase runs before its progress line shows:
// a quick command prints none.
const progressAfter = time.Second

// progressEvery is how often the progress line is rewritten.
const progressEvery = 250 * time.Millisecond

// Line shows, on stderr and only when stderr is a terminal, what a
// long analysis is doing: one line, rewritten in place, with the phase,
// the time it has taken and the bytes the process has read so far (where
// the system tells: /proc/self/io); a phase that took longer than
// progressAfter leaves a line saying how long. It never writes to stdout,
// nor to a stderr that is a pipe or a file.
type Line struct {
	w     io.Writer
	mu    sync.Mutex
	name  string
	start time.Time
	shown bool
	stop  chan struct{}
	done  chan struct{}
}

// Start starts the progress of a command on stderr; on a stderr that is
// not a terminal its methods do nothing.
func Start(stderr io.Writer) *Line {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return &Line{}
	}
	return New(stderr)
}

// New starts a progress line that writes to w, terminal or not.
func New(w io.Writer) *Line {
	p := &Line{w: w, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// Phase ends the current phase and starts one named name ("verifying the
// bundle").
func (p *Line) Phase(name string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
	p.name, p.start = name, time.Now()
}

// End ends the current phase and the progress; the command's output
// follows. It may be called more than once.
func (p *Line) End() {
	if p.w == nil {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
		<-p.done
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
	p.name = ""
}

// endLocked replaces a shown line by the phase's final one.
func (p *Line) endLocked() {
	if p.shown {
		fmt.Fprintf(p.w, "\r\x1b[Kdockcase: %s: %s\n", p.name, time.Since(p.start).Round(100*time.Millisecond))
		p.shown = false
	}
}

func (p *Line) run() {
	defer close(p.done)
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		if p.name != "" && time.Since(p.start) >= progressAfter {
			line := fmt.Sprintf("dockcase: %s… %s", p.name, time.Since(p.start).Round(time.Second))
			if n := bytesRead(); n > 0 {
				line += fmt.Sprintf(", %s read", sizeText(n))
			}
			fmt.Fprintf(p.w, "\r\x1b[K%s", line)
			p.shown = true
		}
		p.mu.Unlock()
	}
}

// bytesRead is what this process has read so far (rchar of
// /proc/self/io), 0 where the system does not say.
func bytesRead() int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// sizeText is n bytes in MiB (or KiB below one MiB).
func sizeText(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
