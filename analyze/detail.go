package analyze

import (
	"fmt"
	"path"
	"slices"
	"strconv"
	"time"

	"github.com/dockcase/dockcase/analyze/layer"
	"github.com/dockcase/dockcase/analyze/model"
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
	Source   string         `json:"source"`
	Evidence model.Evidence `json:"evidence"`
}

// fileChanges lists each container's changed files from its committed
// layer, or from docker diff when the bundle holds no image of it.
func fileChanges(h *model.Host, layers map[string]*layer.Layer) []FileChange {
	out := []FileChange{}
	for _, c := range h.Containers {
		if l := layers[c.ID]; l != nil {
			for _, f := range l.Files {
				kind := "added or changed"
				if f.Type == layer.Whiteout {
					kind = "deleted"
				}
				out = append(out, FileChange{Container: c.ID, Kind: kind, Path: f.Path, Type: f.Type, Size: f.Size,
					Mode: f.ModeText, ModTime: f.ModTime, SHA256: f.SHA256, Source: "committed layer",
					Evidence: model.Evidence{Member: l.Member, SHA256: l.MemberSHA256, Text: f.Entry}})
			}
			continue
		}
		member := "docker/containers/" + c.ID + "/diff.json"
		d := h.Diff(c.ID)
		if d.ReadErr != nil {
			continue
		}
		if d.DecodeErr != nil {
			h.Missing = append(h.Missing, fmt.Sprintf("%s: not a docker diff: file changes of %s unknown", member, c.Name))
			continue
		}
		diffs, sum := d.Entries, h.MemberSHA256(member)
		for i, d := range diffs {
			kind := map[int]string{0: "changed", 1: "added", 2: "deleted"}[d.Kind]
			out = append(out, FileChange{Container: c.ID, Kind: kind, Path: path.Clean("/" + d.Path), Source: "docker diff",
				Evidence: model.Evidence{Member: member, SHA256: sum, Pointer: "/" + strconv.Itoa(i)}})
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
