package analyze

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"time"
)

// FileChange is a file a container added, changed or deleted while it ran.
type FileChange struct {
	Container string `json:"container"`
	// Kind is added, changed, deleted, or "added or changed" when the
	// committed layer cannot tell the two apart.
	Kind    string    `json:"kind"`
	Path    string    `json:"path"`
	Type    string    `json:"type,omitempty"`
	Size    int64     `json:"size,omitempty"`
	Mode    string    `json:"mode,omitempty"`
	ModTime time.Time `json:"mtime,omitzero"`
	SHA256  string    `json:"sha256,omitempty"`
	// Source is "committed layer" (path, mode, mtime and content hash) or
	// "docker diff" (the path only) when the bundle holds no image.
	Source   string   `json:"source"`
	Evidence Evidence `json:"evidence"`
}

// containerProcesses returns the processes that belong to containers.
func (h *Host) containerProcesses() []HostProcess {
	out := []HostProcess{}
	for _, p := range h.Processes {
		if p.ContainerID != "" {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ContainerID != out[j].ContainerID {
			return out[i].ContainerID < out[j].ContainerID
		}
		return out[i].PID < out[j].PID
	})
	return out
}

// containerSockets returns the TCP, UDP and raw sockets of every container.
// A container's sockets are those in its network namespace, or (host
// network mode) those its processes hold.
func (h *Host) containerSockets() []HostSocket {
	out := []HostSocket{}
	for _, c := range h.Containers {
		seen := map[string]bool{}
		add := func(s HostSocket) {
			key := fmt.Sprintf("%s %s:%d %s:%d %s %d", s.Proto, s.LocalIP, s.LocalPort, s.RemoteIP, s.RemotePort, s.State, s.NetNS)
			if s.Proto == "unix" || seen[key] {
				return
			}
			seen[key] = true
			s.Container = c.ID
			out = append(out, s)
		}
		if ns, ok := h.Namespace(c.NetNS); ok && !ns.Host {
			for _, s := range ns.socks {
				add(s)
			}
		}
		for _, s := range h.socketsOf(c) {
			add(s)
		}
	}
	return out
}

// fileChanges lists each container's changed files from its committed
// layer, or from docker diff when the bundle holds no image of it.
func (h *Host) fileChanges(layers map[string]*Layer) []FileChange {
	out := []FileChange{}
	for _, c := range h.Containers {
		if l := layers[c.ID]; l != nil {
			for _, f := range l.Files {
				kind := "added or changed"
				if f.Type == LayerWhiteout {
					kind = "deleted"
				}
				out = append(out, FileChange{Container: c.ID, Kind: kind, Path: f.Path, Type: f.Type, Size: f.Size,
					Mode: f.ModeText, ModTime: f.ModTime, SHA256: f.SHA256, Source: "committed layer",
					Evidence: Evidence{Member: l.Member, SHA256: l.MemberSHA256, Text: f.Entry}})
			}
			continue
		}
		member := "docker/containers/" + c.ID + "/diff.json"
		d := h.diff(c.ID)
		if d.readErr != nil {
			continue
		}
		if d.decodeErr != nil {
			h.Missing = append(h.Missing, fmt.Sprintf("%s: not a docker diff: file changes of %s unknown", member, c.Name))
			continue
		}
		diffs, sum := d.entries, h.MemberSHA256(member)
		for i, d := range diffs {
			kind := map[int]string{0: "changed", 1: "added", 2: "deleted"}[d.Kind]
			out = append(out, FileChange{Container: c.ID, Kind: kind, Path: path.Clean("/" + d.Path), Source: "docker diff",
				Evidence: Evidence{Member: member, SHA256: sum, Pointer: "/" + strconv.Itoa(i)}})
		}
	}
	slices.SortStableFunc(out, func(a, b FileChange) int {
		if a.Container != b.Container {
			if a.Container < b.Container {
				return -1
			}
			return 1
		}
		if a.Path < b.Path {
			return -1
		}
		if a.Path > b.Path {
			return 1
		}
		return 0
	})
	return out
}
