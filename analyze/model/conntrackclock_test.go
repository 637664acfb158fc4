package model

import (
	"strings"
	"testing"
	"time"
)

func TestDateConntrack(t *testing.T) {
	taken := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	clock := &ConntrackClock{Taken: taken, Timeouts: map[string]int64{
		"tcp_timeout_established": 432000, "tcp_timeout_time_wait": 120, "tcp_timeout_syn_sent": 120,
		"udp_timeout": 30, "udp_timeout_stream": 120, "icmp_timeout": 30, "generic_timeout": 600,
	}}
	synced := &HostClock{NTP: &ClockNTP{Synchronized: true}}
	unsynced := &HostClock{NTP: &ClockNTP{Synchronized: false}}
	start := taken.Add(-10 * time.Second)
	tests := []struct {
		name    string
		flow    ConntrackFlow
		clock   *ConntrackClock
		host    *HostClock
		setting string
		ago     time.Duration // LastPacket = taken - ago; -1: not dated
		note    string        // a note that must be there ("" none)
	}{
		{"tcp established", ConntrackFlow{Proto: "tcp", State: "ESTABLISHED", TimeoutSeconds: 431990}, clock, synced, "tcp_timeout_established", 10 * time.Second, "unacknowledged"},
		{"tcp time_wait", ConntrackFlow{Proto: "tcp", State: "TIME_WAIT", TimeoutSeconds: 60}, clock, synced, "tcp_timeout_time_wait", 60 * time.Second, ""},
		{"tcp syn_sent2", ConntrackFlow{Proto: "tcp", State: "SYN_SENT2", TimeoutSeconds: 100}, clock, synced, "tcp_timeout_syn_sent", 20 * time.Second, "SYN_SENT2"},
		{"udp unreplied", ConntrackFlow{Proto: "udp", Status: []string{"CONFIRMED"}, TimeoutSeconds: 25}, clock, synced, "udp_timeout", 5 * time.Second, ""},
		{"udp assured", ConntrackFlow{Proto: "udp", Status: []string{"SEEN_REPLY", "ASSURED"}, TimeoutSeconds: 100}, clock, synced, "udp_timeout_stream", 20 * time.Second, ""},
		{"icmp", ConntrackFlow{Proto: "icmp", TimeoutSeconds: 29}, clock, synced, "icmp_timeout", time.Second, ""},
		{"unknown protocol", ConntrackFlow{Proto: "unknown", TimeoutSeconds: 500}, clock, synced, "generic_timeout", 100 * time.Second, ""},
		{"missing sysctl takes the default", ConntrackFlow{Proto: "tcp", State: "CLOSE_WAIT", TimeoutSeconds: 50}, clock, synced, "tcp_timeout_close_wait", 10 * time.Second, "kernel's default 60s"},
		{"missing sysctl without default", ConntrackFlow{Proto: "dccp", State: "PARTOPEN", TimeoutSeconds: 5}, clock, synced, "dccp_timeout_partopen", -1, ""},
		{"remaining over the timeout", ConntrackFlow{Proto: "udp", TimeoutSeconds: 180}, clock, synced, "udp_timeout", 0, "setting changed"},
		{"never before the start", ConntrackFlow{Proto: "tcp", State: "TIME_WAIT", TimeoutSeconds: 0, Start: &start}, clock, synced, "tcp_timeout_time_wait", 10 * time.Second, "start is taken"},
		{"unsynchronised clock", ConntrackFlow{Proto: "icmp", TimeoutSeconds: 20}, clock, unsynced, "icmp_timeout", 10 * time.Second, "not synchronised"},
		{"no host clock", ConntrackFlow{Proto: "icmp", TimeoutSeconds: 20}, clock, nil, "icmp_timeout", 10 * time.Second, ""},
		{"no read time", ConntrackFlow{Proto: "icmp", TimeoutSeconds: 20}, &ConntrackClock{}, synced, "", -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DateConntrack(tt.flow, tt.clock, tt.host)
			if d.Setting != tt.setting {
				t.Errorf("Setting = %q, want %q", d.Setting, tt.setting)
			}
			if tt.ago < 0 {
				if !d.LastPacket.IsZero() || !strings.HasPrefix(d.Method, "not dated") {
					t.Errorf("DateConntrack = %v (%s), want not dated", d.LastPacket, d.Method)
				}
				return
			}
			if want := taken.Add(-tt.ago); !d.LastPacket.Equal(want) {
				t.Errorf("LastPacket = %v, want %v (%s)", d.LastPacket, want, d.Method)
			}
			if d.Method == "" {
				t.Error("no method")
			}
			notes := strings.Join(d.Notes, "; ")
			if tt.note != "" && !strings.Contains(notes, tt.note) {
				t.Errorf("notes %q lack %q", notes, tt.note)
			}
			if tt.note == "" && tt.host != unsynced && strings.Contains(notes, "synchronised") {
				t.Errorf("notes %q speak of the clock", notes)
			}
		})
	}
}

// TestLoadConntrackClock checks that the loader reads the settings and
// dates every entry, and that a bundle without the member (collected before
// it existed) lists nothing as missing.
func TestLoadConntrackClock(t *testing.T) {
	ct := []byte(`{"source":"netlink","entries":[{"family":"ipv4","proto":"udp","status":["CONFIRMED"],"timeout_s":20},
		{"family":"ipv4","proto":"tcp","state":"ESTABLISHED","status":["ASSURED"],"timeout_s":100,"delta_time_s":5}]}`)
	sys := []byte(`{"taken":"2026-12-03T10:00:00Z","values":{"nf_conntrack_udp_timeout":30,"nf_conntrack_acct":1,"nf_conntrack_timestamp":0},
		"missing":["read sysctl nf_conntrack_tcp_timeout_established: no such file"]}`)
	h := LoadSource(MemSource{MemberConntrack: ct, MemberConntrackSysctl: sys})
	c := h.ConntrackClock
	if c == nil || c.Accounting == nil || !*c.Accounting || c.Timestamps == nil || *c.Timestamps || c.Timeouts["udp_timeout"] != 30 || len(c.Missing) != 1 {
		t.Fatalf("ConntrackClock = %+v", c)
	}
	taken := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	if d := h.Conntrack[0].LastPacket; d == nil || !d.LastPacket.Equal(taken.Add(-10*time.Second)) {
		t.Errorf("udp entry dated %+v, want 10s before the read", d)
	}
	// tcp established is missing from the bundle: the default (432000s),
	// and the estimate falls before the start given by delta-time.
	tcp := h.Conntrack[1]
	if tcp.Start == nil || !tcp.Start.Equal(taken.Add(-5*time.Second)) {
		t.Errorf("tcp entry start = %v, want 5s before the read", tcp.Start)
	}
	if d := tcp.LastPacket; d == nil || !d.LastPacket.Equal(*tcp.Start) || !strings.Contains(strings.Join(d.Notes, ";"), "default") {
		t.Errorf("tcp entry dated %+v", d)
	}

	old := LoadSource(MemSource{MemberConntrack: ct})
	if old.ConntrackClock != nil || old.Conntrack[0].LastPacket != nil {
		t.Errorf("without the member: clock %+v, dating %+v", old.ConntrackClock, old.Conntrack[0].LastPacket)
	}
	for _, m := range old.Missing {
		if strings.Contains(m, MemberConntrackSysctl) {
			t.Errorf("Missing lists %q for a bundle collected before the member", m)
		}
	}
}
