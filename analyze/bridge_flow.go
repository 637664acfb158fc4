package analyze

import "github.com/dockcase/dockcase/analyze/flow"

// Bridge for the move of the flow table, the DNS names and extraction to
// analyze/flow: the names the rest of this package and its users still use
// unqualified. It goes when attribution and the commands call flow directly.
type (
	FlowKey      = flow.Key
	FlowRecord   = flow.Record
	FlowOptions  = flow.Options
	FlowTable    = flow.Table
	FlowSet      = flow.Set
	CapturePoint = flow.Point
	PointCounts  = flow.Counts
	CaptureFlows = flow.Capture
	CaptureInput = flow.Input
	DNSAnswer    = flow.DNSAnswer
	DNSResponse  = flow.DNSResponse
	ExtractStats = flow.ExtractStats
)

const (
	DefaultMaxFlows = flow.DefaultMaxFlows

	DNSTypeA     = flow.DNSTypeA
	DNSTypeCNAME = flow.DNSTypeCNAME
	DNSTypeAAAA  = flow.DNSTypeAAAA

	namesMaxNameBytes = flow.MaxNameBytes
)

var (
	NewFlowKey        = flow.NewKey
	NewFlowTable      = flow.NewTable
	ReadCaptureFlows  = flow.Read
	ReadCapturesFlows = flow.ReadAll
)
