package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

var fwHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// fwDockerExpected reports whether dockerd is running here, so that its
// rules must be in the dumps; under CI=true it must be.
func fwDockerExpected(t *testing.T) bool {
	t.Helper()
	if _, err := os.Stat("/var/run/docker.sock"); err == nil {
		return true
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but /var/run/docker.sock is missing: dockerd must run")
	}
	return false
}

func fwFind(fw Firewall, name string) (CommandOutput, bool) {
	for _, c := range fw.Commands {
		if c.Name == name {
			return c, true
		}
	}
	return CommandOutput{}, false
}

func TestReadFirewall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to dump the rule sets")
	}
	if _, _, err := fwLookPath("iptables-save"); err != nil {
		t.Skip("needs iptables-save")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The oracle: each iptables dump run the ordinary way prints the same
	// tables. Other tests on this host add and remove Docker rules, so the
	// dump is compared with oracle runs just before and after it, and the
	// whole comparison is tried a few times.
	var fw Firewall
	var err error
	for attempt := 1; ; attempt++ {
		before := fwOracle(t)
		fw, err = ReadFirewall(ctx)
		after := fwOracle(t)
		var diffs []string
		for _, c := range fw.Commands {
			if strings.Contains(c.Name, "tables") {
				got := fwTablesOnly(c.Stdout)
				if got != before[c.Name] && got != after[c.Name] {
					diffs = append(diffs, fmt.Sprintf("ReadFirewall %s output = %q, want %q", c.Name, got, after[c.Name]))
				}
			}
		}
		if len(diffs) == 0 {
			break
		}
		if attempt == 3 {
			t.Error(strings.Join(diffs, "\n"))
			break
		}
	}
	if err != nil {
		t.Errorf("ReadFirewall: %v", err)
	}

	for _, c := range fw.Commands {
		t.Logf("%s: %s sha256 %s %q: %d bytes in %v", c.Name, c.ResolvedPath, c.SHA256[:min(12, len(c.SHA256))], c.Version, c.StdoutBytes, c.End.Sub(c.Start))
		if c.Error != "" || c.ExitCode != 0 {
			t.Errorf("ReadFirewall %s: exit %d, error %q, stderr %q", c.Name, c.ExitCode, c.Error, c.Stderr)
		}
		if !fwHex64.MatchString(c.SHA256) {
			t.Errorf("ReadFirewall %s: sha256 = %q, want 64 hex digits", c.Name, c.SHA256)
		}
		bin, err := os.ReadFile(c.ResolvedPath)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(bin); hex.EncodeToString(sum[:]) != c.SHA256 {
			t.Errorf("ReadFirewall %s: sha256 = %s, want %x (of %s)", c.Name, c.SHA256, sum, c.ResolvedPath)
		}
		if c.Version == "" {
			t.Errorf("ReadFirewall %s: no version", c.Name)
		}
		if sum := sha256.Sum256(c.Stdout); hex.EncodeToString(sum[:]) != c.StdoutSHA256 || int64(len(c.Stdout)) != c.StdoutBytes || c.StdoutTruncated {
			t.Errorf("ReadFirewall %s: stdout %d bytes, record says %d bytes sha256 %s truncated %v",
				c.Name, len(c.Stdout), c.StdoutBytes, c.StdoutSHA256, c.StdoutTruncated)
		}
		if c.Start.IsZero() || c.End.Before(c.Start) || c.Start.Location() != time.UTC {
			t.Errorf("ReadFirewall %s: start %v end %v", c.Name, c.Start, c.End)
		}
	}

	ipt, ok := fwFind(fw, "iptables-save")
	if !ok {
		t.Fatalf("ReadFirewall: no iptables-save among %d commands", len(fw.Commands))
	}
	if want := []string{"iptables-save", "-c"}; strings.Join(ipt.Argv, " ") != strings.Join(want, " ") {
		t.Errorf("ReadFirewall iptables-save argv = %q, want %q", ipt.Argv, want)
	}
	wants := []string{"*nat", "*filter", "COMMIT"}
	if fwDockerExpected(t) {
		wants = append(wants, "MASQUERADE", ":DOCKER ", "-j DOCKER")
	}
	for _, w := range wants {
		if !bytes.Contains(ipt.Stdout, []byte(w)) {
			t.Errorf("ReadFirewall iptables-save output lacks %q:\n%s", w, ipt.Stdout)
		}
	}
	if _, ok := fwFind(fw, "ip6tables-save"); !ok {
		t.Errorf("ReadFirewall: no ip6tables-save")
	}

	_, _, legacyErr := fwLookPath("iptables-legacy-save")
	_, _, nftSaveErr := fwLookPath("iptables-nft-save")
	for _, name := range []string{"iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save"} {
		if _, ok := fwFind(fw, name); ok != (legacyErr == nil && nftSaveErr == nil) {
			t.Errorf("ReadFirewall ran %s = %v, want it run only when both variants exist", name, ok)
		}
	}

	if _, _, err := fwLookPath("nft"); err == nil {
		nft, ok := fwFind(fw, "nft")
		if !ok {
			t.Fatal("ReadFirewall: nft installed but not run")
		}
		var doc struct {
			Nftables []map[string]json.RawMessage `json:"nftables"`
		}
		if err := json.Unmarshal(nft.Stdout, &doc); err != nil || len(doc.Nftables) == 0 {
			t.Errorf("ReadFirewall nft -j output: %v, %d objects", err, len(doc.Nftables))
		}
		if !strings.HasPrefix(nft.Version, "nftables v") {
			t.Errorf("ReadFirewall nft version = %q, want nftables v…", nft.Version)
		}
	}

	// The sysctls as the kernel shows them.
	for key, path := range map[string]string{
		"net.ipv4.ip_forward":          "/proc/sys/net/ipv4/ip_forward",
		"net.ipv4.conf.lo.rp_filter":   "/proc/sys/net/ipv4/conf/lo/rp_filter",
		"net.ipv4.conf.all.rp_filter":  "/proc/sys/net/ipv4/conf/all/rp_filter",
		"net.ipv6.conf.all.forwarding": "/proc/sys/net/ipv6/conf/all/forwarding",
	} {
		want := fwSysctlAbsent
		if b, err := os.ReadFile(path); err == nil {
			want = strings.TrimSpace(string(b))
		}
		if got := fw.Sysctls[key]; got != want {
			t.Errorf("ReadFirewall sysctl %s = %q, want %q", key, got, want)
		}
	}
	_, err = os.Stat("/proc/sys/net/bridge")
	if got := fw.Sysctls["net.bridge.bridge-nf-call-iptables"]; (got == fwSysctlAbsent) != (err != nil) || got == "" {
		t.Errorf("ReadFirewall bridge-nf-call-iptables = %q with /proc/sys/net/bridge: %v", got, err)
	}
	if fwDockerExpected(t) && fw.Sysctls["net.ipv4.ip_forward"] != "1" {
		t.Errorf("ReadFirewall ip_forward = %q, want 1 with dockerd running", fw.Sysctls["net.ipv4.ip_forward"])
	}
	if _, ok := fw.Sysctls["net.ipv4.conf.default.rp_filter"]; !ok {
		t.Errorf("ReadFirewall sysctls lack default rp_filter: %v", fw.Sysctls)
	}
}

