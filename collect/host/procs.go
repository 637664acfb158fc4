// Package host reads what the live host holds, one file per evidence
// source: processes (procs.go), sockets and their owners (sockets.go, and
// sockdiag.go for TCP over NETLINK_SOCK_DIAG), network namespaces and their
// links, routes and neighbours (netns.go, namespaces.go), conntrack and its
// events (conntrack.go, ctevents.go), the firewall (firewall.go) and the
// clock (clock.go). It only reads.
package host

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// MaxStatBytes bounds /proc/<pid>/stat: 52 numbers and a comm of at
	// most 16 bytes fit in well under 1 KiB.
	MaxStatBytes = 4 << 10 // 4 KiB

	// procMaxStatusBytes bounds /proc/<pid>/status, about 1.5 KiB on 6.x
	// kernels, longer with many supplementary groups or CPUs.
	procMaxStatusBytes = 64 << 10 // 64 KiB

	// procMaxCmdlineBytes bounds the command line kept per process. The
	// process controls it (argv can be MiBs, and can be rewritten at run
	// time); longer ones are cut and flagged.
	procMaxCmdlineBytes = 256 << 10 // 256 KiB

	// MaxCgroupBytes bounds /proc/<pid>/cgroup: a dozen v1 hierarchies
	// with docker paths is about 1.5 KiB; a process that may create cgroups
	// can nest paths deeper.
	MaxCgroupBytes = 64 << 10 // 64 KiB

	// procMaxCommBytes bounds /proc/<pid>/comm: TASK_COMM_LEN is 16.
	procMaxCommBytes = 64

	// procMaxAuxvBytes bounds /proc/self/auxv: a few dozen pairs of words.
	procMaxAuxvBytes = 4 << 10 // 4 KiB

	// procMaxProcStatBytes bounds /proc/stat, whose size grows with CPUs and
	// interrupts: 1 MiB is a few thousand CPUs.
	procMaxProcStatBytes = 1 << 20 // 1 MiB

	// DefaultClockTicks is USER_HZ on every architecture Docker runs on,
	// used when the auxiliary vector does not say.
	DefaultClockTicks = 100

	// procAuxClockTicks is AT_CLKTCK in the auxiliary vector.
	procAuxClockTicks = 17
)

// procNamespaceKinds are the /proc/<pid>/ns links recorded for each process.
var procNamespaceKinds = []string{"net", "pid", "mnt", "uts", "ipc", "cgroup", "user", "time"}

// Process is one process of the host as /proc shows it.
type Process struct {
	PID              int               `json:"pid"`
	PPID             int               `json:"ppid"`
	UID              int               `json:"uid"`  // real
	EUID             int               `json:"euid"` // effective
	GID              int               `json:"gid"`  // real
	EGID             int               `json:"egid"` // effective
	Comm             string            `json:"comm"`
	State            string            `json:"state"` // R, S, D, Z, T, I …
	Cmdline          []string          `json:"cmdline"`
	CmdlineTruncated bool              `json:"cmdline_truncated,omitempty"`
	Exe              string            `json:"exe,omitempty"` // in the process's mount namespace; empty for kernel threads
	ExeDeleted       bool              `json:"exe_deleted"`
	Cwd              string            `json:"cwd,omitempty"`
	StartTime        time.Time         `json:"start_time"` // UTC, to the second: boot time has 1 s resolution
	Namespaces       ProcessNamespaces `json:"namespaces"`
	Cgroup           []string          `json:"cgroup"`
	ContainerID      string            `json:"container_id,omitempty"`
	Errors           []string          `json:"errors,omitempty"` // parts of /proc that could not be read
}

// ProcessNamespaces holds the inode numbers of a process's namespaces; two
// processes share a namespace when the numbers are equal. Zero means the
// kernel has no such namespace or the link could not be read.
type ProcessNamespaces struct {
	Net    uint64 `json:"net"`
	PID    uint64 `json:"pid"`
	Mnt    uint64 `json:"mnt"`
	UTS    uint64 `json:"uts"`
	IPC    uint64 `json:"ipc"`
	Cgroup uint64 `json:"cgroup"`
	User   uint64 `json:"user"`
	Time   uint64 `json:"time"`
}

func (n *ProcessNamespaces) set(kind string, inode uint64) {
	switch kind {
	case "net":
		n.Net = inode
	case "pid":
		n.PID = inode
	case "mnt":
		n.Mnt = inode
	case "uts":
		n.UTS = inode
	case "ipc":
		n.IPC = inode
	case "cgroup":
		n.Cgroup = inode
	case "user":
		n.User = inode
	case "time":
		n.Time = inode
	}
}

