package analyze

import "github.com/dockcase/dockcase/analyze/timeline"

// Bridge for the move of the case timeline to analyze/timeline: the names
// report, the cmd tests and the collector's end-to-end test use. It goes
// as they call timeline directly.
type TimelineEvent = timeline.Event

// Kinds of timeline events that report and the tests still name.
const (
	TimeContainerStarted = timeline.ContainerStarted
	TimeFileModified     = timeline.FileModified
	TimeFlowFirst        = timeline.FlowFirst
	TimeDNSQuery         = timeline.DNSQuery
	TimeCollectionStep   = timeline.CollectionStep
	TimeContainment      = timeline.Containment
	TimeCustody          = timeline.Custody
)

var (
	WriteTimesketch  = timeline.WriteTimesketch
	WriteTimelineCSV = timeline.WriteCSV
)
