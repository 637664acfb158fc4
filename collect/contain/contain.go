// Package contain pauses and disconnects containers after analysis, and
// undoes it: the responder's "dockcase contain" and "dockcase release".
//
// It acts only on containers the case's bundle lists (Listed, Resolve), and
// records each step in the bundle's custody log through a Recorder: what it
// is about to do before it acts (step "plan"), what happened after (step
// "done"). The custody note of a contained event holds every network the
// container was on, with its aliases, addresses and MAC (Note), so that
// release finds in the log (Last) exactly what to restore, signed when the
// events are.
package contain

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/docker"
)

// Custody actions of containment.
const (
	ActionContained = "contained"
	ActionReleased  = "released"
)

// NoteFormat opens every containment note; a note without it is not one.
const NoteFormat = "dockcase-containment/v1"

// Steps of a containment note.
const (
	StepPlan = "plan" // recorded before acting: what is about to be done
	StepDone = "done" // recorded after: what was done, what failed
)

// Note is the JSON object that the note of a contained or released custody
// event holds (bundle/doc.go specifies it).
type Note struct {
	Format    string `json:"format"`
	Step      string `json:"step"`
	Container string `json:"container"` // full id
	Name      string `json:"name"`
	Reason    string `json:"reason,omitempty"`
	// Status is the container's state before the step acted: running,
	// paused, exited …
	Status string `json:"status"`
	// Networks is, for contained, every network the container was on
	// before containment (the state release restores); for released, the
	// endpoints release asks the engine for.
	Networks []docker.Endpoint `json:"networks,omitempty"`
	// Pause says that the step pauses (contained) or unpauses (released)
	// the container: will in a plan, did in a done note.
	Pause bool `json:"pause,omitempty"`
	// Changed names the networks left (contained) or joined (released):
	// to be in a plan, done in a done note.
	Changed []string `json:"changed,omitempty"`
	// Undoes is, for released, the seq of the contained event undone.
	Undoes int `json:"undoes,omitempty"`
	// Failed says what could not be done, with the engine's words.
	Failed []string `json:"failed,omitempty"`
	// Unrestored says, for released, what the engine would not give back
	// as it was (an address, a MAC, an alias).
	Unrestored []string `json:"unrestored,omitempty"`
}

// Encode returns the note as the custody event's note text.
func (n Note) Encode() string {
	n.Format = NoteFormat
	b, _ := json.Marshal(n) // strings, ints and bools only: cannot fail
	return string(b)
}

// ParseNote decodes a custody note; ok is false when it is not a
// containment note.
func ParseNote(s string) (n Note, ok bool) {
	if !strings.HasPrefix(s, `{"format":"`+NoteFormat+`"`) {
		return Note{}, false
	}
	if err := json.Unmarshal([]byte(s), &n); err != nil || n.Format != NoteFormat || n.Container == "" {
		return Note{}, false
	}
	return n, true
}

// minIDPrefix is the shortest id prefix Listed accepts: shorter ones match
// by accident.
const minIDPrefix = 4

