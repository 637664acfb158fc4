package collect_test

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

var benchCollect = flag.Bool("bench-collect", false, "run the collector benchmark (scripts/bench-collect.sh)")

// TestBenchCollect is the collector's benchmark, not a test: it prints
// figures and ratios measured in one run and runs only with -bench-collect.
//
//  1. Preservation of a committed image of 512 MiB against
//     docker save IMAGE | zstd -T0 -3 | sha256sum on the same image.
//  2. The host snapshot (steps clock … docker) with 50 running containers:
//     time and the collector's peak memory.
func TestBenchCollect(t *testing.T) {
	if !*benchCollect {
		t.Skip("benchmark: runs only with -bench-collect (scripts/bench-collect.sh)")
	}
	e2etest.RequireDocker(t)
	cli := e2etest.DockerClient(t)
	ctx := context.Background()
	base := e2etest.WorkloadImage(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1e6)

	// 1. A 512 MiB image: the workload plus a random blob, imported.
	big := "dcbench/big:" + suffix
	importBig(t, cli, big, 512<<20)
	t.Cleanup(func() { cli.ImageRemove(ctx, big, image.RemoveOptions{Force: true, PruneChildren: true}) })
	name := "dcbench-big-" + suffix
	startIdle(t, cli, big, name, "none")
	dir := t.TempDir()
	out := filepath.Join(dir, "big.tar.zst")
	t.Cleanup(func() { removeImages(cli, "dockcase/bench-"+suffix+":") })
	start := time.Now()
	code, stderr := run(t, "collect", "--case", "BENCH-"+suffix, "--capture", "0", "--containers", name, "--out", out)
	total := time.Since(start)
	if code != 0 && code != 3 {
		t.Fatalf("collect exit %d\n%s", code, stderr)
	}
	b, err := bundle.Open(out, bundle.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var preserve time.Duration
	for _, s := range b.Steps {
		if s.Name == "preservation" {
			preserve = s.Ended.Sub(s.Started)
		}
	}
	b.Close()
	ref := "dockcase/bench-" + suffix + ":" + name
	peerStart := time.Now()
	pipe := exec.Command("sh", "-c", `docker save "$1" | zstd -q -T0 -3 | sha256sum >/dev/null`, "sh", ref)
	if o, err := pipe.CombinedOutput(); err != nil {
		t.Fatalf("peer pipeline: %v\n%s", err, o)
	}
	peer := time.Since(peerStart)
	fmt.Printf("image save (512 MiB random + workload): dockcase preservation step %.2fs (whole collect %.2fs), docker save | zstd -T0 -3 | sha256sum %.2fs, ratio %.2fx\n",
		preserve.Seconds(), total.Seconds(), peer.Seconds(), preserve.Seconds()/peer.Seconds())

	// 2. 50 running containers on the default bridge.
	for i := range 50 {
		startIdle(t, cli, base, fmt.Sprintf("dcbench-%s-%02d", suffix, i), "bridge")
	}
	out50 := filepath.Join(dir, "fifty.tar.zst")
	cmd := exec.Command(dockcaseBinary(t), "collect", "--case", "BENCH50", "--capture", "0", "--no-images", "--out", out50)
	var errb strings.Builder
	cmd.Stderr = &errb
	start = time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil || (err != nil && cmd.ProcessState.ExitCode() != 3) {
		t.Fatalf("collect: %v\n%s", err, errb.String())
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	b, err = bundle.Open(out50, bundle.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var snap time.Duration
	for _, s := range b.Steps {
		if s.Name != "preservation" && s.Name != "containment" {
			snap += s.Ended.Sub(s.Started)
		}
	}
	fmt.Printf("host snapshot with 50 running containers: steps before preservation %.2fs (process wall %.2fs), peak RSS %d MiB (target < 150 MiB), %d members\n",
		snap.Seconds(), wall.Seconds(), rss>>10, len(b.Members()))
}

func importBig(t *testing.T, cli *client.Client, ref string, blob int64) {
	t.Helper()
	root, _ := e2etest.RepoRoot()
	bin := filepath.Join(t.TempDir(), "workload")
	build := exec.Command("go", "build", "-o", bin, "./collect/e2etest/workload")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if o, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build workload: %v\n%s", err, o)
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		data, _ := os.ReadFile(bin)
		tw.WriteHeader(&tar.Header{Name: "workload", Mode: 0o755, Size: int64(len(data))})
		tw.Write(data)
		tw.WriteHeader(&tar.Header{Name: "tmp/", Mode: 0o1777, Typeflag: tar.TypeDir})
		tw.WriteHeader(&tar.Header{Name: "blob", Mode: 0o644, Size: blob})
		io.CopyN(tw, rand.Reader, blob)
		pw.CloseWithError(tw.Close())
	}()
	rc, err := cli.ImageImport(context.Background(), image.ImportSource{Source: pr, SourceName: "-"}, ref, image.ImportOptions{Changes: []string{`CMD ["/workload"]`}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
}

func startIdle(t *testing.T, cli *client.Client, img, name, network string) {
	t.Helper()
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: img, Cmd: []string{"/workload"}},
		&container.HostConfig{NetworkMode: container.NetworkMode(network), DNS: []string{"127.0.0.1"}}, nil, nil, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
}

func removeImages(cli *client.Client, prefix string) {
	ctx := context.Background()
	imgs, _ := cli.ImageList(ctx, image.ListOptions{All: true})
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, prefix) {
				cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
			}
		}
	}
}
