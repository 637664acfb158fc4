package model

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/firewall"
)

// podmanSource builds the members a collection of the Podman host of
// analyze/firewall/testdata/podman holds: the Docker-compatible answers
// (version, networks, the container list, each container's inspect) and,
// unless without names them, Podman's own network list and info.
func podmanSource(t *testing.T, backend string, without ...string) MemSource {
	t.Helper()
	dir := filepath.Join("..", "firewall", "testdata", "podman", backend)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var list []struct {
		ID    string   `json:"Id"`
		Names []string `json:"Names"`
		Image string   `json:"Image"`
		State string   `json:"State"`
	}
	if err := json.Unmarshal(read("api-containers.json"), &list); err != nil {
		t.Fatal(err)
	}
	src := MemSource{
		MemberVersion:        read("api-version.json"),
		MemberNetworks:       read("api-networks.json"),
		MemberPodmanNetworks: read("libpod-networks.json"),
		MemberPodmanInfo:     read("libpod-info.json"),
	}
	var docs []containerListDoc
	for _, c := range list {
		docs = append(docs, containerListDoc{ID: c.ID, Name: strings.TrimPrefix(c.Names[0], "/"), Image: c.Image, State: c.State})
		for _, role := range []string{"beacon", "quiet"} {
			if c.Names[0] == "/dcefix-"+backend+"-"+role {
				src["docker/containers/"+c.ID+"/inspect.json"] = read("api-inspect-" + role + ".json")
			}
		}
	}
	b, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	src[MemberContainers] = b
	for _, m := range without {
		delete(src, m)
	}
	return src
}

// TestPodmanNetworkJoins loads what a Podman host's API answers: the
// containers' networks are named where Docker gives ids, and the networks
// carry no bridge name; the model joins endpoints by name, takes the
// bridges from Podman's own network list, and without it names no bridge
// and says so, never a made-up br-<id>.
func TestPodmanNetworkJoins(t *testing.T) {
	tests := []struct {
		name        string
		backend     string
		without     []string
		wantBridges map[string]string // network → bridge
		wantMembers map[string]int    // network → containers that inspect puts on it
		wantMissing []string
	}{
		{name: "netavark", backend: "netavark",
			wantBridges: map[string]string{"dcefix-netavark1": "podman1", "dcefix-netavark2": "podman2", "bridge": "podman0"},
			wantMembers: map[string]int{"dcefix-netavark1": 1, "dcefix-netavark2": 1}},
		{name: "cni", backend: "cni",
			wantBridges: map[string]string{"dcefix-cni1": "cni-podman1", "bridge": "cni-podman0"},
			wantMembers: map[string]int{"dcefix-cni1": 2}},
		{name: "netavark without Podman's network list", backend: "netavark", without: []string{MemberPodmanNetworks},
			wantBridges: map[string]string{"dcefix-netavark1": "", "dcefix-netavark2": "", "bridge": ""},
			wantMembers: map[string]int{"dcefix-netavark1": 1, "dcefix-netavark2": 1},
			wantMissing: []string{MemberPodmanNetworks + ": not in the bundle", `network "dcefix-netavark1" (Podman, netavark): its bridge is named neither`}},
		{name: "cni without info", backend: "cni", without: []string{MemberPodmanNetworks, MemberPodmanInfo},
			wantBridges: map[string]string{"dcefix-cni1": ""},
			wantMembers: map[string]int{"dcefix-cni1": 2},
			wantMissing: []string{MemberPodmanInfo + ": not in the bundle", `network "dcefix-cni1" (Podman): its bridge`}},
	}
	for _, tt := range tests {
		h := LoadSource(podmanSource(t, tt.backend, tt.without...))
		if h.Engine != EnginePodman {
			t.Errorf("%s: Engine = %q, want %q", tt.name, h.Engine, EnginePodman)
		}
		if !slices.Contains(tt.without, MemberPodmanInfo) && h.NetworkBackend != tt.backend {
			t.Errorf("%s: NetworkBackend = %q, want %q", tt.name, h.NetworkBackend, tt.backend)
		}
		for name, want := range tt.wantBridges {
			n, ok := h.Network(name)
			if !ok {
				t.Errorf("%s: network %q not modelled", tt.name, name)
				continue
			}
			if n.Bridge != want {
				t.Errorf("%s: network %q bridge = %q, want %q", tt.name, name, n.Bridge, want)
			}
			if want != "" && (n.BridgeEvidence == nil || n.BridgeEvidence.Member != MemberPodmanNetworks) {
				t.Errorf("%s: network %q bridge evidence = %+v, want %s", tt.name, name, n.BridgeEvidence, MemberPodmanNetworks)
			}
		}
		for name, want := range tt.wantMembers {
			n, _ := h.Network(name)
			if n == nil || len(n.Containers) != want {
				t.Errorf("%s: network %q containers = %v, want %d", tt.name, name, n, want)
			}
		}
		for _, c := range h.Containers {
			for _, ep := range c.Endpoints {
				n, ok := h.Network(ep.NetworkID)
				if !ok || ep.NetworkID != n.ID || n.Name != ep.Network {
					t.Errorf("%s: container %s endpoint %q network id %q, want the id of network %q", tt.name, c.Name, ep.Network, ep.NetworkID, ep.Network)
				}
			}
		}
		for _, want := range tt.wantMissing {
			if !slices.ContainsFunc(h.Missing, func(m string) bool { return strings.Contains(m, want) }) {
				t.Errorf("%s: Missing = %q, want one containing %q", tt.name, h.Missing, want)
			}
		}
		if len(tt.wantMissing) == 0 {
			for _, m := range h.Missing {
				if strings.Contains(m, "Podman") || strings.Contains(m, "podman/") {
					t.Errorf("%s: Missing %q, want nothing of Podman's missing", tt.name, m)
				}
			}
		}
	}
}

