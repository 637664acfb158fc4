package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// MemberSocketSamples is the socket tables sampled through the capture
// window: each socket's first and last sighting, states and owners.
const MemberSocketSamples = "capture/socket-samples.json"

// maxSocketSamplesJSONBytes bounds capture/socket-samples.json: the
// collector keeps at most 262144 sockets at ~500 B of JSON with an owner.
const maxSocketSamplesJSONBytes = 160 << 20

// How a sighting's containers were decided (SocketSighting.By).
const (
	// SightingByOwner: the cgroup of a process holding the socket names
	// the container; in a shared namespace, or the host's (host network
	// mode), that is the one that made it.
	SightingByOwner = "owner"
	// SightingByNamespace: no owner names a container, and the socket is
	// the namespace's, hence its containers', all of them when they share.
	SightingByNamespace = "namespace"
	// SightingByHost: a socket of the host's namespace that no container's
	// process holds.
	SightingByHost = "host"
)

// SocketSampling is what the sampler of capture/socket-samples.json did:
// when, how often, what failed.
type SocketSampling struct {
	Interval         time.Duration
	Rounds           int
	Started, Ended   time.Time
	Errors           []string
	UntrackedSockets int // sightings past the collector's bound, not kept
	Evidence         Evidence
}

// SocketSighting is one socket (namespace, inode, tuple) as the rounds of
// the capture window saw it.
type SocketSighting struct {
	NetNS uint64
	// Inode is 0 for a socket no process held (TIME_WAIT).
	Inode         uint64
	Proto         string // tcp, tcp6, udp, udp6, raw, raw6
	Local, Remote netip.AddrPort
	States        []string
	First, Last   time.Time
	Sightings     int
	Owners        []SightingOwner
	// Containers are the containers the socket is theirs of, and By says
	// how that was decided (SightingByOwner, …ByNamespace, …ByHost).
	Containers []string
	By         string
	Evidence   Evidence
}

// SightingOwner is a process that held a sampled socket.
type SightingOwner struct {
	PID, TID, FD int
	Comm         string
	Cmdline      []string
	// Container is the container its cgroup names, "" for the host's.
	Container string
}

type socketSamplesDoc struct {
	IntervalMS int64     `json:"interval_ms"`
	Rounds     int       `json:"rounds"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended"`
	Namespaces []struct {
		Inode      uint64   `json:"inode"`
		Host       bool     `json:"host"`
		Containers []string `json:"containers"`
	} `json:"namespaces"`
	Sockets []struct {
		NetNS     uint64    `json:"netns_inode"`
		Inode     uint64    `json:"inode"`
		Proto     string    `json:"proto"`
		Local     string    `json:"local"`
		Remote    string    `json:"remote"`
		States    []string  `json:"states"`
		First     time.Time `json:"first"`
		Last      time.Time `json:"last"`
		Sightings int       `json:"sightings"`
		Owners    []struct {
			PID       int      `json:"pid"`
			TID       int      `json:"tid"`
			FD        int      `json:"fd"`
			Comm      string   `json:"comm"`
			Cmdline   []string `json:"cmdline"`
			Container string   `json:"container"`
		} `json:"owners"`
	} `json:"sockets"`
	Errors []struct {
		NetNS    uint64 `json:"netns_inode"`
		Error    string `json:"error"`
		Repeated int    `json:"repeated"`
	} `json:"errors"`
	UntrackedSightings int `json:"untracked_sightings"`
}

