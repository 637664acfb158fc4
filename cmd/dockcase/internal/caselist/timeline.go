package caselist

import (
	"io"

	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
)

// timelineColumns are the columns of the timeline; time and kind are the
// analysis document's names for Timesketch's datetime and timestamp_desc.
var timelineColumns = []listing.Column{{Key: "time"}, {Key: "kind"}, {Key: "message", Text: true}, {Key: "source"},
	{Key: "container_id"}, {Key: "container_name"}, {Key: "evidence_member"}, {Key: "evidence_sha256"},
	{Key: "evidence_pointer"}, {Key: "evidence_line", Num: true}, {Key: "attributes", Text: true}, {Key: "tags"}}

// Timeline is the listing of the timeline's events; its CSV is
// timeline.WriteCSV's, the one Timesketch imports.
func Timeline(evs []timeline.Event) *listing.Table {
	l := &listing.Table{Cols: timelineColumns, Name: "events",
		CSV: func(w io.Writer) error { return timeline.WriteCSV(w, evs) },
		Term: &listing.Table{Cols: []listing.Column{{Key: "time", Label: "TIME (UTC)", Keep: true}, {Key: "kind", Label: "WHAT"}, {Key: "container_name", Label: "CONTAINER"},
			{Key: "message", Label: "EVENT", Text: true}, {Key: "source"}}}}
	for _, e := range evs {
		l.Add(timeline.Record(e)...)
		l.Term.Add(e.Time.UTC().Format("2006-01-02 15:04:05"), e.Kind, e.ContainerName, cutText(e.Message, 160), e.Source)
	}
	return l
}