// TestPodmanProcessesNotTied checks that a running Podman container with no
// process tied to it is listed as unknown, and a tied one is not.
func TestPodmanProcessesNotTied(t *testing.T) {
	src := podmanSource(t, "cni")
	h := LoadSource(src)
	var beacon *Container
	for _, c := range h.Containers {
		if c.Name == "dcefix-cni-beacon" {
			beacon = c
		}
	}
	if beacon == nil {
		t.Fatal("beacon container not modelled")
	}
	procs, err := json.Marshal([]processDoc{{PID: 4242, Comm: "workload", ContainerID: beacon.ID}})
	if err != nil {
		t.Fatal(err)
	}
	src[MemberProcesses] = procs
	h = LoadSource(src)
	for _, name := range []string{"dcefix-cni-quiet", "dcefix-cni-published", "dcefix-cni-beacon"} {
		want := name != "dcefix-cni-beacon"
		got := slices.ContainsFunc(h.Missing, func(m string) bool {
			return strings.Contains(m, "container "+name+" (Podman): running, but no process")
		})
		if got != want {
			t.Errorf("Missing lists %s as not tied = %v, want %v (Missing %q)", name, got, want, h.Missing)
		}
	}
}

// TestDockerBridgeNameUnchanged checks a Docker network without a bridge
// name option keeps Docker's br-<id12>.
func TestDockerBridgeNameUnchanged(t *testing.T) {
	src := MemSource{
		MemberVersion:  []byte(`{"Components":[{"Name":"Engine","Version":"28.0.1"}]}`),
		MemberNetworks: []byte(`[{"Name":"n1","Id":"0123456789abcdef0123","Driver":"bridge","Options":{}}]`),
	}
	h := LoadSource(src)
	n, ok := h.Network("n1")
	if h.Engine != EngineDocker || !ok || n.Bridge != "br-0123456789ab" {
		t.Errorf("engine %q, network %+v, want docker and bridge br-0123456789ab", h.Engine, n)
	}
}

// TestNetavarkNftablesMerged checks netavark's native nftables table is
// read beside iptables-save: its NAT decides Podman's paths.
func TestNetavarkNftablesMerged(t *testing.T) {
	dir := filepath.Join("..", "firewall", "testdata", "podman")
	ipt, err := os.ReadFile(filepath.Join(dir, "cni", "iptables.save"))
	if err != nil {
		t.Fatal(err)
	}
	nft, err := os.ReadFile(filepath.Join(dir, "netavark-nft", "nft.json"))
	if err != nil {
		t.Fatal(err)
	}
	probe := firewall.Probe{In: "podman2", Out: "eth0", Src: netip.MustParseAddr("198.18.72.3"), Dst: netip.MustParseAddr("198.18.0.9"), NoMark: true}
	for _, tt := range []struct {
		name      string
		src       MemSource
		wantChain string
		wantNftEv bool
	}{
		{"iptables and netavark's nft", MemSource{MemberIPTables: ipt, MemberNft: nft}, "nv_1f5e3266_198_18_72_0_nm24", true},
		{"netavark's nft alone", MemSource{MemberNft: nft}, "nv_1f5e3266_198_18_72_0_nm24", true},
		{"iptables alone", MemSource{MemberIPTables: ipt}, "", false},
	} {
		h := LoadSource(tt.src)
		if h.Firewall4 == nil {
			t.Errorf("%s: no IPv4 ruleset", tt.name)
			continue
		}
		nat := h.Firewall4.SourceNAT(probe)
		chain := ""
		if nat.Rule != nil {
			chain = nat.Rule.Chain
		}
		if chain != tt.wantChain {
			t.Errorf("%s: SourceNAT in chain %q, want %q", tt.name, chain, tt.wantChain)
		}
		if (h.NftEvidence != nil) != tt.wantNftEv || (tt.wantNftEv && h.NftEvidence.Member != MemberNft) {
			t.Errorf("%s: NftEvidence = %+v, want one citing %s: %v", tt.name, h.NftEvidence, MemberNft, tt.wantNftEv)
		}
		if _, ok := tt.src[MemberIPTables]; ok && h.Firewall4.Table("", "nat") == nil {
			t.Errorf("%s: iptables' nat table lost in the merge", tt.name)
		}
	}
}
