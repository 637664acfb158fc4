package main

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names the environment variable that makes dockcase write a
// CPU profile of the whole process to the file it names, for measuring a
// command as the user runs it (scripts/bench-e2e.sh, docs/benchmarks.md):
//
//	DOCKCASE_CPUPROFILE=cpu.out dockcase analyze BUNDLE --pcap X --json=F
//	go tool pprof dockcase cpu.out
//
// Unset, nothing is profiled. The file is created (or truncated) as given;
// it holds only program counters and function names, no evidence.
const cpuProfileEnv = "DOCKCASE_CPUPROFILE"

// startProfile starts the CPU profile DOCKCASE_CPUPROFILE asks for and
// returns the function that ends it. A profile that cannot be started is
// said on stderr and the command runs all the same.
func startProfile(stderr io.Writer) (stop func()) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "dockcase: %s: %v\n", cpuProfileEnv, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(stderr, "dockcase: %s: %v\n", cpuProfileEnv, err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "dockcase: %s: %v\n", cpuProfileEnv, err)
		}
	}
}
