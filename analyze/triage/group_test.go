package triage

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

// TestFindingsGrouped: a beacon's 40 flows to an indicator, each seen at
// three capture points, and its conntrack entries make one ioc-contact
// finding for the container and the indicator, counted, spanned, with the
// earliest few observations as evidence; its port findings one per port.
func TestFindingsGrouped(t *testing.T) {
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100,"StartedAt":"2026-11-28T08:00:00Z"},"HostConfig":{"SecurityOpt":["no-new-privileges"],"NetworkMode":"n"},
	"NetworkSettings":{"Networks":{"n":{"NetworkID":"nid","IPAddress":"172.20.0.2","IPPrefixLen":16}}}}`
	ct := `{"entries":[
	 {"family":"ipv4","proto":"tcp","original":{"src":"172.20.0.2","dst":"198.18.185.2","sport":40000,"dport":4444},"reply":{"src":"198.18.185.2","dst":"192.0.2.1","sport":4444,"dport":40000}},
	 {"family":"ipv4","proto":"tcp","original":{"src":"172.20.0.2","dst":"198.18.185.2","sport":40001,"dport":4444},"reply":{"src":"198.18.185.2","dst":"192.0.2.1","sport":4444,"dport":40001}},
	 {"family":"ipv4","proto":"tcp","original":{"src":"172.20.0.2","dst":"198.18.185.2","sport":40002,"dport":4444},"reply":{"src":"198.18.185.2","dst":"192.0.2.1","sport":4444,"dport":40002}}]}`
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	c2 := netip.MustParseAddr("198.18.185.2")
	var flows []FlowSummary
	for i := range 40 {
		for _, point := range []string{"capture/veth.pcapng", "capture/br.pcapng", "capture/eth0.pcapng"} {
			at := base.Add(time.Duration(39-i) * 10 * time.Second) // latest first: grouping must sort
			flows = append(flows, FlowSummary{Container: triageTestID, Proto: "tcp", Remote: c2, RemotePort: 4444, First: at, Last: at.Add(time.Second),
				Evidence: []model.Evidence{{Member: point, Line: i + 1}}})
		}
	}
	m := triageTestMembers(t, inspect, map[string][]byte{model.MemberConntrack: []byte(ct)})
	fs := triageRun(t, m, Input{Flows: flows, IOCs: iocSet("198.18.185.2")}, Options{})
	counts := map[string]int{}
	for _, f := range fs {
		counts[f.ID]++
	}
	for id, want := range map[string]int{"ioc-contact": 1, "metasploit-default-port": 1, "beaconing": 1, "repeated-contact": 1, "mining-pool-port": 0} {
		if counts[id] != want {
			t.Errorf("%d %s findings, want %d (all: %q)", counts[id], id, want, triageIDs(fs))
		}
	}
	f := triageHas(fs, "ioc-contact", "198.18.185.2")
	if f == nil {
		t.Fatal("no ioc-contact finding")
	}
	if f.Count != 123 || f.Indicator != "198.18.185.2" || f.Container != triageTestID {
		t.Errorf("ioc-contact: count %d indicator %q container %q, want 123 (120 flow observations, 3 conntrack entries), 198.18.185.2, %s", f.Count, f.Indicator, f.Container, triageTestID)
	}
	if !f.First.Equal(base) || !f.Last.Equal(base.Add(391*time.Second)) {
		t.Errorf("ioc-contact spans %v … %v, want %v … %v", f.First, f.Last, base, base.Add(391*time.Second))
	}
	if len(f.Evidence) != maxGroupEvidence || f.Evidence[0].Line != 40 {
		t.Errorf("ioc-contact evidence: %d entries, first %+v; want %d, the earliest flow's (line 40) first", len(f.Evidence), f.Evidence, maxGroupEvidence)
	}
	if r := triageHas(fs, "repeated-contact", "198.18.185.2:4444"); r == nil || r.Severity != SeverityHigh {
		t.Errorf("repeated contact with an indicator: %+v, want severity high", r)
	}
	if b := triageHas(fs, "beaconing", "198.18.185.2:4444"); b == nil || b.Severity != SeverityCritical || b.Count != 40 {
		t.Errorf("beaconing to an indicator: %+v, want critical with count 40 (connections, each seen at three points)", b)
	}
}

// TestRepeatedContactSeverity: repeated contact is low towards a private
// address, medium towards an unknown public one.
func TestRepeatedContactSeverity(t *testing.T) {
	inspect := `{"Id":"` + triageTestID + `","Name":"/web","State":{"Status":"running","Pid":100},"HostConfig":{"SecurityOpt":["no-new-privileges"],"NetworkMode":"n"},
	"NetworkSettings":{"Networks":{"n":{"NetworkID":"nid","IPAddress":"172.20.0.2","IPPrefixLen":16}}}}`
	entry := func(dst string, sport int) string {
		return `{"family":"ipv4","proto":"tcp","original":{"src":"172.20.0.2","dst":"` + dst + `","sport":` + itoa(sport) + `,"dport":5432},"reply":{"src":"` + dst + `","dst":"192.0.2.1","sport":5432,"dport":` + itoa(sport) + `}}`
	}
	ct := `{"entries":[` + entry("10.1.2.3", 1) + "," + entry("10.1.2.3", 2) + "," + entry("10.1.2.3", 3) + "," +
		entry("203.0.113.5", 4) + "," + entry("203.0.113.5", 5) + "," + entry("203.0.113.5", 6) + `]}`
	fs := triageRun(t, triageTestMembers(t, inspect, map[string][]byte{model.MemberConntrack: []byte(ct)}), Input{}, Options{})
	for dst, want := range map[string]string{"10.1.2.3": SeverityLow, "203.0.113.5": SeverityMedium} {
		if f := triageHas(fs, "repeated-contact", dst); f == nil || f.Severity != want {
			t.Errorf("repeated contact with %s: %+v, want severity %s", dst, f, want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
