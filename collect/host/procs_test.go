package host

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dockcase/dockcase/collect/e2etest"
	"golang.org/x/sys/unix"
)

func procFind(procs []Process, pid int) (Process, bool) {
	for _, p := range procs {
		if p.PID == pid {
			return p, true
		}
	}
	return Process{}, false
}

func procNSInode(t *testing.T, pid, kind string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/proc", pid, "ns", kind), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestReadProcessesSelf(t *testing.T) {
	procs, err := ReadProcesses()
	if err != nil {
		t.Fatalf("ReadProcesses: %v", err)
	}
	if len(procs) < 2 {
		t.Fatalf("ReadProcesses: %d processes", len(procs))
	}
	for i := 1; i < len(procs); i++ {
		if procs[i-1].PID >= procs[i].PID {
			t.Fatalf("ReadProcesses: pid %d before %d", procs[i-1].PID, procs[i].PID)
		}
	}
	p, ok := procFind(procs, os.Getpid())
	if !ok {
		t.Fatalf("ReadProcesses: no entry for the test process %d", os.Getpid())
	}
	if !reflect.DeepEqual(p.Cmdline, os.Args) {
		t.Errorf("ReadProcesses self cmdline = %q, want %q", p.Cmdline, os.Args)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		t.Fatal(err)
	}
	if p.Exe != exe || p.ExeDeleted {
		t.Errorf("ReadProcesses self exe = %q (deleted %v), want %q", p.Exe, p.ExeDeleted, exe)
	}
	wd, _ := os.Getwd()
	if p.Cwd != wd {
		t.Errorf("ReadProcesses self cwd = %q, want %q", p.Cwd, wd)
	}
	if p.PPID != os.Getppid() || p.UID != os.Getuid() || p.EUID != os.Geteuid() || p.GID != os.Getgid() || p.EGID != os.Getegid() {
		t.Errorf("ReadProcesses self ids = ppid %d uid %d euid %d gid %d egid %d, want %d %d %d %d %d",
			p.PPID, p.UID, p.EUID, p.GID, p.EGID, os.Getppid(), os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid())
	}
	want := filepath.Base(exe)
	if len(want) > 15 { // TASK_COMM_LEN less the NUL
		want = want[:15]
	}
	if p.Comm != want {
		t.Errorf("ReadProcesses self comm = %q, want %q", p.Comm, want)
	}
	if p.State != "R" && p.State != "S" {
		t.Errorf("ReadProcesses self state = %q, want R or S", p.State)
	}
	// The test binary started moments ago; boot time has 1 s resolution.
	if now := time.Now(); p.StartTime.After(now.Add(time.Second)) || p.StartTime.Before(now.Add(-10*time.Minute)) {
		t.Errorf("ReadProcesses self start = %v, want shortly before %v", p.StartTime, now)
	}
	if p.StartTime.Location() != time.UTC {
		t.Errorf("ReadProcesses self start = %v, want UTC", p.StartTime)
	}
	wantNS := ProcessNamespaces{
		Net: procNSInode(t, "self", "net"), PID: procNSInode(t, "self", "pid"),
		Mnt: procNSInode(t, "self", "mnt"), UTS: procNSInode(t, "self", "uts"),
		IPC: procNSInode(t, "self", "ipc"), Cgroup: procNSInode(t, "self", "cgroup"),
		User: procNSInode(t, "self", "user"), Time: procNSInode(t, "self", "time"),
	}
	if p.Namespaces != wantNS {
		t.Errorf("ReadProcesses self namespaces = %+v, want %+v", p.Namespaces, wantNS)
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(p.Cgroup, "\n"), strings.TrimSpace(string(cg)); got != want {
		t.Errorf("ReadProcesses self cgroup = %q, want %q", got, want)
	}
	if len(p.Errors) > 0 {
		t.Errorf("ReadProcesses self errors = %q", p.Errors)
	}
}

// procStartSleep copies sleep to dir/name, starts it and returns its PID;
// the process is killed when the test ends.
func procStartSleep(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep")
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

func TestReadProcessesDeletedExe(t *testing.T) {
	dir := t.TempDir()
	deletedPath := filepath.Join(dir, "dcp-sleep")
	deleted := procStartSleep(t, deletedPath)
	// A file named like a deleted one, still present, must not be flagged.
	namedPath := filepath.Join(dir, "dcp-sleep (deleted)")
	named := procStartSleep(t, namedPath)
	if err := os.Remove(deletedPath); err != nil {
		t.Fatal(err)
	}

	procs, err := ReadProcesses()
	if err != nil {
		t.Logf("ReadProcesses: %v", err)
	}
	tests := []struct {
		cmd         *exec.Cmd
		wantExe     string
		wantDeleted bool
	}{
		{deleted, deletedPath, true},
		{named, namedPath, false},
	}
	for _, tt := range tests {
		p, ok := procFind(procs, tt.cmd.Process.Pid)
		if !ok {
			t.Errorf("ReadProcesses: no entry for pid %d", tt.cmd.Process.Pid)
			continue
		}
		if p.Exe != tt.wantExe || p.ExeDeleted != tt.wantDeleted {
			t.Errorf("ReadProcesses pid %d exe = %q deleted %v, want %q deleted %v",
				p.PID, p.Exe, p.ExeDeleted, tt.wantExe, tt.wantDeleted)
		}
		if want := []string{tt.cmd.Path, "60"}; !reflect.DeepEqual(p.Cmdline, want) {
			t.Errorf("ReadProcesses pid %d cmdline = %q, want %q", p.PID, p.Cmdline, want)
		}
		if p.PPID != os.Getpid() {
			t.Errorf("ReadProcesses pid %d ppid = %d, want %d", p.PID, p.PPID, os.Getpid())
		}
	}
}

func TestContainerIDFromCgroup(t *testing.T) {
	const id = "3f4e6c1a9b0d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f"
	const id2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		in, want string
	}{
		// cgroup v1, cgroupfs driver
		{"12:pids:/docker/" + id + "\n11:memory:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n", id},
		// cgroup v2, systemd driver
		{"0::/system.slice/docker-" + id + ".scope\n", id},
		// cgroup v1, systemd driver
		{"4:memory:/system.slice/docker-" + id + ".scope\n", id},
		// cgroup v2, cgroupfs driver, and under another parent
		{"0::/docker/" + id + "\n", id},
		{"0::/kubepods/besteffort/docker/" + id + "/\n", id},
		// docker in docker: the outer container is the host's
		{"0::/docker/" + id + "/docker/" + id2 + "\n", id},
		// Podman: cgroupfs manager (v1 and v2), systemd manager (v1, v2,
		// and the "container" child cgroup of v2)
		{"9:name=systemd:/libpod_parent/libpod-" + id + "\n4:memory:/libpod_parent/libpod-" + id + "\n0::/libpod_parent/libpod-" + id + "\n", id},
		{"0::/libpod_parent/libpod-" + id + "\n", id},
		{"0::/machine.slice/libpod-" + id + ".scope\n", id},
		{"4:memory:/machine.slice/libpod-" + id + ".scope\n", id},
		{"0::/machine.slice/libpod-" + id + ".scope/container\n", id},
		// Podman's conmon is the container's monitor on the host, not the container
		{"0::/machine.slice/libpod-conmon-" + id + ".scope\n", ""},
		{"4:memory:/libpod_parent/conmon\n0::/libpod_parent/conmon\n", ""},
		{"0::/libpod_parent/libpod-conmon-" + id + "\n", ""},
		{"0::/machine.slice/libpod-" + id + ".slice\n", ""},
		{"0::/machine.slice/libpod-" + id[:63] + ".scope\n", ""},
		// host processes and look-alikes
		{"0::/\n", ""},
		{"0::/system.slice/docker.service\n", ""},
		{"0::/user.slice/user-1000.slice/session-2.scope\n", ""},
		{"4:memory:/process_api/79a0942425d48a06a8c82bd46bf3b38e\n", ""},
		{"0::/docker/" + strings.ToUpper(id) + "\n", ""},
		{"0::/docker/" + id[:63] + "\n", ""},
		{"0::/docker-" + id + ".slice\n", ""},
		{"0::/system.slice/containerd.service/docker/" + id + "x\n", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ContainerIDFromCgroup(tt.in); got != tt.want {
			t.Errorf("ContainerIDFromCgroup(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestProcParseStat(t *testing.T) {
	tests := []struct {
		in         string
		wantComm   string
		wantState  string
		wantPPID   int
		wantTicks  uint64
		wantFailed bool
	}{
		{"1234 (sleep) S 1 1234 1234 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 56789 1000 100 18446744073709551615\n", "sleep", "S", 1, 56789, false},
		{"1234 (a) b) (c) R 7 1234 1234 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 42 1000 100\n", "a) b) (c", "R", 7, 42, false},
		{"1234 (x) S 1 2 3\n", "", "", 0, 0, true},
		{"1234 x S 1\n", "", "", 0, 0, true},
	}
	for _, tt := range tests {
		comm, state, ppid, ticks, err := ParseStat([]byte(tt.in))
		if (err != nil) != tt.wantFailed || comm != tt.wantComm || state != tt.wantState || ppid != tt.wantPPID || ticks != tt.wantTicks {
			t.Errorf("ParseStat(%q) = %q %q %d %d %v, want %q %q %d %d (error %v)",
				tt.in, comm, state, ppid, ticks, err, tt.wantComm, tt.wantState, tt.wantPPID, tt.wantTicks, tt.wantFailed)
		}
	}
}

func TestProcClockTicks(t *testing.T) {
	// USER_HZ is 100 on amd64 and arm64, where these tests run.
	if got := procClockTicks(); got != 100 {
		t.Errorf("procClockTicks() = %d, want 100", got)
	}
}

func FuzzContainerIDFromCgroup(f *testing.F) {
	f.Add("0::/system.slice/docker-3f4e6c1a9b0d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f.scope\n")
	f.Add("12:pids:/docker/3f4e6c1a9b0d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f\n")
	f.Add("0::/libpod_parent/libpod-3f4e6c1a9b0d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f\n")
	f.Add("0::/machine.slice/libpod-conmon-3f4e6c1a9b0d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f.scope\n")
	f.Fuzz(func(t *testing.T, in string) {
		id := ContainerIDFromCgroup(in)
		if id != "" && (!procIsContainerID(id) || !strings.Contains(in, id)) {
			t.Fatalf("ContainerIDFromCgroup(%q) = %q", in, id)
		}
	})
}

func TestReadProcessesMemfdExe(t *testing.T) {
	src, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep")
	}
	bin, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.MemfdCreate("dcp-memfd", 0)
	if err != nil {
		t.Skipf("memfd_create: %v", err)
	}
	f := os.NewFile(uintptr(fd), "dcp-memfd")
	defer f.Close()
	if _, err := f.Write(bin); err != nil {
		t.Fatal(err)
	}
	// Fileless execution: the image exists only in memory.
	cmd := exec.Command("/proc/self/fd/3", "60")
	cmd.ExtraFiles = []*os.File{f}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	procs, err := ReadProcesses()
	if err != nil {
		t.Logf("ReadProcesses: %v", err)
	}
	p, ok := procFind(procs, cmd.Process.Pid)
	if !ok || p.Exe != "/memfd:dcp-memfd" || !p.ExeDeleted {
		t.Errorf("ReadProcesses pid %d exe = %q deleted %v (found %v), want %q deleted", cmd.Process.Pid, p.Exe, p.ExeDeleted, ok, "/memfd:dcp-memfd")
	}
}

// procDockerExpected reports whether a Docker engine answers here; under
// CI=true it must.
func procDockerExpected(t *testing.T) bool {
	t.Helper()
	if _, err := exec.LookPath("docker"); err == nil {
		if err := exec.Command("docker", "version").Run(); err == nil {
			return true
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no Docker engine answers")
	}
	return false
}

func TestReadProcessesContainer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read other processes")
	}
	if !procDockerExpected(t) {
		t.Skip("needs a Docker engine")
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	name := "dcp-" + hex.EncodeToString(rnd[:])
	// The shared workload image, which other tests reuse: not removed here.
	img := e2etest.WorkloadImage(t)

	// No network: the container sends nothing anywhere. Without flags the
	// workload idles; -name only gives it a command line to check.
	cmdline := []string{"/workload", "-name", name}
	out, err := exec.Command("docker", append([]string{"run", "-d", "--name", name, "--network", "none", img}, cmdline...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker run: %v: %s", err, out)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "rm", "-f", name).CombinedOutput(); err != nil {
			t.Errorf("docker rm %s: %v: %s", name, err, out)
		}
	})
	out, err = exec.Command("docker", "inspect", "-f", "{{.State.Pid}}", id).Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil || pid <= 0 {
		t.Fatalf("docker inspect pid = %q", out)
	}
	// docker run -d may return while the container's process is still
	// runc's init, before it executes the workload: wait for the exec.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.HasPrefix(string(b), "/workload\x00") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not execute /workload in 10 s: cmdline %q", pid, b)
		}
	}

	procs, err := ReadProcesses()
	if err != nil {
		t.Logf("ReadProcesses: %v", err)
	}
	p, ok := procFind(procs, pid)
	if !ok {
		t.Fatalf("ReadProcesses: no entry for the container's pid %d", pid)
	}
	if p.ContainerID != id {
		t.Errorf("ReadProcesses pid %d container_id = %q, want %q (cgroup %q)", pid, p.ContainerID, id, p.Cgroup)
	}
	if !reflect.DeepEqual(p.Cmdline, cmdline) || p.Exe != "/workload" || p.ExeDeleted {
		t.Errorf("ReadProcesses pid %d = cmdline %q exe %q deleted %v, want %q", pid, p.Cmdline, p.Exe, p.ExeDeleted, cmdline)
	}
	self, _ := procFind(procs, os.Getpid())
	if p.Namespaces.Net == 0 || p.Namespaces.Net == self.Namespaces.Net || p.Namespaces.PID == self.Namespaces.PID || p.Namespaces.Mnt == self.Namespaces.Mnt {
		t.Errorf("ReadProcesses pid %d namespaces = %+v, want net, pid and mnt other than the test's %+v", pid, p.Namespaces, self.Namespaces)
	}
	if self.ContainerID != "" {
		t.Errorf("ReadProcesses self container_id = %q, want none", self.ContainerID)
	}

	// The container's namespace has only loopback and no sockets of its own.
	socks, err := ReadSockets(pid)
	if err != nil {
		t.Errorf("ReadSockets(%d): %v", pid, err)
	}
	for _, s := range socks {
		if s.Proto != "unix" {
			t.Errorf("ReadSockets(%d): unexpected %+v in a --network none container", pid, s)
		}
	}
}

func BenchmarkReadProcesses(b *testing.B) {
	for b.Loop() {
		procs, _ := ReadProcesses()
		b.ReportMetric(float64(len(procs)), "procs")
	}
}

// procTestStart starts argv, killed and waited for at cleanup, and returns
// once the child has executed it (its command line is argv).
func procTestStart(t *testing.T, argv ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	want := strings.Join(argv, "\x00") + "\x00"
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
		if err == nil && string(b) == want {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never ran %q: command line %q, %v", cmd.Process.Pid, argv, b, err)
		}
	}
}

