package host

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	// fwMaxStdoutBytes bounds the output kept from one firewall dump. Docker
	// hosts with thousands of containers dump a few MiB; past the limit the
	// output is cut and flagged rather than growing the collector without end.
	fwMaxStdoutBytes = 256 << 20 // 256 MiB

	// fwMaxStderrBytes bounds the diagnostics kept from one command.
	fwMaxStderrBytes = 1 << 20 // 1 MiB

	// fwMaxVersionBytes bounds the output of `<bin> --version`, one line.
	fwMaxVersionBytes = 4 << 10 // 4 KiB

	// fwMaxBinaryBytes bounds the binary hashed before it runs: the
	// iptables and nft binaries are well under 1 MiB.
	fwMaxBinaryBytes = 512 << 20 // 512 MiB

	// fwMaxSysctlBytes bounds one /proc/sys value: these are single numbers.
	fwMaxSysctlBytes = 4 << 10 // 4 KiB

	// fwCommandTimeout bounds one dump; rule sets of 100k rules list in a
	// few seconds.
	fwCommandTimeout = 60 * time.Second

	// fwVersionTimeout bounds `<bin> --version`.
	fwVersionTimeout = 5 * time.Second

	// fwWaitDelay is how long to wait for the output pipes after the command
	// exits or is killed, in case it left a child holding them.
	fwWaitDelay = 2 * time.Second

	// fwSysctlAbsent is recorded for a sysctl the kernel does not have, such
	// as the bridge-nf ones without br_netfilter loaded.
	fwSysctlAbsent = "absent"
)

// fwSearchDirs are searched after $PATH: the firewall tools live in sbin,
// which is often missing from the PATH of sudo or cron.
var fwSearchDirs = []string{"/usr/sbin", "/sbin"}

// fwEnv is the whole environment of the commands run: a fixed PATH and the C
// locale, so the output does not depend on the caller's shell.
var fwEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}

// fwSysctls are the sysctls that decide whether and how the host forwards
// and filters container traffic. rp_filter of every interface is added.
var fwSysctls = []string{
	"net.ipv4.ip_forward",
	"net.ipv6.conf.all.forwarding",
	"net.ipv6.conf.default.forwarding",
	"net.bridge.bridge-nf-call-iptables",
	"net.bridge.bridge-nf-call-ip6tables",
	"net.bridge.bridge-nf-call-arptables",
	"net.ipv4.conf.all.rp_filter",
	"net.ipv4.conf.default.rp_filter",
	"net.ipv4.conf.all.route_localnet",
	"net.netfilter.nf_conntrack_acct",
	"net.netfilter.nf_conntrack_max",
}

// CommandOutput records one run of a host binary: which file ran, what it
// printed, and how it ended.
//
// Stdout is not part of the JSON form: it is kept verbatim, which JSON
// cannot carry as text, and belongs in a member of its own. StdoutSHA256 and
// StdoutBytes in the JSON tie the record to that member.
type CommandOutput struct {
	Name            string    `json:"name"`          // e.g. "iptables-save"
	Argv            []string  `json:"argv"`          // argv[0] is Name
	Path            string    `json:"path"`          // where the lookup found it
	ResolvedPath    string    `json:"resolved_path"` // Path with symlinks resolved: the file that ran
	SHA256          string    `json:"sha256"`        // of the file that ran, hex
	Version         string    `json:"version"`       // first line of `<bin> --version`
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	ExitCode        int       `json:"exit_code"` // -1 when it did not start or was killed
	Stdout          []byte    `json:"-"`
	StdoutBytes     int64     `json:"stdout_bytes"`  // written by the command, kept or not
	StdoutSHA256    string    `json:"stdout_sha256"` // of Stdout as kept, hex
	StdoutTruncated bool      `json:"stdout_truncated,omitempty"`
	Stderr          string    `json:"stderr,omitempty"`
	Error           string    `json:"error,omitempty"`
}

// Firewall is the packet filter state of the host: the dumps of its rule
// sets and the sysctls that decide forwarding.
type Firewall struct {
	Commands []CommandOutput   `json:"commands"`
	Sysctls  map[string]string `json:"sysctls"`
}

// fwCommand is a dump ReadFirewall may run.
type fwCommand struct {
	name     string
	args     []string
	required bool // a Docker host without it is worth an error
}