// fwOracle runs every iptables dump that exists the ordinary way.
func fwOracle(t *testing.T) map[string]string {
	t.Helper()
	out := make(map[string]string)
	for _, v := range []string{"", "-legacy", "-nft"} {
		for _, fam := range []string{"iptables", "ip6tables"} {
			name := fam + v + "-save"
			path, _, err := fwLookPath(name)
			if err != nil {
				continue
			}
			b, err := exec.Command(path, "-c").Output()
			if err != nil {
				t.Fatalf("%s -c: %v", path, err)
			}
			out[name] = fwTablesOnly(b)
		}
	}
	return out
}

// fwTablesOnly drops the "# Generated … on <time>" comments, which differ
// between two runs, and the packet counters, which move.
func fwTablesOnly(b []byte) string {
	var out []string
	counters := regexp.MustCompile(`\[\d+:\d+\]`)
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "#") {
			out = append(out, counters.ReplaceAllString(line, "[]"))
		}
	}
	return strings.Join(out, "")
}

func TestFwRun(t *testing.T) {
	path, resolved, err := fwLookPath("seq")
	if err != nil {
		t.Skip("needs seq")
	}
	ctx := context.Background()

	full := fwRun(ctx, "seq", path, resolved, []string{"3"}, 1<<20)
	if string(full.Stdout) != "1\n2\n3\n" || full.ExitCode != 0 || full.Error != "" || full.StdoutTruncated || full.StdoutBytes != 6 {
		t.Errorf("fwRun(seq 3) = %q exit %d error %q truncated %v bytes %d", full.Stdout, full.ExitCode, full.Error, full.StdoutTruncated, full.StdoutBytes)
	}
	if !strings.Contains(full.Version, "seq") {
		t.Errorf("fwRun(seq 3) version = %q", full.Version)
	}

	// 100000 numbers are 588895 bytes; keep 1000 of them.
	cut := fwRun(ctx, "seq", path, resolved, []string{"100000"}, 1000)
	if len(cut.Stdout) != 1000 || !cut.StdoutTruncated || cut.StdoutBytes != 588895 || cut.ExitCode != 0 {
		t.Errorf("fwRun(seq 100000, cap 1000) = %d bytes, truncated %v, total %d, exit %d",
			len(cut.Stdout), cut.StdoutTruncated, cut.StdoutBytes, cut.ExitCode)
	}
	if !strings.HasPrefix(string(cut.Stdout), "1\n2\n3\n") {
		t.Errorf("fwRun(seq 100000, cap 1000) starts %q", cut.Stdout[:10])
	}

	fail := fwRun(ctx, "seq", path, resolved, []string{"--no-such-flag"}, 1000)
	if fail.ExitCode == 0 || fail.Error == "" || fail.Stderr == "" {
		t.Errorf("fwRun(seq --no-such-flag) = exit %d error %q stderr %q", fail.ExitCode, fail.Error, fail.Stderr)
	}
}

