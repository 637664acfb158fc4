package analyze

import "github.com/dockcase/dockcase/analyze/model"

// Bridge for the move of the host model to analyze/model: the names the
// stages still in this package use unqualified. It goes as they move.
type (
	ClockNTP      = model.ClockNTP
	ConntrackFlow = model.ConntrackFlow
	Container     = model.Container
	Diff          = model.Diff
	DiffEntry     = model.DiffEntry
	DockerEvent   = model.DockerEvent
	Endpoint      = model.Endpoint
	EngineEvent   = model.EngineEvent
	Evidence      = model.Evidence
	Host          = model.Host
	HostClock     = model.HostClock
	HostProcess   = model.HostProcess
	HostSocket    = model.HostSocket
	Lease         = model.Lease
	Link          = model.Link
	MemSource     = model.MemSource
	Mount         = model.Mount
	Namespace     = model.Namespace
	Network       = model.Network
	PolicyRule    = model.PolicyRule
	PortBinding   = model.PortBinding
	Privileges    = model.Privileges
	Route         = model.Route
	Source        = model.Source
)

var (
	Load         = model.Load
	BundleSource = model.BundleSource
	JSONPointer  = model.JSONPointer
)
