package collect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/docker"
)

// Resource usage: docker stats of every running container, twice.

// Moments of a stats sample.
const (
	// StatsAtSnapshot is the sample the docker step takes.
	StatsAtSnapshot = "snapshot"
	// StatsAtCaptureEnd is the sample taken when the capture ended (when
	// no capture ran, when the snapshot did): CPU is a rate between the two.
	StatsAtCaptureEnd = "capture-end"
)

// StatsRecord is docker/stats.json: the samples, in the order taken.
type StatsRecord struct {
	Samples []StatsSample `json:"samples"`
}

// StatsSample is one docker stats sample of every container running at
// the time.
type StatsSample struct {
	Moment     string           `json:"moment"` // StatsAtSnapshot or StatsAtCaptureEnd
	Started    time.Time        `json:"started"`
	Containers []ContainerStats `json:"containers"`
}

// ContainerStats is the engine's one-shot stats of one container: Stats is
// its answer verbatim (cpu_stats, memory_stats, networks, blkio_stats,
// pids_stats, read), or Error why there is none.
type ContainerStats struct {
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Taken time.Time       `json:"taken"` // when the engine answered
	Stats json.RawMessage `json:"stats,omitempty"`
	Error string          `json:"error,omitempty"`
}

// sampleStats takes one sample of the running containers of refs; the
// error joins the engine's refusals (each also in its container's Error).
func sampleStats(ctx context.Context, d *docker.Client, refs []docker.ContainerRef, moment string, s *step) (StatsSample, error) {
	sample := StatsSample{Moment: moment, Started: time.Now().UTC(), Containers: []ContainerStats{}}
	var errs []error
	for _, ct := range refs {
		if ct.State != "running" {
			continue
		}
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		b, err := d.Stats(ctx, ct.ID)
		s.call("api", "GET /containers/"+ct.ID+"/stats?stream=false&one-shot=true", err)
		cs := ContainerStats{ID: ct.ID, Name: ct.Name, Taken: time.Now().UTC(), Stats: b}
		if err != nil {
			if docker.IsNotFound(err) || docker.IsNotRunning(err) || stoppedSince(ctx, d, ct.ID, s) {
				cs.Error = "container gone or stopped: " + err.Error()
			} else {
				cs.Error = err.Error()
				errs = append(errs, fmt.Errorf("stats of %s (%s): %w", docker.ShortID(ct.ID), ct.Name, err))
			}
		}
		sample.Containers = append(sample.Containers, cs)
	}
	return sample, errors.Join(errs...)
}

// stoppedSince reports whether a container listed as running is gone or no
// longer running: an engine asked for the stats of a container being
// removed may answer with an empty or cut body rather than "not found", and
// a container that stopped is no refusal of the engine.
func stoppedSince(ctx context.Context, d *docker.Client, id string, s *step) bool {
	st, err := d.State(ctx, id)
	s.call("api", "GET /containers/"+id+"/json", err)
	if docker.IsNotFound(err) {
		return true
	}
	return err == nil && st.Status != "running" && st.Status != "paused"
}

// stats takes the second sample, once the capture ended, and writes
// docker/stats.json with both. A refusal of the engine is a gap; the
// collection goes on.
func (c *collector) stats(ctx context.Context, s *step) error {
	if c.docker == nil {
		return &skipError{reason: "docker unreachable", gap: true}
	}
	if c.statsFirstErr != nil {
		s.keep(fmt.Errorf("%s sample: %w", StatsAtSnapshot, c.statsFirstErr))
	}
	// The containers running at the end: those listed at the snapshot (a
	// container started since was never inspected either).
	end, err := sampleStats(ctx, c.docker, c.containers, StatsAtCaptureEnd, s)
	if err != nil {
		s.keep(fmt.Errorf("%s sample: %w", StatsAtCaptureEnd, err))
	}
	rec := StatsRecord{Samples: []StatsSample{end}}
	if c.statsFirst != nil {
		rec.Samples = []StatsSample{*c.statsFirst, end}
	}
	s.detail = map[string]any{"samples": len(rec.Samples), "containers": len(end.Containers)}
	return s.c.w.AddJSON("docker/stats.json", bundle.MemberInfo{Step: s.name,
		Source: bundle.Source{Kind: "api", Ref: "GET /containers/{id}/stats?stream=false&one-shot=true"},
		Note:   "one sample at the snapshot (docker step), one when the capture ended: CPU is a rate between the two"}, rec)
}
