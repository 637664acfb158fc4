package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/filekind"
)

// readHead returns the first filekind.SniffBytes of the file at path,
// with errors that say what is wrong in plain words.
func readHead(path, what string) ([]byte, error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: no such file (%s)", path, what)
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	case info.IsDir():
		return nil, usagef("%s: is a directory, not %s file", path, what)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, filekind.SniffBytes)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return head[:n], nil
}

// inputError is an input that is not what the command takes; hint is the
// next step, if any. A BUNDLE argument that is not a bundle wraps a
// *bundle.FormatError: it failed the bundle's check (exit 4), as a damaged
// bundle does.
type inputError struct {
	msg   string
	hint  string
	cause error
}

func (e *inputError) Error() string { return e.msg }
func (e *inputError) Unwrap() error { return e.cause }

// notBundle is a BUNDLE argument that is some other kind of file.
func notBundle(msg, hint string) error {
	return &inputError{msg: msg, hint: hint, cause: &bundle.FormatError{Reason: "not a dockcase bundle"}}
}

// checkBundleFile refuses a BUNDLE argument that is not a dockcase bundle,
// saying what it is instead. identity is whether --identity was given.
func checkBundleFile(path string, identity bool) error {
	head, err := readHead(path, "a bundle")
	if err != nil {
		return err
	}
	switch k := filekind.Sniff(head); k {
	case filekind.Zstd:
		return nil
	case filekind.Age:
		if identity {
			return nil
		}
		return &inputError{
			msg:  fmt.Sprintf("%s: this bundle is encrypted with age (collected with --recipient): give the lab's identity with --identity FILE", path),
			hint: fmt.Sprintf("or decrypt it first: age -d -i KEY.txt -o case.tar.zst %s", path),
		}
	case filekind.Pcap, filekind.Pcapng:
		return notBundle(fmt.Sprintf("%s: this is %s, not a dockcase bundle; pass it with --pcap", path, k),
			fmt.Sprintf("dockcase analyze BUNDLE --pcap %s", path))
	case filekind.Gzip:
		return notBundle(fmt.Sprintf("%s: this is a gzip file, not a dockcase bundle (a bundle is tar+zstd, as collect --out writes it); a gzip capture goes with --pcap", path), "")
	case filekind.Analysis:
		return notBundle(fmt.Sprintf("%s: this is a saved analysis, not a dockcase bundle", path),
			fmt.Sprintf("dockcase report %s --html report.html renders it", path))
	case filekind.Text:
		return notBundle(fmt.Sprintf("%s: not a dockcase bundle: it starts with text", path), "")
	case filekind.Empty:
		return notBundle(fmt.Sprintf("%s: not a dockcase bundle: the file is empty", path), "")
	default:
		return notBundle(fmt.Sprintf("%s: not a dockcase bundle (tar+zstd): it starts with bytes % x", path, head[:min(8, len(head))]), "")
	}
}

// checkCaptureFile refuses a --pcap file that is not a capture, saying what
// it is; a gzip file is read through, within the bound the analysis uses,
// so that a bomb, a cut stream or a gzip of something else fails here,
// before any output is written.
func checkCaptureFile(path string) error {
	head, err := readHead(path, "a capture")
	if err != nil {
		return fmt.Errorf("--pcap %w", err)
	}
	notCapture := func(what string) error {
		return &inputError{msg: fmt.Sprintf("--pcap %s: not a capture (pcap or pcapng): %s", path, what)}
	}
	switch k := filekind.Sniff(head); k {
	case filekind.Pcap, filekind.Pcapng:
		return nil
	case filekind.Gzip:
		return checkGzipCapture(path)
	case filekind.Zstd, filekind.Age:
		return &inputError{msg: fmt.Sprintf("--pcap %s: this is %s, not a capture; give it as the BUNDLE argument", path, k)}
	case filekind.Text, filekind.Analysis:
		return notCapture("it starts with text")
	case filekind.Empty:
		return notCapture("the file is empty")
	default:
		return notCapture(fmt.Sprintf("it starts with bytes % x", head[:min(8, len(head))]))
	}
}

// checkGzipCapture reads a gzip file to its end: it must hold a pcap or
// pcapng capture of at most maxGzipCaptureBytes.
func checkGzipCapture(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("--pcap %s: %w", path, err)
	}
	defer f.Close()
	if err := filekind.CheckGzipCapture(f, maxGzipCaptureBytes); err != nil {
		return &inputError{msg: fmt.Sprintf("--pcap %s: %v", path, err)}
	}
	return nil
}

// maxGzipCaptureBytes is traffic.MaxGzipCaptureBytes, the bound on a gzip
// --pcap file's decompressed size; tests lower it to make a bomb cheaply.
var maxGzipCaptureBytes = traffic.MaxGzipCaptureBytes

// maxStdinBundleBytes bounds a bundle read from stdin ("-"), spooled to a
// temporary file because the reader extracts members as it verifies and
// commands read the file again for its hash: a bundle larger than the
// reader's own bound on its decompressed size would be refused anyway.
const maxStdinBundleBytes = bundle.DefaultMaxBundleBytes

// bundleArg is the BUNDLE argument of a reading command: a file, or "-"
// for a bundle on stdin (as collect --out - writes one), spooled to a
// temporary file that done removes.
func bundleArg(arg string, stdin io.Reader, stderr io.Writer) (path string, done func(), err error) {
	if arg != "-" {
		return arg, func() {}, nil
	}
	if stdin == nil {
		return "", nil, usagef("-: no standard input to read a bundle from")
	}
	if f, ok := stdin.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&fs.ModeCharDevice != 0 {
			return "", nil, usagef("-: reads a bundle from standard input, but it is a terminal: pipe or redirect the bundle")
		}
	}
	dir, err := os.MkdirTemp("", "dockcase-stdin-")
	if err != nil {
		return "", nil, fmt.Errorf("spool stdin: %w", err)
	}
	done = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "stdin.tar.zst")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		done()
		return "", nil, fmt.Errorf("spool stdin: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(stdin, maxStdinBundleBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxStdinBundleBytes {
		err = fmt.Errorf("more than %d TiB", maxStdinBundleBytes>>40)
	}
	if err == nil && n == 0 {
		err = errors.New("standard input is empty")
	}
	if err != nil {
		done()
		return "", nil, fmt.Errorf("read the bundle from stdin: %w", err)
	}
	fmt.Fprintf(stderr, "dockcase: read the bundle from stdin (%d bytes, kept in a temporary file until the end)\n", n)
	return path, done, nil
}
