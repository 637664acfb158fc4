package model

import (
	"encoding/json"
)

// MemberCaptureInterfaces is the capture's interfaces document: what was
// captured, in which role, and what the capture could not see.
const MemberCaptureInterfaces = "capture/interfaces.json"

// maxCaptureInterfacesJSONBytes bounds capture/interfaces.json: 64 MiB
// describes tens of thousands of interfaces and their changes.
const maxCaptureInterfacesJSONBytes = 64 << 20

// Capture interface roles, as the collector writes them.
const (
	CaptureRoleBridge = "bridge"
	CaptureRoleVeth   = "veth"
	CaptureRoleUplink = "uplink"
	// CaptureRoleParent is the parent of a macvlan/ipvlan network: the
	// only place its containers' frames are seen.
	CaptureRoleParent = "parent"
	CaptureRoleNamed  = "named"
)

// CaptureInterface is one interface of capture/interfaces.json.
type CaptureInterface struct {
	// BlockID is the pcapng interface id of its packets; -1 when it could
	// not be captured.
	BlockID     int
	Index       int
	Name        string
	Kind        string
	Role        string
	Description string
	// Network is a bridge's Docker network, or a parent's first
	// macvlan/ipvlan network; ParentOf names all of a parent's networks.
	Network       string
	ParentOf      []string
	ContainerID   string
	ContainerName string
	Captured      uint64
	Error         string
	Evidence      Evidence
}

// CaptureOverlay is an overlay network the capture recorded: its vxlan
// devices and what a capture on the host's interfaces cannot see of it.
type CaptureOverlay struct {
	Network, ID string
	VXLAN       []string
	Unseen      string
	Error       string
	Evidence    Evidence
}

type captureIfaceDoc struct {
	BlockID       int      `json:"pcapng_interface_id"`
	Index         int      `json:"ifindex"`
	Name          string   `json:"name"`
	Kind          string   `json:"kind"`
	Role          string   `json:"role"`
	Description   string   `json:"description"`
	Network       string   `json:"network"`
	ParentOf      []string `json:"parent_of"`
	Container     string   `json:"container_id"`
	ContainerName string   `json:"container_name"`
	Captured      uint64   `json:"captured"`
	Error         string   `json:"error"`
}

type captureIfacesDoc struct {
	Interfaces []captureIfaceDoc `json:"interfaces"`
	// Changes name the interfaces that came and went during the capture.
	Changes []struct {
		Interface *captureIfaceDoc `json:"interface"`
	} `json:"changes"`
	Overlays []struct {
		Network string   `json:"network"`
		ID      string   `json:"id"`
		VXLAN   []string `json:"vxlan"`
		Unseen  string   `json:"unseen"`
		Error   string   `json:"error"`
	} `json:"overlays"`
}

func decodeCaptureIfaces(data []byte) (*captureIfacesDoc, error) {
	var d captureIfacesDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// loadCaptureInterfaces reads capture/interfaces.json, when the bundle has
// a capture; a bundle without one lists nothing as missing (capturing was
// the responder's choice).
func (l *loader) loadCaptureInterfaces() {
	if !l.src.Has(MemberCaptureInterfaces) {
		return
	}
	data, ok := l.read(MemberCaptureInterfaces, maxCaptureInterfacesJSONBytes, "the captured interfaces' roles")
	if !ok {
		l.h.CaptureInterfacesErr = l.h.ReadErrors[MemberCaptureInterfaces]
		return
	}
	d, err := decodeCaptureIfaces(data)
	if err != nil {
		l.h.CaptureInterfacesErr = err
		l.missing("%s: %v: the captured interfaces' roles unknown", MemberCaptureInterfaces, err)
		return
	}
	iface := func(it captureIfaceDoc, ptr string) CaptureInterface {
		return CaptureInterface{BlockID: it.BlockID, Index: it.Index,
			Name: it.Name, Kind: it.Kind, Role: it.Role, Description: it.Description, Network: it.Network,
			ParentOf: it.ParentOf, ContainerID: it.Container, ContainerName: it.ContainerName, Captured: it.Captured,
			Error: it.Error, Evidence: l.ev(MemberCaptureInterfaces, ptr)}
	}
	for i, it := range d.Interfaces {
		l.h.CaptureInterfaces = append(l.h.CaptureInterfaces, iface(it, IndexPointer("/interfaces", i)))
	}
	for i, c := range d.Changes {
		if c.Interface != nil {
			l.h.CaptureChanged = append(l.h.CaptureChanged, iface(*c.Interface, IndexPointer("/changes", i, "interface")))
		}
	}
	for i, o := range d.Overlays {
		l.h.CaptureOverlays = append(l.h.CaptureOverlays, CaptureOverlay{Network: o.Network, ID: o.ID, VXLAN: o.VXLAN,
			Unseen: o.Unseen, Error: o.Error, Evidence: l.ev(MemberCaptureInterfaces, IndexPointer("/overlays", i))})
	}
}

// CaptureInterfaceNamed returns the captured interface of that name (the
// first, if it came and went), or nil.
func (h *Host) CaptureInterfaceNamed(name string) *CaptureInterface {
	for i := range h.CaptureInterfaces {
		if h.CaptureInterfaces[i].Name == name {
			return &h.CaptureInterfaces[i]
		}
	}
	return nil
}