// ReadFirewall dumps the host's rule sets with iptables-save and
// ip6tables-save (every table, with counters); with the legacy and nft
// variants both installed, each of them too, since rules can hide in the
// backend the default tool does not show; and `nft -j list ruleset` when nft
// is installed. It also reads the forwarding sysctls of the collector's
// network namespace, which must be the host's.
//
// These dumps are the only host binaries the collector runs. Each binary is
// opened once, hashed, and run from that open file, so the recorded SHA-256
// is of the file that ran even if the path is replaced meanwhile (the shared
// libraries it loads are not covered). None of the dumps loads a kernel
// module: iptables-legacy-save lists only the tables already loaded.
//
// A failing or missing command is recorded in its CommandOutput and the
// error, and the rest still runs.
func ReadFirewall(ctx context.Context) (Firewall, error) {
	var fw Firewall
	var errs []error

	cmds := []fwCommand{
		{name: "iptables-save", args: []string{"-c"}, required: true},
		{name: "ip6tables-save", args: []string{"-c"}, required: true},
	}
	_, _, legacyErr := fwLookPath("iptables-legacy-save")
	_, _, nftErr := fwLookPath("iptables-nft-save")
	if legacyErr == nil && nftErr == nil {
		cmds = append(cmds,
			fwCommand{name: "iptables-legacy-save", args: []string{"-c"}},
			fwCommand{name: "ip6tables-legacy-save", args: []string{"-c"}},
			fwCommand{name: "iptables-nft-save", args: []string{"-c"}},
			fwCommand{name: "ip6tables-nft-save", args: []string{"-c"}},
		)
	}
	cmds = append(cmds, fwCommand{name: "nft", args: []string{"-j", "list", "ruleset"}})

	for _, c := range cmds {
		path, resolved, err := fwLookPath(c.name)
		if err != nil {
			if c.required {
				fw.Commands = append(fw.Commands, CommandOutput{
					Name: c.name, Argv: append([]string{c.name}, c.args...),
					ExitCode: -1, Error: err.Error(),
				})
				errs = append(errs, err)
			}
			continue
		}
		out := fwRun(ctx, c.name, path, resolved, c.args, fwMaxStdoutBytes)
		if out.Error != "" {
			errs = append(errs, fmt.Errorf("run %s: %s", c.name, out.Error))
		}
		fw.Commands = append(fw.Commands, out)
	}

	var err error
	fw.Sysctls, err = fwReadSysctls()
	if err != nil {
		errs = append(errs, err)
	}
	return fw, errors.Join(errs...)
}

// fwLookPath finds name in the absolute directories of $PATH, then in
// /usr/sbin and /sbin. Relative $PATH entries are ignored: the collector runs
// as root and must not run a binary from whatever directory it was started in.
func fwLookPath(name string) (path, resolved string, err error) {
	dirs := append(filepath.SplitList(os.Getenv("PATH")), fwSearchDirs...)
	for _, dir := range dirs {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			continue
		}
		return p, r, nil
	}
	return "", "", fmt.Errorf("look up %s: not found in $PATH, /usr/sbin or /sbin", name)
}

// fwRun hashes the binary at resolved, asks it for its version and runs it
// with args, all from one open file descriptor; argv[0] is name, which
// multi-call binaries such as xtables-nft-multi dispatch on.
func fwRun(ctx context.Context, name, path, resolved string, args []string, maxStdout int64) CommandOutput {
	out := CommandOutput{
		Name:         name,
		Argv:         append([]string{name}, args...),
		Path:         path,
		ResolvedPath: resolved,
		ExitCode:     -1,
	}
	bin, err := os.Open(resolved)
	if err != nil {
		out.Error = fmt.Sprintf("open binary: %v", err)
		return out
	}
	defer bin.Close()
	fi, err := bin.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		out.Error = fmt.Sprintf("open binary: not a regular file (%v)", err)
		return out
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(bin, fwMaxBinaryBytes+1))
	if err != nil {
		out.Error = fmt.Sprintf("hash binary: %v", err)
		return out
	}
	if n > fwMaxBinaryBytes {
		out.Error = fmt.Sprintf("hash binary: larger than %d bytes", int64(fwMaxBinaryBytes))
		return out
	}
	out.SHA256 = hex.EncodeToString(h.Sum(nil))

	vctx, cancel := context.WithTimeout(ctx, fwVersionTimeout)
	vout := fwExec(vctx, bin, name, []string{"--version"}, fwMaxVersionBytes)
	cancel()
	out.Version = fwFirstLine(vout.Stdout)
	if out.Version == "" {
		out.Version = fwFirstLine([]byte(vout.Stderr))
	}

	cctx, cancel := context.WithTimeout(ctx, fwCommandTimeout)
	defer cancel()
	res := fwExec(cctx, bin, name, args, maxStdout)
	out.Start, out.End = res.Start, res.End
	out.ExitCode = res.ExitCode
	out.Stdout = res.Stdout
	out.StdoutBytes = res.StdoutBytes
	out.StdoutTruncated = res.StdoutTruncated
	sum := sha256.Sum256(res.Stdout)
	out.StdoutSHA256 = hex.EncodeToString(sum[:])
	out.Stderr = res.Stderr
	out.Error = res.Error
	return out
}

