package timeline

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/internal/indicator"
)

const testID = "aaaaaaaaaaaabbbbbbbbbbbbccccccccccccddddddddddddeeeeeeeeeeeeffff"

// testMembers returns a minimal bundle: one running container whose
// inspect is given, plus extra members.
func testMembers(inspect string, extra map[string][]byte) model.MemSource {
	m := model.MemSource{
		model.MemberContainers:                          []byte(`[{"id":"` + testID + `","name":"web","image":"img","state":"running","pid":100}]`),
		"docker/containers/" + testID + "/inspect.json": []byte(inspect),
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// iocSet parses indicators as the commands do.
func iocSet(t *testing.T, list ...string) *indicator.Set {
	t.Helper()
	var iocs []indicator.Indicator
	for _, raw := range list {
		i, err := indicator.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		iocs = append(iocs, i)
	}
	return indicator.NewSet(iocs)
}

func TestTimelineExports(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC)
	evs := []Event{
		{Time: at, Kind: ProcessStart, Message: `=HYPERLINK("http://x")`, Source: "processes", Container: "c1", ContainerName: "web",
			Evidence: &model.Evidence{Member: model.MemberProcesses, SHA256: "ab", Pointer: "/3"}, Attrs: map[string]string{"pid": "7", "message": "shadow"}},
		{Time: at.Add(time.Second), Kind: CollectionStep, Message: "step clock", Source: "custody log", Evidence: &model.Evidence{Member: "custody.jsonl", Line: 1}},
	}
	var js bytes.Buffer
	if err := WriteTimesketch(&js, evs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("WriteTimesketch() wrote %d lines, want 2", len(lines))
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"message": `=HYPERLINK("http://x")`, "datetime": "2026-11-28T10:00:00.123456Z", "timestamp_desc": ProcessStart,
		"timestamp": float64(at.UnixMicro()), "container_name": "web", "evidence_pointer": "/3", "pid": "7"} {
		if rec[k] != want {
			t.Errorf("WriteTimesketch() %s = %v, want %v", k, rec[k], want)
		}
	}
	var csvb bytes.Buffer
	if err := WriteCSV(&csvb, evs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csvb.String(), `'=HYPERLINK`) || !strings.HasPrefix(csvb.String(), "datetime,timestamp_desc,message") || !strings.Contains(csvb.String(), ",1,") {
		t.Errorf("WriteCSV() =\n%s", csvb.String())
	}
}

func TestClockNote(t *testing.T) {
	unsync := `{"wall":"2026-11-28T10:02:43Z","ntp":{"synchronized":false,"state":"TIME_ERROR","status_flags":["STA_UNSYNC"],"est_error_us":16000000,"max_error_us":16000000,"offset_ns":2500000}}`
	if n := ClockNote(model.LoadSource(model.MemSource{model.MemberClock: []byte(unsync)})); !strings.Contains(n, "NOT synchronised") || !strings.Contains(n, "±16s") || !strings.Contains(n, "2.5ms") {
		t.Errorf("clockNote(unsynchronised) = %q", n)
	}
	if n := ClockNote(model.LoadSource(model.MemSource{model.MemberClock: []byte(`{"wall":"2026-11-28T10:02:43Z","ntp":{"synchronized":true}}`)})); n != "" {
		t.Errorf("clockNote(synchronised) = %q, want empty", n)
	}
}

func TestBuildTimeline(t *testing.T) {
	inspect := `{"Id":"` + testID + `","Name":"/web","Created":"2026-11-28T08:00:00Z","State":{"Status":"paused","Pid":100,"StartedAt":"2026-11-28T08:00:01Z"},"HostConfig":{}}`
	mtime := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	top := analyzetest.Tar(t, []*tar.Header{{Name: "tmp/.x/kworker", Mode: 0o755, Typeflag: tar.TypeReg, ModTime: mtime}}, map[string][]byte{"tmp/.x/kworker": []byte("\x7fELF")})
	commits, _ := json.Marshal([]map[string]any{{"container": testID, "name": "web", "member": "images/web.tar"}})
	events := `{"Type":"container","Action":"pause","Actor":{"ID":"` + testID + `","Attributes":{"name":"web","image":"img"}},"time":1795856400,"timeNano":1795856400000000000}
not json
{"Type":"container","Action":"exec_start: /bin/sh -c id","Actor":{"ID":"` + testID + `","Attributes":{"name":"web"}},"time":1795856300,"timeNano":1795856300000000000}
`
	procs, _ := json.Marshal([]map[string]any{
		{"pid": 100, "ppid": 90, "comm": "sh", "cmdline": []string{"/bin/sh", "--token=s3cr3tvalue"}, "start_time": "2026-11-28T08:00:01Z", "container_id": testID},
		{"pid": 7, "ppid": 2, "comm": "kworker/0:1", "start_time": "2026-11-28T07:00:00Z"},
	})
	actions := `[{"time":"2026-11-28T10:05:00Z","action":"pause","container":"` + testID + `","name":"web"}]`
	clock := `{"wall":"2026-11-28T10:04:00Z","ntp":{"synchronized":false,"state":"TIME_ERROR","status_flags":["STA_UNSYNC"],"est_error_us":1000}}`
	m := testMembers(inspect, map[string][]byte{"preservation/commits.json": commits, "images/web.tar": analyzetest.SavedImage(t, top), model.MemberEvents: []byte(events),
		model.MemberProcesses: procs, memberActions: []byte(actions), model.MemberClock: []byte(clock)})
	src := model.MemSource{}
	for k, v := range m {
		src[k] = v
	}
	h := model.LoadSource(src)
	steps := []bundle.StepRecord{{Name: "clock", Started: time.Date(2026, 11, 28, 10, 4, 0, 0, time.UTC), Status: "ok"}}
	base := time.Date(2026, 11, 28, 9, 45, 0, 0, time.UTC)
	tags := []triage.Finding{
		{ID: "b-rule", Evidence: []model.Evidence{{Member: model.MemberProcesses, Pointer: "/0", Text: "differs"}}},
		{ID: "a-rule", Evidence: []model.Evidence{{Member: model.MemberProcesses, Pointer: "/0"}, {Member: "images/web.tar", Text: "layer top/layer.tar entry tmp/.x/kworker: more"}}},
	}
	h.Steps = steps
	evs := build(h, Input{Findings: tags, IOCs: iocSet(t, "198.18.0.2", "evil.example"),
		Flows: []triage.FlowSummary{{Container: testID, Proto: "tcp", Remote: netip.MustParseAddr("198.18.0.2"), RemotePort: 4444, First: base, Last: base.Add(time.Minute)}},
		DNS:   []triage.DNSName{{Container: testID, Name: "c2.evil.example", Time: base.Add(-time.Second), Answers: []string{"198.18.0.2"}}}})
	var got []string
	for _, e := range evs {
		got = append(got, e.Time.Format("15:04:05")+" "+e.Kind+" "+e.Message)
		switch e.Kind {
		case ProcessStart:
			if !slices.Equal(e.Tags, []string{"a-rule", "b-rule"}) {
				t.Errorf("process event tags = %q, want a-rule, b-rule", e.Tags)
			}
		case FileModified:
			if !slices.Equal(e.Tags, []string{"a-rule"}) {
				t.Errorf("file event tags = %q, want a-rule", e.Tags)
			}
		default:
			if len(e.Tags) > 0 {
				t.Errorf("%s event tagged %q", e.Kind, e.Tags)
			}
		}
	}
	want := []string{
		"08:00:00 Container created container created web (aaaaaaaaaaaa, image img)",
		"08:00:01 Container started container started web (aaaaaaaaaaaa, image img)",
		"08:00:01 Process start process 100 started in container web: /bin/sh --token=…(redacted, 11 chars)",
		"08:58:20 Docker engine event container exec_start: /bin/sh -c id web (aaaaaaaaaaaa)",
		"09:00:00 Docker engine event container pause web (aaaaaaaaaaaa)",
		"09:30:00 File modified modified /tmp/.x/kworker in web (-rwxr-xr-x (0755), 4 bytes)",
		"09:44:59 DNS answer IOC contact evil.example: DNS c2.evil.example → 198.18.0.2",
		"09:45:00 First packet first packet tcp IOC contact 198.18.0.2: web → 198.18.0.2:4444",
		"09:46:00 Last packet last packet tcp IOC contact 198.18.0.2: web → 198.18.0.2:4444",
		"10:04:00 Collection step collection step clock: ok",
		"10:04:00 Host clock reading host clock read by the collector: " + ClockNote(h),
		"10:05:00 Containment containment: pause web",
	}
	if !slices.Equal(got, want) {
		t.Errorf("build() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestConversationEvents: one conversation is its first packet and its
// last when later, one event when they are one instant, and one
// "Conversation seen" at its estimated time when no packet dates it (a
// socket or a conntrack entry), with how it was dated.
func TestConversationEvents(t *testing.T) {
	h := model.LoadSource(model.MemSource{})
	base := time.Date(2026, 11, 28, 9, 45, 0, 0, time.UTC)
	c2 := netip.MustParseAddr("198.18.0.2")
	evs := build(h, Input{IOCs: iocSet(t, "198.18.0.2"), Flows: []triage.FlowSummary{
		{Container: testID, Proto: "tcp", Remote: c2, RemotePort: 4444, First: base, Last: base.Add(time.Minute), Packets: 10},
		{Container: testID, Proto: "udp", Remote: c2, RemotePort: 53, First: base, Last: base, Packets: 1},
		{Container: testID, Proto: "tcp", Remote: c2, RemotePort: 4444, First: base.Add(time.Hour), Last: base.Add(time.Hour), Estimated: true,
			Dating: "socket ESTABLISHED at the snapshot", Evidence: []model.Evidence{{Member: "netns/1/sockets.json", Pointer: "/0"}}},
	}})
	var got []string
	for _, e := range evs {
		if e.Kind == FlowFirst || e.Kind == FlowLast || e.Kind == ConversationSeen {
			got = append(got, e.Time.Format("15:04:05")+" "+e.Kind+" "+e.Source+" "+e.Attrs["ioc"])
		}
	}
	want := []string{
		"09:45:00 First packet capture 198.18.0.2",
		"09:45:00 First packet capture 198.18.0.2",
		"09:46:00 Last packet capture 198.18.0.2",
		"10:45:00 Conversation seen netns/1/sockets.json 198.18.0.2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("conversation events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
