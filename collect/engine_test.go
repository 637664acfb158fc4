package collect

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/dockcase/dockcase/collect/host"
)

func TestHostTop(t *testing.T) {
	const id = "3f4e6c1a9b0d2e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f"
	start := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	procs := []host.Process{
		{PID: 1, Comm: "init", Cmdline: []string{"/sbin/init"}},
		{PID: 900, PPID: 1, Comm: "conmon", Cmdline: []string{"/usr/bin/conmon", "-c", id}},
		{PID: 901, PPID: 900, UID: 0, Comm: "workload", Cmdline: []string{"/workload", "-name", "beacon"}, StartTime: start, ContainerID: id},
		{PID: 902, PPID: 901, UID: 65534, Comm: "kworker", StartTime: start, ContainerID: id},
		{PID: 903, Comm: "other", ContainerID: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	}
	b, err := hostTop(procs, id)
	if err != nil {
		t.Fatal(err)
	}
	var top struct {
		Titles    []string
		Processes [][]string
	}
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatalf("hostTop = %s: %v", b, err)
	}
	want := [][]string{
		{"0", "901", "900", "2026-12-03T13:00:00Z", "workload", "/workload -name beacon"},
		{"65534", "902", "901", "2026-12-03T13:00:00Z", "kworker", "[kworker]"},
	}
	if !slices.Equal(top.Titles, []string{"UID", "PID", "PPID", "STIME", "COMM", "CMD"}) || len(top.Processes) != len(want) {
		t.Fatalf("hostTop = %s, want the titles and %d processes", b, len(want))
	}
	for i := range want {
		if !slices.Equal(top.Processes[i], want[i]) {
			t.Errorf("hostTop process %d = %q, want %q", i, top.Processes[i], want[i])
		}
	}
	if b, _ := hostTop(procs, "none"); string(b) != `{"Titles":["UID","PID","PPID","STIME","COMM","CMD"],"Processes":[]}` {
		t.Errorf("hostTop of a container without processes = %s", b)
	}
}

func TestActivityIn(t *testing.T) {
	since := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	until := since.Add(time.Hour)
	inspects := [][]byte{
		[]byte(`{"Created":"2026-12-03T09:00:00Z","State":{"StartedAt":"2026-12-03T09:00:01Z","FinishedAt":"0001-01-01T00:00:00Z"}}`),
		[]byte(`{"Created":"2026-12-03T09:00:00Z","State":{"StartedAt":"2026-12-03T10:30:00Z","FinishedAt":"0001-01-01T00:00:00Z"}}`),
		[]byte(`{"Created":"2026-12-03T10:59:59.5Z","State":{}}`),
		[]byte(`{"Created":"2026-12-03T08:00:00Z","State":{"StartedAt":"2026-12-03T08:00:01Z","FinishedAt":"2026-12-03T10:10:00Z"}}`),
		[]byte(`{"Created":"2026-12-03T11:00:01Z"}`),
		[]byte(`not json`),
	}
	if got := activityIn(inspects, since, until); got != 3 {
		t.Errorf("activityIn = %d, want 3 (one started, one created, one stopped in the window)", got)
	}
	if got := activityIn(inspects[:1], since, until); got != 0 {
		t.Errorf("activityIn of a container older than the window = %d, want 0", got)
	}
}
