package docker

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dockcase/dockcase/collect/e2etest"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/pkg/stdcopy"
)

func TestDockerCopyLogs(t *testing.T) {
	const ts1, ts2 = "2026-01-02T03:04:05.000000001Z", "2026-01-02T03:04:05.123456789Z"
	type frame struct {
		stream stdcopy.StdType
		text   string
	}
	tests := []struct {
		name   string
		tty    bool
		frames []frame // for tty, the text of each is written raw
		want   string
	}{
		{"both streams keep order", false,
			[]frame{{stdcopy.Stdout, ts1 + " out 1\n"}, {stdcopy.Stderr, ts2 + " err 1\n"}, {stdcopy.Stdout, ts2 + " out 2\n"}},
			ts1 + " stdout out 1\n" + ts2 + " stderr err 1\n" + ts2 + " stdout out 2\n"},
		{"line split over frames", false,
			[]frame{{stdcopy.Stdout, ts1 + " ab"}, {stdcopy.Stderr, ts2 + " e\n"}, {stdcopy.Stdout, "cd\n"}},
			ts2 + " stderr e\n" + ts1 + " stdout abcd\n"},
		{"last line without newline", false,
			[]frame{{stdcopy.Stderr, ts1 + " tail"}},
			ts1 + " stderr tail\n"},
		{"no timestamp", false,
			[]frame{{stdcopy.Stdout, "hello world\n"}},
			"- stdout hello world\n"},
		{"tty is one stream", true,
			[]frame{{0, ts1 + " out 1\r\n" + ts2 + " err 1\r\n"}},
			ts1 + " stdout out 1\r\n" + ts2 + " stdout err 1\r\n"},
	}
	for _, tt := range tests {
		var in bytes.Buffer
		for _, f := range tt.frames {
			if tt.tty {
				in.WriteString(f.text)
				continue
			}
			if _, err := stdcopy.NewStdWriter(&in, f.stream).Write([]byte(f.text)); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		if err := dockerCopyLogs(&out, &in, tt.tty); err != nil {
			t.Errorf("%s: dockerCopyLogs: %v", tt.name, err)
			continue
		}
		if out.String() != tt.want {
			t.Errorf("%s: dockerCopyLogs(%q) = %q, want %q", tt.name, tt.frames, out.String(), tt.want)
		}
	}
}

func TestDockerCopyLogsLongLine(t *testing.T) {
	var in bytes.Buffer
	long := strings.Repeat("x", dockerMaxLogLineBytes+10)
	stdcopy.NewStdWriter(&in, stdcopy.Stdout).Write([]byte("2026-01-02T03:04:05Z " + long + "\n"))
	var out bytes.Buffer
	if err := dockerCopyLogs(&out, &in, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "2026-01-02T03:04:05Z stdout xxx") || !strings.HasPrefix(lines[1], "- stdout xxx") {
		t.Errorf("long line split into %d lines starting %q", len(lines), out.String()[:40])
	}
	if got := strings.Count(out.String(), "x"); got != len(long) {
		t.Errorf("long line kept %d x, want %d", got, len(long))
	}
}

func TestDockerLogTail(t *testing.T) {
	tests := []struct {
		max    int
		writes []string
		want   string
	}{
		{10, []string{"abc\n"}, "abc\n"},
		{8, []string{"aaa\nbbb\n"}, "aaa\nbbb\n"},
		{10, []string{"aaa\nbbb\nccc\n"}, "bbb\nccc\n"},        // cut mid-line: partial line goes
		{8, []string{"aaa\nbbb\nccc\n"}, "bbb\nccc\n"},         // cut on a line start
		{8, []string{"aaa\n", "bbb\n", "ccc\n"}, "bbb\nccc\n"}, // same, wrapping the ring
		{5, []string{"abcdefghijkl"}, "hijkl"},                 // one line longer than max stays
		{7, slices.Repeat([]string{"x\n"}, 100), "x\nx\nx\n"},
		{6, []string{"ab", "cdefghij\nk", "lm\n"}, "klm\n"},
		{4, []string{"ab\n", "c"}, "ab\nc"},
	}
	for _, tt := range tests {
		r := &dockerLogTail{max: tt.max}
		for _, w := range tt.writes {
			if n, err := r.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", w, n, err)
			}
		}
		if got := string(r.bytes()); got != tt.want {
			t.Errorf("tail(%d) of %q = %q, want %q", tt.max, tt.writes, got, tt.want)
		}
	}
}

