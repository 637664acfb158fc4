package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/docker"
	"github.com/dockcase/dockcase/collect/host"
)

// The capture window's engine events: the docker step reads the events up
// to the collection's start, so a container created and removed while the
// capture runs would have no events and no inspect in the bundle. While the
// capture runs the engine's events are streamed, and each container is
// inspected as it starts.

// Members of the capture window.
const (
	memberWindowEvents = "capture/docker-events.jsonl"
	memberWindowIndex  = "capture/containers/index.json"
)

// Bounds of the window's stream: a minute of a busy engine is a few
// hundred events of ~1 KiB; a container restarting in a loop, or an
// attacker creating containers to flood the stream, stops at these.
const (
	windowMaxEventBytes = 64 << 20
	windowMaxEvents     = 100_000
	// windowMaxContainers bounds the containers inspected in the window;
	// later ones are listed in the index as not inspected.
	windowMaxContainers = 1000
)

// windowStopWait bounds how long the capture's end waits for the stream
// and an inspect in flight once they were told to stop.
const windowStopWait = 2 * time.Second

// windowRun is the event stream running beside the capture.
type windowRun struct {
	c      *collector
	since  time.Time
	ref    string
	cancel context.CancelFunc
	done   chan struct{}

	// Set by the stream's goroutine, read after done.
	events *bundle.MemberWriter
	stats  docker.StreamStats
	err    error // the stream's: a gap

	mu    sync.Mutex
	seen  map[string]*WindowContainer
	order []string
	calls []bundle.Call
	errs  []error // writing members
}

// WindowContainer is one container of capture/containers/index.json: a
// container the window's events named, and what was got of it.
type WindowContainer struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Events are the container's actions in the window, in order.
	Events []string `json:"events"`
	// Inspect and NetNS are the members written, "" when not.
	Inspect string `json:"inspect,omitempty"`
	NetNS   string `json:"netns,omitempty"`
	// Missed says why the inspect or the namespace is not there (the
	// container was removed before the inspect, it had exited, the
	// capture ended first).
	Missed string `json:"missed,omitempty"`
}

// WindowIndex is capture/containers/index.json.
type WindowIndex struct {
	Since      time.Time          `json:"since"`
	Ended      time.Time          `json:"ended"`
	Events     int                `json:"events"`
	Bounded    bool               `json:"bounded,omitempty"`
	Error      string             `json:"error,omitempty"`
	Containers []*WindowContainer `json:"containers"`
}

// WindowLink is one link of a container's namespace in its netns.json.
type WindowLink struct {
	Name    string   `json:"name"`
	Index   int      `json:"ifindex"`
	Iflink  int      `json:"iflink,omitempty"` // a veth's peer ifindex in the host namespace
	Kind    string   `json:"kind,omitempty"`
	MAC     string   `json:"mac,omitempty"`
	Addrs   []string `json:"addrs"`
	NetNSID *int     `json:"link_netnsid,omitempty"`
}

// WindowNetNS is capture/containers/<id>/netns.json: what the host said of
// the container's network namespace right after its inspect.
type WindowNetNS struct {
	Taken      time.Time    `json:"taken"`
	PID        int          `json:"pid"`
	NetNSInode uint64       `json:"netns_inode,omitempty"`
	Links      []WindowLink `json:"links"`
	Error      string       `json:"error,omitempty"`
}

// startWindow starts streaming the engine's events from the collection's
// start (where docker/events.jsonl ends).
func (c *collector) startWindow(ctx context.Context) *windowRun {
	wr := &windowRun{c: c, since: c.started, done: make(chan struct{}), seen: map[string]*WindowContainer{}}
	wr.ref = "GET /events?since=" + docker.UnixTime(wr.since) + " (streamed until the capture ended)"
	ctx, wr.cancel = context.WithCancel(ctx)
	go func() {
		defer close(wr.done)
		wr.run(ctx)
	}()
	return wr
}

func (wr *windowRun) call(kind, ref string, err error) {
	cl := bundle.Call{Kind: kind, Ref: ref}
	if err != nil {
		cl.Error = err.Error()
	}
	wr.mu.Lock()
	wr.calls = append(wr.calls, cl)
	wr.mu.Unlock()
}

