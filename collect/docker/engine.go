package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Engine names the engines the collector tells apart.
const (
	EngineDocker = "docker"
	EnginePodman = "podman"
)

// Engine is what the engine's /version answer says it is.
type Engine struct {
	// Name is EngineDocker or EnginePodman. Podman serves Docker's API
	// (podman system service) and says so in its components.
	Name string `json:"name"`
	// Version is the engine's own version (Docker's or Podman's).
	Version string `json:"version"`
	// APIVersion is the compatible API version negotiated with the
	// engine, the one every docker/ member was read at.
	APIVersion string `json:"api_version"`
	// EngineAPIVersion is the engine's own API version: Docker's API
	// version, or Podman's libpod API version.
	EngineAPIVersion string `json:"engine_api_version,omitempty"`
	// Platform is the version answer's platform name.
	Platform string `json:"platform,omitempty"`
	// Components are the names of the version answer's components.
	Components []string `json:"components,omitempty"`
}

// IsPodman reports whether the engine is Podman.
func (e Engine) IsPodman() bool { return e.Name == EnginePodman }

// ParseEngine reads an engine's /version JSON. A component named "Podman
// Engine" (Podman's compatible API) makes it Podman; anything else is
// Docker, whose answer names its component "Engine".
func ParseEngine(version []byte) (Engine, error) {
	var v struct {
		Platform struct {
			Name string `json:"Name"`
		} `json:"Platform"`
		Components []struct {
			Name    string          `json:"Name"`
			Version string          `json:"Version"`
			Details json.RawMessage `json:"Details"`
		} `json:"Components"`
		Version    string `json:"Version"`
		APIVersion string `json:"ApiVersion"`
	}
	if err := json.Unmarshal(version, &v); err != nil {
		return Engine{}, fmt.Errorf("parse /version: %w", err)
	}
	e := Engine{Name: EngineDocker, Version: v.Version, EngineAPIVersion: v.APIVersion, Platform: v.Platform.Name}
	for _, c := range v.Components {
		e.Components = append(e.Components, c.Name)
		if !strings.Contains(strings.ToLower(c.Name), "podman") {
			continue
		}
		e.Name = EnginePodman
		e.Version = c.Version
		var det struct {
			APIVersion string `json:"APIVersion"`
		}
		if json.Unmarshal(c.Details, &det) == nil && det.APIVersion != "" {
			e.EngineAPIVersion = det.APIVersion
		}
	}
	return e, nil
}

// Engine reads the engine's /version answer and says which engine it is;
// it also returns the answer's bytes, for the bundle.
func (d *Client) Engine(ctx context.Context) (Engine, []byte, error) {
	b, err := d.Version(ctx)
	if err != nil {
		return Engine{}, nil, err
	}
	e, err := ParseEngine(b)
	if err != nil {
		return Engine{}, b, err
	}
	e.APIVersion = d.APIVersion()
	d.engine = e.Name
	if e.IsPodman() {
		d.libpodAPI = e.EngineAPIVersion
	}
	return e, b, nil
}

// LibpodInfo returns Podman's own /libpod/info JSON: its network backend
// (netavark or CNI), cgroup manager, events backend, storage.
func (d *Client) LibpodInfo(ctx context.Context) ([]byte, error) {
	b, err := d.Get(ctx, "/libpod/info", nil, dockerMaxObjectBytes)
	if err != nil {
		return nil, fmt.Errorf("libpod info: %w", err)
	}
	return b, nil
}

// LibpodNetworks returns Podman's own /libpod/networks/json: each network
// with its bridge's name (network_interface), which the compatible
// /networks answer does not carry.
func (d *Client) LibpodNetworks(ctx context.Context) ([]byte, error) {
	b, err := d.Get(ctx, "/libpod/networks/json", nil, MaxListBytes)
	if err != nil {
		return nil, fmt.Errorf("libpod networks: %w", err)
	}
	return b, nil
}

// PodmanBridges returns the names of the Linux bridges of Podman's
// networks (network_interface of the bridge driver's networks) from a
// /libpod/networks/json answer.
func PodmanBridges(networks []byte) ([]string, error) {
	var list []struct {
		Driver           string `json:"driver"`
		NetworkInterface string `json:"network_interface"`
	}
	if err := json.Unmarshal(networks, &list); err != nil {
		return nil, fmt.Errorf("parse libpod networks: %w", err)
	}
	var out []string
	for _, n := range list {
		if n.Driver == "bridge" && n.NetworkInterface != "" {
			out = append(out, n.NetworkInterface)
		}
	}
	return out, nil
}