// Listed finds the container arg names among those the bundle lists: by its
// full id, its name, or a unique id prefix of at least minIDPrefix
// characters, in that order (the engine's own order). byName says that it
// matched by name.
func Listed(list []docker.ContainerRef, arg string) (ref docker.ContainerRef, byName bool, err error) {
	name := strings.TrimPrefix(arg, "/")
	for _, c := range list {
		if c.ID == arg {
			return c, false, nil
		}
	}
	for _, c := range list {
		if c.Name == name {
			return c, true, nil
		}
	}
	var found []docker.ContainerRef
	if len(arg) >= minIDPrefix {
		for _, c := range list {
			if strings.HasPrefix(c.ID, arg) {
				found = append(found, c)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], false, nil
	case 0:
		return ref, false, fmt.Errorf("container %q is not in the bundle: contain acts only on a container the evidence is about (names and ids are in docker/containers.json)", arg)
	}
	return ref, false, fmt.Errorf("container id prefix %q is ambiguous in the bundle: %d containers", arg, len(found))
}

// Engine is what containment asks of the Docker engine; *docker.Client is
// one.
type Engine interface {
	State(ctx context.Context, ref string) (docker.ContainerState, error)
	Pause(ctx context.Context, id string) error
	Unpause(ctx context.Context, id string) error
	Disconnect(ctx context.Context, id string, ep docker.Endpoint) error
	Connect(ctx context.Context, id string, req docker.ConnectRequest) error
}

// Resolve returns the live state of the bundle's container ref, refusing
// when it is gone, or when arg matched by name and that name now belongs to
// another container: the responder must act on the container the evidence
// is about.
func Resolve(ctx context.Context, e Engine, ref docker.ContainerRef, arg string, byName bool) (docker.ContainerState, error) {
	if byName {
		now, err := e.State(ctx, strings.TrimPrefix(arg, "/"))
		switch {
		case err == nil && now.ID != ref.ID:
			return now, fmt.Errorf("container name %q is now container %s, not %s that the bundle holds: refused; give the id to act on the bundle's container", arg, docker.ShortID(now.ID), docker.ShortID(ref.ID))
		case err != nil && !docker.IsNotFound(err):
			return now, err
		}
	}
	st, err := e.State(ctx, ref.ID)
	if docker.IsNotFound(err) {
		return st, fmt.Errorf("container %q (%s) of the bundle is no longer on this engine", ref.Name, docker.ShortID(ref.ID))
	}
	return st, err
}

// Plan is what one contain or release will do to one container.
type Plan struct {
	// Before is the container's live state when planned.
	Before docker.ContainerState
	// Pause toggles the freeze: pause for contain, unpause for release.
	Pause bool
	// Networks are the endpoints to leave (contain) or to join (release).
	Networks []docker.Endpoint
	// Impossible says what was asked but cannot be done (a failure).
	Impossible []string
	// Notes say what was asked and need not be done (already paused …).
	Notes []string
	// Undoes is, for release, the contained event it undoes.
	Undoes Containment
}

// PlanContain plans the containment of a container: pause it when pause and
// it runs; disconnect it from every network when disconnect.
func PlanContain(st docker.ContainerState, pause, disconnect bool) Plan {
	p := Plan{Before: st}
	if pause {
		switch st.Status {
		case "running":
			p.Pause = true
		case "paused":
			p.Notes = append(p.Notes, "already paused")
		default:
			p.Notes = append(p.Notes, fmt.Sprintf("not running (%s): nothing to pause", st.Status))
		}
	}
	if !disconnect {
		return p
	}
	if mode := st.NetworkMode; strings.HasPrefix(mode, "container:") {
		p.Impossible = append(p.Impossible, fmt.Sprintf("cannot disconnect: the container shares the network namespace of %s (network mode %q): contain that container", strings.TrimPrefix(mode, "container:"), mode))
		return p
	}
	for _, ep := range st.Networks {
		switch ep.Network {
		case "host":
			p.Impossible = append(p.Impossible, "cannot disconnect from network host: the container uses the host's network stack")
		case "none":
		default:
			p.Networks = append(p.Networks, ep)
		}
	}
	if len(st.Networks) == 0 || (len(st.Networks) == 1 && st.Networks[0].Network == "none") {
		p.Notes = append(p.Notes, "on no network: nothing to disconnect")
	}
	return p
}

// PlanRelease plans the undoing of containment c on the container now in
// state st: rejoin the networks c left that it is not on, and unpause it
// when c paused it and it is still paused.
func PlanRelease(st docker.ContainerState, c Containment) Plan {
	p := Plan{Before: st, Undoes: c}
	on := map[string]bool{}
	for _, ep := range st.Networks {
		on[ep.Network] = true
	}
	for _, ep := range c.Note.Networks {
		if !slices.Contains(c.Note.Changed, ep.Network) {
			continue
		}
		if on[ep.Network] {
			p.Notes = append(p.Notes, fmt.Sprintf("already on network %q", ep.Network))
			continue
		}
		p.Networks = append(p.Networks, ep)
	}
	switch {
	case c.Note.Pause && st.Status == "paused":
		p.Pause = true
	case c.Note.Pause:
		p.Notes = append(p.Notes, fmt.Sprintf("not paused now (%s): nothing to unpause", st.Status))
	case st.Status == "paused":
		p.Notes = append(p.Notes, "paused, but not by this containment: left paused")
	}
	return p
}

// Containment is the last containment of a container in a custody log.
type Containment struct {
	// Seq is the event release undoes: the done event, or the plan event
	// when no done event followed it (the contain was interrupted).
	Seq         int
	Note        Note
	Interrupted bool
	// Fingerprint is the signer of that event; empty when unsigned.
	Fingerprint string
}

// Last finds the last containment of the container id in a checked custody
// log. It fails when there is none, or when a released event without
// failures already undid it.
func Last(recs []bundle.CustodyRecord, id string) (Containment, error) {
	var c Containment
	found := false
	for _, r := range recs {
		n, ok := ParseNote(r.Note)
		if !ok || n.Container != id {
			continue
		}
		switch {
		case r.Action == ActionContained && n.Step == StepPlan:
			c = Containment{Seq: r.Seq, Note: n, Interrupted: true, Fingerprint: r.Fingerprint}
			found = true
		case r.Action == ActionContained && n.Step == StepDone && found && c.Interrupted:
			c = Containment{Seq: r.Seq, Note: n, Fingerprint: r.Fingerprint}
		}
	}
	if !found {
		return c, fmt.Errorf("container %s has no contained event in the custody log: nothing to release", docker.ShortID(id))
	}
	for _, r := range recs {
		n, ok := ParseNote(r.Note)
		if ok && r.Seq > c.Seq && r.Action == ActionReleased && n.Step == StepDone && n.Container == id && n.Undoes == c.Seq && len(n.Failed) == 0 {
			return c, fmt.Errorf("container %s: its containment (custody event %d) was released by event %d already", docker.ShortID(id), c.Seq, r.Seq)
		}
	}
	return c, nil
}

// Recorder appends a custody event with the action and note, returning its
// seq. Containment never acts on a container whose plan it could not record.
type Recorder func(action string, n Note) (seq int, err error)

// Result is what one contain or release did to one container.
type Result struct {
	Plan             Plan
	PlanSeq, DoneSeq int
	// Paused says that it paused (contain) or unpaused (release).
	Paused bool
	// Changed names the networks left (contain) or joined (release).
	Changed    []string
	Failed     []string
	Unrestored []string
}

// OK reports that everything planned was done, and, for release, that the
// engine gave back every setting as it was.
func (r Result) OK() bool { return len(r.Failed) == 0 && len(r.Unrestored) == 0 }

// Did reports that something changed.
func (r Result) Did() bool { return r.Paused || len(r.Changed) > 0 }

// Contain records the plan, pauses the container (first: its processes
// cannot react to losing the network), disconnects it, and records what
// happened. The error is a recording error: the engine's refusals are in
// the result's Failed.
func Contain(ctx context.Context, e Engine, p Plan, reason string, rec Recorder) (Result, error) {
	res := Result{Plan: p}
	st := p.Before
	note := Note{Step: StepPlan, Container: st.ID, Name: st.Name, Reason: reason, Status: st.Status, Networks: st.Networks, Pause: p.Pause, Changed: names(p.Networks), Failed: p.Impossible}
	var err error
	if res.PlanSeq, err = rec(ActionContained, note); err != nil {
		return res, fmt.Errorf("record the containment plan of %s before acting: %w", docker.ShortID(st.ID), err)
	}
	res.Failed = append(res.Failed, p.Impossible...)
	if p.Pause {
		if err := e.Pause(ctx, st.ID); err != nil {
			res.Failed = append(res.Failed, err.Error())
		} else {
			res.Paused = true
		}
	}
	for _, ep := range p.Networks {
		if err := e.Disconnect(ctx, st.ID, ep); err != nil {
			res.Failed = append(res.Failed, err.Error())
			continue
		}
		res.Changed = append(res.Changed, ep.Network)
	}
	note.Step, note.Pause, note.Changed, note.Failed = StepDone, res.Paused, res.Changed, res.Failed
	if res.DoneSeq, err = rec(ActionContained, note); err != nil {
		return res, fmt.Errorf("record the containment of %s after acting: %w", docker.ShortID(st.ID), err)
	}
	return res, nil
}

// Release records the plan, reconnects the container to the networks it
// left, asking for the same static addresses, MAC and aliases (and with
// fewer of them when the engine refuses; an address the engine had chosen
// is left to it, as it was), unpauses it, and records what happened,
// what failed and what the engine did not restore as it was.
func Release(ctx context.Context, e Engine, p Plan, reason string, rec Recorder) (Result, error) {
	res := Result{Plan: p}
	st := p.Before
	note := Note{Step: StepPlan, Container: st.ID, Name: st.Name, Reason: reason, Status: st.Status, Networks: p.Networks, Pause: p.Pause, Changed: names(p.Networks), Undoes: p.Undoes.Seq}
	var err error
	if res.PlanSeq, err = rec(ActionReleased, note); err != nil {
		return res, fmt.Errorf("record the release plan of %s before acting: %w", docker.ShortID(st.ID), err)
	}
	for _, ep := range p.Networks {
		dropped, err := reconnect(ctx, e, st.ID, ep)
		if err != nil {
			res.Failed = append(res.Failed, err.Error())
			continue
		}
		res.Changed = append(res.Changed, ep.Network)
		res.Unrestored = append(res.Unrestored, dropped...)
	}
	if len(res.Changed) > 0 {
		if now, err := e.State(ctx, st.ID); err != nil {
			res.Unrestored = append(res.Unrestored, "could not inspect the container after reconnecting: "+err.Error())
		} else {
			res.Unrestored = append(res.Unrestored, Compare(p.Networks, now.Networks)...)
		}
	}
	if p.Pause {
		if err := e.Unpause(ctx, st.ID); err != nil {
			res.Failed = append(res.Failed, err.Error())
		} else {
			res.Paused = true
		}
	}
	note.Step, note.Pause, note.Changed, note.Failed, note.Unrestored = StepDone, res.Paused, res.Changed, res.Failed, res.Unrestored
	if res.DoneSeq, err = rec(ActionReleased, note); err != nil {
		return res, fmt.Errorf("record the release of %s after acting: %w", docker.ShortID(st.ID), err)
	}
	return res, nil
}

// connectAttempts are the requests reconnect tries in turn: everything, then
// without the static addresses (the default bridge takes none; another
// container may hold them now), without the MAC, without aliases and links.
var connectAttempts = []struct {
	addresses, mac, aliases bool
	drop                    string
}{
	{true, true, true, ""},
	{false, true, true, "addresses"},
	{false, false, true, "MAC"},
	{false, false, false, "aliases and links"},
}

// reconnect connects the container to ep's network, dropping settings the
// engine refuses; dropped says which, with the engine's refusal.
func reconnect(ctx context.Context, e Engine, id string, ep docker.Endpoint) (dropped []string, err error) {
	var refusals []string
	for _, a := range connectAttempts {
		req := docker.ConnectRequest{Endpoint: ep, WithAddresses: a.addresses, WithMAC: a.mac, WithAliases: a.aliases}
		if a.drop != "" {
			dropped = append(dropped, fmt.Sprintf("network %q: asked again without its %s: the engine refused them: %s", ep.Network, a.drop, refusals[len(refusals)-1]))
		}
		err = e.Connect(ctx, id, req)
		if err == nil {
			return dropped, nil
		}
		refusals = append(refusals, err.Error())
	}
	return nil, fmt.Errorf("reconnect to network %q: %s", ep.Network, strings.Join(refusals, "; "))
}

// Compare says how the endpoints now differ from those asked for: each
// address, MAC or alias not given back, and each network not joined.
func Compare(want, now []docker.Endpoint) []string {
	var out []string
	for _, w := range want {
		i := slices.IndexFunc(now, func(n docker.Endpoint) bool { return n.Network == w.Network })
		if i < 0 {
			out = append(out, fmt.Sprintf("network %q: not on it after reconnecting", w.Network))
			continue
		}
		n := now[i]
		diff := func(what, was, is string, static bool) {
			switch {
			case was == "" || was == is:
			case what == "MAC":
				out = append(out, fmt.Sprintf("network %q: MAC %s not restored (now %q)", w.Network, was, is))
			case static:
				out = append(out, fmt.Sprintf("network %q: static %s %s not restored (now %q)", w.Network, what, was, is))
			default:
				out = append(out, fmt.Sprintf("network %q: %s %s, which the engine had chosen, not restored: it chose %q", w.Network, what, was, is))
			}
		}
		diff("IPv4", w.IPv4, n.IPv4, w.StaticIPv4 != "")
		diff("IPv6", w.IPv6, n.IPv6, w.StaticIPv6 != "")
		diff("MAC", w.MAC, n.MAC, true)
		for _, a := range w.Aliases {
			if !slices.Contains(n.Aliases, a) {
				out = append(out, fmt.Sprintf("network %q: alias %q not restored", w.Network, a))
			}
		}
	}
	return out
}

func names(eps []docker.Endpoint) []string {
	var out []string
	for _, ep := range eps {
		out = append(out, ep.Network)
	}
	return out
}

// Empty reports that the plan changes nothing and refuses nothing.
func (p Plan) Empty() bool {
	return !p.Pause && len(p.Networks) == 0 && len(p.Impossible) == 0
}
