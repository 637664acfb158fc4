// Command bundlebench measures the bundle writer and verifier against the
// standard pipeline on the same input, in one run, and prints ratios:
//
//	write:  dockcase writer            vs  zstd -T0 -3 -c IN | sha256sum
//	verify: bundle.Verify              vs  zstd -dc BUNDLE | sha256sum
//
// Each side runs as its own process so that its peak memory (max RSS) is
// measured alone. Each measurement is the median of -runs runs, the two sides
// alternating, because the machine is noisy.
package main

import (
	"bufio"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/dockcase/dockcase/bundle"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("bundlebench: ")
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		child(os.Args[2:])
		return
	}
	size := flag.Int64("size", 1<<30, "input size in bytes")
	runs := flag.Int("runs", 3, "runs per measurement (median)")
	dir := flag.String("dir", "", "scratch folder (default: a temp folder)")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "bundlebench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	self, err := os.Executable()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%-14s %-7s %10s %10s %7s %12s %12s\n", "input", "op", "dockcase", "peer", "ratio", "dockcase-rss", "peer-rss")
	for _, kind := range []string{"incompressible", "text"} {
		in := filepath.Join(*dir, kind+".bin")
		if err := makeInput(in, kind, *size); err != nil {
			log.Fatal(err)
		}
		out := filepath.Join(*dir, kind+".tar.zst")
		w := compare(*runs,
			[]string{self, "-child", "write", in, out},
			[]string{"sh", "-c", `zstd -q -T0 -3 -c "$1" | sha256sum >/dev/null`, "sh", in})
		report(kind, "write", w)
		if err := reportSize(kind, in, out); err != nil {
			log.Fatal(err)
		}
		v := compare(*runs,
			[]string{self, "-child", "verify", out},
			[]string{"sh", "-c", `zstd -q -dc "$1" | sha256sum >/dev/null`, "sh", out})
		report(kind, "verify", v)
		os.Remove(in)
		os.Remove(out)
	}
}

type result struct {
	ours, peer       time.Duration
	oursRSS, peerRSS int64 // KiB
}

func report(kind, op string, r result) {
	fmt.Printf("%-14s %-7s %9.2fs %9.2fs %6.2fx %9d MiB %9d MiB\n", kind, op,
		r.ours.Seconds(), r.peer.Seconds(), r.ours.Seconds()/r.peer.Seconds(), r.oursRSS>>10, r.peerRSS>>10)
}

// reportSize prints the size of the bundle written from in next to that of
// the peer's zstd -3 output, measured once outside the timings: the writer
// compresses at a faster level than the peer.
func reportSize(kind, in, out string) error {
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	peer, err := exec.Command("sh", "-c", `zstd -q -T0 -3 -c "$1" | wc -c`, "sh", in).Output()
	if err != nil {
		return fmt.Errorf("zstd -3 size of %s: %w", in, err)
	}
	var peerBytes int64
	if _, err := fmt.Sscan(string(peer), &peerBytes); err != nil || peerBytes == 0 {
		return fmt.Errorf("zstd -3 size of %s: %q", in, peer)
	}
	fmt.Printf("%-14s %-7s %8.0fMB %8.0fMB %6.2fx\n", kind, "size", float64(st.Size())/1e6, float64(peerBytes)/1e6,
		float64(st.Size())/float64(peerBytes))
	return nil
}

func compare(runs int, ours, peer []string) result {
	var o, p []time.Duration
	var r result
	for range runs {
		d, rss := timeCmd(ours)
		o = append(o, d)
		r.oursRSS = max(r.oursRSS, rss)
		d, rss = timeCmd(peer)
		p = append(p, d)
		r.peerRSS = max(r.peerRSS, rss)
	}
	r.ours, r.peer = median(o), median(p)
	return r
}

func timeCmd(argv []string) (time.Duration, int64) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		log.Fatalf("%v: %v", argv, err)
	}
	d := time.Since(start)
	return d, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

// makeInput writes size bytes of random data or of log-like text.
func makeInput(path, kind string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	if kind == "incompressible" {
		_, err = io.CopyN(bw, rand.Reader, size)
	} else {
		rng := mrand.New(mrand.NewPCG(1, 2))
		verbs := []string{"GET", "POST", "PUT", "DELETE"}
		paths := []string{"/api/v1/users", "/static/app.js", "/login", "/healthz", "/api/v1/orders/"}
		var n int64
		for n < size {
			line := fmt.Sprintf("2026-11-28T09:%02d:%02d.%06dZ 172.19.0.%d %s %s%d %d %d %q\n",
				rng.IntN(60), rng.IntN(60), rng.IntN(1e6), rng.IntN(254)+1, verbs[rng.IntN(4)],
				paths[rng.IntN(5)], rng.IntN(100000), 200+rng.IntN(4)*100, rng.IntN(50000), "Mozilla/5.0 (X11; Linux x86_64)")
			k, werr := bw.WriteString(line[:min(int64(len(line)), size-n)])
			n += int64(k)
			if werr != nil {
				return werr
			}
		}
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

func child(args []string) {
	switch args[0] {
	case "write":
		in, err := os.Open(args[1])
		if err != nil {
			log.Fatal(err)
		}
		out, err := os.Create(args[2])
		if err != nil {
			log.Fatal(err)
		}
		bw := bufio.NewWriterSize(out, 1<<20)
		signer, _ := bundle.EphemeralSigner()
		w, err := bundle.NewWriter(bw, bundle.Meta{CaseID: "bench", Host: "bench", Started: time.Now()}, bundle.Options{})
		if err != nil {
			log.Fatal(err)
		}
		mw, err := w.Create("images/bench.tar", bundle.MemberInfo{Step: "bench"})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := io.CopyBuffer(mw, in, make([]byte, 1<<20)); err != nil {
			log.Fatal(err)
		}
		if err := mw.Close(); err != nil {
			log.Fatal(err)
		}
		if _, err := w.Close(signer); err != nil {
			log.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			log.Fatal(err)
		}
		if err := out.Close(); err != nil {
			log.Fatal(err)
		}
	case "verify":
		f, err := os.Open(args[1])
		if err != nil {
			log.Fatal(err)
		}
		if _, err := bundle.Verify(f, bundle.VerifyOptions{}); err != nil {
			log.Fatal(err)
		}
	}
}
