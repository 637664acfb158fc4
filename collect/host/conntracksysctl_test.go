package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadConntrackSysctl checks that every setting present is read, an
// expected one absent is listed as missing (a gap, not a failure), and a
// tree without any says that conntrack is not loaded.
func TestReadConntrackSysctl(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC) }
	dir := t.TempDir() + "/"
	for _, n := range ctExpectedSysctls {
		if n == "nf_conntrack_udp_timeout_stream" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, n), []byte("42\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "nf_conntrack_sctp_timeout_established"), []byte("210\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "nf_conntrack_max"), []byte("65536\n"), 0o644) // not a timeout: not kept
	s, err := ctReadSysctl(dir, now)
	if err == nil || !strings.Contains(err.Error(), "nf_conntrack_udp_timeout_stream") {
		t.Errorf("ctReadSysctl error = %v, want one naming nf_conntrack_udp_timeout_stream", err)
	}
	if len(s.Missing) != 1 || !strings.Contains(s.Missing[0], "nf_conntrack_udp_timeout_stream") {
		t.Errorf("Missing = %q, want nf_conntrack_udp_timeout_stream alone", s.Missing)
	}
	if got := s.Values["nf_conntrack_sctp_timeout_established"]; got != 210 {
		t.Errorf("sctp established = %d, want 210", got)
	}
	if got := s.Values["nf_conntrack_tcp_timeout_established"]; got != 42 {
		t.Errorf("tcp established = %d, want 42", got)
	}
	if _, ok := s.Values["nf_conntrack_max"]; ok {
		t.Errorf("nf_conntrack_max kept: %v", s.Values)
	}
	if len(s.Values) != len(ctExpectedSysctls) {
		t.Errorf("%d values, want %d: %v", len(s.Values), len(ctExpectedSysctls), s.Values)
	}
	if !s.Taken.Equal(now()) {
		t.Errorf("Taken = %v, want %v", s.Taken, now())
	}

	empty, err := ctReadSysctl(t.TempDir()+"/", now)
	if err == nil || !strings.Contains(err.Error(), "nf_conntrack loaded") {
		t.Errorf("empty tree: error = %v, want one asking whether nf_conntrack is loaded", err)
	}
	if len(empty.Missing) != len(ctExpectedSysctls) || len(empty.Values) != 0 {
		t.Errorf("empty tree: %d missing, %d values", len(empty.Missing), len(empty.Values))
	}
}

// TestReadConntrackSysctlHost reads this host's settings: on a host with
// conntrack loaded (a Docker host), every expected one is there.
func TestReadConntrackSysctlHost(t *testing.T) {
	if _, err := os.Stat(ctSysctlDir + "nf_conntrack_tcp_timeout_established"); err != nil {
		t.Skip("nf_conntrack not loaded here")
	}
	s, err := ReadConntrackSysctl()
	if err != nil {
		t.Fatalf("ReadConntrackSysctl: %v", err)
	}
	if s.Values["nf_conntrack_tcp_timeout_established"] <= 0 {
		t.Errorf("tcp established timeout = %d", s.Values["nf_conntrack_tcp_timeout_established"])
	}
}
