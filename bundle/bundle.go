package bundle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// OpenOptions tune Open.
type OpenOptions struct {
	VerifyOptions
	// AllowUnverified keeps a bundle that failed verification open for
	// analysis; Bundle.Err then says why it failed.
	AllowUnverified bool
	// TempDir is where the members are extracted; "" means os.TempDir.
	TempDir string
}

// Bundle is a verified bundle whose members were extracted to a private
// temporary folder for analysis. Close removes the folder.
type Bundle struct {
	*Result
	// Path is the bundle file.
	Path string
	// Err is the verification error of a bundle opened with
	// AllowUnverified; nil when the bundle verified.
	Err  error
	dir  string
	root *os.Root
}

// Open verifies the bundle file at path and extracts its members. Nothing
// is returned for interpretation unless the bundle verified, or the caller
// said AllowUnverified.
func Open(path string, opts OpenOptions) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir, err := os.MkdirTemp(opts.TempDir, "dockcase-bundle-")
	if err != nil {
		return nil, fmt.Errorf("extract %s: %w", path, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("extract %s: %w", path, err)
	}
	b := &Bundle{Path: path, dir: dir, root: root}
	vo := opts.VerifyOptions
	vo.ExtractTo = root
	b.Result, err = Verify(f, vo)
	if err != nil {
		if !opts.AllowUnverified || !IsIntegrity(err) {
			b.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		b.Err = err
	}
	return b, nil
}

// ReadFile returns a member's bytes, refusing members larger than max.
func (b *Bundle) ReadFile(member string, max int64) ([]byte, error) {
	f, err := b.OpenMember(member)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readLimited(f, max, member)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", member, err)
	}
	return data, nil
}

// OpenMember opens an extracted member for reading.
func (b *Bundle) OpenMember(member string) (*os.File, error) {
	if err := checkName(member); err != nil {
		return nil, fmt.Errorf("member %q: %w", member, err)
	}
	f, err := b.root.Open(member)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("member %q is not in bundle %s: %w", member, filepath.Base(b.Path), os.ErrNotExist)
	}
	return f, err
}

// Has reports whether the bundle holds a member.
func (b *Bundle) Has(member string) bool {
	if checkName(member) != nil {
		return false
	}
	_, err := b.root.Stat(member)
	return err == nil
}

// Members returns the manifest's logical members; nil when the bundle has
// no readable manifest (a truncated bundle opened with AllowUnverified).
func (b *Bundle) Members() []Member {
	if b.Manifest == nil {
		return nil
	}
	return b.Manifest.Members
}

// Close removes the extracted members.
func (b *Bundle) Close() error {
	b.root.Close()
	return os.RemoveAll(b.dir)
}

var _ io.Closer = (*Bundle)(nil)