func TestDockerReference(t *testing.T) {
	repo := []struct{ in, want string }{
		{"IR-2026-041", "ir-2026-041"},
		{"IR 2026/041", "ir-2026-041"},
		{`IR "x" $HOME`, "ir-x-home"},
		{"--", "case"},
		{"", "case"},
		{"Äb.c", "b-c"},
		{strings.Repeat("a", 200), strings.Repeat("a", 128)},
	}
	for _, tt := range repo {
		if got := dockerRepoComponent(tt.in); got != tt.want {
			t.Errorf("dockerRepoComponent(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	tags := []struct{ name, id, want string }{
		{"web-1", "abc", "web-1"},
		{"", "0123456789abcdef", "0123456789ab"},
		{".x", "abc", "_.x"},
		{"a/b c", "abc", "a_b_c"},
		{strings.Repeat("n", 130), "abc", strings.Repeat("n", 128)},
	}
	for _, tt := range tags {
		if got := dockerTag(tt.name, tt.id); got != tt.want {
			t.Errorf("dockerTag(%q, %q) = %q, want %q", tt.name, tt.id, got, tt.want)
		}
	}
}

func TestDockerDialErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	notSock := filepath.Join(dir, "file")
	if err := os.WriteFile(notSock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A socket nobody accepts on: the listener is closed, the file stays.
	deadSock := filepath.Join(dir, "dead.sock")
	l, err := net.Listen("unix", deadSock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	tests := []struct {
		host, want string
	}{
		{"unix://" + filepath.Join(dir, "missing.sock"), "does not exist"},
		{"unix://" + notSock, "is not a socket"},
		{"unix://" + deadSock, "ping"},
	}
	for _, tt := range tests {
		d, err := Dial(ctx, tt.host)
		if err == nil {
			d.Close()
			t.Errorf("DialDocker(%q) = nil error, want %q", tt.host, tt.want)
			continue
		}
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DialDocker(%q) = %v, want ErrUnreachable and %q", tt.host, err, tt.want)
		}
	}

	// As root the kernel never refuses the socket, so the wording of a
	// refusal is checked on the error the client would wrap.
	eacces := &url.Error{Op: "Get", URL: "http://x/_ping", Err: &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}}
	err = dockerDialError("unix:///var/run/docker.sock", eacces)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), "docker group") {
		t.Errorf("dockerDialError(EACCES) = %v, want a permission hint", err)
	}
}

// dockerTestDial connects to the local engine, skipping when there is none
// (failing under CI=true).
func dockerTestDial(t *testing.T, ctx context.Context) *Client {
	t.Helper()
	d, err := Dial(ctx, "")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no Docker engine: %v", err)
		}
		t.Skipf("no Docker engine reachable (%v); CI=true makes this a failure", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// dockerTestSubnet picks a /28 in 198.19.200.0/21 (benchmark space) that no
// route on the host covers yet, so the test network takes nothing from
// anyone, and returns it with its first host address.
func dockerTestSubnet(t *testing.T) (string, string) {
	t.Helper()
	for range 20 {
		var b [1]byte
		rand.Read(b[:])
		third := 200 + int(b[0])%8
		rand.Read(b[:])
		fourth := int(b[0]) &^ 15
		gw := fmt.Sprintf("198.19.%d.%d", third, fourth+1)
		out, err := exec.Command("ip", "-4", "route", "show", "match", gw).Output()
		if err != nil {
			t.Fatalf("ip route show match %s: %v", gw, err)
		}
		free := true
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" && !strings.HasPrefix(line, "default") {
				free = false
			}
		}
		if free {
			return fmt.Sprintf("198.19.%d.%d/28", third, fourth), gw
		}
	}
	t.Skip("no free /28 in 198.19.200.0/21 for the test network")
	return "", ""
}

