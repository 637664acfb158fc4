package analyze

import "github.com/dockcase/dockcase/analyze/firewall"

// Bridge for the move of the firewall model to analyze/firewall: the names
// the rest of this package still uses unqualified. It goes when the model
// and the paths move to their own packages.
type (
	Ruleset        = firewall.Ruleset
	RulesetError   = firewall.RulesetError
	RuleRef        = firewall.RuleRef
	PacketCounters = firewall.PacketCounters
	Probe          = firewall.Probe
)

const LayoutNftables = firewall.LayoutNftables

var (
	ParseIPTablesSave = firewall.ParseIPTablesSave
	ParseNftJSON      = firewall.ParseNftJSON
)