// ReadProcesses reads every process of the host from /proc, sorted by PID.
// Processes that exit during the scan are left out; a process whose stat
// cannot be read for another reason is counted in the error, and parts of a
// process that cannot be read are listed in its Errors.
func ReadProcesses() ([]Process, error) {
	btime, err := procBootTime()
	if err != nil {
		return nil, fmt.Errorf("read processes: %w", err)
	}
	pids, err := ListPIDs()
	if err != nil {
		return nil, fmt.Errorf("read processes: %w", err)
	}
	tck := procClockTicks()
	procs := make([]Process, 0, len(pids))
	var failed int
	var firstErr error
	for _, pid := range pids {
		p, err := ReadProcess(pid, btime, tck)
		if err != nil {
			if procVanished(err) {
				continue
			}
			failed++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		procs = append(procs, p)
	}
	if failed > 0 {
		return procs, fmt.Errorf("read processes: %d of %d unreadable, first: %w", failed, len(pids), firstErr)
	}
	return procs, nil
}

func ReadProcess(pid int, btime time.Time, tck uint64) (Process, error) {
	d, err := openProcDir(pid)
	if err != nil {
		return Process{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	defer d.Close()
	return procReadFrom(d, btime, tck)
}

// procReadFrom reads the process of d. Every part is read through d, so a
// record never mixes two processes that had the same PID one after the
// other: once the process exits, the rest of its parts are missing.
func procReadFrom(d *procDir, btime time.Time, tck uint64) (Process, error) {
	pid := d.pid
	stat, err := d.readFile("stat", MaxStatBytes)
	if err != nil {
		return Process{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	p := Process{PID: pid}
	var startTicks uint64
	if p.Comm, p.State, p.PPID, startTicks, err = ParseStat(stat); err != nil {
		return Process{}, fmt.Errorf("read process %d: %w", pid, err)
	}
	p.StartTime = btime.Add(time.Duration(startTicks/tck) * time.Second).
		Add(time.Duration(startTicks%tck) * time.Second / time.Duration(tck)).UTC()

	// From here on the process may exit at any moment: what was read stays,
	// and a part that vanished is not an error.
	note := func(what string, err error) {
		if err != nil && !procVanished(err) {
			p.Errors = append(p.Errors, fmt.Sprintf("%s: %v", what, err))
		}
	}

	status, err := d.readFile("status", procMaxStatusBytes)
	note("status", err)
	if err == nil {
		p.UID, p.EUID, p.GID, p.EGID, err = procParseStatus(status)
		note("status", err)
	}

	cmdline, err := d.readFile("cmdline", procMaxCmdlineBytes)
	if errors.Is(err, errProcTooLong) {
		p.CmdlineTruncated = true
		err = nil
	}
	note("cmdline", err)
	p.Cmdline = procSplitCmdline(cmdline)

	p.Exe, p.ExeDeleted, err = procReadExe(d)
	note("exe", err)

	p.Cwd, err = d.readlink("cwd")
	note("cwd", err)

	for _, kind := range procNamespaceKinds {
		link, err := d.readlink("ns/" + kind)
		if err != nil {
			note("ns/"+kind, err)
			continue
		}
		inode, err := procParseNSLink(link)
		note("ns/"+kind, err)
		p.Namespaces.set(kind, inode)
	}

	cgroup, err := d.readFile("cgroup", MaxCgroupBytes)
	note("cgroup", err)
	for line := range strings.Lines(string(cgroup)) {
		if line = strings.TrimSuffix(line, "\n"); line != "" {
			p.Cgroup = append(p.Cgroup, line)
		}
	}
	p.ContainerID = ContainerIDFromCgroup(string(cgroup))
	return p, nil
}

// ParseStat parses /proc/<pid>/stat. The comm in parentheses may contain
// spaces and parentheses, so the fields are counted from the last ')'.
func ParseStat(b []byte) (comm, state string, ppid int, startTicks uint64, err error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return "", "", 0, 0, fmt.Errorf("parse stat %q: no comm", b)
	}
	comm = string(b[open+1 : end])
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state), f[1] field 4 (ppid), f[19] field 22 (starttime).
	if len(f) < 20 {
		return "", "", 0, 0, fmt.Errorf("parse stat %q: %d fields", b, len(f)+2)
	}
	state = f[0]
	if ppid, err = strconv.Atoi(f[1]); err != nil {
		return "", "", 0, 0, fmt.Errorf("parse stat ppid: %w", err)
	}
	if startTicks, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return "", "", 0, 0, fmt.Errorf("parse stat starttime: %w", err)
	}
	return comm, state, ppid, startTicks, nil
}

// procParseStatus takes the real and effective IDs from the Uid: and Gid:
// lines of /proc/<pid>/status (real, effective, saved, filesystem).
func procParseStatus(b []byte) (uid, euid, gid, egid int, err error) {
	var haveUID, haveGID bool
	for line := range strings.Lines(string(b)) {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "Uid" && key != "Gid") {
			continue
		}
		f := strings.Fields(val)
		if len(f) < 2 {
			return 0, 0, 0, 0, fmt.Errorf("parse status %q: too few ids", line)
		}
		realID, err1 := strconv.Atoi(f[0])
		eff, err2 := strconv.Atoi(f[1])
		if err := errors.Join(err1, err2); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("parse status %q: %w", line, err)
		}
		if key == "Uid" {
			uid, euid, haveUID = realID, eff, true
		} else {
			gid, egid, haveGID = realID, eff, true
		}
	}
	if !haveUID || !haveGID {
		return 0, 0, 0, 0, errors.New("parse status: no Uid or Gid line")
	}
	return uid, euid, gid, egid, nil
}

