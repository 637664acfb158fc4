package contain

import (
	"reflect"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/docker"
)

const (
	idWeb = "4ea11ab5ddc9fcb83913a00965dfc22ba047bcb9594d5f3179050ce9199a8424"
	idDB  = "4ea1ffff0000fcb83913a00965dfc22ba047bcb9594d5f3179050ce9199a8424"
	idAPI = "9a44b367e4a6df3a2fd90884732c9948c6f66edd16115c15d04db18208efdea0"
)

func TestListed(t *testing.T) {
	list := []docker.ContainerRef{{ID: idWeb, Name: "web"}, {ID: idDB, Name: "db"}, {ID: idAPI, Name: "4ea1"}}
	for _, tt := range []struct {
		arg        string
		wantID     string
		wantByName bool
		wantErr    string
	}{
		{arg: idWeb, wantID: idWeb},
		{arg: "web", wantID: idWeb, wantByName: true},
		{arg: "/web", wantID: idWeb, wantByName: true},
		{arg: "4ea11a", wantID: idWeb},
		{arg: "9a44", wantID: idAPI},
		// A name before an id prefix, as the engine resolves them.
		{arg: "4ea1", wantID: idAPI, wantByName: true},
		{arg: "4ea1f", wantID: idDB},
		{arg: "4ea", wantErr: "not in the bundle"},
		{arg: "4ea11", wantID: idWeb},
		{arg: "cache", wantErr: "not in the bundle"},
		{arg: "", wantErr: "not in the bundle"},
	} {
		ref, byName, err := Listed(list, tt.arg)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("Listed(%q) = %v, %v; want an error saying %q", tt.arg, ref.ID, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || ref.ID != tt.wantID || byName != tt.wantByName):
			t.Errorf("Listed(%q) = %v, %v, %v; want %v, %v", tt.arg, ref.ID, byName, err, tt.wantID, tt.wantByName)
		}
	}
	list = append(list, docker.ContainerRef{ID: "4ea11ab5ddc9ffff", Name: "web2"})
	if _, _, err := Listed(list, "4ea11ab5"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("Listed(4ea11ab5) with two containers of that prefix = %v, want ambiguous", err)
	}
}

func TestNoteRoundTrip(t *testing.T) {
	n := Note{Step: StepPlan, Container: idWeb, Name: "web", Reason: `beacons to "198.51.100.7" <F-3>`, Status: "running",
		Networks: []docker.Endpoint{{Network: "front", NetworkID: idAPI, Aliases: []string{"www"}, IPv4: "10.1.2.3", IPv6: "fd00::3", MAC: "02:42:0a:01:02:03", StaticIPv4: "10.1.2.3"}},
		Pause:    true, Changed: []string{"front"}}
	s := n.Encode()
	if !strings.HasPrefix(s, `{"format":"dockcase-containment/v1","step":"plan","container":"`+idWeb+`"`) {
		t.Errorf("Encode() = %s, want it to open with the format, step and container", s)
	}
	got, ok := ParseNote(s)
	n.Format = NoteFormat
	if !ok || !reflect.DeepEqual(got, n) {
		t.Errorf("ParseNote(Encode()) = %+v, %v; want %+v", got, ok, n)
	}
	for _, s := range []string{
		"", "case IR-7, signer SHA256:x", `{"step":"plan","container":"x"}`,
		`{"format":"dockcase-containment/v2","container":"x"}`,
		`{"format":"dockcase-containment/v1","step":"plan"}`,
		`{"format":"dockcase-containment/v1","container":"x"`,
		`{"format":"dockcase-containment/v1","container":"x","pause":"yes"}`,
	} {
		if n, ok := ParseNote(s); ok {
			t.Errorf("ParseNote(%q) = %+v, true; want not a containment note", s, n)
		}
	}
}