func dockerTestRand(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// dockerTestInspect decodes the fields the test checks from raw inspect JSON.
type dockerTestInspect struct {
	ID    string `json:"Id"`
	State struct {
		Status string
		Paused bool
		Pid    int
	}
	Config struct {
		Labels map[string]string
		Cmd    []string
	}
	Comment         string
	NetworkSettings struct {
		Networks map[string]json.RawMessage
	}
}

func dockerTestDecode(t *testing.T, raw []byte) dockerTestInspect {
	t.Helper()
	var v dockerTestInspect
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %q: %v", raw[:min(len(raw), 200)], err)
	}
	return v
}

// dockerTestLogLine is one line of Logs output of the workload.
var dockerTestLogLine = regexp.MustCompile(`^(\S+) (stdout|stderr) (out|err) (\d+)\r?$`)

// dockerTestParseLogs checks every line of out and returns the highest
// sequence number seen per text ("out", "err").
func dockerTestParseLogs(t *testing.T, out string, tty bool) map[string]int {
	t.Helper()
	last := map[string]int{"out": -1, "err": -1}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		m := dockerTestLogLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("Logs line %q does not read <ts> <stream> <text>", line)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
			t.Errorf("Logs line %q: timestamp: %v", line, err)
		}
		wantStream := map[string]string{"out": "stdout", "err": "stderr"}[m[3]]
		if tty {
			wantStream = "stdout"
		}
		if m[2] != wantStream {
			t.Errorf("Logs line %q: stream %s, want %s", line, m[2], wantStream)
		}
		n, _ := strconv.Atoi(m[4])
		last[m[3]] = max(last[m[3]], n)
	}
	return last
}

