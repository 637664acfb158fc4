package main

// The flags of the listing convention (package listing): --json and --csv
// on every command that lists things, and where each output goes.

import (
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// listingHelp is the output convention, as the help of every listing
// command says it.
const listingHelp = `
Output: a table fitted to the terminal's width on a terminal; piped or
redirected, tab-separated lines under a header line of lower-case keys (in a
cell a backslash is \\, a tab \t, a newline \n, another control character
\xNN); --json prints JSON on stdout, with the same keys; --csv, where the
output is one table, CSV (RFC 4180). --json=FILE and --csv=FILE write FILE
instead (never over an input of the run; an existing file only with
--force).`

// outputFlags are --json and --csv, the same on every listing command.
type outputFlags struct {
	json string // "": not asked; "-": stdout; else a file
	csv  string
	// legacy names the flags that took a value before (--json FILE of
	// analyze, --csv FILE of flows and timeline): see takeLegacyValue.
	legacy []string
	// tty overrides the terminal test of stdout (tests); nil: look.
	tty *bool
}

// addFlags adds --json, and --csv when the command's output is one table.
func (o *outputFlags) addFlags(fs *pflag.FlagSet, jsonWhat string, tabular bool) {
	fs.StringVar(&o.json, "json", "", "print "+jsonWhat+" as JSON on stdout (--json=`FILE` writes FILE instead)")
	fs.Lookup("json").NoOptDefVal = "-"
	if tabular {
		fs.StringVar(&o.csv, "csv", "", "print the table as CSV on stdout (--csv=`FILE` writes FILE instead)")
		fs.Lookup("csv").NoOptDefVal = "-"
	}
}

// check refuses --json and --csv together on stdout and checks their
// files with the run's other outputs (before any work).
func (o *outputFlags) check(out *outputs) error {
	if o.json == "-" && o.csv == "-" {
		return usagef("--json and --csv cannot both print to stdout; write one to a file with --json=FILE or --csv=FILE")
	}
	if err := out.Check("--json", o.json); err != nil {
		return err
	}
	return out.Check("--csv", o.csv)
}

// toStdout reports whether stdout gets JSON or CSV rather than a table.
func (o *outputFlags) toStdout() bool { return o.json == "-" || o.csv == "-" }

// table reports whether stdout is a terminal and gets the table.
func (o *outputFlags) table(stdout io.Writer) bool {
	return !o.toStdout() && o.terminal(stdout)
}

// terminal reports whether stdout is a terminal.
func (o *outputFlags) terminal(stdout io.Writer) bool {
	if o.tty != nil {
		return *o.tty
	}
	f, ok := stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// takeLegacyValue keeps the old spelling "--json FILE" (analyze) and
// "--csv FILE" (flows, timeline) working: pflag reads "--json FILE" as
// --json (stdout) and a positional FILE, so a command given one argument
// more than it takes, whose legacy flag was given bare on the command line
// and directly followed by that argument, takes it as the flag's value,
// with a notice on stderr. raw is the command line as given to Main.
func (o *outputFlags) takeLegacyValue(cmd *cobra.Command, args []string, want int) ([]string, error) {
	if len(args) != want+1 {
		return args, nil
	}
	raw, _ := cmd.Context().Value(rawArgsKey{}).([]string)
	for _, name := range o.legacy {
		f := cmd.Flags().Lookup(name)
		if f == nil || !f.Changed || f.Value.String() != "-" {
			continue
		}
		for i := 0; i+1 < len(raw); i++ {
			if raw[i] != "--"+name {
				continue
			}
			j := slices.Index(args, raw[i+1])
			if j < 0 {
				continue
			}
			if err := f.Value.Set(args[j]); err != nil {
				return args, err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "dockcase: --%s %s: write --%s=%s (or --%s alone for stdout); the form with a space is deprecated\n",
				name, report.TerminalText(args[j]), name, report.TerminalText(args[j]), name)
			return slices.Delete(slices.Clone(args), j, j+1), nil
		}
	}
	return args, fmt.Errorf("accepts %d arg(s), received %d", want, len(args))
}

// rawArgsKey is the context key of the command line as given to Main.
type rawArgsKey struct{}

// print writes l as the flags ask: JSON, CSV, a fitted table on a
// terminal, else TSV.
func (o *outputFlags) print(l *listing.Table, out *outputs, stdout io.Writer) error {
	value := l.Value
	if value == nil {
		value = l.Document()
	}
	if o.json != "" {
		if err := out.Write(o.json, stdout, func(w io.Writer) error { return listing.WriteJSON(w, value) }); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
	}
	if o.csv != "" {
		write := l.WriteCSV
		if l.CSV != nil {
			write = l.CSV
		}
		if err := out.Write(o.csv, stdout, write); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	if o.toStdout() {
		return nil
	}
	if o.terminal(stdout) {
		t := l
		if l.Term != nil {
			t = l.Term
		}
		if l.Warning != "" {
			fmt.Fprintf(stdout, "WARNING: %s\n\n", report.TerminalText(l.Warning))
		}
		return t.WriteTable(stdout, listing.TerminalWidth(stdout))
	}
	return l.WriteTSV(stdout)
}