// fwExec runs the open binary bin as fd 3 of the child through
// /proc/self/fd/3: execve resolves that path in the child after the
// descriptor is in place, so what runs is the file that was hashed.
func fwExec(ctx context.Context, bin *os.File, name string, args []string, maxStdout int64) CommandOutput {
	var out CommandOutput
	stdout := &fwCapWriter{max: maxStdout}
	stderr := &fwCapWriter{max: fwMaxStderrBytes}
	cmd := exec.CommandContext(ctx, "/proc/self/fd/3", args...)
	cmd.Args[0] = name
	cmd.ExtraFiles = []*os.File{bin}
	cmd.Env = fwEnv
	cmd.Dir = "/"
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.WaitDelay = fwWaitDelay

	out.Start = time.Now().UTC()
	err := cmd.Run()
	out.End = time.Now().UTC()
	out.ExitCode = -1
	if cmd.ProcessState != nil {
		out.ExitCode = cmd.ProcessState.ExitCode()
	}
	out.Stdout = stdout.buf.Bytes()
	out.StdoutBytes = stdout.total
	out.StdoutTruncated = stdout.total > maxStdout
	out.Stderr = stderr.buf.String()
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", err, ctxErr)
		}
		out.Error = err.Error()
	}
	return out
}

// fwCapWriter keeps the first max bytes written to it and counts the rest.
// It never fails a write, so the command runs to its end and its exit code
// is its own rather than a broken pipe.
type fwCapWriter struct {
	buf   bytes.Buffer
	max   int64
	total int64
}

func (w *fwCapWriter) Write(p []byte) (int, error) {
	if room := w.max - int64(w.buf.Len()); room > 0 {
		w.buf.Write(p[:min(int64(len(p)), room)])
	}
	w.total += int64(len(p))
	return len(p), nil
}

func fwFirstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimSpace(string(line))
}

// fwReadSysctls reads the sysctls in fwSysctls and rp_filter of every
// interface from /proc/sys. A sysctl the kernel lacks is recorded as
// "absent"; one that cannot be read as "error: …", and in the error.
func fwReadSysctls() (map[string]string, error) {
	vals := make(map[string]string)
	var errs []error
	read := func(key, path string) {
		b, err := ReadProcFile(path, fwMaxSysctlBytes)
		switch {
		case errors.Is(err, os.ErrNotExist):
			vals[key] = fwSysctlAbsent
		case err != nil:
			vals[key] = "error: " + err.Error()
			errs = append(errs, fmt.Errorf("read sysctl %s: %w", key, err))
		default:
			vals[key] = strings.TrimSpace(string(b))
		}
	}
	for _, key := range fwSysctls {
		read(key, filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")))
	}

	// Interface names may contain dots; sysctl(8) writes them as slashes.
	ifaces, err := os.ReadDir("/proc/sys/net/ipv4/conf")
	if err != nil {
		errs = append(errs, fmt.Errorf("read sysctls: list interfaces: %w", err))
	}
	names := make([]string, 0, len(ifaces))
	for _, d := range ifaces {
		names = append(names, d.Name())
	}
	sort.Strings(names)
	for _, ifname := range names {
		key := "net.ipv4.conf." + strings.ReplaceAll(ifname, ".", "/") + ".rp_filter"
		read(key, filepath.Join("/proc/sys/net/ipv4/conf", ifname, "rp_filter"))
	}
	return vals, errors.Join(errs...)
}