// procSplitCmdline splits the NUL-separated argv. A process that rewrote its
// argv may leave a single string with spaces: it is kept as one element.
func procSplitCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

// ProcessTag is what names a process in a record that does not repeat its
// whole entry of host/processes.json: its command line, cut at the
// caller's bound, and the container its cgroup names (empty for the host).
type ProcessTag struct {
	Cmdline          []string
	CmdlineTruncated bool
	Container        string
}

// ReadProcessTag reads the command line (at most maxCmdlineBytes) and the
// container of process pid through one open /proc/<pid> directory, so that
// a PID reused meanwhile gives nothing of another process. What cannot be
// read (it exited) stays empty.
func ReadProcessTag(pid int, maxCmdlineBytes int64) ProcessTag {
	var t ProcessTag
	d, err := openProcDir(pid)
	if err != nil {
		return t
	}
	defer d.Close()
	cmdline, err := d.readFile("cmdline", maxCmdlineBytes)
	if errors.Is(err, errProcTooLong) {
		t.CmdlineTruncated = true
	}
	t.Cmdline = procSplitCmdline(cmdline)
	if cg, err := d.readFile("cgroup", MaxCgroupBytes); err == nil {
		t.Container = ContainerIDFromCgroup(string(cg))
	}
	return t
}

// procReadExe reads the exe link. The kernel appends " (deleted)" when the
// file was unlinked, which includes memfd executables ("/memfd:x (deleted)").
// A file can also be named "x (deleted)" on purpose, so the suffix counts
// only when no file by the full name is the same inode as the running image.
func procReadExe(d *procDir) (exe string, deleted bool, err error) {
	link, err := d.readlink("exe")
	if err != nil {
		return "", false, err
	}
	trimmed, ok := strings.CutSuffix(link, " (deleted)")
	if !ok {
		return link, false, nil
	}
	running, err := d.stat("exe", 0)
	if err != nil {
		return link, true, err
	}
	if running.Nlink > 0 {
		// The path is in the process's mount namespace: look it up through
		// its root directory.
		if named, err := d.stat("root"+link, unix.AT_SYMLINK_NOFOLLOW); err == nil &&
			named.Dev == running.Dev && named.Ino == running.Ino {
			return link, false, nil
		}
	}
	return trimmed, true, nil
}

// procParseNSLink parses a namespace link such as "net:[4026531840]".
func procParseNSLink(link string) (uint64, error) {
	_, rest, ok := strings.Cut(link, ":[")
	if !ok || !strings.HasSuffix(rest, "]") {
		return 0, fmt.Errorf("parse namespace link %q: bad form", link)
	}
	inode, err := strconv.ParseUint(strings.TrimSuffix(rest, "]"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse namespace link %q: %w", link, err)
	}
	return inode, nil
}

// ContainerIDFromCgroup returns the container ID found in the content of a
// /proc/<pid>/cgroup file, or "" when the process is in no container's
// cgroup. It knows both engines under both cgroup managers, v1 and v2:
// Docker's cgroupfs ("/docker/<id>", under any parent) and systemd
// ("/system.slice/docker-<id>.scope"), and Podman's cgroupfs
// ("/libpod_parent/libpod-<id>") and systemd ("/machine.slice/libpod-<id>.scope",
// and its "container" child cgroup). Podman's conmon, the monitor process of a
// container, lives in "libpod-conmon-<id>.scope" (or "/libpod_parent/conmon"):
// it runs on the host, not in the container, and is not matched.
// With nested containers the outermost ID is the one the host's engine knows,
// so the first match wins.
func ContainerIDFromCgroup(cgroupFile string) string {
	for line := range strings.Lines(cgroupFile) {
		line = strings.TrimRight(line, "\r\n")
		path := line
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 {
			path = parts[2]
		}
		comps := strings.Split(path, "/")
		for i, c := range comps {
			if c == "docker" && i+1 < len(comps) && procIsContainerID(comps[i+1]) {
				return comps[i+1]
			}
			for _, prefix := range []string{"docker-", "libpod-"} {
				id, ok := strings.CutPrefix(c, prefix)
				if !ok {
					continue
				}
				// systemd's unit, or Podman's cgroupfs directory without a suffix.
				if scope, ok := strings.CutSuffix(id, ".scope"); ok {
					id = scope
				} else if prefix == "docker-" {
					continue
				}
				if procIsContainerID(id) {
					return id
				}
			}
		}
	}
	return ""
}

// procIsContainerID reports whether s is a full Docker ID: 64 lowercase hex digits.
func procIsContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ListPIDs lists the numeric entries of /proc in ascending order: the
// thread group leaders, which is one entry per process.
func ListPIDs() ([]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(names))
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids, nil
}

