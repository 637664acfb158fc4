// Package timeline builds the case timeline of one host, in UTC: container
// lifecycle, engine events, process starts, committed files, traffic,
// collection and containment steps and the custody sidecar, each event
// citing its evidence and tagged with the findings that cite the same; and
// writes it as Timesketch JSONL or CSV.
package timeline

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/layer"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/internal/indicator"
)

// Kinds of events (Timesketch's timestamp_desc).
const (
	ContainerCreated  = "Container created"
	ContainerStarted  = "Container started"
	ContainerFinished = "Container finished"
	EngineEvent       = "Docker engine event"
	ProcessStart      = "Process start"
	FileModified      = "File modified"
	FlowFirst         = "First packet"
	FlowLast          = "Last packet"
	// ConversationSeen is a conversation no packet dates: a socket or a
	// conntrack entry, at its estimated time (the message says how).
	ConversationSeen = "Conversation seen"
	DNSQuery         = "DNS answer"
	CollectionStep   = "Collection step"
	Containment      = "Containment"
	Custody          = "Custody"
	HostClock        = "Host clock reading"
)

// Event is one event of the case timeline, in UTC, with its
// source.
type Event struct {
	Time time.Time `json:"time"`
	// Kind says what the time is (Timesketch's timestamp_desc).
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// Source names where the event comes from: "inspect", "docker events",
	// "processes", "committed layer", "capture", "custody log", …
	Source        string `json:"source"`
	Container     string `json:"container,omitempty"`
	ContainerName string `json:"container_name,omitempty"`
	// Evidence cites the member; nil for the custody sidecar, which is
	// outside the signed bundle.
	Evidence *model.Evidence `json:"evidence,omitempty"`
	// Attrs are further attributes (pid, path, sha256, step status…),
	// exported as Timesketch attributes and CSV columns' "attributes".
	Attrs map[string]string `json:"attributes,omitempty"`
	// Tags are the ids of the findings whose evidence is this event's
	// (Timesketch's "tag").
	Tags []string `json:"tags,omitempty"`
}

// Input is what Build gets from the other stages and the caller.
type Input struct {
	// Flows and DNS add traffic events, when the captures gave them.
	Flows []triage.FlowSummary
	DNS   []triage.DNSName
	// IOCs mark the flows and lookups that contacted an indicator; nil
	// marks none.
	IOCs *indicator.Set
	// BundleSHA256 is the bundle file's hash, to check the custody
	// sidecar's chain; "" hashes the file.
	BundleSHA256 string
	// Layers are the committed layers when the caller has read them
	// already (triage.CommittedLayers); nil reads them from the bundle.
	Layers map[string]*layer.Layer
	// Findings tag the events that are their evidence.
	Findings []triage.Finding
	// NoSidecar leaves out the custody sidecar (<bundle>.custody.jsonl).
	NoSidecar bool
}

const (
	// maxActionsJSONBytes bounds containment/actions.json: two actions per
	// container.
	maxActionsJSONBytes = 16 << 20
	// maxTimelineProcesses bounds the process start events: a host with
	// more processes than this lists the containers' first.
	maxTimelineProcesses = 100_000
	memberActions        = "containment/actions.json"
)

// ClockNote describes the host clock as the bundle recorded it, when that
// matters for reading the times: a clock not synchronised by NTP (adjtimex
// said so), with its offset and estimated error. It is "" for a
// synchronised clock or a bundle without host/clock.json.
func ClockNote(h *model.Host) string {
	d := h.Clock
	if d == nil || d.NTP == nil || d.NTP.Synchronized {
		return ""
	}
	return fmt.Sprintf("host clock NOT synchronised at collection (adjtimex %s, %s): host times may be off; kernel offset %s, estimated error ±%s, maximum error ±%s; compare with the collector's wall clock %s",
		d.NTP.State, strings.Join(d.NTP.StatusFlags, ","), time.Duration(d.NTP.OffsetNS), time.Duration(d.NTP.EstErrorUS)*time.Microsecond,
		time.Duration(d.NTP.MaxErrorUS)*time.Microsecond, d.Wall.UTC().Format(time.RFC3339Nano))
}

// Build builds the case timeline: container lifecycle (inspect and
// engine events), process starts, file modification times of the committed
// layers, traffic when given, every collection and containment step, and
// the custody sidecar next to the bundle file. Events are sorted by time
// (stable: same-time events keep the order of their sources).
func Build(h *model.Host, in Input) []Event {
	evs := build(h, in)
	if !in.NoSidecar && h.BundlePath != "" {
		evs = append(evs, sidecarEvents(h.BundlePath, in.BundleSHA256)...)
		sortEvents(evs)
	}
	return evs
}

