// Package layer reads the top layer of a container's committed image, from
// the docker save tar in the bundle: the files the container added, changed
// or deleted, each with its type, mode, size and SHA-256. The image was
// committed from a container the attacker controlled, so every read is
// bounded.
package layer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// Limits on reading a saved image. The image was committed from a container
// the attacker controlled: its file names, sizes and contents are theirs.
const (
	// maxSavedManifestBytes bounds manifest.json of a docker save tar: one
	// entry per image, a few hundred bytes each; 1 MiB is thousands.
	maxSavedManifestBytes = 1 << 20
	// maxLayerEntries bounds the entries of the top layer read: a container
	// that changed more than 200k files is summarised, not listed.
	maxLayerEntries = 200_000
	// maxLayerHashBytes bounds the bytes of one file hashed: a file larger
	// than 1 GiB is listed with its size but without a SHA-256.
	maxLayerHashBytes = 1 << 30
	// maxLayerTotalHashBytes bounds the bytes hashed over a whole layer,
	// so a layer of many huge files cannot keep the analysis busy for hours.
	maxLayerTotalHashBytes = 16 << 30
	// maxLayerHeadBytes is how much of a small file's content is kept for
	// the content rules (webshells, ld.so.preload, authorized_keys): the
	// shapes they look for sit at the start of such files.
	maxLayerHeadBytes = 64 << 10
	// maxLayerNameBytes bounds a path inside the layer; PATH_MAX is 4 KiB.
	maxLayerNameBytes = 4096
)

// The types of a File.
const (
	Regular  = "file"
	Dir      = "dir"
	Symlink  = "symlink"
	Hardlink = "hardlink"
	Other    = "other"
	// Whiteout is a file the container deleted (an overlay whiteout,
	// .wh.<name>); Opaque a directory whose lower content it hid.
	Whiteout = "whiteout"
	Opaque   = "opaque"
)

// File is one entry of an image layer: a file the container added or
// changed (or deleted: a whiteout).
type File struct {
	// Path is absolute, as seen inside the container.
	Path string      `json:"path"`
	Type string      `json:"type"`
	Size int64       `json:"size"`
	Mode fs.FileMode `json:"-"`
	// ModeText is Mode as ls prints it, with the octal permission bits.
	ModeText string    `json:"mode"`
	ModTime  time.Time `json:"mtime,omitzero"`
	// SHA256 is the content's hash; empty for non-regular files and for
	// files beyond maxLayerHashBytes.
	SHA256 string `json:"sha256,omitempty"`
	Link   string `json:"link,omitempty"`
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	// Entry is the entry's name in the layer tar.
	Entry string `json:"entry"`
	// head is the first maxLayerHeadBytes of a regular file.
	head []byte
}

// Head is the start of a regular file's content (at most 64 KiB, the
// limit the reader keeps), for rules that look at what a file holds.
func (f *File) Head() []byte { return f.head }

// Executable reports whether the file is a regular file with an execute
// bit, or whose content starts like a program (ELF, #!).
func (f *File) Executable() bool {
	if f.Type != Regular {
		return false
	}
	return f.Mode&0o111 != 0 || bytes.HasPrefix(f.head, []byte("\x7fELF")) || bytes.HasPrefix(f.head, []byte("#!"))
}

// Layer is the top layer of a committed image: what the container changed
// in its filesystem, read offline from the docker save tar in the bundle.
type Layer struct {
	Container    string `json:"container"`
	Member       string `json:"member"`
	MemberSHA256 string `json:"member_sha256,omitempty"`
	// Entry is the layer's name in the saved image (<id>/layer.tar or
	// blobs/sha256/<digest>).
	Entry string `json:"entry"`
	Files []File `json:"files"`
	// Truncated says the layer had more than maxLayerEntries entries, or
	// more bytes than maxLayerTotalHashBytes to hash.
	Truncated bool     `json:"truncated,omitempty"`
	Problems  []string `json:"problems,omitempty"`
}

// savedManifest is one entry of a docker save tar's manifest.json.
type savedManifest struct {
	Config   string   `json:"Config"`
	RepoTags []string `json:"RepoTags"`
	Layers   []string `json:"Layers"`
}

