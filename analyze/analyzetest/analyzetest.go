// Package analyzetest holds what the tests of the analyzer and of the
// reports share: the demo bundle of testdata/demo, opened and trusted as an
// analyst would, its scenario, and golden-file comparison.
package analyzetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/bundle"
)

// DemoDir returns the folder of the demo bundle, testdata/demo at the top of
// the module, relative to the test's working directory (the path ends up in
// golden files, which must not depend on where the checkout is).
func DemoDir() string {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "demo")
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, dir); err == nil {
			return rel
		}
	}
	return dir
}

// DemoBundle returns the path of the demo bundle.
func DemoBundle() string { return filepath.Join(DemoDir(), "demo.tar.zst") }

// OpenDemo opens the demo bundle, trusting the signer in its allowed_signers
// file; it is closed when the test ends.
func OpenDemo(t testing.TB) *bundle.Bundle {
	t.Helper()
	f, err := os.Open(filepath.Join(DemoDir(), "allowed_signers"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys, err := bundle.ParseAllowedSigners(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Open(DemoBundle(), bundle.OpenOptions{VerifyOptions: bundle.VerifyOptions{Trust: bundle.Trust{Keys: keys}}, TempDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open demo bundle: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Scenario returns field n of the line of testdata/demo/scenario.txt that
// starts with key (scripts/make-testdata.sh writes it with the demo bundle).
func Scenario(t testing.TB, key string, n int) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(DemoDir(), "scenario.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > n && f[0] == key {
			return f[n]
		}
	}
	t.Fatalf("scenario.txt has no %q line with %d fields", key, n+1)
	return ""
}

// Golden compares got with testdata/golden/name of the test's package, or
// rewrites that file when update is set (the package's -update flag).
func Golden(t *testing.T, update bool, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(gl) && i < len(wl); i++ {
		if gl[i] != wl[i] {
			t.Fatalf("%s differs at line %d:\n got: %s\nwant: %s\n(run go test -update if the change is intended)", path, i+1, gl[i], wl[i])
		}
	}
	t.Fatalf("%s differs in length: got %d lines, want %d (run go test -update if intended)", path, len(gl), len(wl))
}

// Tshark returns the path of tshark, the oracle the tests compare with; it
// fails the test under CI=true when tshark is missing, else skips it.
func Tshark(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tshark is not installed")
		}
		t.Skip("tshark is not installed")
	}
	return p
}

// DemoCapture extracts the demo bundle with tar, as a reader of the bundle
// would, and returns the path of its capture member.
func DemoCapture(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("tar", "--zstd", "-xf", DemoBundle(), "-C", dir).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, out)
	}
	pcaps, _ := filepath.Glob(filepath.Join(dir, "*", "capture", "capture.pcapng"))
	if len(pcaps) != 1 {
		t.Fatalf("capture members in the demo: %v, want 1", pcaps)
	}
	return pcaps[0]
}

// TsharkConversations counts the TCP and UDP conversations tshark finds on
// one interface of a pcapng file (-z conv,tcp -z conv,udp).
func TsharkConversations(t testing.TB, tshark, pcap, iface string) int {
	t.Helper()
	filter := `frame.interface_name=="` + iface + `"`
	out, err := exec.Command(tshark, "-r", pcap, "-q", "-z", "conv,tcp,"+filter, "-z", "conv,udp,"+filter).CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, out)
	}
	return strings.Count(string(out), "<->")
}