func TestFwRunTimeout(t *testing.T) {
	path, resolved, err := fwLookPath("sleep")
	if err != nil {
		t.Skip("needs sleep")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	out := fwRun(ctx, "sleep", path, resolved, []string{"30"}, 1000)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("fwRun(sleep 30) with a 300ms context took %v", took)
	}
	if out.ExitCode != -1 || !strings.Contains(out.Error, "deadline") {
		t.Errorf("fwRun(sleep 30) = exit %d error %q, want -1 and a deadline error", out.ExitCode, out.Error)
	}
}

func TestFwLookPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/dcp-tool", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	t.Setenv("PATH", ".:"+dir)
	if p, _, err := fwLookPath("dcp-tool"); err != nil || p != dir+"/dcp-tool" {
		t.Errorf("fwLookPath(dcp-tool) = %q, %v, want %q", p, err, dir+"/dcp-tool")
	}
	t.Setenv("PATH", ".")
	if p, _, err := fwLookPath("dcp-tool"); err == nil {
		t.Errorf("fwLookPath(dcp-tool) with PATH=. = %q, want not found", p)
	}
	// sbin is searched even when PATH lacks it.
	if _, err := os.Stat("/usr/sbin/iptables-save"); err == nil {
		if p, _, err := fwLookPath("iptables-save"); err != nil || p != "/usr/sbin/iptables-save" {
			t.Errorf("fwLookPath(iptables-save) with PATH=. = %q, %v", p, err)
		}
	}
}
