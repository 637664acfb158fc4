package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/pflag"
)

// reportOutputs are the report files of analyze and report: --html and
// --md. (analyze's --json is its own flag.)
type reportOutputs struct {
	html string
	md   string
}

// addFlags adds --html and --md to a command's flags.
func (o *reportOutputs) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.html, "html", "", "write the HTML report (one self-contained file) to `FILE` (- for stdout)")
	fs.StringVar(&o.md, "md", "", "write the Markdown report to `FILE` (- for stdout)")
}

// wanted reports whether a report file was asked for.
func (o *reportOutputs) wanted() bool { return o.html != "" || o.md != "" }

// write renders the asked-for reports of res; "-" writes to stdout.
func (o *reportOutputs) write(res *analyze.Result, stdout io.Writer) error {
	for _, out := range []struct {
		path   string
		what   string
		render func(io.Writer, *analyze.Result) error
	}{
		{o.html, "html report", report.HTML},
		{o.md, "markdown report", report.Markdown},
	} {
		if out.path == "" {
			continue
		}
		if err := writeReportFile(out.path, stdout, func(w io.Writer) error { return out.render(w, res) }); err != nil {
			return fmt.Errorf("write %s: %w", out.what, err)
		}
	}
	return nil
}

// writeReportFile writes a rendered report to path through a temporary
// file in the same directory, renamed into place once complete: a failed
// render never leaves half a report where the old one was.
func writeReportFile(path string, stdout io.Writer, render func(io.Writer) error) error {
	if path == "-" {
		return render(stdout)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".dockcase-report-*")
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
	return os.Rename(tmp, path)
}
