package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"
)

// The capture window: the engine's events streamed while the capture ran
// (capture/docker-events.jsonl), and the containers inspected as they
// started (capture/containers/<id>/), which the snapshot's docker step may
// never have seen. Older bundles have none of it: absent means not
// recorded, not a gap.

// Members of the capture window.
const (
	MemberWindowEvents  = "capture/docker-events.jsonl"
	MemberWindowIndex   = "capture/containers/index.json"
	windowContainersDir = "capture/containers/"
)

// SeenInCaptureWindow marks a container known only from the capture
// window's inspect (Container.SeenIn).
const SeenInCaptureWindow = "capture-window"

// Bounds of the window's members, as the collector bounds them.
const (
	// maxWindowEventsBytes bounds capture/docker-events.jsonl: the
	// collector stops the stream at 64 MiB.
	maxWindowEventsBytes = 64 << 20
	// maxWindowNetNSBytes bounds one capture/containers/<id>/netns.json:
	// a container's links, a few hundred bytes each.
	maxWindowNetNSBytes = 1 << 20
	// maxWindowIndexBytes bounds capture/containers/index.json: 1000
	// containers of a few hundred bytes each, with room to spare.
	maxWindowIndexBytes = 16 << 20
)

// HostVeth is a container's veth as its own namespace showed it: the
// container's end (Name, Index in the container's namespace) and the
// host end's ifindex (HostIndex, the container end's iflink).
type HostVeth struct {
	Name      string   `json:"name"`
	Index     int      `json:"ifindex"`
	HostIndex int      `json:"host_ifindex"`
	MAC       string   `json:"mac,omitempty"`
	Evidence  Evidence `json:"evidence"`
}

type windowNetNSDoc struct {
	Taken      time.Time `json:"taken"`
	PID        int       `json:"pid"`
	NetNSInode uint64    `json:"netns_inode"`
	Links      []struct {
		Name   string   `json:"name"`
		Index  int      `json:"ifindex"`
		Iflink int      `json:"iflink"`
		Kind   string   `json:"kind"`
		MAC    string   `json:"mac"`
		Addrs  []string `json:"addrs"`
	} `json:"links"`
	Error string `json:"error"`
}

type windowIndexDoc struct {
	Error      string `json:"error"`
	Containers []struct {
		ID     string   `json:"id"`
		Name   string   `json:"name"`
		Events []string `json:"events"`
		Missed string   `json:"missed"`
	} `json:"containers"`
}

// readErr records a member that is in the bundle but could not be read
// whole.
func (l *loader) readErr(member string, err error) {
	if l.h.ReadErrors == nil {
		l.h.ReadErrors = map[string]error{}
	}
	l.h.ReadErrors[member] = err
}

// readWindow reads a window member; absent is (nil, false) with nothing
// recorded.
func (l *loader) readWindow(member string, max int64) ([]byte, bool) {
	data, err := l.src.ReadMember(member, max)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		l.readErr(member, err)
		l.missing("%s: %v", member, err)
		return nil, false
	}
	return data, true
}

// loadWindow reads the window's events into Events and EngineEvents, and
// its containers into Containers when the snapshot does not know them.
func (l *loader) loadWindow() {
	l.loadWindowEvents()
	l.loadWindowContainers()
}

type eventKey struct {
	nano               int64
	typ, actor, action string
}

func (l *loader) loadWindowEvents() {
	data, ok := l.readWindow(MemberWindowEvents, maxWindowEventsBytes)
	if !ok {
		return
	}
	// The stream began where docker/events.jsonl ended: the events of that
	// second may be in both.
	have := make(map[eventKey]bool, len(l.h.EngineEvents))
	for _, e := range l.h.EngineEvents {
		have[eventKey{e.Time.UnixNano(), e.Type, e.Actor, e.Action}] = true
	}
	sum := l.src.SHA256(MemberWindowEvents)
	docs, lines, bad := decodeEvents(data)
	for i, d := range docs {
		n := lines[i]
		at := time.Unix(0, d.TimeNano).UTC()
		if d.TimeNano == 0 {
			at = time.Unix(d.Time, 0).UTC()
		}
		k := eventKey{at.UnixNano(), d.Type, d.Actor.ID, d.Action}
		if have[k] {
			continue
		}
		have[k] = true
		l.h.EngineEvents = append(l.h.EngineEvents, EngineEvent{Member: MemberWindowEvents, Line: n, Time: at, Type: d.Type,
			Action: d.Action, Actor: d.Actor.ID, Attributes: d.Actor.Attributes})
		if e, ok := dockerEventOf(d, at); ok {
			e.Evidence = Evidence{Member: MemberWindowEvents, SHA256: sum, Line: n, Text: d.Type + " " + d.Action}
			l.h.Events = append(l.h.Events, e)
		}
	}
	if len(bad) > 0 {
		err := fmt.Errorf("%s: %d malformed line(s) skipped: %s", MemberWindowEvents, len(bad), strings.Join(bad[:min(len(bad), 5)], "; "))
		l.readErr(MemberWindowEvents, err)
		l.missing("%v", err)
	}
	sort.SliceStable(l.h.Events, func(i, j int) bool { return l.h.Events[i].Time.Before(l.h.Events[j].Time) })
}

