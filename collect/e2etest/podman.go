package e2etest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// PodmanBackends are the network backends of the Podman end-to-end tests.
// scripts/ensure-podman.sh runs one rootful Podman service for each, with
// its own storage, so that they share nothing with each other nor with the
// host's own podman state.
var PodmanBackends = []string{"netavark", "cni"}

const (
	// ensurePodmanTimeout bounds scripts/ensure-podman.sh: an apt-get
	// install of podman and its network tools, and the script's wait.
	ensurePodmanTimeout = 10 * time.Minute
	// podmanStopWait bounds the wait for a service the test stopped.
	podmanStopWait = 20 * time.Second
	// maxLibpodAnswerBytes bounds a libpod network inspect: a few KiB.
	maxLibpodAnswerBytes = 1 << 20
)

// PodmanHost is the engine host of the Podman service of backend.
func PodmanHost(backend string) string {
	return "unix://" + podmanSocket(backend)
}

func podmanSocket(backend string) string { return "/run/dce-podman-" + backend + ".sock" }

// RequirePodman makes sure the rootful Podman service of backend answers
// and returns its engine host. When it did not answer, it runs
// scripts/ensure-podman.sh to start it, and the test's cleanup stops that
// service, by the PID the script wrote, and nothing else. The test is
// skipped (failed under CI=true) when there is no root or no service.
func RequirePodman(t testing.TB, backend string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "the Podman end-to-end tests need root (a rootful Podman), euid %d", os.Geteuid())
	}
	host := PodmanHost(backend)
	if _, err := engineClient(host); err == nil {
		return host
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ensurePodmanTimeout)
	defer cancel()
	script := filepath.Join(root, "scripts", "ensure-podman.sh")
	out, err := exec.CommandContext(ctx, "sh", script, backend).CombinedOutput()
	if err != nil {
		skipOrFail(t, "podman (%s) unavailable: %s: %v: %s", backend, script, err, bytes.TrimSpace(out))
	}
	if pid, err := readPIDFile("/run/dce-podman-" + backend + ".pid"); err == nil {
		t.Cleanup(func() { stopPodmanService(t, pid) })
	}
	if _, err := engineClient(host); err != nil {
		skipOrFail(t, "podman (%s) unavailable after %s: %v", backend, script, err)
	}
	return host
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// stopPodmanService stops the service this test started, by its PID, after
// checking that the PID is still a podman.
func stopPodmanService(t testing.TB, pid int) {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "podman" {
		return // gone already, or the PID is another process's now
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Errorf("stop podman service (pid %d): %v", pid, err)
		return
	}
	for deadline := time.Now().Add(podmanStopWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return
		}
	}
	t.Errorf("podman service (pid %d) still runs %v after SIGTERM", pid, podmanStopWait)
}

// engineClient connects to the engine at host and pings it.
func engineClient(host string) (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("engine client %s: %w", host, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		return nil, fmt.Errorf("ping %s: %w", host, err)
	}
	return cli, nil
}

// isPodman reports whether the engine's version answer names Podman.
func isPodman(ctx context.Context, cli *client.Client) (bool, error) {
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		return false, fmt.Errorf("engine version: %w", err)
	}
	for _, c := range v.Components {
		if strings.Contains(strings.ToLower(c.Name), "podman") {
			return true, nil
		}
	}
	return false, nil
}

