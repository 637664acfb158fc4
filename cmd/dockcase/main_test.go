package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dockcase/dockcase/analyze/analyzetest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"dockcase": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scripts in testdata/script. They see the demo
// bundle as $DEMO and have commands of their own: flipbyte FILE OFFSET
// (negative offsets count from the end), truncate FILE SIZE, and for the
// output convention tsv, csv and jsonkeys (see outputCmds).
func TestScripts(t *testing.T) {
	demo, err := filepath.Abs(analyzetest.DemoDir())
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		// [collector]: this build holds collect and locate (Linux, without
		// the portable tag).
		Condition: func(cond string) (bool, error) {
			if cond == "collector" {
				return collectorBuilt, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("DEMO", demo)
			return demoScenarioEnv(env, filepath.Join(demo, "scenario.txt"))
		},
		Cmds: outputCmds(map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"flipbyte": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: flipbyte FILE OFFSET")
				}
				path := ts.MkAbs(args[0])
				data, err := os.ReadFile(path)
				ts.Check(err)
				off, err := strconv.Atoi(args[1])
				ts.Check(err)
				if off < 0 {
					off += len(data)
				}
				data[off] ^= 0x20
				ts.Check(os.WriteFile(path, data, 0o644))
			},
			"truncate": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: truncate FILE SIZE")
				}
				n, err := strconv.ParseInt(args[1], 10, 64)
				ts.Check(err)
				ts.Check(os.Truncate(ts.MkAbs(args[0]), n))
			},
		}),
	})
}

// demoScenarioEnv exports the demo scenario's names (scenario.txt, written
// by scripts/make-testdata.sh) so that scripts survive a regenerated demo:
// $DEMO_C2, $DEMO_BEACON, $DEMO_BEACON_IP, $DEMO_NETWORK, $DEMO_BRIDGE.
func demoScenarioEnv(env *testscript.Env, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 2 && f[0] == "C2":
			env.Setenv("DEMO_C2", f[1])
		case len(f) >= 5 && f[0] == "network":
			env.Setenv("DEMO_NETWORK", f[1])
			env.Setenv("DEMO_BRIDGE", f[4])
		case len(f) >= 4 && f[0] == "beacon":
			env.Setenv("DEMO_BEACON", f[1])
			env.Setenv("DEMO_BEACON_IP", f[3])
		}
	}
	for _, k := range []string{"DEMO_C2", "DEMO_BEACON", "DEMO_BRIDGE"} {
		if env.Getenv(k) == "" {
			return fmt.Errorf("%s: no %s", path, k)
		}
	}
	return nil
}
