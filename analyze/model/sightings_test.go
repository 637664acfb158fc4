package model

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	sightH = "1111111111111111111111111111111111111111111111111111111111111111"
	sightA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	sightB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// sightingsDoc is a socket-samples document of two namespaces: the host's,
// with a host-network container H, and one that containers A and B share.
const sightingsDoc = `{"interval_ms": 2000, "rounds": 8, "started": "2026-01-02T03:04:00Z", "ended": "2026-01-02T03:04:15Z",
 "namespaces": [{"inode": 100, "host": true, "pid": 1, "containers": ["` + sightH + `"]},
                {"inode": 200, "pid": 50, "containers": ["` + sightA + `", "` + sightB + `"]}],
 "sockets": [
  {"netns_inode": 100, "inode": 11, "proto": "tcp", "local": "192.0.2.1:40000", "remote": "198.18.0.2:4444", "states": ["ESTABLISHED"],
   "first": "2026-01-02T03:04:06Z", "last": "2026-01-02T03:04:08Z", "sightings": 2,
   "owners": [{"pid": 70, "fd": 3, "comm": "curl", "cmdline": ["curl", "x"], "container": "` + sightH + `"}]},
  {"netns_inode": 100, "inode": 12, "proto": "tcp6", "local": "[::]:22", "remote": "[::]:0", "states": ["LISTEN"],
   "first": "2026-01-02T03:04:00Z", "last": "2026-01-02T03:04:14Z", "sightings": 8, "owners": [{"pid": 5, "fd": 3, "comm": "sshd"}]},
  {"netns_inode": 200, "inode": 21, "proto": "tcp", "local": "172.18.0.5:41000", "remote": "198.18.0.2:4444", "states": ["SYN_SENT", "ESTABLISHED"],
   "first": "2026-01-02T03:04:10Z", "last": "2026-01-02T03:04:12Z", "sightings": 2,
   "owners": [{"pid": 81, "fd": 7, "comm": "workload", "container": "` + sightB + `"}]},
  {"netns_inode": 200, "inode": 0, "proto": "tcp", "local": "172.18.0.5:41000", "remote": "198.18.0.2:4444", "states": ["TIME_WAIT"],
   "first": "2026-01-02T03:04:14Z", "last": "2026-01-02T03:04:14Z", "sightings": 1}
 ],
 "errors": [{"time": "2026-01-02T03:04:02Z", "round": 2, "netns_inode": 200, "error": "read sockets of pid 50: permission denied", "repeated": 3}]}`

const sightingsIndex = `[{"inode": 100, "host": true, "pid": 1, "pids": [1]}, {"inode": 200, "pid": 50, "pids": [50, 81]}]`

// TestSocketSightings reads the document: each sighting's containers by
// its owner's cgroup (host network mode, one of a shared namespace's), by
// the namespace when no owner names one (all of those sharing it), none
// for the host's own; each cites its entry.
func TestSocketSightings(t *testing.T) {
	h := LoadSource(MemSource{MemberSocketSamples: []byte(sightingsDoc), MemberIndex: []byte(sightingsIndex)})
	if len(h.ReadErrors) != 0 {
		t.Fatalf("ReadErrors = %v", h.ReadErrors)
	}
	smp := h.SocketSampling
	if smp == nil || smp.Interval != 2*time.Second || smp.Rounds != 8 || smp.Ended.Sub(smp.Started) != 15*time.Second ||
		len(smp.Errors) != 1 || !strings.Contains(smp.Errors[0], "namespace 200") || !strings.Contains(smp.Errors[0], "3 later rounds") {
		t.Fatalf("SocketSampling = %+v", smp)
	}
	want := []struct {
		inode      uint64
		by         string
		containers []string
		pointer    string
	}{
		{11, SightingByOwner, []string{sightH}, "/sockets/0"},
		{12, SightingByHost, nil, "/sockets/1"},
		{21, SightingByOwner, []string{sightB}, "/sockets/2"},
		{0, SightingByNamespace, []string{sightA, sightB}, "/sockets/3"},
	}
	if len(h.SocketSightings) != len(want) {
		t.Fatalf("%d sightings, want %d", len(h.SocketSightings), len(want))
	}
	for i, w := range want {
		s := h.SocketSightings[i]
		if s.Inode != w.inode || s.By != w.by || !reflect.DeepEqual(s.Containers, w.containers) ||
			s.Evidence.Member != MemberSocketSamples || s.Evidence.Pointer != w.pointer {
			t.Errorf("sighting %d = inode %d by %q containers %v evidence %+v; want inode %d by %q containers %v at %s",
				i, s.Inode, s.By, s.Containers, s.Evidence, w.inode, w.by, w.containers, w.pointer)
		}
	}
	s := h.SocketSightings[2]
	if s.Remote.String() != "198.18.0.2:4444" || s.First != time.Date(2026, 1, 2, 3, 4, 10, 0, time.UTC) || s.Sightings != 2 ||
		len(s.Owners) != 1 || s.Owners[0].PID != 81 || s.Owners[0].Comm != "workload" || !reflect.DeepEqual(s.States, []string{"SYN_SENT", "ESTABLISHED"}) {
		t.Errorf("shared namespace's sighting = %+v", s)
	}
	if got := h.SightingsOf(sightA); len(got) != 1 || got[0].Inode != 0 {
		t.Errorf("SightingsOf(A) = %+v, want only the unowned TIME_WAIT socket", got)
	}
}

// TestSocketSightingsAbsentOrMalformed: without the member nothing is
// recorded and nothing missing; a malformed member, or a malformed entry,
// is a ReadErrors entry naming the member and the rest is read.
func TestSocketSightingsAbsentOrMalformed(t *testing.T) {
	h := LoadSource(MemSource{MemberIndex: []byte(sightingsIndex)})
	if h.SocketSampling != nil || h.SocketSightings != nil {
		t.Errorf("absent member: sampling %+v, %d sightings", h.SocketSampling, len(h.SocketSightings))
	}
	for _, m := range h.Missing {
		if strings.Contains(m, MemberSocketSamples) {
			t.Errorf("absent member listed as missing: %q", m)
		}
	}

	h = LoadSource(MemSource{MemberSocketSamples: []byte(`{"sockets": [{"inode": "x"}]}`), MemberIndex: []byte(sightingsIndex)})
	if err := h.ReadErrors[MemberSocketSamples]; err == nil || !strings.Contains(err.Error(), MemberSocketSamples) {
		t.Errorf("malformed member: ReadErrors[%s] = %v", MemberSocketSamples, err)
	}
	if len(h.Namespaces) != 2 || h.SocketSampling != nil {
		t.Errorf("malformed member: %d namespaces (want the index's 2), sampling %+v", len(h.Namespaces), h.SocketSampling)
	}

	doc := strings.Replace(sightingsDoc, `"local": "[::]:22"`, `"local": "[::]:port"`, 1)
	h = LoadSource(MemSource{MemberSocketSamples: []byte(doc)})
	if err := h.ReadErrors[MemberSocketSamples]; err == nil || !strings.Contains(err.Error(), "1 malformed socket") {
		t.Errorf("malformed entry: ReadErrors[%s] = %v", MemberSocketSamples, err)
	}
	if len(h.SocketSightings) != 3 {
		t.Errorf("malformed entry: %d sightings, want the other 3", len(h.SocketSightings))
	}
}
