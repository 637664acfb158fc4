package report

import (
	"fmt"
	"time"

	"github.com/dockcase/dockcase/analyze/triage"
)

// FindingSeen says how often and when a grouped traffic finding was seen:
// "123 observations, 2026-11-28T10:46:41Z … 2026-11-28T10:46:46Z"; "" for a
// finding about a state (a setting, a process, a file).
func FindingSeen(f triage.Finding) string {
	if f.Count == 0 {
		return ""
	}
	s := "1 observation"
	if f.Count != 1 {
		s = fmt.Sprintf("%d observations", f.Count)
	}
	switch {
	case f.First.IsZero():
	case f.First.Equal(f.Last) || f.Last.IsZero():
		s += ", " + f.First.UTC().Format(time.RFC3339)
	default:
		s += ", " + f.First.UTC().Format(time.RFC3339) + " … " + f.Last.UTC().Format(time.RFC3339)
	}
	return s
}