// procTestReusePID starts argv with the PID pid, whose process has exited,
// as the kernel does once PIDs wrap around. The next PID handed out is
// ns_last_pid + 1; another fork on the machine may come first, so it tries
// a few times.
func procTestReusePID(t *testing.T, pid int, argv ...string) *exec.Cmd {
	t.Helper()
	for range 50 {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Skipf("cannot choose the next PID: %v", err)
		}
		c := procTestStart(t, argv...)
		if c.Process.Pid == pid {
			return c
		}
		c.Process.Kill()
		c.Wait()
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
			// Another process (of a test running at the same time) got the
			// PID first and holds it: the reuse cannot be staged now.
			t.Skipf("pid %d was taken by another process (%s) before this test could reuse it", pid, strings.TrimSpace(string(comm)))
		}
	}
	t.Fatalf("pid %d was not handed out again in 50 tries", pid)
	return nil
}

// TestProcReadPIDReused reads a process through its /proc directory opened
// before it exited and its PID went to another process: the record must
// say it is gone, not describe the other process under the first one's
// start. A fresh read of the PID gets the other process, which is what
// reading part after part by path could have mixed in.
func TestProcReadPIDReused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to set ns_last_pid")
	}
	first := procTestStart(t, "sleep", "61")
	pid := first.Process.Pid
	btime, err := procBootTime()
	if err != nil {
		t.Fatal(err)
	}
	tck := procClockTicks()
	d, err := openProcDir(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if p, err := procReadFrom(d, btime, tck); err != nil || !slices.Equal(p.Cmdline, []string{"sleep", "61"}) {
		t.Fatalf("procReadFrom(%d) of the live process = %q, %v; want sleep 61", pid, p.Cmdline, err)
	}
	first.Process.Kill()
	first.Wait()
	procTestReusePID(t, pid, "sleep", "62")

	if p, err := procReadFrom(d, btime, tck); !procVanished(err) {
		t.Errorf("procReadFrom(%d) through the exited process's directory = %q, %v; want it vanished", pid, p.Cmdline, err)
	}
	for _, name := range []string{"cmdline", "cgroup", "status"} {
		if b, err := d.readFile(name, 1<<16); !procVanished(err) {
			t.Errorf("%s read through the exited process's directory = %q, %v; want it vanished", name, b, err)
		}
	}
	if l, err := d.readlink("ns/net"); !procVanished(err) {
		t.Errorf("ns/net read through the exited process's directory = %q, %v; want it vanished", l, err)
	}
	if p, err := ReadProcess(pid, btime, tck); err != nil || !slices.Equal(p.Cmdline, []string{"sleep", "62"}) {
		t.Errorf("ReadProcess(%d) after the reuse = %q, %v; want the new process, sleep 62", pid, p.Cmdline, err)
	}
}
