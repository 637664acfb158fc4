package docker

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/network"
)

// Endpoint is a container's attachment to one network: what contain records
// before it disconnects, and what release asks the engine for when it
// reconnects.
type Endpoint struct {
	Network   string `json:"network"`
	NetworkID string `json:"network_id,omitempty"`
	// Aliases are the endpoint's extra DNS names (engines before API 1.45
	// list the container's short id among them).
	Aliases []string `json:"aliases,omitempty"`
	IPv4    string   `json:"ipv4,omitempty"`
	IPv6    string   `json:"ipv6,omitempty"`
	MAC     string   `json:"mac,omitempty"`
	// StaticIPv4 and StaticIPv6 are the addresses asked for at connect or
	// create (IPAMConfig); empty when the engine chose them.
	StaticIPv4 string            `json:"static_ipv4,omitempty"`
	StaticIPv6 string            `json:"static_ipv6,omitempty"`
	Links      []string          `json:"links,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
}

// ContainerState is what containment needs of a live container.
type ContainerState struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"` // running, paused, exited …
	// NetworkMode is the HostConfig's: bridge, host, none, container:ID or a
	// network's name.
	NetworkMode string     `json:"network_mode,omitempty"`
	Networks    []Endpoint `json:"networks,omitempty"` // sorted by network name
}

// State inspects a container (by id or name) for containment. The error
// satisfies IsNotFound when the engine has no such container.
func (d *Client) State(ctx context.Context, ref string) (ContainerState, error) {
	ins, err := d.cli.ContainerInspect(ctx, ref)
	if err != nil {
		return ContainerState{}, fmt.Errorf("inspect %q: %w", ref, err)
	}
	st := ContainerState{ID: ins.ID, Name: strings.TrimPrefix(ins.Name, "/")}
	if ins.State != nil {
		st.Status = ins.State.Status
	}
	if ins.HostConfig != nil {
		st.NetworkMode = string(ins.HostConfig.NetworkMode)
	}
	if ins.NetworkSettings != nil {
		for name, ep := range ins.NetworkSettings.Networks {
			if ep == nil {
				continue
			}
			st.Networks = append(st.Networks, endpointOf(name, ep))
		}
	}
	slices.SortFunc(st.Networks, func(a, b Endpoint) int { return strings.Compare(a.Network, b.Network) })
	return st, nil
}

func endpointOf(name string, ep *network.EndpointSettings) Endpoint {
	e := Endpoint{
		Network:    name,
		NetworkID:  ep.NetworkID,
		Aliases:    slices.Clone(ep.Aliases),
		IPv4:       ep.IPAddress,
		IPv6:       ep.GlobalIPv6Address,
		MAC:        ep.MacAddress,
		Links:      slices.Clone(ep.Links),
		DriverOpts: ep.DriverOpts,
	}
	if ep.IPAMConfig != nil {
		e.StaticIPv4, e.StaticIPv6 = ep.IPAMConfig.IPv4Address, ep.IPAMConfig.IPv6Address
	}
	return e
}

// Unpause thaws every process of the container.
func (d *Client) Unpause(ctx context.Context, id string) error {
	if err := d.cli.ContainerUnpause(ctx, id); err != nil {
		return fmt.Errorf("unpause %q: %w", id, err)
	}
	return nil
}

// Disconnect force-disconnects the container from one network (its id, or
// its name when the id is empty).
func (d *Client) Disconnect(ctx context.Context, id string, ep Endpoint) error {
	net := ep.NetworkID
	if net == "" {
		net = ep.Network
	}
	if err := d.cli.NetworkDisconnect(ctx, net, id, true); err != nil {
		return fmt.Errorf("disconnect %q from %q: %w", id, ep.Network, err)
	}
	return nil
}

// ConnectRequest says which of an endpoint's settings Connect asks for.
type ConnectRequest struct {
	Endpoint
	WithAddresses bool // ask for the static addresses (StaticIPv4, StaticIPv6)
	WithMAC       bool
	WithAliases   bool // aliases and links
}

// Connect attaches the container to the endpoint's network (by name: a
// network recreated since keeps its name, not its id), asking for what req
// says.
func (d *Client) Connect(ctx context.Context, id string, req ConnectRequest) error {
	es := &network.EndpointSettings{DriverOpts: req.DriverOpts}
	if req.WithAddresses && (req.StaticIPv4 != "" || req.StaticIPv6 != "") {
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: req.StaticIPv4, IPv6Address: req.StaticIPv6}
	}
	if req.WithMAC {
		es.MacAddress = req.MAC
	}
	if req.WithAliases {
		es.Aliases, es.Links = req.Aliases, req.Links
	}
	if err := d.cli.NetworkConnect(ctx, req.Network, id, es); err != nil {
		return fmt.Errorf("connect %q to %q: %w", id, req.Network, err)
	}
	return nil
}
