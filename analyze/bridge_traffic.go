package analyze

import (
	"github.com/dockcase/dockcase/analyze/ioc"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// Bridge for the move of attribution to analyze/traffic and of the IOC
// answer to analyze/ioc: the names of the analysis document that report and
// cmd still use. It goes when they read the stage packages directly.
type (
	Flow           = traffic.Flow
	FlowTuple      = traffic.FlowTuple
	DNSQuery       = traffic.DNSQuery
	CaptureSummary = traffic.CaptureSummary
	PointSummary   = traffic.PointSummary
	FlowLimitStats = traffic.FlowLimitStats

	IOCHit     = ioc.Hit
	IOCContact = ioc.Contact
	IOCPoint   = ioc.Point
)

const (
	RuleVeth              = traffic.RuleVeth
	RuleAddressOwner      = traffic.RuleAddressOwner
	RuleConntrack         = traffic.RuleConntrack
	RuleConntrackEvent    = traffic.RuleConntrackEvent
	RuleCorrelation       = traffic.RuleCorrelation
	RuleDNAT              = traffic.RuleDNAT
	RuleHostSocket        = traffic.RuleHostSocket
	RuleHost              = traffic.RuleHost
	RuleForeign           = traffic.RuleForeign
	RuleUnknown           = traffic.RuleUnknown
	ConfidenceHigh        = traffic.ConfidenceHigh
	ConfidenceMedium      = traffic.ConfidenceMedium
	ConfidenceLow         = traffic.ConfidenceLow
	ConfidenceNone        = traffic.ConfidenceNone
	PointVeth             = traffic.PointVeth
	PointBridge           = traffic.PointBridge
	PointUplink           = traffic.PointUplink
	PointExternal         = traffic.PointExternal
	PointOther            = traffic.PointOther
	FlowCorrelationWindow = traffic.FlowCorrelationWindow
)

var (
	ErrNoCapture = traffic.ErrNoCapture
	MatchFlow    = ioc.MatchFlow
)
