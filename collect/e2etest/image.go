package e2etest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

const (
	// workloadRepo is the image repository of the workload; the tag is a
	// hash of the image's content, so a changed workload is a new image and
	// an unchanged one is imported once per engine.
	workloadRepo = "dce/workload"
	// workloadPkg is the workload's package path relative to the repo root.
	workloadPkg = "./collect/e2etest/workload"
	// buildTimeout bounds the go build of the workload on a loaded machine.
	buildTimeout = 5 * time.Minute
	// importTimeout bounds the import of the (about 6 MiB) image tar.
	importTimeout = 2 * time.Minute
	// maxImportReplyBytes bounds the engine's progress stream of an import:
	// a few JSON lines for a one-layer image.
	maxImportReplyBytes = 1 << 20
)

// workloadTarEpoch is the modification time of every entry of the image
// tar: fixed, so the same binary gives the same tar and the same tag.
var workloadTarEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

var workload struct {
	once    sync.Once
	bin     []byte // the static binary
	tarball []byte // the image's root filesystem
	ref     string // dce/workload:<hash>
	err     error

	mu      sync.Mutex
	engines map[string]*engineImport // by engine host, "" for the Docker engine
}

// engineImport is the import of the workload image into one engine.
type engineImport struct {
	once sync.Once
	err  error
}

// WorkloadImage returns the reference of the workload image,
// dce/workload:<content hash>, building the static workload binary and
// importing it into the engine on the first call of the test process. The
// image holds /workload (its command), /tmp, /root and a minimal /etc; an
// image with the same tag already in the engine is reused.
func WorkloadImage(t testing.TB) string {
	t.Helper()
	RequireDocker(t)
	ref, err := workloadImage()
	if err != nil {
		t.Fatalf("workload image: %v", err)
	}
	return ref
}

// workloadImage is WorkloadImage without a test, for a setup goroutine.
func workloadImage() (string, error) {
	cli, err := dockerClient()
	if err != nil {
		return "", err
	}
	return workloadImageIn(cli, "")
}

// workloadImageIn imports the workload image into the engine cli talks to
// (host names it, "" for the Docker engine) once per test process.
func workloadImageIn(cli *client.Client, host string) (string, error) {
	if err := buildWorkloadOnce(); err != nil {
		return "", err
	}
	workload.mu.Lock()
	if workload.engines == nil {
		workload.engines = map[string]*engineImport{}
	}
	imp := workload.engines[host]
	if imp == nil {
		imp = &engineImport{}
		workload.engines[host] = imp
	}
	workload.mu.Unlock()
	imp.once.Do(func() { imp.err = importWorkloadImage(cli, workload.tarball, workload.ref) })
	return workload.ref, imp.err
}

// buildWorkloadOnce builds the workload binary and its image tar once per
// test process.
func buildWorkloadOnce() error {
	workload.once.Do(func() {
		bin, err := buildWorkload()
		if err != nil {
			workload.err = err
			return
		}
		tarball, err := workloadTar(bin)
		if err != nil {
			workload.err = err
			return
		}
		sum := sha256.Sum256(tarball)
		workload.bin, workload.tarball = bin, tarball
		workload.ref = workloadRepo + ":" + hex.EncodeToString(sum[:8])
	})
	return workload.err
}

// workloadBinary returns the static workload binary, built once.
func workloadBinary(t testing.TB) []byte {
	t.Helper()
	if err := buildWorkloadOnce(); err != nil {
		t.Fatalf("workload binary: %v", err)
	}
	return workload.bin
}

// importWorkloadImage imports the image tar as ref through the engine's
// (Docker-compatible) API, unless the engine has it already.
func importWorkloadImage(cli *client.Client, tarball []byte, ref string) error {
	ctx, cancel := context.WithTimeout(context.Background(), importTimeout)
	defer cancel()
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return nil
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect %s: %w", ref, err)
	}
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: bytes.NewReader(tarball), SourceName: "-"}, ref,
		image.ImportOptions{Changes: []string{`CMD ["/workload"]`}, Message: "dockcase e2e workload"})
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	defer rc.Close()
	if err := importReplyError(io.LimitReader(rc, maxImportReplyBytes)); err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("inspect %s after import: %w", ref, err)
	}
	return nil
}

// importReplyError reads the engine's JSON progress stream to its end and
// returns the error it reports, if any: an import fails inside the stream,
// not in the HTTP status.
func importReplyError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("read import reply: %w", err)
		}
		if msg.Error != "" {
			return fmt.Errorf("engine: %q", msg.Error)
		}
	}
}

// buildWorkload compiles the workload statically and returns the binary.
// -trimpath and no VCS stamp make the bytes depend on the source only.
func buildWorkload() ([]byte, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "dce-workload-")
	if err != nil {
		return nil, fmt.Errorf("build workload: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "workload")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w",
		"-o", out, workloadPkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w: %s", workloadPkg, err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("build workload: %w", err)
	}
	return bin, nil
}

// goTool finds the go command: the one on PATH, else the one of the
// toolchain that built this test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// workloadTar builds the image's root filesystem: the binary as /workload,
// a world-writable /tmp, an empty /root and an /etc with just enough for a
// process to have a user name and resolve localhost. Docker bind-mounts its
// own /etc/hosts and /etc/resolv.conf over these when a container runs.
func workloadTar(bin []byte) ([]byte, error) {
	files := []struct {
		name string
		mode int64
		body []byte
	}{
		{"etc/", 0o755, nil},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/workload\nnobody:x:65534:65534:nobody:/nonexistent:/workload\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")},
		{"etc/hosts", 0o644, []byte("127.0.0.1\tlocalhost\n::1\tlocalhost\n")},
		{"root/", 0o700, nil},
		{"tmp/", 0o1777, nil},
		{"workload", 0o755, bin},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: workloadTarEpoch, Format: tar.FormatUSTAR}
		if f.body == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("workload tar: %w", err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("workload tar: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("workload tar: %w", err)
	}
	return buf.Bytes(), nil
}