func sortEvents(evs []Event) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
}

func build(h *model.Host, in Input) []Event {
	var evs []Event
	add := func(e Event) {
		if e.Time.IsZero() {
			return
		}
		e.Time = e.Time.UTC()
		evs = append(evs, e)
	}
	ev := func(e model.Evidence) *model.Evidence { return &e }

	// Containers, from inspect.
	for _, c := range h.Containers {
		m := "docker/containers/" + c.ID + "/inspect.json"
		base := Event{Source: "inspect", Container: c.ID, ContainerName: c.Name}
		for _, x := range []struct {
			at        time.Time
			kind, ptr string
		}{
			{c.Created, ContainerCreated, "/Created"},
			{c.StartedAt, ContainerStarted, "/State/StartedAt"},
			{c.FinishedAt, ContainerFinished, "/State/FinishedAt"},
		} {
			e := base
			e.Time, e.Kind = x.at, x.kind
			e.Message = fmt.Sprintf("%s %s (%s, image %s)", strings.ToLower(x.kind), c.Name, model.ShortID(c.ID), c.Image)
			e.Evidence = ev(memberEvidence(h, m, x.ptr))
			add(e)
		}
	}
	evs = append(evs, engineEvents(h)...)

	// Processes.
	names := map[string]string{}
	for _, c := range h.Containers {
		names[c.ID] = c.Name
	}
	procs := make([]*model.HostProcess, 0, len(h.Processes))
	for i := range h.Processes {
		procs = append(procs, &h.Processes[i])
	}
	sort.SliceStable(procs, func(i, j int) bool { return procs[i].ContainerID != "" && procs[j].ContainerID == "" })
	if len(procs) > maxTimelineProcesses {
		procs = procs[:maxTimelineProcesses]
	}
	for _, p := range procs {
		cmd := strings.Join(p.Cmdline, " ")
		if cmd == "" && p.Exe == "" && p.ContainerID == "" && (p.PID == 2 || p.PPID == 2) {
			continue // a kernel thread: started at boot or by the kernel, noise in a case timeline
		}
		if cmd == "" {
			cmd = "[" + p.Comm + "]"
		}
		where := "host"
		if p.ContainerID != "" {
			where = "container " + names[p.ContainerID]
		}
		e := Event{Time: p.StartTime, Kind: ProcessStart, Source: "processes", Container: p.ContainerID, ContainerName: names[p.ContainerID],
			Message:  fmt.Sprintf("process %d started in %s: %s", p.PID, where, truncateText(triage.RedactSecrets(cmd), 512)),
			Evidence: ev(p.Evidence), Attrs: map[string]string{"pid": strconv.Itoa(p.PID), "ppid": strconv.Itoa(p.PPID), "exe": p.Exe}}
		add(e)
	}

	// Files of the committed layers.
	layers := in.Layers
	if layers == nil {
		layers, _ = triage.CommittedLayers(h)
	}
	for _, l := range triage.ChangedFiles(layers) {
		for i := range l.Files {
			f := &l.Files[i]
			if f.Type == layer.Dir || f.Type == layer.Opaque {
				continue
			}
			e := Event{Time: f.ModTime, Kind: FileModified, Source: "committed layer", Container: l.Container, ContainerName: names[l.Container],
				Message:  fmt.Sprintf("%s %s in %s (%s, %d bytes)", map[bool]string{true: "deleted", false: "modified"}[f.Type == layer.Whiteout], f.Path, names[l.Container], f.ModeText, f.Size),
				Evidence: ev(triage.LayerEvidence(l, f)), Attrs: map[string]string{"path": f.Path, "size": strconv.FormatInt(f.Size, 10), "mode": f.ModeText, "sha256": f.SHA256, "type": f.Type}}
			add(e)
		}
	}

	// Traffic: one conversation each, its first packet and its last if
	// later (or, when no packet dates it, when it was seen).
	for _, f := range in.Flows {
		var e0 *model.Evidence
		if len(f.Evidence) > 0 {
			e0 = ev(f.Evidence[0])
		}
		attrs := map[string]string{"proto": f.Proto, "remote": f.Remote.String(), "remote_port": strconv.Itoa(int(f.RemotePort)), "packets": strconv.FormatInt(f.Packets, 10), "bytes": strconv.FormatInt(f.Bytes, 10)}
		who := names[f.Container]
		if who == "" {
			who = model.ShortID(f.Container)
		}
		if v, ok := triage.MatchAddr(in.IOCs, f.Remote); ok {
			attrs["ioc"] = v
			who = "IOC contact " + v + ": " + who
		}
		if f.Estimated {
			attrs["dating"] = f.Dating
			delete(attrs, "packets")
			delete(attrs, "bytes")
			src := "sockets/conntrack"
			if e0 != nil {
				src = e0.Member
			}
			add(Event{Time: f.First, Kind: ConversationSeen, Source: src, Container: f.Container, ContainerName: names[f.Container],
				Message: fmt.Sprintf("conversation %s %s → %s:%d (%s)", f.Proto, who, f.Remote, f.RemotePort, truncateText(f.Dating, 200)), Evidence: e0, Attrs: attrs})
			continue
		}
		add(Event{Time: f.First, Kind: FlowFirst, Source: "capture", Container: f.Container, ContainerName: names[f.Container],
			Message: fmt.Sprintf("first packet %s %s → %s:%d", f.Proto, who, f.Remote, f.RemotePort), Evidence: e0, Attrs: attrs})
		if !f.Last.After(f.First) {
			continue
		}
		eLast := e0
		if len(f.Evidence) > 1 {
			eLast = ev(f.Evidence[len(f.Evidence)-1])
		}
		add(Event{Time: f.Last, Kind: FlowLast, Source: "capture", Container: f.Container, ContainerName: names[f.Container],
			Message: fmt.Sprintf("last packet %s %s → %s:%d", f.Proto, who, f.Remote, f.RemotePort), Evidence: eLast, Attrs: attrs})
	}
	for _, d := range in.DNS {
		var e0 *model.Evidence
		if len(d.Evidence) > 0 {
			e0 = ev(d.Evidence[0])
		}
		attrs := map[string]string{"query": d.Name}
		msg := fmt.Sprintf("DNS %s → %s", d.Name, strings.Join(d.Answers, ", "))
		if v, ok := triage.MatchName(in.IOCs, d.Name); ok {
			attrs["ioc"] = v
			msg = "IOC contact " + v + ": " + msg
		}
		add(Event{Time: d.Time, Kind: DNSQuery, Source: "capture", Container: d.Container, ContainerName: names[d.Container],
			Message: msg, Evidence: e0, Attrs: attrs})
	}

	// Collection steps, containment, the clock.
	for i, s := range h.Steps {
		msg := fmt.Sprintf("collection step %s: %s", s.Name, s.Status)
		if s.Error != "" {
			msg += ": " + truncateText(s.Error, 300)
		}
		attrs := map[string]string{"step": s.Name, "status": s.Status, "ended": s.Ended.UTC().Format(time.RFC3339Nano), "members": strings.Join(s.Members, " ")}
		add(Event{Time: s.Started, Kind: CollectionStep, Source: "custody log", Message: msg,
			Evidence: &model.Evidence{Member: bundle.CustodyName, Line: i + 1}, Attrs: attrs})
	}
	if data, err := h.Source().ReadMember(memberActions, maxActionsJSONBytes); err == nil {
		var acts []struct {
			Time      time.Time `json:"time"`
			Action    string    `json:"action"`
			Container string    `json:"container"`
			Name      string    `json:"name"`
			Networks  []string  `json:"networks"`
			Error     string    `json:"error"`
		}
		if json.Unmarshal(data, &acts) == nil {
			for i, a := range acts {
				msg := fmt.Sprintf("containment: %s %s", a.Action, a.Name)
				if len(a.Networks) > 0 {
					msg += " from " + strings.Join(a.Networks, ", ")
				}
				if a.Error != "" {
					msg += " FAILED: " + truncateText(a.Error, 300)
				}
				add(Event{Time: a.Time, Kind: Containment, Source: "containment", Container: a.Container, ContainerName: a.Name, Message: msg,
					Evidence: ev(memberEvidence(h, memberActions, "/"+strconv.Itoa(i)))})
			}
		}
	}
	if d := h.Clock; d != nil {
		msg := "host clock read by the collector"
		if note := ClockNote(h); note != "" {
			msg += ": " + note
		} else if d.NTP != nil {
			msg += ": synchronised (NTP)"
		}
		e := Event{Time: d.Wall, Kind: HostClock, Source: "clock", Message: msg, Evidence: ev(memberEvidence(h, model.MemberClock, "/wall"))}
		if d.NTP != nil {
			e.Attrs = map[string]string{"ntp_synchronized": strconv.FormatBool(d.NTP.Synchronized), "offset_ns": strconv.FormatInt(d.NTP.OffsetNS, 10),
				"est_error_us": strconv.FormatInt(d.NTP.EstErrorUS, 10)}
		}
		add(e)
	}
	tagEvents(evs, in.Findings)
	sortEvents(evs)
	if evs == nil {
		evs = []Event{}
	}
	return evs
}

