package collect

import (
	"regexp"
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

// TestCountdown checks that a terminal is told the time left, in lines
// with the dockcase: prefix, and that the countdown stops at the end.
func TestCountdown(t *testing.T) {
	var out lockedBuilder
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		countdown(&out, time.Now().Add(3*time.Second), done, 100*time.Millisecond)
		close(finished)
	}()
	time.Sleep(350 * time.Millisecond)
	close(done)
	select {
	case <-finished:
	case <-time.After(2 * time.Second):
		t.Fatal("countdown did not stop when the capture ended")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	line := regexp.MustCompile(`^dockcase: capture: [0-9]s left$`)
	if len(lines) < 2 {
		t.Fatalf("countdown printed %q, want a line every interval", out.String())
	}
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Errorf("countdown line %q, want %s", l, line)
		}
	}
}