// podmanBridge returns the bridge of a Podman network, from Podman's own
// network inspect: the compatible answer does not name it.
func podmanBridge(ctx context.Context, cli *client.Client, name string) (string, error) {
	v, err := cli.ServerVersion(ctx)
	if err != nil {
		return "", fmt.Errorf("engine version: %w", err)
	}
	// Podman's own endpoints want its own API version.
	libpod := ""
	for _, c := range v.Components {
		if strings.Contains(strings.ToLower(c.Name), "podman") {
			libpod = c.Details["APIVersion"]
		}
	}
	if libpod == "" {
		return "", fmt.Errorf("libpod network %s: the engine's version answer names no Podman API version", name)
	}
	u := "http://" + client.DummyHost + "/v" + libpod + "/libpod/networks/" + url.PathEscape(name) + "/json"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := cli.HTTPClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("libpod network %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxLibpodAnswerBytes))
	if err != nil {
		return "", fmt.Errorf("libpod network %s: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("libpod network %s: %s: %s", name, resp.Status, bytes.TrimSpace(b))
	}
	var n struct {
		NetworkInterface string `json:"network_interface"`
	}
	if err := json.Unmarshal(b, &n); err != nil || n.NetworkInterface == "" {
		return "", fmt.Errorf("libpod network %s: no network_interface in %q (%v)", name, b, err)
	}
	return n.NetworkInterface, nil
}

// podmanChain matches the chains netavark and the CNI plugins add to the
// host's tables (NETAVARK_FORWARD, NETAVARK-HOSTPORT-DNAT, NETAVARK-1D8…,
// CNI-FORWARD, CNI-HOSTPORT-…, CNI-<hash>).
var podmanChain = regexp.MustCompile(`^(?i:NETAVARK|CNI-)`)

// ruleTarget finds a rule's jump or goto target in an iptables-save line.
var ruleTarget = regexp.MustCompile(`(?:^| )-[jg] (\S+)`)

// FirewallSnapshot is the host's iptables and ip6tables state before a test
// ran its Podman containers: netavark and CNI leave chains and jumps in the
// host's tables that outlive their containers and networks.
type FirewallSnapshot struct {
	tables map[string]fwTables // by command: iptables, ip6tables
}

// fwTables holds, per table, its chains and its rule lines.
type fwTables map[string]*fwTable

type fwTable struct {
	chains []string
	rules  []string // "-A CHAIN …", as iptables-save prints them
}

// SnapshotFirewall reads iptables-save and ip6tables-save.
func SnapshotFirewall() (*FirewallSnapshot, error) {
	s := &FirewallSnapshot{tables: map[string]fwTables{}}
	for _, cmd := range []string{"iptables", "ip6tables"} {
		out, err := exec.Command(cmd + "-save").Output()
		if err != nil {
			return nil, fmt.Errorf("%s-save: %w", cmd, err)
		}
		s.tables[cmd] = parseIPTablesSave(out)
	}
	return s, nil
}

func parseIPTablesSave(out []byte) fwTables {
	tables := fwTables{}
	var cur *fwTable
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			cur = &fwTable{}
			tables[line[1:]] = cur
		case cur == nil:
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			cur.chains = append(cur.chains, name)
		case strings.HasPrefix(line, "-A "):
			cur.rules = append(cur.rules, line)
		}
	}
	return tables
}

// RestorePodmanRules removes from the host's tables every NETAVARK* and
// CNI-* chain that was not there at the snapshot, every rule added since
// in such a chain, and every jump added since to such a chain, in one
// iptables-restore --noflush per table. Nothing else is touched: other
// tests change the DOCKER chains meanwhile.
func (s *FirewallSnapshot) RestorePodmanRules() error {
	now, err := SnapshotFirewall()
	if err != nil {
		return err
	}
	var errs []error
	for cmd, tables := range now.tables {
		before := s.tables[cmd]
		for name, t := range tables {
			var old fwTable
			if b := before[name]; b != nil {
				old = *b
			}
			var script []string
			var added []string
			for _, c := range t.chains {
				if podmanChain.MatchString(c) && !slices.Contains(old.chains, c) {
					added = append(added, c)
				}
			}
			for _, r := range t.rules {
				if slices.Contains(old.rules, r) {
					continue
				}
				chain, _, _ := strings.Cut(strings.TrimPrefix(r, "-A "), " ")
				if slices.Contains(added, chain) {
					continue // flushed below
				}
				target := ""
				if m := ruleTarget.FindStringSubmatch(r); m != nil {
					target = m[1]
				}
				if podmanChain.MatchString(chain) || podmanChain.MatchString(target) {
					script = append(script, "-D "+strings.TrimPrefix(r, "-A "))
				}
			}
			for _, c := range added {
				script = append(script, "-F "+c)
			}
			for _, c := range added {
				script = append(script, "-X "+c)
			}
			if len(script) == 0 {
				continue
			}
			in := "*" + name + "\n" + strings.Join(script, "\n") + "\nCOMMIT\n"
			cmdRestore := exec.Command(cmd+"-restore", "--noflush")
			cmdRestore.Stdin = strings.NewReader(in)
			if out, err := cmdRestore.CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("%s-restore --noflush of table %s: %w: %s\n%s", cmd, name, err, bytes.TrimSpace(out), in))
			}
		}
	}
	return errors.Join(errs...)
}

// PodmanRulesLeft returns the NETAVARK* and CNI-* lines of the host's
// tables that were not there at the snapshot.
func (s *FirewallSnapshot) PodmanRulesLeft() ([]string, error) {
	now, err := SnapshotFirewall()
	if err != nil {
		return nil, err
	}
	var left []string
	for cmd, tables := range now.tables {
		for name, t := range tables {
			var old fwTable
			if b := s.tables[cmd][name]; b != nil {
				old = *b
			}
			for _, c := range t.chains {
				if podmanChain.MatchString(c) && !slices.Contains(old.chains, c) {
					left = append(left, fmt.Sprintf("%s -t %s chain %s", cmd, name, c))
				}
			}
			for _, r := range t.rules {
				if !slices.Contains(old.rules, r) && (strings.Contains(strings.ToUpper(r), "NETAVARK") || strings.Contains(strings.ToUpper(r), "CNI-")) {
					left = append(left, fmt.Sprintf("%s -t %s %s", cmd, name, r))
				}
			}
		}
	}
	slices.Sort(left)
	return left, nil
}