// tagEvents tags each event with the ids of the findings that cite the
// same evidence (member and pointer, or member and layer entry).
func tagEvents(evs []Event, fs []triage.Finding) {
	key := func(e model.Evidence) string {
		if e.Pointer == "" && e.Line == 0 {
			// A layer entry: "layer L entry E", which a finding may follow
			// with ": " and details.
			text, _, _ := strings.Cut(e.Text, ": ")
			return e.Member + "\x00" + text
		}
		return fmt.Sprintf("%s\x00%s\x00%d", e.Member, e.Pointer, e.Line)
	}
	ids := map[string][]string{}
	for _, f := range fs {
		for _, e := range f.Evidence {
			k := key(e)
			if !slices.Contains(ids[k], f.ID) {
				ids[k] = append(ids[k], f.ID)
			}
		}
	}
	for i := range evs {
		if e := evs[i].Evidence; e != nil {
			for _, id := range ids[key(*e)] {
				if !slices.Contains(evs[i].Tags, id) {
					evs[i].Tags = append(evs[i].Tags, id)
				}
			}
			sort.Strings(evs[i].Tags)
		}
	}
}

// engineEvents turns docker/events.jsonl into timeline events: every
// container, network, image and volume event, not only the ones the model
// keeps for address ownership.
func engineEvents(h *model.Host) []Event {
	names := map[string]string{}
	for _, c := range h.Containers {
		names[c.ID] = c.Name
	}
	sha := map[string]string{}
	var out []Event
	for _, d := range h.EngineEvents {
		at := d.Time
		member := cmp.Or(d.Member, model.MemberEvents)
		if _, ok := sha[member]; !ok {
			sha[member] = h.MemberSHA256(member)
		}
		e := Event{Time: at, Kind: EngineEvent, Source: "docker events",
			Evidence: &model.Evidence{Member: member, SHA256: sha[member], Line: d.Line, Text: d.Type + " " + d.Action}, Attrs: map[string]string{"type": d.Type, "action": d.Action}}
		name := d.Attributes["name"]
		switch d.Type {
		case "container":
			e.Container = d.Actor
			e.ContainerName = name
			e.Message = fmt.Sprintf("container %s %s (%s)", d.Action, name, model.ShortID(d.Actor))
			if img := d.Attributes["image"]; img != "" {
				e.Attrs["image"] = img
			}
			if code := d.Attributes["exitCode"]; code != "" {
				e.Attrs["exit_code"] = code
				e.Message += " exit code " + code
			}
		case "network":
			e.Container = d.Attributes["container"]
			e.ContainerName = names[e.Container]
			if e.Container != "" {
				cn := e.ContainerName
				if cn == "" {
					cn = model.ShortID(e.Container)
				}
				e.Message = fmt.Sprintf("network %s: container %s %s network %s", d.Action, cn, map[bool]string{true: "left", false: "joined"}[d.Action == "disconnect"], name)
			} else {
				e.Message = fmt.Sprintf("network %s %s (%s)", d.Action, name, model.ShortID(d.Actor))
			}
		default:
			e.Message = fmt.Sprintf("%s %s %s", d.Type, d.Action, name)
		}
		if len(e.Message) > 600 {
			e.Message = truncateText(e.Message, 600)
		}
		out = append(out, e)
	}
	return out
}

