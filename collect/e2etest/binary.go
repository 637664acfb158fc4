package e2etest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// DockcaseBinary builds cmd/dockcase once per test binary, statically
// (CGO_ENABLED=0, as responders get it), and returns its path. It fails t
// when the build fails.
func DockcaseBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		root, err := RepoRoot()
		if err != nil {
			binaryErr = err
			return
		}
		dir, err := os.MkdirTemp("", "dockcase-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "dockcase")
		cmd := exec.Command(goTool(), "build", "-o", binaryPath, "./cmd/dockcase")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// Start starts cmd and, at the test's cleanup, kills and reaps it unless
// the test has waited for it: a failing test leaves no collector or
// watcher running.
func Start(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
}