func (wr *windowRun) run(ctx context.Context) {
	d, err := docker.Dial(ctx, wr.c.opts.DockerHost)
	wr.call("api", "GET /_ping", err)
	if err != nil {
		if ctx.Err() == nil {
			wr.err = fmt.Errorf("docker unreachable: %w", err)
		}
		return
	}
	defer d.Close()
	mw, err := wr.c.w.Create(memberWindowEvents, bundle.MemberInfo{Step: "capture", Source: bundle.Source{Kind: "api", Ref: wr.ref}})
	if err != nil {
		wr.err = err
		return
	}
	wr.events = mw
	wr.stats, wr.err = d.StreamEvents(ctx, wr.since, mw, docker.StreamLimits{MaxBytes: windowMaxEventBytes, MaxLines: windowMaxEvents},
		func(line []byte) { wr.event(ctx, d, line) })
	wr.call("api", wr.ref, wr.err)
}

// windowEvent holds the fields of an event the window acts on.
type windowEvent struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
}

// event notes a container's event and inspects it when it starts.
func (wr *windowRun) event(ctx context.Context, d *docker.Client, line []byte) {
	var e windowEvent
	if json.Unmarshal(line, &e) != nil || e.Type != "container" || !docker.IsContainerID(e.Actor.ID) {
		return
	}
	wr.mu.Lock()
	wc := wr.seen[e.Actor.ID]
	if wc == nil {
		wc = &WindowContainer{ID: e.Actor.ID}
		wr.seen[e.Actor.ID] = wc
		wr.order = append(wr.order, e.Actor.ID)
	}
	if n := e.Actor.Attributes["name"]; n != "" {
		wc.Name = n
	}
	wc.Events = append(wc.Events, e.Action)
	inspect := e.Action == "start" && wc.Inspect == "" && wc.Missed == "" && len(wr.order) <= windowMaxContainers
	if e.Action == "start" && len(wr.order) > windowMaxContainers {
		wc.Missed = fmt.Sprintf("not inspected: more than %d containers in the window", windowMaxContainers)
	}
	wr.mu.Unlock()
	if inspect {
		wr.inspect(ctx, d, wc)
	}
}

// inspect writes the container's inspect and its namespace's links, at
// once: a container of the window may be gone a moment later.
func (wr *windowRun) inspect(ctx context.Context, d *docker.Client, wc *WindowContainer) {
	dir := "capture/containers/" + wc.ID + "/"
	ref := "GET /containers/" + wc.ID + "/json"
	b, err := d.InspectContainer(ctx, wc.ID)
	wr.call("api", ref, err)
	var missed string
	switch {
	case docker.IsNotFound(err):
		missed = "removed before it could be inspected"
	case err != nil && ctx.Err() != nil:
		missed = "the capture ended before the inspect"
	case err != nil:
		missed = "inspect failed: " + err.Error()
	}
	if missed != "" {
		wr.mu.Lock()
		wc.Missed = missed
		wr.mu.Unlock()
		return
	}
	if err := wr.c.w.Add(dir+"inspect.json", bundle.MemberInfo{Step: "capture", Source: bundle.Source{Kind: "api", Ref: ref}}, b); err != nil {
		wr.keep(err)
		return
	}
	var f struct {
		State struct {
			Pid int `json:"Pid"`
		} `json:"State"`
		HostConfig struct {
			NetworkMode string `json:"NetworkMode"`
		} `json:"HostConfig"`
	}
	json.Unmarshal(b, &f) // the engine's own JSON; Get checked it is valid
	ns := windowNetNS(wc.ID, f.State.Pid, f.HostConfig.NetworkMode == "host")
	wr.call("netlink", fmt.Sprintf("RTM_GETLINK, RTM_GETADDR in the net namespace of pid %d", f.State.Pid), errorOf(ns.Error))
	if err := wr.c.w.AddJSON(dir+"netns.json", bundle.MemberInfo{Step: "capture",
		Source: bundle.Source{Kind: "netlink", Ref: "/proc/" + strconv.Itoa(f.State.Pid) + "/ns/net"}}, ns); err != nil {
		wr.keep(err)
	}
	wr.mu.Lock()
	wc.Inspect, wc.NetNS = dir+"inspect.json", dir+"netns.json"
	if ns.Error != "" {
		wc.Missed = "namespace: " + ns.Error
	}
	wr.mu.Unlock()
}

func errorOf(s string) error {
	if s == "" {
		return nil
	}
	return errors.New(s)
}

