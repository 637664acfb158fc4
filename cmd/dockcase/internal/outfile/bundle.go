package outfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dockcase/dockcase/bundle"
	"golang.org/x/crypto/ssh"
)

// BundleFile is the bundle file collect --out writes: under a temporary
// name beside it, renamed when complete. A bundle is evidence, and so are
// its sidecars: none is ever replaced (there is no --force for them).
type BundleFile struct {
	f    *os.File
	path string
	tmp  string
}

// CreateBundle creates the bundle file name (flag --out), refusing with a
// *RefusedError when the bundle or one of its sidecars exists.
func CreateBundle(name string) (*BundleFile, error) {
	for _, p := range []string{name, name + ".sha256", bundle.CustodyPath(name)} {
		if _, err := os.Lstat(p); err == nil {
			return nil, refusef("--out %s: %s exists: choose a new bundle name (a bundle and its sidecars are never replaced)", name, p)
		}
	}
	tmp := name + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create bundle: %w", err)
	}
	return &BundleFile{f: f, path: name, tmp: tmp}, nil
}

// Path is the bundle's final name; "" for a nil BundleFile (stdout).
func (b *BundleFile) Path() string {
	if b == nil {
		return ""
	}
	return b.path
}

func (b *BundleFile) Write(p []byte) (int, error) { return b.f.Write(p) }

// Finish syncs the complete bundle and renames it into place; a nil
// BundleFile (stdout) has nothing to finish.
func (b *BundleFile) Finish() error {
	if b == nil {
		return nil
	}
	if err := b.f.Sync(); err != nil {
		return err
	}
	if err := b.f.Close(); err != nil {
		return err
	}
	return os.Rename(b.tmp, b.path)
}

// Fail removes the partial file: never leave one that looks complete.
func (b *BundleFile) Fail() {
	if b != nil {
		b.f.Close()
		os.Remove(b.tmp)
	}
}

// WriteSidecars writes the sidecars of the finished bundle at path:
// path.sha256 (sha256sum's format) and the custody log's first event ev,
// signed by signer.
func WriteSidecars(path string, sum bundle.Summary, ev bundle.CustodyEvent, signer ssh.Signer) error {
	line := fmt.Sprintf("%s  %s\n", sum.SHA256, filepath.Base(path))
	if err := os.WriteFile(path+".sha256", []byte(line), 0o644); err != nil {
		return fmt.Errorf("write %s.sha256: %w", path, err)
	}
	_, err := bundle.AppendCustodyFor(bundle.CustodyPath(path), sum.SHA256, ev, signer)
	return err
}
