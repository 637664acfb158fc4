package collect

import (
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCountdown checks that a terminal is told the time left at every
// tick, in lines with the dockcase: prefix, and that the countdown stops at
// the end of the capture and when no time is left. The ticks are the
// test's own, so nothing depends on how fast the machine is.
func TestCountdown(t *testing.T) {
	end := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ticks := make(chan time.Time)
	var out lockedBuilder
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		countdown(&out, end, done, ticks)
		close(finished)
	}()
	ticks <- end.Add(-30 * time.Second)
	ticks <- end.Add(-20 * time.Second)
	close(done)
	<-finished
	if got, want := out.String(), "dockcase: capture: 30s left\ndockcase: capture: 20s left\n"; got != want {
		t.Errorf("countdown printed %q, want %q", got, want)
	}

	// No time left: the countdown ends by itself.
	var out2 lockedBuilder
	finished = make(chan struct{})
	go func() {
		countdown(&out2, end, make(chan struct{}), ticks)
		close(finished)
	}()
	ticks <- end.Add(-10 * time.Second)
	ticks <- end
	<-finished
	if got, want := out2.String(), "dockcase: capture: 10s left\n"; got != want {
		t.Errorf("countdown printed %q, want %q", got, want)
	}
}