// procVanished reports whether err means the process or descriptor went away
// while being read.
func procVanished(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

var errProcTooLong = errors.New("longer than the limit")

// ReadProcFile reads at most max bytes of a /proc file; with more it returns
// the first max bytes and errProcTooLong.
func ReadProcFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return procReadLimited(f, max)
}

func procReadLimited(f *os.File, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return b, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if int64(len(b)) > max {
		return b[:max], fmt.Errorf("read %s: %w (%d bytes)", f.Name(), errProcTooLong, max)
	}
	return b, nil
}

// procDir is an open /proc/<pid> directory. What is read through it is of
// that one process: once the process exits, opening anything through the
// directory fails, even after its PID has been given to another process.
type procDir struct {
	f   *os.File
	pid int
}

func openProcDir(pid int) (*procDir, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return nil, err
	}
	return &procDir{f: f, pid: pid}, nil
}

func (d *procDir) Close() error { return d.f.Close() }

func (d *procDir) fd() int { return int(d.f.Fd()) }

// path names the file name of the process in messages.
func (d *procDir) path(name string) string { return d.f.Name() + "/" + name }

// open opens the file name of the process (a relative path) read-only.
func (d *procDir) open(name string) (*os.File, error) {
	fd, err := unix.Openat(d.fd(), name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, procPathError("open", d.path(name), err)
	}
	return os.NewFile(uintptr(fd), d.path(name)), nil
}

// readFile reads at most max bytes of the file name of the process, as
// ReadProcFile does.
func (d *procDir) readFile(name string, max int64) ([]byte, error) {
	f, err := d.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return procReadLimited(f, max)
}

// readlink reads the link name of the process (exe, cwd, ns/net, fd/3).
func (d *procDir) readlink(name string) (string, error) {
	return procReadlinkAt(d.fd(), name, d.path(name))
}

// stat stats the file name of the process, with fstatat's flags.
func (d *procDir) stat(name string, flags int) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd(), name, &st, flags); err != nil {
		return st, procPathError("stat", d.path(name), err)
	}
	return st, nil
}

// procPathError is the error of op on path. ESRCH, which /proc gives for a
// process that has exited, matches os.ErrNotExist as ENOENT does.
func procPathError(op, path string, err error) error {
	if errors.Is(err, unix.ESRCH) {
		err = fmt.Errorf("%w (%w)", os.ErrNotExist, err)
	}
	return &os.PathError{Op: op, Path: path, Err: err}
}

// procReadlinkAt reads the link name relative to the directory dirfd;
// path names it in errors.
func procReadlinkAt(dirfd int, name, path string) (string, error) {
	for size := 256; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", procPathError("readlink", path, err)
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// procBootTime reads the btime line of /proc/stat: the wall-clock time of
// boot, to the second.
func procBootTime() (time.Time, error) {
	b, err := ReadProcFile("/proc/stat", procMaxProcStatBytes)
	if err != nil && !errors.Is(err, errProcTooLong) {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("boot time: %w", err)
			}
			return time.Unix(sec, 0).UTC(), nil
		}
	}
	return time.Time{}, errors.New("boot time: no btime in /proc/stat")
}

// procClockTicks returns the kernel's USER_HZ, the unit of the start time in
// /proc/<pid>/stat. Without cgo there is no sysconf(_SC_CLK_TCK); the kernel
// passes the same value to every process in its auxiliary vector.
func procClockTicks() uint64 {
	b, err := ReadProcFile("/proc/self/auxv", procMaxAuxvBytes)
	if err != nil {
		return DefaultClockTicks
	}
	word := strconv.IntSize / 8
	for i := 0; i+2*word <= len(b); i += 2 * word {
		var key, val uint64
		if word == 8 {
			key, val = binary.NativeEndian.Uint64(b[i:]), binary.NativeEndian.Uint64(b[i+8:])
		} else {
			key, val = uint64(binary.NativeEndian.Uint32(b[i:])), uint64(binary.NativeEndian.Uint32(b[i+4:]))
		}
		if key == procAuxClockTicks && val > 0 {
			return val
		}
	}
	return DefaultClockTicks
}
