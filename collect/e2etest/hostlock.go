package e2etest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// The tests of several packages run at once against one engine. A test
// that collects the whole host and counts what it finds (the six-container
// incident's report) must have the engine to itself: it holds the host lock
// exclusively, while every scenario holds it shared. A turnstile taken
// first by both keeps a waiting exclusive holder from being starved by
// scenarios that keep starting.
const (
	hostLockName      = "dockcase-test-host.lock"
	turnstileLockName = "dockcase-test-host-turnstile.lock"
)

var (
	hostMu        sync.Mutex
	hostExclusive int // exclusive holds of this process: its scenarios take no shared one
)

func openLock(name string) (*os.File, error) {
	return os.OpenFile(filepath.Join(os.TempDir(), name), os.O_RDWR|os.O_CREATE, 0o600)
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// lockHost takes the host lock, shared or exclusive, through the
// turnstile, and returns its release.
func lockHost(exclusive bool) (release func(), err error) {
	turn, err := openLock(turnstileLockName)
	if err != nil {
		return nil, err
	}
	defer turn.Close() // closing releases the turnstile
	if err := flock(turn, unix.LOCK_EX); err != nil {
		return nil, err
	}
	f, err := openLock(hostLockName)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := flock(f, how); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// shareHost holds the host lock shared until the test ends, unless this
// process holds it exclusively (its own scenario then runs under it).
func shareHost(t testing.TB) error {
	hostMu.Lock()
	mine := hostExclusive > 0
	hostMu.Unlock()
	if mine {
		return nil
	}
	release, err := lockHost(false)
	if err != nil {
		return fmt.Errorf("test host lock: %w", err)
	}
	t.Cleanup(release)
	return nil
}

// ExclusiveHost waits until no scenario of another test process is up and
// keeps the engine to this test until it ends: no other test's scenario
// starts meanwhile. Call it before NewScenario.
func ExclusiveHost(t testing.TB) {
	t.Helper()
	release, err := lockHost(true)
	if err != nil {
		t.Fatalf("test host lock: %v", err)
	}
	hostMu.Lock()
	hostExclusive++
	hostMu.Unlock()
	t.Cleanup(func() {
		hostMu.Lock()
		hostExclusive--
		hostMu.Unlock()
		release()
	})
}
