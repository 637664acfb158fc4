package model

import "encoding/json"

// maxDiffJSONBytes bounds one docker diff: 64 MiB is about 1M changed
// paths.
const maxDiffJSONBytes = 64 << 20

// Diff is a container's docker diff (docker/containers/<id>/diff.json) as
// read once from the bundle, for the file changes and the file rules.
type Diff struct {
	Entries []DiffEntry
	// ReadErr is set when the member is absent (fs.ErrNotExist) or
	// unreadable; DecodeErr when it is not a docker diff.
	ReadErr   error
	DecodeErr error
}

// DiffEntry is one entry of docker diff: Kind 0 changed, 1 added, 2
// deleted.
type DiffEntry struct {
	Path string `json:"Path"`
	Kind int    `json:"Kind"`
}

// Diff reads and decodes the container's docker diff on first use; later
// calls return the same Diff.
func (h *Host) Diff(id string) *Diff {
	if d, ok := h.diffs[id]; ok {
		return d
	}
	if h.diffs == nil {
		h.diffs = map[string]*Diff{}
	}
	d := &Diff{}
	h.diffs[id] = d
	data, err := h.Source().ReadMember("docker/containers/"+id+"/diff.json", maxDiffJSONBytes)
	if err != nil {
		d.ReadErr = err
		return d
	}
	d.DecodeErr = json.Unmarshal(data, &d.Entries)
	return d
}