// ReadTop reads the last layer of the (first) image in a docker save
// tar: the layer a commit adds on top of the container's image, holding
// everything the container changed. The tar is read twice (manifest, then
// the layer), so it must be seekable.
func ReadTop(r io.ReadSeeker) (*Layer, error) {
	var man []savedManifest
	if err := layerScan(r, func(name string, hdr *tar.Header, tr *tar.Reader) (bool, error) {
		if name != "manifest.json" {
			return false, nil
		}
		data, err := io.ReadAll(io.LimitReader(tr, maxSavedManifestBytes+1))
		if err != nil {
			return true, fmt.Errorf("read manifest.json: %w", err)
		}
		if len(data) > maxSavedManifestBytes {
			return true, fmt.Errorf("manifest.json: larger than %d bytes", maxSavedManifestBytes)
		}
		if err := json.Unmarshal(data, &man); err != nil {
			return true, fmt.Errorf("decode manifest.json: %w", err)
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	if len(man) == 0 || len(man[0].Layers) == 0 {
		return nil, errors.New("saved image: manifest.json names no layer")
	}
	top := path.Clean(man[0].Layers[len(man[0].Layers)-1])
	l := &Layer{Entry: top, Files: []File{}}
	found := false
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("saved image: rewind: %w", err)
	}
	err := layerScan(r, func(name string, hdr *tar.Header, tr *tar.Reader) (bool, error) {
		if name != top {
			return false, nil
		}
		found = true
		return true, readLayerTar(tr, l)
	})
	if err != nil {
		return l, err
	}
	if !found {
		return nil, fmt.Errorf("saved image: layer %q is not in the tar", top)
	}
	return l, nil
}

// layerScan walks a tar and calls fn for each regular entry with its
// cleaned name until fn says it is done.
func layerScan(r io.Reader, fn func(name string, hdr *tar.Header, tr *tar.Reader) (done bool, err error)) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("saved image: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg || len(hdr.Name) > maxLayerNameBytes {
			continue
		}
		done, err := fn(path.Clean(hdr.Name), hdr, tr)
		if done || err != nil {
			return err
		}
	}
}

// readLayerTar reads the entries of one layer tar (plain or gzip).
func readLayerTar(r io.Reader, l *Layer) error {
	br := bufio.NewReader(r)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("layer %q: %w", l.Entry, err)
		}
		defer zr.Close()
		src = zr
	}
	tr := tar.NewReader(src)
	var hashed int64
	buf := make([]byte, 256<<10)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A layer cut short still lists what came before.
			l.Problems = append(l.Problems, fmt.Sprintf("layer %q: %v", l.Entry, err))
			break
		}
		if len(l.Files) >= maxLayerEntries {
			l.Truncated = true
			l.Problems = append(l.Problems, fmt.Sprintf("more than %d entries: the rest are not listed", maxLayerEntries))
			break
		}
		if len(hdr.Name) > maxLayerNameBytes {
			l.Problems = append(l.Problems, fmt.Sprintf("entry name of %d bytes skipped", len(hdr.Name)))
			continue
		}
		f := File{Entry: hdr.Name, Size: hdr.Size, Mode: hdr.FileInfo().Mode(), ModTime: hdr.ModTime.UTC(),
			UID: hdr.Uid, GID: hdr.Gid}
		p := "/" + strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		dir, base := path.Split(p)
		switch {
		case base == ".wh..wh..opq":
			f.Type, p = Opaque, path.Clean(dir)
		case strings.HasPrefix(base, ".wh."):
			f.Type, p = Whiteout, path.Join(dir, strings.TrimPrefix(base, ".wh."))
		default:
			switch hdr.Typeflag {
			case tar.TypeReg:
				f.Type = Regular
			case tar.TypeDir:
				f.Type = Dir
			case tar.TypeSymlink:
				f.Type, f.Link = Symlink, hdr.Linkname
			case tar.TypeLink:
				f.Type, f.Link = Hardlink, "/"+strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/")
			default:
				f.Type = Other
			}
		}
		f.Path = p
		f.ModeText = fmt.Sprintf("%s (%04o)", f.Mode, uint32(f.Mode.Perm())|setBits(f.Mode))
		if f.Type == Whiteout || f.Type == Opaque {
			f.Size = 0
		}
		if f.Type == Regular && tarSparse(hdr) {
			// Docker never writes sparse entries; one here was crafted, and
			// its holes would expand to gigabytes of zeros to hash.
			l.Problems = append(l.Problems, fmt.Sprintf("%q: sparse entry of %d bytes: not hashed", f.Path, hdr.Size))
		} else if f.Type == Regular {
			if hdr.Size > maxLayerHashBytes || hashed+hdr.Size > maxLayerTotalHashBytes {
				if hashed+hdr.Size > maxLayerTotalHashBytes {
					l.Truncated = true
				}
				l.Problems = append(l.Problems, fmt.Sprintf("%q: %d bytes: not hashed", f.Path, hdr.Size))
			} else {
				h := sha256.New()
				head := &layerHead{max: maxLayerHeadBytes}
				n, err := io.CopyBuffer(io.MultiWriter(h, head), tr, buf)
				hashed += n
				if err != nil {
					l.Problems = append(l.Problems, fmt.Sprintf("%q: %v", f.Path, err))
				} else {
					f.SHA256 = hex.EncodeToString(h.Sum(nil))
				}
				f.head = head.b
			}
		}
		l.Files = append(l.Files, f)
	}
	sort.SliceStable(l.Files, func(i, j int) bool { return l.Files[i].Path < l.Files[j].Path })
	return nil
}

// tarSparse reports whether a tar entry is a GNU sparse file (PAX form;
// the old GNU form has its own type flag and is listed as "other").
func tarSparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// setBits returns the setuid, setgid and sticky bits of m in octal
// position.
func setBits(m fs.FileMode) uint32 {
	var b uint32
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// layerHead keeps the first max bytes written to it.
type layerHead struct {
	b   []byte
	max int
}

func (h *layerHead) Write(p []byte) (int, error) {
	if room := h.max - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