// dockerEventOf is the event as the model's Events keep it: those that
// move addresses only.
func dockerEventOf(d eventDoc, at time.Time) (DockerEvent, bool) {
	if !(d.Type == "container" && (d.Action == "start" || d.Action == "die" || d.Action == "destroy")) &&
		!(d.Type == "network" && (d.Action == "connect" || d.Action == "disconnect")) {
		return DockerEvent{}, false
	}
	e := DockerEvent{Time: at, Type: d.Type, Action: d.Action, Actor: d.Actor.ID, Name: d.Actor.Attributes["name"]}
	if d.Type == "container" {
		e.Container = d.Actor.ID
	} else {
		e.Container = d.Actor.Attributes["container"]
	}
	return e, true
}

func (l *loader) loadWindowContainers() {
	var ids []string
	for _, m := range l.src.Members() {
		rest, ok := strings.CutPrefix(m, windowContainersDir)
		if !ok {
			continue
		}
		id, ok := strings.CutSuffix(rest, "/inspect.json")
		if !ok || id == "" || strings.ContainsAny(id, "/\\") || id == "." || id == ".." {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	added := false
	for _, id := range ids {
		if _, known := l.h.byID[id]; known {
			continue // the snapshot's inspect is the later one
		}
		if len(l.h.Containers) >= maxLoadContainers {
			l.missing("%s: more than %d containers: the rest of the capture window's are not modelled", windowContainersDir, maxLoadContainers)
			break
		}
		ct := &Container{ID: id, SeenIn: SeenInCaptureWindow, Endpoints: []Endpoint{}, Ports: []PortBinding{}, Mounts: []Mount{}, Evidence: []Evidence{}}
		l.inspectMember(ct, windowContainersDir+id+"/inspect.json")
		if !ct.inspected {
			continue
		}
		l.windowNetNS(ct)
		// The inspect was taken at its start; what happened later is in
		// the window's events.
		for _, e := range l.h.Events {
			if e.Type != "container" || e.Container != id || e.Time.Before(ct.StartedAt) {
				continue
			}
			switch e.Action {
			case "die":
				ct.State = "exited"
				ct.FinishedAt = e.Time
			case "destroy":
				ct.State = "removed"
			case "start":
				ct.State = "running"
			}
		}
		l.h.byID[id] = ct
		l.h.Containers = append(l.h.Containers, ct)
		added = true
		for _, ep := range ct.Endpoints {
			for _, n := range l.h.Networks {
				if (ep.NetworkID == n.ID || (ep.NetworkID == "" && ep.Network == n.Name)) && !slices.Contains(n.Containers, id) {
					n.Containers = append(n.Containers, id)
					sort.Strings(n.Containers)
				}
			}
		}
	}
	if added {
		sort.Slice(l.h.Containers, func(i, j int) bool {
			a, b := l.h.Containers[i], l.h.Containers[j]
			if a.Name != b.Name {
				return a.Name < b.Name
			}
			return a.ID < b.ID
		})
	}
	if data, ok := l.readWindow(MemberWindowIndex, maxWindowIndexBytes); ok {
		var idx windowIndexDoc
		if err := json.Unmarshal(data, &idx); err != nil {
			l.readErr(MemberWindowIndex, err)
			l.missing("%s: %v", MemberWindowIndex, err)
			return
		}
		if idx.Error != "" {
			l.missing("%s: the engine's events during the capture are incomplete: %s", MemberWindowIndex, idx.Error)
		}
		for _, c := range idx.Containers {
			if c.Missed != "" {
				l.missing("%s: container %s (%q) of the capture window: %s", MemberWindowIndex, ShortID(c.ID), c.Name, c.Missed)
			}
		}
	}
}

// windowNetNS reads the container's netns.json: its namespace's inode and
// the host ends of its veths.
func (l *loader) windowNetNS(ct *Container) {
	member := windowContainersDir + ct.ID + "/netns.json"
	data, ok := l.readWindow(member, maxWindowNetNSBytes)
	if !ok {
		ct.Unknown = append(ct.Unknown, "the capture window recorded no namespace: its veth is known only by its address")
		return
	}
	var d windowNetNSDoc
	if err := json.Unmarshal(data, &d); err != nil {
		l.readErr(member, err)
		l.missing("%s: %v: the veth of container %s unknown", member, err, ShortID(ct.ID))
		return
	}
	if d.Error != "" {
		ct.Unknown = append(ct.Unknown, "namespace: "+d.Error)
	}
	ct.NetNS = d.NetNSInode
	if ct.NetworkMode == "host" || ct.SharesWith != "" {
		return // the veths in that namespace are the host's or another container's
	}
	for i, lk := range d.Links {
		if lk.Kind != "veth" || lk.Iflink == 0 || lk.Iflink == lk.Index {
			continue
		}
		e := l.ev(member, IndexPointer("/links", i))
		e.Text = fmt.Sprintf("%s of container %s is the peer of host ifindex %d", lk.Name, ct.Name, lk.Iflink)
		ct.HostVeths = append(ct.HostVeths, HostVeth{Name: lk.Name, Index: lk.Index, HostIndex: lk.Iflink, MAC: strings.ToLower(lk.MAC), Evidence: e})
	}
}

// ContainerOfHostVeth returns the container of the capture window whose
// veth's host end had that ifindex, and the evidence; false when none or
// more than one did.
func (h *Host) ContainerOfHostVeth(ifindex int) (*Container, Evidence, bool) {
	var found *Container
	var ev Evidence
	for _, c := range h.Containers {
		for _, v := range c.HostVeths {
			if v.HostIndex != ifindex {
				continue
			}
			if found != nil && found != c {
				return nil, Evidence{}, false
			}
			found, ev = c, v.Evidence
		}
	}
	return found, ev, found != nil
}