func TestPlanContain(t *testing.T) {
	front := docker.Endpoint{Network: "front", IPv4: "10.1.2.3"}
	back := docker.Endpoint{Network: "back", IPv4: "10.9.0.4"}
	for _, tt := range []struct {
		name              string
		st                docker.ContainerState
		pause, disconnect bool
		want              Plan
	}{
		{"running, both", docker.ContainerState{Status: "running", Networks: []docker.Endpoint{back, front}}, true, true,
			Plan{Pause: true, Networks: []docker.Endpoint{back, front}}},
		{"pause only", docker.ContainerState{Status: "running", Networks: []docker.Endpoint{front}}, true, false,
			Plan{Pause: true}},
		{"disconnect only", docker.ContainerState{Status: "running", Networks: []docker.Endpoint{front}}, false, true,
			Plan{Networks: []docker.Endpoint{front}}},
		{"already paused", docker.ContainerState{Status: "paused", Networks: []docker.Endpoint{front}}, true, true,
			Plan{Networks: []docker.Endpoint{front}, Notes: []string{"already paused"}}},
		{"exited", docker.ContainerState{Status: "exited"}, true, true,
			Plan{Notes: []string{"not running (exited): nothing to pause", "on no network: nothing to disconnect"}}},
		{"host network", docker.ContainerState{Status: "running", NetworkMode: "host", Networks: []docker.Endpoint{{Network: "host"}}}, false, true,
			Plan{Impossible: []string{"cannot disconnect from network host: the container uses the host's network stack"}}},
		{"none network", docker.ContainerState{Status: "running", NetworkMode: "none", Networks: []docker.Endpoint{{Network: "none"}}}, false, true,
			Plan{Notes: []string{"on no network: nothing to disconnect"}}},
		{"shared namespace", docker.ContainerState{Status: "running", NetworkMode: "container:" + idAPI}, false, true,
			Plan{Impossible: []string{`cannot disconnect: the container shares the network namespace of ` + idAPI + ` (network mode "container:` + idAPI + `"): contain that container`}}},
	} {
		got := PlanContain(tt.st, tt.pause, tt.disconnect)
		tt.want.Before = tt.st
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: PlanContain(%+v, %v, %v) =\n%+v\nwant\n%+v", tt.name, tt.st, tt.pause, tt.disconnect, got, tt.want)
		}
	}
}

func TestPlanRelease(t *testing.T) {
	front := docker.Endpoint{Network: "front", IPv4: "10.1.2.3", StaticIPv4: "10.1.2.3"}
	back := docker.Endpoint{Network: "back", IPv4: "10.9.0.4"}
	contained := Containment{Seq: 3, Note: Note{Container: idWeb, Networks: []docker.Endpoint{back, front}, Changed: []string{"back", "front"}, Pause: true}}
	for _, tt := range []struct {
		name string
		st   docker.ContainerState
		c    Containment
		want Plan
	}{
		{"contained", docker.ContainerState{Status: "paused"}, contained,
			Plan{Pause: true, Networks: []docker.Endpoint{back, front}}},
		{"one network back already", docker.ContainerState{Status: "paused", Networks: []docker.Endpoint{front}}, contained,
			Plan{Pause: true, Networks: []docker.Endpoint{back}, Notes: []string{`already on network "front"`}}},
		{"unpaused since", docker.ContainerState{Status: "running"}, contained,
			Plan{Networks: []docker.Endpoint{back, front}, Notes: []string{"not paused now (running): nothing to unpause"}}},
		// Only what the containment changed is undone: a network it could
		// not leave, a freeze it did not make.
		{"partial containment", docker.ContainerState{Status: "paused", Networks: []docker.Endpoint{front}},
			Containment{Seq: 5, Note: Note{Container: idWeb, Networks: []docker.Endpoint{back, front}, Changed: []string{"back"}}},
			Plan{Networks: []docker.Endpoint{back}, Notes: []string{"paused, but not by this containment: left paused"}}},
	} {
		got := PlanRelease(tt.st, tt.c)
		tt.want.Before, tt.want.Undoes = tt.st, tt.c
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: PlanRelease =\n%+v\nwant\n%+v", tt.name, got, tt.want)
		}
	}
}