// memberEvidence cites a member of the bundle at a JSON pointer.
func memberEvidence(h *model.Host, member, pointer string) model.Evidence {
	return model.Evidence{Member: member, SHA256: h.MemberSHA256(member), Pointer: pointer}
}

// truncateText cuts s to n bytes, marking the cut.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// maxSidecarBytes bounds the custody sidecar; the bundle package bounds it
// again.
const maxSidecarBytes = 16 << 20

// sidecarEvents reads the custody sidecar next to the bundle file: who
// collected, copied, verified it and when. The sidecar is not signed; each
// event says whether its chain checked.
func sidecarEvents(bundlePath, sum string) []Event {
	p := bundle.CustodyPath(bundlePath)
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	if sum == "" {
		if sum, err = bundle.FileSHA256(bundlePath); err != nil {
			return nil
		}
	}
	events, cerr := bundle.CheckCustody(io.LimitReader(f, maxSidecarBytes), sum)
	status := "chain verified"
	if cerr != nil {
		status = "CHAIN BROKEN: " + cerr.Error()
	}
	var out []Event
	for _, c := range events {
		msg := fmt.Sprintf("custody: %s by %s", c.Action, c.By)
		if c.Where != "" {
			msg += " at " + c.Where
		}
		if c.Note != "" {
			msg += ": " + truncateText(c.Note, 300)
		}
		out = append(out, Event{Time: c.Time.UTC(), Kind: Custody, Source: "custody sidecar", Message: msg,
			Attrs: map[string]string{"seq": strconv.Itoa(c.Seq), "custody": status, "file": filepath.Base(p)}})
	}
	return out
}

