package caselist

import (
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
)

// findingColumns are the columns of findings; count, first and last are
// those of a grouped finding (one per rule, container and indicator).
var findingColumns = []listing.Column{{Key: "severity"}, {Key: "id"}, {Key: "container_name"}, {Key: "container_id"},
	{Key: "title", Text: true}, {Key: "indicator"}, {Key: "count", Num: true}, {Key: "first"}, {Key: "last"},
	{Key: "why", Text: true}, {Key: "file"}, {Key: "evidence", Text: true}}

// Findings is the listing of findings; the caller sets the Value that
// --json prints.
func Findings(findings []triage.Finding, warning string) *listing.Table {
	l := &listing.Table{Cols: findingColumns, Name: "findings", Warning: warning,
		Term: &listing.Table{Cols: []listing.Column{{Key: "n", Label: "#", Num: true, Keep: true}, {Key: "severity", Keep: true}, {Key: "id"},
			{Key: "container_name", Label: "CONTAINER"}, {Key: "title", Text: true}}}}
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	for i, f := range findings {
		count, file := "", ""
		if f.Count > 0 {
			count = strconv.Itoa(f.Count)
		}
		if f.File != nil {
			file = f.File.Path
		}
		ev := make([]string, len(f.Evidence))
		for j, e := range f.Evidence {
			ev[j] = EvidenceLine(e)
		}
		l.Add(f.Severity, f.ID, f.ContainerName, f.Container, f.Title, f.Indicator, count, when(f.First), when(f.Last),
			f.Why, file, strings.Join(ev, "; "))
		l.Term.Add(strconv.Itoa(i+1), strings.ToUpper(f.Severity), f.ID, f.ContainerName, f.Title)
	}
	return l
}

// EvidenceLine renders one evidence citation on one line.
func EvidenceLine(e model.Evidence) string {
	s := e.Member
	if e.Pointer != "" {
		s += " " + e.Pointer
	}
	if e.Line != 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	if e.SHA256 != "" {
		s += " (sha256 " + e.SHA256 + ")"
	}
	if e.Text != "" {
		s += ": " + cutText(e.Text, 300)
	}
	return s
}

// cutText cuts s to n bytes for a terminal, marking the cut with "…".
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
