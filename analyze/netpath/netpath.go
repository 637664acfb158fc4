// Package netpath explains, offline and hop by hop, how a container's
// traffic reaches an address and how outside traffic reaches a published
// port: the container's interface, the host veth, the bridge (or the parent
// NIC of a macvlan or ipvlan network), the route the host chooses, the
// forward verdict, the NAT rule that rewrites the source, and the interface
// the packet leaves by with its final source address. Every hop cites its
// evidence in the bundle; what the model lacks is said as unknown, never
// guessed.
//
// Visibility says, for each container and each host interface, whether a
// capture there would show the container's traffic, and under which source
// address.
package netpath

import (
	"net/netip"

	"github.com/dockcase/dockcase/analyze/model"
)

// Documentation is the documentation address (RFC 5737) paths lead to
// when neither a destination is asked for nor the host has a default
// gateway.
var Documentation = netip.MustParseAddr("198.51.100.1")

// host is the model with the path finder's methods.
type host struct{ *model.Host }

// Egress explains the path of a container's traffic towards dst;
// containerRef is an id, an id prefix or a name. The error is ErrNoContainer
// when no container of the bundle matches.
func Egress(h *model.Host, containerRef string, dst netip.Addr) (*Path, error) {
	return host{h}.egress(containerRef, dst)
}

// Inbound explains how traffic from outside reaches the published port pb
// of the container.
func Inbound(h *model.Host, containerRef string, pb model.PortBinding) (*Path, error) {
	return host{h}.inbound(containerRef, pb)
}

// Interfaces lists the host's bridges, veths and uplinks, in that order and
// by name: the interfaces a capture could be taken on.
func Interfaces(h *model.Host) []HostInterface { return host{h}.interfaces() }

// Visibility builds the matrix for traffic towards dst: for each container
// and each host interface, whether a capture there would show it.
func Visibility(h *model.Host, dst netip.Addr) []VisibilityRow { return host{h}.visibility(dst) }
