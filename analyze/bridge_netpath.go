package analyze

import "github.com/dockcase/dockcase/analyze/netpath"

// Bridge for the move of the paths and visibility to analyze/netpath: the
// names report and this package still use. It goes when report reads the
// netpath types directly.
type (
	Path          = netpath.Path
	Hop           = netpath.Hop
	VisibilityRow = netpath.VisibilityRow
	HostInterface = netpath.HostInterface
)

const (
	HopBridge      = netpath.HopBridge
	HopContainerIf = netpath.HopContainerIf
	HopDNAT        = netpath.HopDNAT
	HopForward     = netpath.HopForward
	HopHostStack   = netpath.HopHostStack
	HopNAT         = netpath.HopNAT
	HopOut         = netpath.HopOut
	HopParent      = netpath.HopParent
	HopRoute       = netpath.HopRoute
	HopUplink      = netpath.HopUplink
	HopVeth        = netpath.HopVeth
	IfaceBridge    = netpath.IfaceBridge
	IfaceUplink    = netpath.IfaceUplink
	IfaceVeth      = netpath.IfaceVeth
	PathContainer  = netpath.PathContainer
	PathEgress     = netpath.PathEgress
	PathInbound    = netpath.PathInbound
	VisibleNo      = netpath.VisibleNo
	VisibleUnknown = netpath.VisibleUnknown
	VisibleYes     = netpath.VisibleYes
)

var ErrNoContainer = netpath.ErrNoContainer