// windowNetNS reads the links of the namespace of the container's process.
// A PID that a process of another container holds by then (the container
// exited and the number was reused) is an error, not its namespace. A
// container in the host's namespace has its inode only: the host's links
// are the snapshot's.
func windowNetNS(id string, pid int, hostMode bool) WindowNetNS {
	ns := WindowNetNS{PID: pid, Links: []WindowLink{}}
	defer func() { ns.Taken = ns.Taken.UTC() }()
	ns.Taken = time.Now()
	if pid <= 0 {
		ns.Error = "the container had no process when inspected (exited)"
		return ns
	}
	if hostMode {
		ino, err := host.NetNSInode(pid)
		ns.NetNSInode = ino
		if err != nil {
			ns.Error = err.Error()
		}
		return ns
	}
	n, err := host.ReadNetNS(pid)
	ns.NetNSInode = n.Inode
	if cg, cerr := host.ReadProcFile("/proc/"+strconv.Itoa(pid)+"/cgroup", 64<<10); cerr == nil {
		if got := host.ContainerIDFromCgroup(string(cg)); got != "" && got != id {
			ns.NetNSInode, ns.Error = 0, fmt.Sprintf("pid %d is now a process of container %s", pid, docker.ShortID(got))
			return ns
		}
	}
	addrs := map[int][]string{}
	for _, a := range n.Addrs {
		addrs[a.Index] = append(addrs[a.Index], a.CIDR)
	}
	for _, l := range n.Links {
		wl := WindowLink{Name: l.Name, Index: l.Index, Iflink: l.ParentIndex, Kind: l.Kind, MAC: l.MAC, Addrs: addrs[l.Index], NetNSID: l.LinkNetNSID}
		if wl.Addrs == nil {
			wl.Addrs = []string{}
		}
		ns.Links = append(ns.Links, wl)
	}
	if err != nil {
		if host.IsGone(err) && len(n.Links) == 0 {
			ns.Error = "the container's process exited before its namespace was read"
		} else {
			ns.Error = err.Error()
		}
	}
	return ns
}

func (wr *windowRun) keep(err error) {
	wr.mu.Lock()
	wr.errs = append(wr.errs, err)
	wr.mu.Unlock()
}

// stop ends the stream (waiting at most windowStopWait), closes its member
// and writes the index. It returns the calls made and what went wrong;
// the stream's failure is the error, a gap of the capture step.
func (wr *windowRun) stop() (calls []bundle.Call, detail map[string]any, err error) {
	wr.cancel()
	select {
	case <-wr.done:
	case <-time.After(windowStopWait):
		// A call stuck in the engine: the stream's goroutine ends with the
		// collection; what it writes after this moment is not recorded.
		return wr.snapshotCalls(), map[string]any{"window_events": "stream did not stop in time"},
			fmt.Errorf("docker events stream: did not stop within %s of the capture's end", windowStopWait)
	}
	var errs []error
	if wr.err != nil {
		errs = append(errs, fmt.Errorf("docker events in the capture window: %w", wr.err))
	}
	if wr.events != nil {
		var cerr error
		switch {
		case wr.err != nil:
			cerr = wr.events.Abort(wr.err.Error())
		case wr.stats.Bounded:
			cerr = wr.events.Abort(fmt.Sprintf("stopped at the bound of %d events or %d bytes; later events not read", windowMaxEvents, windowMaxEventBytes))
		default:
			cerr = wr.events.Close()
		}
		if cerr != nil {
			errs = append(errs, cerr)
		}
	}
	idx := WindowIndex{Since: wr.since.UTC(), Ended: time.Now().UTC(), Events: wr.stats.Lines, Bounded: wr.stats.Bounded, Containers: []*WindowContainer{}}
	if wr.err != nil {
		idx.Error = wr.err.Error()
	}
	inspected := 0
	for _, id := range wr.order {
		wc := wr.seen[id]
		if wc.Inspect != "" {
			inspected++
		}
		idx.Containers = append(idx.Containers, wc)
	}
	if wr.events != nil || len(idx.Containers) > 0 {
		if err := wr.c.w.AddJSON(memberWindowIndex, bundle.MemberInfo{Step: "capture",
			Source: bundle.Source{Kind: "collector", Ref: "containers named by the window's events"}}, idx); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, wr.errs...)
	detail = map[string]any{"window_events": wr.stats.Lines, "window_containers": len(idx.Containers), "window_inspected": inspected}
	return wr.snapshotCalls(), detail, errors.Join(errs...)
}

func (wr *windowRun) snapshotCalls() []bundle.Call {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return append([]bundle.Call(nil), wr.calls...)
}

// stopWindow stops the capture's event stream and keeps its calls for the
// capture's custody record.
func (c *collector) stopWindow(run *captureRun) error {
	if run.window == nil {
		return nil
	}
	var err error
	run.windowCalls, run.windowDetail, err = run.window.stop()
	run.window = nil
	return err
}
