// Command capturebench is the packet-capture benchmark's helper (issue 4):
// a UDP generator, dockcase's capture, and tcpdump under the same
// measurement. scripts/bench-capture.sh runs it inside the namespaces it
// creates; it prints, it does not assert.
//
//	capturebench gen -dst 198.18.250.2:9 -size 64 -pps 200000 -dur 30s
//	capturebench dockcase -iface dcqs0 -dur 32s -out FILE [-mode bundle|pcapng]
//	capturebench tcpdump -iface dcqs0 -dur 32s -out FILE
//	capturebench hold -sockets 50
//	capturebench sampler -dur 10s
//
// hold keeps loopback sockets open in the namespace it runs in, so that the
// socket sampler (sampler, in the host's namespace) has namespaces and
// sockets to read, as a Docker host's containers give it.
//
//	capturebench idle   (a container's process for SNAPSHOT=N: it sleeps)
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/capture"
	"github.com/dockcase/dockcase/collect/socksample"
	"golang.org/x/net/ipv4"
)

// result is one line of output: what a capturer did and what it cost.
type result struct {
	Tool     string  `json:"tool"`
	Captured uint64  `json:"captured"`
	Received uint64  `json:"kernel_received"`
	Dropped  uint64  `json:"kernel_dropped"`
	CPU      float64 `json:"cpu_s"`
	User     float64 `json:"user_s"`
	Sys      float64 `json:"sys_s"`
	NsPerPkt float64 `json:"cpu_ns_per_packet"`
	Bytes    int64   `json:"bytes_written"`
	Wall     float64 `json:"wall_s"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: capturebench gen|dockcase|tcpdump|hold|sampler [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "dockcase":
		err = captureDockcase(os.Args[2:])
	case "tcpdump":
		err = captureTcpdump(os.Args[2:])
	case "hold":
		err = hold(os.Args[2:])
	case "sampler":
		err = sampleSockets(os.Args[2:])
	case "idle":
		for {
			time.Sleep(time.Hour)
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "capturebench:", err)
		os.Exit(1)
	}
}

// poolBytes is the random payload pool: larger than zstd's 8 MiB window, so
// that the bundle's compression meets data as incompressible as real
// traffic, not one payload repeated.
const poolBytes = 16 << 20

// gen sends UDP datagrams whose frames are -size bytes at -pps for -dur,
// with sendmmsg in batches.
func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ExitOnError)
	dst := fs.String("dst", "", "destination ip:port")
	size := fs.Int("size", 64, "Ethernet frame size in bytes (without FCS)")
	pps := fs.Int("pps", 200000, "packets per second")
	dur := fs.Duration("dur", 30*time.Second, "duration")
	fs.Parse(args)
	addr, err := net.ResolveUDPAddr("udp4", *dst)
	if err != nil {
		return err
	}
	payload := *size - 14 - 20 - 8
	if payload < 0 {
		return fmt.Errorf("size %d is below 42 bytes of headers", *size)
	}
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetWriteBuffer(8 << 20)
	pc := ipv4.NewPacketConn(c)
	pool := make([]byte, poolBytes)
	rand.Read(pool)
	const batch = 64
	msgs := make([]ipv4.Message, batch)
	off := 0
	start := time.Now()
	sent, failed := 0, 0
	for time.Since(start) < *dur {
		target := int(time.Since(start).Seconds() * float64(*pps))
		for sent < target {
			n := min(batch, target-sent)
			for i := range n {
				if off+payload > len(pool) {
					off = 0
				}
				msgs[i] = ipv4.Message{Buffers: [][]byte{pool[off : off+payload]}, Addr: addr}
				off += payload + 7
			}
			k, err := pc.WriteBatch(msgs[:n], 0)
			if err != nil {
				failed++
				if failed > 1000 {
					return fmt.Errorf("send: %w", err)
				}
			}
			sent += k
		}
		time.Sleep(500 * time.Microsecond)
	}
	el := time.Since(start).Seconds()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	// The generator's CPU includes the veth's receive path and the
	// capture's copy into the ring, which the kernel does in its context.
	fmt.Printf("generator: %d packets of %d bytes in %.1fs = %.0f pkt/s, %.3f Gbit/s, cpu %.2fs\n",
		sent, *size, el, float64(sent)/el, float64(sent)*float64(*size)*8/el/1e9,
		float64(ru.Utime.Nano()+ru.Stime.Nano())/1e9)
	return nil
}

// setCPU fills in the CPU time spent between two rusage readings.
func (r *result) setCPU(before, after *syscall.Rusage) {
	r.User = float64(after.Utime.Nano()-before.Utime.Nano()) / 1e9
	r.Sys = float64(after.Stime.Nano()-before.Stime.Nano()) / 1e9
	r.CPU = r.User + r.Sys
}

// captureDockcase captures with collect.Capture, into a bundle (the real
// path: zstd-compressed, chunked) or into a plain pcapng file.
func captureDockcase(args []string) error {
	fs := flag.NewFlagSet("dockcase", flag.ExitOnError)
	iface := fs.String("iface", "", "interface")
	dur := fs.Duration("dur", 32*time.Second, "duration")
	out := fs.String("out", "", "output file")
	mode := fs.String("mode", "bundle", "bundle or pcapng")
	profile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	fs.Parse(args)
	if *profile != "" {
		pf, err := os.Create(*profile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	var before syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	opts := capture.Options{Ifaces: []string{*iface}, Duration: *dur, NoDocker: true, MaxBytes: 1 << 40}
	var res capture.Result
	switch *mode {
	case "pcapng":
		// Straight to the file: Capture hands its writer batches of 1 MiB
		// already, which a bufio.Writer would only copy once more.
		res, err = capture.Run(context.Background(), f, opts)
	case "bundle":
		// As dockcase collect writes a bundle: through a 1 MiB bufio.Writer.
		bw := bufio.NewWriterSize(f, 1<<20)
		w, err2 := bundle.NewWriter(bw, bundle.Meta{CaseID: "bench", Host: "bench", Collector: "capturebench", Started: time.Now()}, bundle.Options{})
		if err2 != nil {
			return err2
		}
		mw, err2 := w.Create("capture/capture.pcapng", bundle.MemberInfo{Step: "capture"})
		if err2 != nil {
			return err2
		}
		res, err = capture.Run(context.Background(), mw, opts)
		if err == nil {
			err = mw.Close()
		}
		signer, _ := bundle.EphemeralSigner()
		if err == nil {
			_, err = w.Close(signer)
		}
		if err == nil {
			err = bw.Flush()
		}
	default:
		return fmt.Errorf("unknown mode %q", *mode)
	}
	if err != nil {
		return err
	}
	var after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	fi, _ := f.Stat()
	r := result{Tool: "dockcase-" + *mode, Captured: res.Packets, Received: res.Received, Dropped: res.Dropped,
		Bytes: fi.Size(), Wall: time.Since(start).Seconds()}
	r.setCPU(&before, &after)
	if r.Captured > 0 {
		r.NsPerPkt = r.CPU * 1e9 / float64(r.Captured)
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

var tcpdumpCounts = regexp.MustCompile(`(?m)^(\d+) packets (captured|received by filter|dropped by kernel)$`)

// captureTcpdump runs tcpdump -i IF -w FILE for -dur and reads its counters
// and the CPU time of the child.
func captureTcpdump(args []string) error {
	fs := flag.NewFlagSet("tcpdump", flag.ExitOnError)
	iface := fs.String("iface", "", "interface")
	dur := fs.Duration("dur", 32*time.Second, "duration")
	out := fs.String("out", "", "output file")
	fs.Parse(args)
	cmd := exec.Command("tcpdump", "-i", *iface, "-w", *out, "-n")
	// tcpdump must not outlive the benchmark that started it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	time.Sleep(*dur)
	cmd.Process.Signal(os.Interrupt)
	var text string
	for l := range lines {
		text += l + "\n"
	}
	cmd.Wait()
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r := result{Tool: "tcpdump", Wall: time.Since(start).Seconds()}
	if ru != nil {
		r.setCPU(&syscall.Rusage{}, ru)
	}
	for _, m := range tcpdumpCounts.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.ParseUint(m[1], 10, 64)
		switch m[2] {
		case "captured":
			r.Captured = n
		case "received by filter":
			r.Received = n
		case "dropped by kernel":
			r.Dropped = n
		}
	}
	if fi, err := os.Stat(*out); err == nil {
		r.Bytes = fi.Size()
	}
	if r.Captured > 0 {
		r.NsPerPkt = r.CPU * 1e9 / float64(r.Captured)
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// hold opens -sockets loopback listeners and as many connections to them,
// and keeps them until killed.
func hold(args []string) error {
	fs := flag.NewFlagSet("hold", flag.ExitOnError)
	n := fs.Int("sockets", 50, "listeners, and connections to them")
	fs.Parse(args)
	var keep []net.Conn
	for i := 0; i < *n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		a, err := ln.Accept()
		if err != nil {
			return err
		}
		keep = append(keep, c, a)
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, c := range keep {
		c.Close()
	}
	return nil
}

// samplerResult is the socket sampler's line of output.
type samplerResult struct {
	Tool       string  `json:"tool"`
	Rounds     int     `json:"rounds"`
	Namespaces int     `json:"namespaces"`
	Sockets    int     `json:"sockets"`
	Owned      int     `json:"owned"`
	CPU        float64 `json:"cpu_s"`
	User       float64 `json:"user_s"`
	Sys        float64 `json:"sys_s"`
	Wall       float64 `json:"wall_s"`
	MSPerRound float64 `json:"cpu_ms_per_round"`
	// SteadyMS is the CPU of a round once every socket is known (owners
	// looked up): what each round costs after the first.
	SteadyMS float64 `json:"steady_cpu_ms_per_round"`
}

// sampleSockets runs the collector's socket sampler alone for -dur, as
// collect runs it through the capture window, and prints its CPU time
// (rusage of this process) and what it saw.
func sampleSockets(args []string) error {
	fs := flag.NewFlagSet("sampler", flag.ExitOnError)
	dur := fs.Duration("dur", 10*time.Second, "duration")
	interval := fs.Duration("interval", socksample.DefaultInterval, "time between rounds")
	fs.Parse(args)
	s, err := socksample.New(*interval)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	doc := s.Run(ctx)
	wall := time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	var r result
	r.setCPU(&before, &after)
	out := samplerResult{Tool: "socket-sampler", Rounds: doc.Rounds, Namespaces: len(doc.Namespaces), Sockets: len(doc.Sockets),
		CPU: r.CPU, User: r.User, Sys: r.Sys, Wall: wall.Seconds()}
	for _, so := range doc.Sockets {
		if len(so.Owners) > 0 {
			out.Owned++
		}
	}
	if doc.Rounds > 0 {
		out.MSPerRound = 1000 * r.CPU / float64(doc.Rounds)
	}
	const steadyRounds = 3
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for i := 0; i < steadyRounds; i++ {
		s.Round(context.Background())
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	var st result
	st.setCPU(&before, &after)
	out.SteadyMS = 1000 * st.CPU / steadyRounds
	return json.NewEncoder(os.Stdout).Encode(out)
}
