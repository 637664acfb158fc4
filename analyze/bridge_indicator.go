package analyze

import "github.com/dockcase/dockcase/internal/indicator"

// A bridge for the move of the IOC type to internal/indicator: these names
// keep the rest of analyze and its users compiling until they call
// indicator directly.

// IOC is an indicator of compromise.
type IOC = indicator.Indicator

// IOC kinds.
const (
	IOCAddress = indicator.Address
	IOCCIDR    = indicator.CIDR
	IOCDomain  = indicator.Domain
)

var (
	// ParseIOC parses one indicator.
	ParseIOC = indicator.Parse
	// ParseIOCList reads indicators one a line.
	ParseIOCList = indicator.ParseList
)