func TestDockerEngine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	d := dockerTestDial(t, ctx)
	rnd := dockerTestRand(t)
	// The shared, content-tagged workload image: other tests use it too, so
	// this test does not remove it.
	imageRef := e2etest.WorkloadImage(t)
	// chatterCmd drops /tmp/dropped, then prints "out N" on stdout and
	// "err N" on stderr every 100 ms and nothing else on either stream.
	chatterCmd := []string{"/workload", "-quiet", "-write", "/tmp/dropped=dcd", "-chatter", "-interval", "100ms"}

	subnet, gw := dockerTestSubnet(t)
	netName := "dcd-net-" + rnd
	nw, err := d.cli.NetworkCreate(ctx, netName, network.CreateOptions{
		Driver:   "bridge",
		Internal: true, // no route out of the bridge
		IPAM:     &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet, Gateway: gw}}},
	})
	if err != nil {
		t.Fatalf("create network: %v", err)
	}
	t.Cleanup(func() {
		if err := d.cli.NetworkRemove(context.Background(), nw.ID); err != nil {
			t.Errorf("cleanup: remove network %s: %v", netName, err)
		}
	})
	// The gateway is the bridge's own (local) address; a container address
	// must route to the test bridge and nowhere else.
	probe := strings.TrimSuffix(gw, ".1") + ".2"
	if i := strings.LastIndexByte(gw, '.'); i > 0 {
		last, _ := strconv.Atoi(gw[i+1:])
		probe = gw[:i+1] + strconv.Itoa(last+1)
	}
	if out, err := exec.Command("ip", "route", "get", probe).Output(); err != nil || !strings.Contains(string(out), "dev br-"+nw.ID[:12]+" ") {
		t.Fatalf("ip route get %s = %q, %v; want it on the test bridge br-%s", probe, out, err, nw.ID[:12])
	}

	bindDir := t.TempDir()
	origLabel := "orig-" + rnd
	create := func(name string, tty bool, netMode string, cmd []string, binds []string) string {
		t.Helper()
		resp, err := d.cli.ContainerCreate(ctx,
			&container.Config{Image: imageRef, Tty: tty, Cmd: cmd, Labels: map[string]string{"dcd.test": origLabel}},
			&container.HostConfig{
				NetworkMode: container.NetworkMode(netMode),
				Binds:       binds,
				DNS:         []string{"127.0.0.1"}, // never the host's resolvers
				LogConfig:   container.LogConfig{Type: "json-file"},
			}, nil, nil, name)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		t.Cleanup(func() {
			bg := context.Background()
			d.cli.ContainerUnpause(bg, resp.ID) // a paused container may refuse removal
			if err := d.cli.ContainerRemove(bg, resp.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
				t.Errorf("cleanup: remove container %s: %v", name, err)
			}
		})
		if err := d.cli.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		return resp.ID
	}

	t0 := time.Now()
	runName := "dcd-run-" + rnd
	runID := create(runName, false, netName, chatterCmd, []string{bindDir + ":/evidence"})
	stopID := create("dcd-stop-"+rnd, false, "none", append(slices.Clip(chatterCmd), "-once"), nil)
	ttyID := create("dcd-tty-"+rnd, true, "none", chatterCmd, nil)
	waitC, errC := d.cli.ContainerWait(ctx, stopID, container.WaitConditionNotRunning)
	select {
	case <-waitC:
	case err := <-errC:
		t.Fatalf("wait for stopped container: %v", err)
	}
	// Let the workloads log a few lines.
	time.Sleep(1500 * time.Millisecond)

	t.Run("VersionInfo", func(t *testing.T) {
		v, err := d.Version(ctx)
		if err != nil {
			t.Fatalf("Version: %v", err)
		}
		var ver struct{ ApiVersion string }
		if err := json.Unmarshal(v, &ver); err != nil || ver.ApiVersion == "" {
			t.Fatalf("Version = %q, %v; want ApiVersion", v, err)
		}
		if want := min(ver.ApiVersion, "1.51"); d.APIVersion() != want && ver.ApiVersion < "1.51" {
			t.Errorf("APIVersion() = %s, want %s (engine %s)", d.APIVersion(), want, ver.ApiVersion)
		}
		info, err := d.Info(ctx)
		if err != nil || !bytes.Contains(info, []byte(`"ContainersRunning"`)) {
			t.Errorf("Info = %.100q, %v; want ContainersRunning", info, err)
		}
	})

	t.Run("Containers", func(t *testing.T) {
		refs, err := d.Containers(ctx)
		if err != nil {
			t.Fatalf("Containers: %v", err)
		}
		got := map[string]ContainerRef{}
		for _, r := range refs {
			got[r.ID] = r
		}
		run, stop := got[runID], got[stopID]
		if run.State != "running" || run.Pid <= 0 || run.Name != runName || run.Image != imageRef || run.Labels["dcd.test"] != origLabel {
			t.Errorf("Containers: running one = %+v, want running, pid > 0, name %s, image %s, label", run, runName, imageRef)
		}
		if stop.State != "exited" || stop.Pid != 0 {
			t.Errorf("Containers: stopped one = %+v, want exited with pid 0", stop)
		}
	})

	t.Run("InspectContainer", func(t *testing.T) {
		raw, err := d.InspectContainer(ctx, runID)
		if err != nil {
			t.Fatalf("InspectContainer: %v", err)
		}
		if dockerTestDecode(t, raw).ID != runID {
			t.Errorf("InspectContainer(%s) has id %q", runID, dockerTestDecode(t, raw).ID)
		}
		// The engine's bytes, not a re-encoding: equal to what a plain HTTP
		// client reads from the socket.
		direct := dockerTestDirectGet(t, ctx, "/v"+d.APIVersion()+"/containers/"+runID+"/json")
		if !bytes.Equal(raw, bytes.TrimRight(direct, "\n")) {
			t.Errorf("InspectContainer bytes differ from the engine's:\n got %.300s\nwant %.300s", raw, direct)
		}
		// Keys the typed client struct drops must still be there.
		var typed container.InspectResponse
		json.Unmarshal(raw, &typed)
		re, _ := json.Marshal(typed)
		lost := dockerTestLostKeys(raw, re)
		t.Logf("keys the typed struct drops on API %s: %v", d.APIVersion(), lost)
		for _, k := range lost {
			if !bytes.Contains(raw, []byte(`"`+k[strings.LastIndexByte(k, '.')+1:]+`":`)) {
				t.Errorf("InspectContainer lost key %q", k)
			}
		}
		if _, err := d.InspectContainer(ctx, "dcd-missing-"+rnd); !IsNotFound(err) {
			t.Errorf("InspectContainer(missing) = %v, want not found", err)
		}
	})

	t.Run("Logs", func(t *testing.T) {
		var full bytes.Buffer
		st, err := d.Logs(ctx, runID, &full, 1<<20)
		if err != nil {
			t.Fatalf("Logs: %v", err)
		}
		if st.DroppedBytes != 0 || st.Bytes != int64(full.Len()) || st.TTY || st.Lines < 10 {
			t.Errorf("Logs(1 MiB) stats = %+v for %d bytes, want nothing dropped, >= 10 lines", st, full.Len())
		}
		lastFull := dockerTestParseLogs(t, full.String(), false)
		if lastFull["out"] < 5 || lastFull["err"] < 5 {
			t.Errorf("Logs: last sequence numbers %v, want both streams with >= 5 lines:\n%s", lastFull, full.String())
		}

		const maxBytes = 300
		var tail bytes.Buffer
		st, err = d.Logs(ctx, runID, &tail, maxBytes)
		if err != nil {
			t.Fatalf("Logs(%d): %v", maxBytes, err)
		}
		if tail.Len() > maxBytes || st.Bytes != int64(tail.Len()) || st.DroppedBytes <= 0 || st.Bytes+st.DroppedBytes < int64(full.Len()) {
			t.Errorf("Logs(%d) = %d bytes, stats %+v; want <= %d kept and the rest (>= %d in all) dropped",
				maxBytes, tail.Len(), st, maxBytes, full.Len())
		}
		lastTail := dockerTestParseLogs(t, tail.String(), false)
		if lastTail["out"] < lastFull["out"] || lastTail["err"] < lastFull["err"] {
			t.Errorf("Logs(%d) ends at %v, want at or after %v (the tail)", maxBytes, lastTail, lastFull)
		}

		var stopped bytes.Buffer
		if _, err := d.Logs(ctx, stopID, &stopped, 0); err != nil || !strings.Contains(stopped.String(), " stdout out 0") || !strings.Contains(stopped.String(), " stderr err 0") {
			t.Errorf("Logs(stopped) = %q, %v; want both lines", stopped.String(), err)
		}

		var tty bytes.Buffer
		st, err = d.Logs(ctx, ttyID, &tty, 1<<20)
		if err != nil || !st.TTY {
			t.Fatalf("Logs(tty) stats %+v, %v; want TTY", st, err)
		}
		if last := dockerTestParseLogs(t, tty.String(), true); last["err"] < 1 {
			t.Errorf("Logs(tty) = %q; want stderr text on the single stream", tty.String())
		}

		if _, err := d.Logs(ctx, "dcd-missing-"+rnd, io.Discard, 0); !IsNotFound(err) {
			t.Errorf("Logs(missing) = %v, want not found", err)
		}
	})

	t.Run("DiffTop", func(t *testing.T) {
		diff, err := d.Diff(ctx, runID)
		if err != nil || !bytes.Contains(diff, []byte(`"/tmp/dropped"`)) {
			t.Errorf("Diff = %s, %v; want /tmp/dropped", diff, err)
		}
		if _, err := d.Diff(ctx, "dcd-missing-"+rnd); !IsNotFound(err) {
			t.Errorf("Diff(missing) = %v, want not found", err)
		}
		top, err := d.Top(ctx, runID)
		if err != nil || !bytes.Contains(top, []byte("/workload")) {
			t.Errorf("Top = %s, %v; want /workload", top, err)
		}
		if _, err := d.Top(ctx, stopID); err == nil || !IsNotRunning(err) {
			t.Errorf("Top(stopped) = %v, want a not-running error", err)
		}
	})

	t.Run("Events", func(t *testing.T) {
		var buf bytes.Buffer
		n, err := d.Events(ctx, t0, time.Now(), &buf)
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		seen := map[string]bool{}
		lines := 0
		sc := bufio.NewScanner(&buf)
		for sc.Scan() {
			lines++
			var ev struct {
				Type, Action string
				Actor        struct{ ID string }
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("Events line %q: %v", sc.Text(), err)
			}
			if ev.Type == "container" && ev.Actor.ID == runID {
				seen[ev.Action] = true
			}
		}
		if lines != n || !seen["create"] || !seen["start"] {
			t.Errorf("Events = %d (%d lines), actions of the container %v; want create and start", n, lines, seen)
		}
	})

	t.Run("NetworksVolumesImages", func(t *testing.T) {
		nets, err := d.Networks(ctx)
		if err != nil {
			t.Fatalf("Networks: %v", err)
		}
		var nl []struct {
			Name       string
			Containers map[string]json.RawMessage
		}
		if err := json.Unmarshal(nets, &nl); err != nil {
			t.Fatalf("Networks: %v", err)
		}
		found := false
		for _, n := range nl {
			if n.Name == netName {
				_, found = n.Containers[runID]
			}
		}
		if !found {
			t.Errorf("Networks: no %s holding the running container in %.300s", netName, nets)
		}
		vols, err := d.Volumes(ctx)
		if err != nil || !bytes.Contains(vols, []byte(`"Volumes"`)) {
			t.Errorf("Volumes = %.200s, %v", vols, err)
		}
		ims, err := d.Images(ctx)
		if err != nil {
			t.Fatalf("Images: %v", err)
		}
		var il []struct {
			Inspect struct{ RepoTags []string }
			History []json.RawMessage
		}
		if err := json.Unmarshal(ims, &il); err != nil {
			t.Fatalf("Images: %v", err)
		}
		found = false
		for _, im := range il {
			if slices.Contains(im.Inspect.RepoTags, imageRef) && len(im.History) > 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("Images: no %s with history", imageRef)
		}
	})

	t.Run("CommitSave", func(t *testing.T) {
		caseID := `IR-2026/041 "x" $HOME ` + rnd
		res, err := d.Commit(ctx, runID, caseID)
		if res.Reference != "" {
			t.Cleanup(func() {
				if _, err := d.cli.ImageRemove(context.Background(), res.Reference, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
					t.Errorf("cleanup: remove %s: %v", res.Reference, err)
				}
			})
		}
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		wantRef := "dockcase/ir-2026-041-x-home-" + rnd + ":" + runName
		if res.Reference != wantRef || res.ImageID == "" || !res.Paused || res.Container != runID {
			t.Errorf("Commit = %+v, want reference %s, an image id, paused", res, wantRef)
		}
		wantMount := Mount{Type: "bind", Source: bindDir, Destination: "/evidence", RW: true}
		if !slices.Contains(res.NotInCommit, wantMount) {
			t.Errorf("Commit: not-in-commit = %+v, want %+v", res.NotInCommit, wantMount)
		}
		raw, err := d.Get(ctx, "/images/"+url.PathEscape(res.ImageID)+"/json", nil, dockerMaxObjectBytes)
		if err != nil {
			t.Fatalf("inspect committed image: %v", err)
		}
		im := dockerTestDecode(t, raw)
		if im.Config.Labels["dockcase.case"] != caseID || im.Config.Labels["dcd.test"] != origLabel {
			t.Errorf("committed image labels = %q, want dockcase.case=%q and dcd.test=%q", im.Config.Labels, caseID, origLabel)
		}
		if !reflect.DeepEqual(im.Config.Cmd, chatterCmd) || !strings.Contains(im.Comment, caseID) {
			t.Errorf("committed image cmd %q comment %q; want the container's cmd and the case", im.Config.Cmd, im.Comment)
		}
		after, _ := d.InspectContainer(ctx, runID)
		if st := dockerTestDecode(t, after).State; st.Status != "running" {
			t.Errorf("after Commit the container is %s, want running", st.Status)
		}

		rc, err := d.SaveImage(ctx, res.Reference)
		if err != nil {
			t.Fatalf("SaveImage: %v", err)
		}
		defer rc.Close()
		tr := tar.NewReader(rc)
		var names []string
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("SaveImage tar: %v", err)
			}
			names = append(names, h.Name)
		}
		if !slices.Contains(names, "manifest.json") {
			t.Errorf("SaveImage tar = %q, want manifest.json", names)
		}
	})

	t.Run("Containment", func(t *testing.T) {
		if err := d.Pause(ctx, runID); err != nil {
			t.Fatalf("Pause: %v", err)
		}
		raw, _ := d.InspectContainer(ctx, runID)
		if st := dockerTestDecode(t, raw).State; !st.Paused || st.Status != "paused" {
			t.Errorf("after Pause state = %+v, want paused", st)
		}
		names, err := d.DisconnectAll(ctx, runID)
		if err != nil || !reflect.DeepEqual(names, []string{netName}) {
			t.Errorf("DisconnectAll = %q, %v; want [%s]", names, err, netName)
		}
		raw, _ = d.InspectContainer(ctx, runID)
		if nets := dockerTestDecode(t, raw).NetworkSettings.Networks; len(nets) != 0 {
			t.Errorf("after DisconnectAll networks = %v, want none", nets)
		}
	})
}

