package analyze

import "github.com/dockcase/dockcase/analyze/flow"

// Bridge for the move of the flow table, the DNS names and extraction to
// analyze/flow: the names attribution, the options and the commands still
// use unqualified. It goes when they call flow directly.
type (
	FlowRecord   = flow.Record
	FlowOptions  = flow.Options
	FlowSet      = flow.Set
	CapturePoint = flow.Point
	CaptureFlows = flow.Capture
	CaptureInput = flow.Input
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

var ReadCapturesFlows = flow.ReadAll
