package triage

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dockcase/dockcase/analyze/model"
)

// reverseShellPatterns are command-line shapes of interactive shells wired
// to a socket.
var reverseShellPatterns = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`/dev/(tcp|udp)/[^/\s]+/\d+`), "a shell redirected to /dev/tcp or /dev/udp"},
	{regexp.MustCompile(`\b(nc|ncat|netcat|nc\.traditional|nc\.openbsd)\b.*\s(-e|-c|--exec|--sh-exec)\s`), "netcat executing a program"},
	{regexp.MustCompile(`(?i)\bsocat\b.*\b(exec|system):`), "socat executing a program"},
	{regexp.MustCompile(`(?i)\bpython[0-9.]*\b.*pty\.spawn`), "python spawning a pty"},
	{regexp.MustCompile(`(?i)\bpython[0-9.]*\b.*socket\.socket.*(subprocess|os\.dup2)`), "python wiring a socket to a process"},
	{regexp.MustCompile(`(?i)\bperl\b.*-e.*\bsocket\b.*\bexec\b`), "perl wiring a socket to a shell"},
	{regexp.MustCompile(`(?i)\bphp\b.*-r.*fsockopen`), "php wiring a socket to a shell"},
	{regexp.MustCompile(`(?i)\bmkfifo\b.*\b(nc|ncat|netcat|openssl)\b`), "a named pipe between a shell and a network tool"},
	{regexp.MustCompile(`\b(ba|da|z|k)?sh\s+-i\b.*[<>]&`), "an interactive shell with redirected descriptors"},
}

// minerPatterns are command-line shapes of cryptocurrency miners.
var minerPatterns = regexp.MustCompile(`(?i)\b(xmrig|xmr-stak|minerd|cpuminer|cgminer|bfgminer|ethminer|nbminer|t-rex|phoenixminer|kdevtmpfsi|kinsing)\b|stratum\+(tcp|ssl|tls)://|--donate-level|--coin[= ](monero|xmr)|-o\s+pool\.|nicehash`)

// tmpDirs are the world-writable directories attackers drop tools in.
var tmpDirs = []string{"/tmp/", "/dev/shm/", "/var/tmp/", "/run/shm/"}

func inTmpDir(p string) bool {
	for _, d := range tmpDirs {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

func (t *state) processRules() []Finding {
	if len(t.h.Processes) == 0 {
		return nil
	}
	byPID := map[int]*model.HostProcess{}
	for i := range t.h.Processes {
		byPID[t.h.Processes[i].PID] = &t.h.Processes[i]
	}
	var out []Finding
	for i := range t.h.Processes {
		p := &t.h.Processes[i]
		c := t.containerByID(p.ContainerID)
		cmd := strings.Join(p.Cmdline, " ")
		e := p.Evidence
		e.Text = truncateText(RedactSecrets(cmd), 1024)
		if e.Text == "" {
			e.Text = "[" + p.Comm + "]"
		}
		for _, rs := range reverseShellPatterns {
			if rs.re.MatchString(cmd) {
				out = append(out, t.finding(c, "reverse-shell-process", SeverityCritical, fmt.Sprintf("Reverse-shell command line (pid %d)", p.PID),
					"the command line has the shape of "+rs.what+": someone may hold an interactive shell on this machine from outside", e))
				break
			}
		}
		if minerPatterns.MatchString(cmd) || minerPatterns.MatchString(p.Comm) {
			out = append(out, t.finding(c, "miner-process", SeverityHigh, fmt.Sprintf("Cryptocurrency miner (pid %d)", p.PID),
				"the process's name or command line is that of a cryptocurrency miner, the most common payload of a compromised container", e))
		}
		exe := strings.TrimSuffix(p.Exe, " (deleted)")
		arg0 := ""
		if len(p.Cmdline) > 0 {
			arg0 = p.Cmdline[0]
		}
		if inTmpDir(exe) || inTmpDir(arg0) {
			ee := e
			if exe != "" {
				ee.Text = "exe " + exe + ": " + e.Text
			}
			out = append(out, t.finding(c, "process-from-tmp", SeverityHigh, fmt.Sprintf("Process runs from a temporary directory (pid %d)", p.PID),
				"programs are installed under /usr or /opt; one run from /tmp, /dev/shm or /var/tmp was most likely dropped there at run time", ee))
		}
		if p.ExeDeleted || strings.HasSuffix(p.Exe, " (deleted)") {
			out = append(out, t.finding(c, "deleted-executable", SeverityHigh, fmt.Sprintf("Process runs a deleted executable (pid %d)", p.PID),
				"the program file was removed after it started, a common way to leave no file behind; the binary can still be recovered from /proc/<pid>/exe on the live host", e))
		}
		if c != nil && c.Pid > 0 && p.PID != c.Pid {
			if parent, ok := byPID[p.PPID]; ok && parent.ContainerID != p.ContainerID {
				ee := e
				ee.Text = fmt.Sprintf("pid %d, parent %d %q (not in the container): %s", p.PID, p.PPID, parent.Comm, e.Text)
				out = append(out, t.finding(c, "process-outside-init-tree", SeverityMedium, fmt.Sprintf("Process entered the container from outside (pid %d)", p.PID),
					"its parent is not a process of the container: it was started by docker exec, nsenter or a runtime call, not by the container's own init; check who ran it", ee, parent.Evidence))
			}
		}
	}
	return out
}