func TestLast(t *testing.T) {
	ev := func(seq int, action string, n Note) bundle.CustodyRecord {
		return bundle.CustodyRecord{CustodyEvent: bundle.CustodyEvent{Seq: seq, Action: action, Note: n.Encode()}}
	}
	plan := Note{Step: StepPlan, Container: idWeb, Changed: []string{"front", "back"}, Pause: true}
	done := Note{Step: StepDone, Container: idWeb, Changed: []string{"front"}, Pause: true, Failed: []string{"back: refused"}}
	collected := bundle.CustodyRecord{CustodyEvent: bundle.CustodyEvent{Seq: 1, Action: bundle.ActionCollected, Note: "case IR-7"}}
	other := ev(2, ActionContained, Note{Step: StepPlan, Container: idDB})
	for _, tt := range []struct {
		name    string
		recs    []bundle.CustodyRecord
		wantSeq int
		wantInt bool
		wantErr string
	}{
		{"done", []bundle.CustodyRecord{collected, other, ev(3, ActionContained, plan), ev(4, ActionContained, done)}, 4, false, ""},
		{"interrupted", []bundle.CustodyRecord{collected, ev(2, ActionContained, plan)}, 2, true, ""},
		{"none", []bundle.CustodyRecord{collected, other}, 0, false, "no contained event"},
		{"a done without its plan is no containment", []bundle.CustodyRecord{collected, ev(2, ActionContained, done)}, 0, false, "no contained event"},
		{"released", []bundle.CustodyRecord{collected, ev(2, ActionContained, plan), ev(3, ActionContained, done),
			ev(4, ActionReleased, Note{Step: StepPlan, Container: idWeb, Undoes: 3}), ev(5, ActionReleased, Note{Step: StepDone, Container: idWeb, Undoes: 3})}, 3, false, "released by event 5 already"},
		{"a release that failed can be retried", []bundle.CustodyRecord{collected, ev(2, ActionContained, plan), ev(3, ActionContained, done),
			ev(4, ActionReleased, Note{Step: StepDone, Container: idWeb, Undoes: 3, Failed: []string{"x"}})}, 3, false, ""},
		{"contained again after a release", []bundle.CustodyRecord{collected, ev(2, ActionContained, plan), ev(3, ActionContained, done),
			ev(4, ActionReleased, Note{Step: StepDone, Container: idWeb, Undoes: 3}), ev(5, ActionContained, plan), ev(6, ActionContained, done)}, 6, false, ""},
	} {
		c, err := Last(tt.recs, idWeb)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: Last = %+v, %v; want an error saying %q", tt.name, c, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || c.Seq != tt.wantSeq || c.Interrupted != tt.wantInt):
			t.Errorf("%s: Last = seq %d interrupted %v, %v; want seq %d interrupted %v", tt.name, c.Seq, c.Interrupted, err, tt.wantSeq, tt.wantInt)
		}
	}
}

func TestCompare(t *testing.T) {
	want := []docker.Endpoint{
		{Network: "front", IPv4: "10.1.2.3", StaticIPv4: "10.1.2.3", IPv6: "fd00::3", StaticIPv6: "fd00::3", MAC: "02:42:0a:01:02:03", Aliases: []string{"www", "api"}},
		{Network: "back", IPv4: "10.9.0.4", MAC: "02:42:0a:09:00:04"},
		{Network: "gone"},
	}
	same := []docker.Endpoint{want[1], want[0], {Network: "gone"}}
	if got := Compare(want, same); len(got) != 0 {
		t.Errorf("Compare(same) = %q, want nothing", got)
	}
	now := []docker.Endpoint{
		{Network: "front", IPv4: "10.1.2.9", IPv6: "fd00::3", MAC: "02:42:0a:01:02:03", Aliases: []string{"www", "4ea11ab5ddc9"}},
		{Network: "back", IPv4: "10.9.0.5", MAC: "02:42:0a:09:00:05"},
	}
	wantDiff := []string{
		`network "front": static IPv4 10.1.2.3 not restored (now "10.1.2.9")`,
		`network "front": alias "api" not restored`,
		`network "back": IPv4 10.9.0.4, which the engine had chosen, not restored: it chose "10.9.0.5"`,
		`network "back": MAC 02:42:0a:09:00:04 not restored (now "02:42:0a:09:00:05")`,
		`network "gone": not on it after reconnecting`,
	}
	if got := Compare(want, now); !reflect.DeepEqual(got, wantDiff) {
		t.Errorf("Compare =\n%q\nwant\n%q", got, wantDiff)
	}
}