func decodeSocketSamples(data []byte) (*socketSamplesDoc, error) {
	var d socketSamplesDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// loadSocketSightings reads capture/socket-samples.json into
// Host.SocketSightings, after the namespaces and processes. A bundle
// without it (no capture, or collected before the member existed) has no
// sightings and nothing is missing; a malformed one is a ReadErrors entry.
func (l *loader) loadSocketSightings() {
	if !l.src.Has(MemberSocketSamples) {
		return
	}
	const unknown = "sockets opened during the capture window (socket samples)"
	data, ok := l.read(MemberSocketSamples, maxSocketSamplesJSONBytes, unknown)
	if !ok {
		return
	}
	d, err := decodeSocketSamples(data)
	if err != nil {
		l.readError(MemberSocketSamples, err, unknown)
		return
	}
	smp := &SocketSampling{Interval: time.Duration(d.IntervalMS) * time.Millisecond, Rounds: d.Rounds,
		Started: d.Started.UTC(), Ended: d.Ended.UTC(), UntrackedSockets: d.UntrackedSightings,
		Evidence: l.ev(MemberSocketSamples, "")}
	for _, e := range d.Errors {
		msg := e.Error
		if e.NetNS != 0 {
			msg = fmt.Sprintf("namespace %d: %s", e.NetNS, msg)
		}
		if e.Repeated > 0 {
			msg += fmt.Sprintf(" (and in %d later rounds)", e.Repeated)
		}
		smp.Errors = append(smp.Errors, msg)
	}
	l.h.SocketSampling = smp

	// A namespace's containers: those the sampler saw in it, and those the
	// snapshot's index and inspects put there.
	nsContainers := map[uint64][]string{}
	hostNS := map[uint64]bool{}
	add := func(ino uint64, ids ...string) {
		for _, id := range ids {
			if id != "" && !slices.Contains(nsContainers[ino], id) {
				nsContainers[ino] = append(nsContainers[ino], id)
			}
		}
	}
	for _, ns := range d.Namespaces {
		add(ns.Inode, ns.Containers...)
		hostNS[ns.Inode] = hostNS[ns.Inode] || ns.Host
	}
	for _, ns := range l.h.Namespaces {
		add(ns.Inode, ns.Containers...)
		hostNS[ns.Inode] = hostNS[ns.Inode] || ns.Host
	}
	for _, c := range l.h.Containers {
		if c.NetNS != 0 {
			add(c.NetNS, c.ID)
		}
	}

	bad := 0
	var firstBad error
	for i, s := range d.Sockets {
		local, err1 := netip.ParseAddrPort(s.Local)
		remote, err2 := netip.ParseAddrPort(s.Remote)
		if err := errors.Join(err1, err2); err != nil {
			bad++
			if firstBad == nil {
				firstBad = fmt.Errorf("socket %d: %w", i, err)
			}
			continue
		}
		sg := SocketSighting{NetNS: s.NetNS, Inode: s.Inode, Proto: s.Proto, Local: local, Remote: remote,
			States: s.States, First: s.First.UTC(), Last: s.Last.UTC(), Sightings: s.Sightings,
			Evidence: l.ev(MemberSocketSamples, IndexPointer("/sockets", i))}
		for _, o := range s.Owners {
			sg.Owners = append(sg.Owners, SightingOwner{PID: o.PID, TID: o.TID, FD: o.FD, Comm: o.Comm, Cmdline: o.Cmdline, Container: o.Container})
			if o.Container != "" && !slices.Contains(sg.Containers, o.Container) {
				sg.Containers = append(sg.Containers, o.Container)
			}
		}
		switch {
		case len(sg.Containers) > 0:
			sg.By = SightingByOwner
		case hostNS[s.NetNS]:
			sg.By = SightingByHost
		default:
			sg.By = SightingByNamespace
			sg.Containers = slices.Clone(nsContainers[s.NetNS])
		}
		l.h.SocketSightings = append(l.h.SocketSightings, sg)
	}
	if bad > 0 {
		l.readError(MemberSocketSamples, fmt.Errorf("%d malformed socket(s) left out, first: %w", bad, firstBad), "some sockets of the capture window")
	}
}

// readError records a member that is in the bundle but could not be
// decoded: in ReadErrors, and as missing with what it leaves unknown.
func (l *loader) readError(member string, err error, unknown string) {
	l.missing("%s: %v: %s unknown", member, err, unknown)
	if l.h.ReadErrors == nil {
		l.h.ReadErrors = map[string]error{}
	}
	l.h.ReadErrors[member] = fmt.Errorf("%s: %w", member, err)
}

// SightingsOf returns the sightings attributed to the container with
// this id.
func (h *Host) SightingsOf(id string) []SocketSighting {
	var out []SocketSighting
	for _, s := range h.SocketSightings {
		if slices.Contains(s.Containers, id) {
			out = append(out, s)
		}
	}
	return out
}
