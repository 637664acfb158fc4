package collect

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/docker"
	"github.com/dockcase/dockcase/collect/host"
)

// Members of the engine: which one it is, and Podman's own view of itself
// and of its networks, which its Docker-compatible answers leave out.
const (
	memberEngine         = "docker/engine.json"
	memberPodmanInfo     = "podman/info.json"
	memberPodmanNetworks = "podman/networks.json"
)

// topSourceHostProc is the source of a top.json read from the host's /proc
// rather than asked of the engine.
const topSourceHostProc = "/proc of the host: the processes whose cgroup is the container's, as read by the processes step"

// engine reads the engine's version answer, says which engine it is
// (docker/engine.json) and, on Podman, adds its info and network list.
func (c *collector) engine(ctx context.Context, s *step, d *docker.Client) docker.Engine {
	e, raw, err := d.Engine(ctx)
	s.call("api", "GET /version", err)
	if raw != nil {
		s.keep(s.add("docker/version.json", bundle.Source{Kind: "api", Ref: "GET /version"}, raw, ""))
	}
	if err != nil {
		s.keep(fmt.Errorf("GET /version: %w", err))
		return docker.Engine{}
	}
	s.keep(s.addJSON(memberEngine, bundle.Source{Kind: "api", Ref: "GET /version"}, e))
	if !e.IsPodman() {
		return e
	}
	for _, m := range []struct {
		member, ref string
		get         func(context.Context) ([]byte, error)
	}{
		{memberPodmanInfo, "GET /libpod/info", d.LibpodInfo},
		{memberPodmanNetworks, "GET /libpod/networks/json", d.LibpodNetworks},
	} {
		b, err := m.get(ctx)
		s.call("api", m.ref, err)
		if err != nil {
			s.keep(fmt.Errorf("%s: %w", m.ref, err))
			continue
		}
		s.keep(s.add(m.member, bundle.Source{Kind: "api", Ref: m.ref}, b, ""))
	}
	return e
}

// hostTop is a container's process list in the shape of the engine's top
// answer (Titles, Processes), made from the host's /proc as the processes
// step read it. On Podman the engine's top runs ps inside the container,
// the suspect's own binary, which a collector must never do.
func hostTop(procs []host.Process, id string) ([]byte, error) {
	top := struct {
		Titles    []string   `json:"Titles"`
		Processes [][]string `json:"Processes"`
	}{Titles: []string{"UID", "PID", "PPID", "STIME", "COMM", "CMD"}, Processes: [][]string{}}
	for _, p := range procs {
		if p.ContainerID != id {
			continue
		}
		cmd := strings.Join(p.Cmdline, " ")
		if cmd == "" {
			cmd = "[" + p.Comm + "]"
		}
		top.Processes = append(top.Processes, []string{
			strconv.Itoa(p.UID), strconv.Itoa(p.PID), strconv.Itoa(p.PPID),
			p.StartTime.UTC().Format(time.RFC3339), p.Comm, cmd,
		})
	}
	return json.Marshal(top)
}

// activity is what a container's inspect says happened to it, for telling
// an empty events answer from a quiet host.
type activity struct {
	Created time.Time `json:"Created"`
	State   struct {
		StartedAt  time.Time `json:"StartedAt"`
		FinishedAt time.Time `json:"FinishedAt"`
	} `json:"State"`
}

// activityIn returns how many of the inspected containers were created,
// started or stopped between since and until.
func activityIn(inspects [][]byte, since, until time.Time) int {
	n := 0
	in := func(t time.Time) bool { return !t.IsZero() && !t.Before(since) && !t.After(until) }
	for _, b := range inspects {
		var a activity
		if json.Unmarshal(b, &a) != nil {
			continue
		}
		if in(a.Created) || in(a.State.StartedAt) || in(a.State.FinishedAt) {
			n++
		}
	}
	return n
}
