package triage

import (
	"fmt"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
)

const (
	// cpuPeggedShare is the share of one core (or of the container's
	// limit, when that is less than a core) that a container must have
	// used over the whole window to be flagged: a miner keeps every core
	// it gets busy; a service answering requests seldom holds one for a
	// minute.
	cpuPeggedShare = 0.8
	// cpuMinWindow is the shortest window between two stats samples that
	// says anything about a rate: under a second a busy moment of a
	// normal service looks like a pegged core.
	cpuMinWindow = time.Second
)

// usageRules flag a container that kept a CPU core busy between the two
// docker stats samples (docker/stats.json): the responder's docker stats,
// where a miner is often first seen.
func (t *state) usageRules() []Finding {
	var out []Finding
	for _, u := range t.h.Usage {
		if u.CPUWindow < cpuMinWindow {
			continue
		}
		limit := 1.0
		of := "one core"
		if u.CPULimitCores > 0 && u.CPULimitCores < 1 {
			limit = u.CPULimitCores
			of = fmt.Sprintf("its limit of %.2f cores", u.CPULimitCores)
		}
		if u.CPUCores < cpuPeggedShare*limit {
			continue
		}
		c := t.containerByID(u.ID)
		if c == nil {
			c = &model.Container{ID: u.ID, Name: u.Name}
		}
		var ev []model.Evidence
		for _, s := range u.Samples {
			if s.Error == "" {
				e := s.Evidence
				e.Text = fmt.Sprintf("%s: cpu_usage.total_usage %d ns at %s", s.Moment, s.CPUTotalNS, s.Read.Format(time.RFC3339Nano))
				ev = append(ev, e)
			}
		}
		out = append(out, t.finding(c, "cpu-pegged", SeverityMedium, "Container kept a CPU core busy",
			fmt.Sprintf("it used %.2f cores over the %s between the docker stats samples (%.0f%% of %s): a cryptocurrency miner, or a runaway process, is often found this way",
				u.CPUCores, u.CPUWindow.Round(time.Millisecond), 100*u.CPUCores/limit, of), ev...))
	}
	return out
}
