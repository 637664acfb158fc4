// Package e2etest is the end-to-end harness of dockcase's tests: it makes sure
// a real Docker engine runs, builds the workload image without any registry,
// and brings up the scenario that the collector, capture and analyzer tests
// assert on (a beaconing container, a C2 host in its own network namespace,
// containers on the default bridge, a published port, a stopped container).
//
// It promises that everything it creates carries the prefix "dce", that no
// packet is sent anywhere but to addresses in 198.18.0.0/15 inside the
// namespace it created (after checking the route), that no container resolves
// names through the host's resolvers, and that everything is removed when the
// test ends, also when it fails or when setup stops half-way.
//
// The package holds no tests of its own beyond scenario_test.go; other
// packages import it from their _test.go files.
package e2etest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

const (
	// ensureDockerTimeout bounds scripts/ensure-docker.sh: an apt-get install
	// of docker.io on a fresh machine plus the script's own 90 s wait.
	ensureDockerTimeout = 10 * time.Minute
	// pingTimeout bounds the first API call after the script said yes.
	pingTimeout = 10 * time.Second
)

var docker struct {
	once sync.Once
	cli  *client.Client
	err  error
}

// RequireDocker makes sure a Docker engine answers, running
// scripts/ensure-docker.sh (which installs and starts dockerd when needed) once
// per test process. When there is no engine the test is skipped with the
// reason, or fails under CI=true, where a missing engine is a broken runner
// and not a reason to pass.
func RequireDocker(t testing.TB) {
	t.Helper()
	if _, err := dockerClient(); err != nil {
		skipOrFail(t, "docker engine unavailable: %v", err)
	}
}

// DockerClient returns the process-wide Docker client, after RequireDocker.
func DockerClient(t testing.TB) *client.Client {
	t.Helper()
	cli, err := dockerClient()
	if err != nil {
		skipOrFail(t, "docker engine unavailable: %v", err)
	}
	return cli
}

func dockerClient() (*client.Client, error) {
	docker.once.Do(func() {
		docker.cli, docker.err = startDocker()
	})
	return docker.cli, docker.err
}

func startDocker() (*client.Client, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ensureDockerTimeout)
	defer cancel()
	script := filepath.Join(root, "scripts", "ensure-docker.sh")
	out, err := exec.CommandContext(ctx, "sh", script).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", script, err, strings.TrimSpace(string(out)))
	}
	// The engine the script checked: its socket, overridable for tests of
	// the script, and not $DOCKER_HOST, which may name a remote engine.
	sock := os.Getenv("DCE_DOCKER_SOCK")
	if sock == "" {
		sock = "/var/run/docker.sock"
	}
	cli, err := client.NewClientWithOpts(client.WithHost("unix://"+sock),
		client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, pcancel := context.WithTimeout(context.Background(), pingTimeout)
	defer pcancel()
	if _, err := cli.Ping(pctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker ping: %w", err)
	}
	return cli, nil
}

// RepoRoot returns the module root, found by walking up from the working
// directory (a test runs in its package directory) to the first go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repo root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		} else if !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("find repo root: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repo root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// skipOrFail skips the test, or fails it under CI=true where the runner is
// supposed to provide root and a Docker engine.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
