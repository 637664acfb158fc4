// Package outfile guards the files one run of a dockcase command writes:
// evidence is never overwritten, and a run that fails leaves no partial
// file.
package outfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dockcase/dockcase/bundle"
)

// Guard guards the files one run of a command writes: no output may name
// an input of the run (the evidence), however the path is spelled; an
// existing file is replaced only with --force; each file is written under a
// temporary name in its directory and renamed when complete, so that a run
// that fails leaves no partial file. "-" is stdout and is never checked.
type Guard struct {
	force  bool
	inputs []inputFile
	claims map[string]string // cleaned absolute output path → its flag
}

// inputFile is one input of the run, as given and as found on disk.
type inputFile struct {
	what string // "the bundle", "--pcap", …
	path string
	abs  string
	info fs.FileInfo // nil when the file does not exist (yet)
}

// NewGuard starts the guard of a run; force is the command's --force.
func NewGuard(force bool) *Guard {
	return &Guard{force: force, claims: map[string]string{}}
}

// Input records an input file of the run; "" and "-" are ignored.
func (o *Guard) Input(what, path string) {
	if path == "" || path == "-" {
		return
	}
	in := inputFile{what: what, path: path, abs: absClean(path)}
	if info, err := os.Stat(path); err == nil {
		in.info = info
	}
	o.inputs = append(o.inputs, in)
}

// Bundle records a bundle and its sidecars (custody log and .sha256) as
// inputs.
func (o *Guard) Bundle(path string) {
	o.Input("the bundle", path)
	o.Input("the bundle's custody log", bundle.CustodyPath(path))
	o.Input("the bundle's checksum file", path+".sha256")
}

// Check refuses an output path, given with flag, that names an input of the
// run, another output, a directory, or an existing file without --force. It
// runs before any work, so that a refused run writes nothing.
func (o *Guard) Check(flag, path string) error {
	if path == "" || path == "-" {
		return nil
	}
	abs := absClean(path)
	info, statErr := os.Stat(path)
	for _, in := range o.inputs {
		same := abs == in.abs
		if statErr == nil && in.info != nil && os.SameFile(info, in.info) {
			same = true
		}
		if same {
			return refusef("%s %s: that is %s (%s), an input of this run: evidence is never overwritten; choose another output name", flag, path, in.what, in.path)
		}
	}
	if other, ok := o.claims[abs]; ok {
		return refusef("%s %s: %s writes to the same file", flag, path, other)
	}
	o.claims[abs] = flag
	if statErr == nil {
		if info.IsDir() {
			return refusef("%s %s: is a directory; give a file name", flag, path)
		}
		if !o.force {
			return &RefusedError{&existsError{flag: flag, path: path}}
		}
	} else if !errors.Is(statErr, fs.ErrNotExist) {
		return fmt.Errorf("%s %s: %w", flag, path, statErr)
	}
	if dir := filepath.Dir(abs); dir != "" {
		if d, err := os.Stat(dir); err != nil || !d.IsDir() {
			return refusef("%s %s: no such directory %s", flag, path, filepath.Dir(path))
		}
	}
	return nil
}

// existsError is an output file that exists, written without --force.
type existsError struct{ flag, path string }

func (e *existsError) Error() string {
	return fmt.Sprintf("%s %s: the file exists; pass --force to replace it, or choose another name", e.flag, e.path)
}

// Write writes path through render: stdout for "-", else a temporary file
// in path's directory, renamed to path once complete. Without --force a
// file that appeared at path since Check is not replaced.
func (o *Guard) Write(path string, stdout io.Writer, render func(io.Writer) error) error {
	if path == "-" {
		return render(stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := render(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if !o.force {
		// A hard link fails where a file exists: no race with another
		// writer between check and now.
		err := os.Link(tmp, path)
		if err == nil {
			return nil
		}
		if errors.Is(err, fs.ErrExist) {
			return &existsError{flag: "output", path: path}
		}
		// A file system without hard links: rename, after one more look.
		if _, err := os.Lstat(path); err == nil {
			return &existsError{flag: "output", path: path}
		}
	}
	return os.Rename(tmp, path)
}

// absClean is path made absolute and cleaned, for comparing paths that do
// not exist yet; on error it is path cleaned.
func absClean(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	return abs
}

// RefusedError is an output the guard refused before any work: a usage
// error of the command line (the command exits 2).
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

func refusef(format string, a ...any) error {
	return &RefusedError{fmt.Errorf(format, a...)}
}
