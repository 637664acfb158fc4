package main

import (
	"fmt"
	"io"

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

// check refuses report paths that name an input or an existing file.
func (o *reportOutputs) check(out *outputs) error {
	if err := out.Check("--html", o.html); err != nil {
		return err
	}
	return out.Check("--md", o.md)
}

// write renders the asked-for reports of res through out; "-" writes to
// stdout.
func (o *reportOutputs) write(res *analyze.Result, out *outputs, stdout io.Writer) error {
	for _, rep := range []struct {
		path   string
		what   string
		render func(io.Writer, *analyze.Result) error
	}{
		{o.html, "html report", report.HTML},
		{o.md, "markdown report", report.Markdown},
	} {
		if rep.path == "" {
			continue
		}
		if err := out.Write(rep.path, stdout, func(w io.Writer) error { return rep.render(w, res) }); err != nil {
			return fmt.Errorf("write %s: %w", rep.what, err)
		}
	}
	return nil
}
