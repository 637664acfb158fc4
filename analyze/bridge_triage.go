package analyze

import "github.com/dockcase/dockcase/analyze/triage"

// Bridge for the move of the triage findings to analyze/triage: the names
// report, the cmd tests, the collector's end-to-end test and the stages
// still in this package (the flow summaries of attribute.go) use. It goes
// as they call triage directly.
type (
	TriageFinding = triage.Finding
	FlowSummary   = triage.FlowSummary
)

// Severities of a finding, lowest first.
const (
	SeverityInfo     = triage.SeverityInfo
	SeverityLow      = triage.SeverityLow
	SeverityMedium   = triage.SeverityMedium
	SeverityHigh     = triage.SeverityHigh
	SeverityCritical = triage.SeverityCritical
)

var SeverityRank = triage.SeverityRank