// timesketchRecord is one Timesketch JSONL line of an event.
func timesketchRecord(e Event) map[string]any {
	r := map[string]any{
		"message":        e.Message,
		"datetime":       e.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		"timestamp":      e.Time.UnixMicro(),
		"timestamp_desc": e.Kind,
		"source":         e.Source,
		"data_type":      "dockcase:" + strings.ReplaceAll(strings.ToLower(e.Kind), " ", "_"),
	}
	if e.Container != "" {
		r["container_id"] = e.Container
	}
	if e.ContainerName != "" {
		r["container_name"] = e.ContainerName
	}
	if e.Evidence != nil {
		r["evidence_member"] = e.Evidence.Member
		if e.Evidence.SHA256 != "" {
			r["evidence_sha256"] = e.Evidence.SHA256
		}
		if e.Evidence.Pointer != "" {
			r["evidence_pointer"] = e.Evidence.Pointer
		}
		if e.Evidence.Line != 0 {
			r["evidence_line"] = e.Evidence.Line
		}
	}
	for k, v := range e.Attrs {
		if _, taken := r[k]; !taken && v != "" {
			r[k] = v
		}
	}
	if len(e.Tags) > 0 {
		r["tag"] = e.Tags
	}
	return r
}

// WriteTimesketch writes the timeline as Timesketch JSONL: one JSON object
// a line with message, datetime (ISO 8601, UTC), timestamp (µs),
// timestamp_desc, and the event's attributes.
func WriteTimesketch(w io.Writer, evs []Event) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range evs {
		if err := enc.Encode(timesketchRecord(e)); err != nil {
			return fmt.Errorf("write timesketch line: %w", err)
		}
	}
	return nil
}

// csvSafe defuses cells a spreadsheet would take for a formula: the text
// comes from the evidence and may be the attacker's.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Record is the event as a row of WriteCSV, in its columns (datetime,
// timestamp_desc, message, source, container, evidence, attributes as
// sorted key=value pairs, tags), before the CSV's own quoting.
func Record(e Event) []string {
	var member, sha, ptr, line string
	if e.Evidence != nil {
		member, sha, ptr = e.Evidence.Member, e.Evidence.SHA256, e.Evidence.Pointer
		if e.Evidence.Line != 0 {
			line = strconv.Itoa(e.Evidence.Line)
		}
	}
	keys := make([]string, 0, len(e.Attrs))
	for k := range e.Attrs {
		if e.Attrs[k] != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var attrs []string
	for _, k := range keys {
		attrs = append(attrs, k+"="+e.Attrs[k])
	}
	return []string{e.Time.UTC().Format(time.RFC3339Nano), e.Kind, e.Message, e.Source, e.Container, e.ContainerName, member, sha, ptr, line, strings.Join(attrs, "; "), strings.Join(e.Tags, " ")}
}

// WriteCSV writes the timeline as CSV with a header row.
func WriteCSV(w io.Writer, evs []Event) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"datetime", "timestamp_desc", "message", "source", "container_id", "container_name", "evidence_member", "evidence_sha256", "evidence_pointer", "evidence_line", "attributes", "tags"}); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, e := range evs {
		rec := Record(e)
		for i := range rec {
			rec[i] = csvSafe(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