// dockerTestDirectGet reads path from the default socket with a plain HTTP
// client, independent of the Docker client library.
func dockerTestDirectGet(t *testing.T, ctx context.Context, path string) []byte {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/docker.sock")
		},
	}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return b
}

// dockerTestLostKeys returns the object keys (dotted paths) present in raw
// but missing from re.
func dockerTestLostKeys(raw, re []byte) []string {
	var a, b any
	json.Unmarshal(raw, &a)
	json.Unmarshal(re, &b)
	var lost []string
	var walk func(prefix string, a, b any)
	walk = func(prefix string, a, b any) {
		am, ok := a.(map[string]any)
		if !ok {
			return
		}
		bm, _ := b.(map[string]any)
		for k, v := range am {
			bv, ok := bm[k]
			if !ok {
				lost = append(lost, strings.TrimPrefix(prefix+"."+k, "."))
				continue
			}
			walk(prefix+"."+k, v, bv)
		}
	}
	walk("", a, b)
	slices.Sort(lost)
	return lost
}

// TestInspectListedCreating serves the engine's answers for containers the
// list gave: one listed as created that inspect finds only on the fourth
// ask, as engines up to 20.10 answer while they create it, must be
// inspected, not reported removed; one listed as running that is not found
// is removed, asked once; one listed as created and never found is given up
// after dockerCreatedWait.
func TestInspectListedCreating(t *testing.T) {
	asked := map[string]int{}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.41")
			fmt.Fprint(w, "OK")
			return
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1.41/containers/"), "/json")
		mu.Lock()
		asked[id]++
		n := asked[id]
		mu.Unlock()
		if id == "creating" && n >= 4 {
			fmt.Fprint(w, `{"Id":"creating"}`)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"message":"No such container: %s"}`, id)
	}))
	defer srv.Close()
	count := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return asked[id]
	}
	ctx := context.Background()
	d, err := Dial(ctx, "tcp://"+srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	old := dockerCreatedWait
	dockerCreatedWait = 600 * time.Millisecond
	defer func() { dockerCreatedWait = old }()

	if b, err := d.InspectListed(ctx, ContainerRef{ID: "creating", State: "created"}); err != nil || string(b) != `{"Id":"creating"}` || count("creating") != 4 {
		t.Errorf("InspectListed(created, found on the 4th ask) = %q, %v after %d asks; want it inspected", b, err, count("creating"))
	}
	if _, err := d.InspectListed(ctx, ContainerRef{ID: "gone", State: "running"}); !IsNotFound(err) || count("gone") != 1 {
		t.Errorf("InspectListed(running, not found) = %v after %d asks; want not found after one", err, count("gone"))
	}
	start := time.Now()
	_, err = d.InspectListed(ctx, ContainerRef{ID: "never", State: "created"})
	if took := time.Since(start); !IsNotFound(err) || took < dockerCreatedWait || took > dockerCreatedWait+2*time.Second {
		t.Errorf("InspectListed(created, never found) = %v after %v and %d asks; want not found after about %v", err, took, count("never"), dockerCreatedWait)
	}
}
