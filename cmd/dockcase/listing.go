package main

// The output convention of every command that lists things (flows,
// timeline, findings, locate, path, verify, inspect, custody show):
//
//   - on a terminal, a table fitted to the terminal's width (its size, else
//     $COLUMNS, else 80 columns), headers in upper case;
//   - when stdout is not a terminal, header-first TSV: one header line of
//     lower snake case keys, then one line a row, cells separated by a tab;
//     in a cell a backslash is written \\, a tab \t, a newline \n, a
//     carriage return \r and any other control character \xNN or \uNNNN,
//     so that a cell never adds a column or a line;
//   - --json prints JSON on stdout: the rows as an array of objects keyed
//     by the TSV header (numbers as JSON numbers, an empty number as null),
//     or the command's own document (analyze, findings, inspect, verify,
//     custody show, path); the same key means the same thing on every
//     command (container_id, container_name, time, source, …);
//   - --csv (where the output is one table) prints RFC 4180 CSV on stdout,
//     with the TSV's header; a cell a spreadsheet would run as a formula is
//     prefixed with a quote;
//   - --json=FILE and --csv=FILE write the file instead of stdout, through
//     the guard of output.go (never over an input; --force to replace).
//
// Warnings about the bundle (unverified, clock not synchronised) go to
// stderr whenever stdout is not a table.

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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

// column is one column of a listing.
type column struct {
	key   string // lower snake case: the TSV and CSV header, the JSON key
	label string // the terminal's header; "" is key in upper case, _ as space
	text  bool   // free text: on a terminal it gives up width first and wraps
	num   bool   // a number: a JSON number (null when empty), right-aligned
	keep  bool   // never narrowed on a terminal (times, counts, severities)
}

// heading is the column's header on a terminal.
func (c column) heading() string {
	if c.label != "" {
		return c.label
	}
	return strings.ToUpper(strings.ReplaceAll(c.key, "_", " "))
}

// listing is what a command that lists things prints: columns and rows of
// cells (in the columns' order; "" is no value).
type listing struct {
	cols []column
	rows [][]string
	// name is the JSON key of the rows: --json prints
	// {"warning": …, name: [rows…]}, the warning only when there is one.
	name string
	// warning is said first in every format: a "WARNING: " line above the
	// table, a "# WARNING: " line above the TSV or CSV header, the JSON's
	// first key.
	warning string
	// value, when set, is what --json prints (the command's document).
	value any
	// term, when set, is the table shown on a terminal (fewer, shorter
	// columns) instead of cols and rows.
	term *listing
	// csv, when set, writes the CSV instead of the rows (timeline's, whose
	// columns are the ones Timesketch imports).
	csv func(io.Writer) error
}

// add appends a row.
func (l *listing) add(cells ...string) {
	l.rows = append(l.rows, cells)
}

// objects is the listing as JSON objects, one a row, keyed by the columns'
// keys in their order.
func (l *listing) objects() []rowObject {
	out := make([]rowObject, len(l.rows))
	for i, r := range l.rows {
		out[i] = rowObject{cols: l.cols, cells: r}
	}
	return out
}

// rowObject is one row as a JSON object whose keys keep the columns' order.
type rowObject struct {
	cols  []column
	cells []string
}

// MarshalJSON writes the row as an object.
func (o rowObject) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, c := range o.cols {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(c.key)
		b = append(b, k...)
		b = append(b, ':')
		cell := ""
		if i < len(o.cells) {
			cell = o.cells[i]
		}
		switch {
		case c.num && cell == "":
			b = append(b, "null"...)
		case c.num && isNumber(cell):
			b = append(b, cell...)
		default:
			v, err := json.Marshal(cell)
			if err != nil {
				return nil, err
			}
			b = append(b, v...)
		}
	}
	return append(b, '}'), nil
}

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
	if err := out.check("--json", o.json); err != nil {
		return err
	}
	return out.check("--csv", o.csv)
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
func (o *outputFlags) print(l *listing, out *outputs, stdout io.Writer) error {
	value := l.value
	if value == nil {
		value = l.document()
	}
	if o.json != "" {
		if err := out.write(o.json, stdout, func(w io.Writer) error { return writeJSON(w, value) }); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
	}
	if o.csv != "" {
		write := l.writeCSV
		if l.csv != nil {
			write = l.csv
		}
		if err := out.write(o.csv, stdout, write); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	if o.toStdout() {
		return nil
	}
	if o.terminal(stdout) {
		t := l
		if l.term != nil {
			t = l.term
		}
		if l.warning != "" {
			fmt.Fprintf(stdout, "WARNING: %s\n\n", report.TerminalText(l.warning))
		}
		return t.writeTable(stdout, terminalWidth(stdout))
	}
	return l.writeTSV(stdout)
}

// document is the JSON of a listing without a document of its own.
func (l *listing) document() any {
	return listingDoc{warning: l.warning, name: l.name, rows: l.objects()}
}

// listingDoc is {"warning": …, name: rows}.
type listingDoc struct {
	warning string
	name    string
	rows    []rowObject
}

// MarshalJSON writes the document, the warning first.
func (d listingDoc) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	if d.warning != "" {
		w, _ := json.Marshal(d.warning)
		b = append(append(append(b, `"warning":`...), w...), ',')
	}
	k, _ := json.Marshal(d.name)
	rows, err := json.Marshal(d.rows)
	if err != nil {
		return nil, err
	}
	b = append(append(append(b, k...), ':'), rows...)
	return append(b, '}'), nil
}

// writeJSON writes v indented, with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// csvBufferBytes is the write buffer of a CSV or TSV listing: 1 MiB, so
// that a large listing is written in large blocks.
const csvBufferBytes = 1 << 20

// writeCSV writes the listing as RFC 4180 CSV with its header.
func (l *listing) writeCSV(w io.Writer) error {
	bw := bufio.NewWriterSize(w, csvBufferBytes)
	cw := csv.NewWriter(bw)
	if l.warning != "" {
		cw.Write([]string{"# WARNING: " + l.warning})
	}
	header := make([]string, len(l.cols))
	for i, c := range l.cols {
		header[i] = c.key
	}
	cw.Write(header)
	for _, r := range l.rows {
		cw.Write(csvSafe(slices.Clone(r)))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// writeTSV writes the listing as header-first TSV, each cell escaped by
// tsvCell.
func (l *listing) writeTSV(w io.Writer) error {
	bw := bufio.NewWriterSize(w, csvBufferBytes)
	if l.warning != "" {
		bw.WriteString("# WARNING: " + tsvCell(l.warning) + "\n")
	}
	for i, c := range l.cols {
		if i > 0 {
			bw.WriteByte('\t')
		}
		bw.WriteString(c.key)
	}
	bw.WriteByte('\n')
	for _, r := range l.rows {
		for i, cell := range r {
			if i > 0 {
				bw.WriteByte('\t')
			}
			bw.WriteString(tsvCell(cell))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// tsvCell escapes a TSV cell: a backslash as \\, tab, newline and carriage
// return as \t, \n and \r, other control characters (ANSI escapes among
// them) as report.TerminalText writes them.
func tsvCell(s string) string {
	if !strings.ContainsAny(s, "\\\t\n\r") {
		return report.TerminalText(s)
	}
	s = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(s)
	return report.TerminalText(s)
}

// defaultWidth is the terminal width when neither the terminal nor
// $COLUMNS gives one.
const defaultWidth = 80

// terminalWidth is the width of the terminal on stdout, else $COLUMNS,
// else defaultWidth.
func terminalWidth(stdout io.Writer) int {
	if f, ok := stdout.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return defaultWidth
}

// Widths of the terminal table.
const (
	columnGap = 2 // spaces between columns
	// A free-text column gives up width first, down to textFloor (or
	// a third of the width, shared by the free-text columns, when that
	// is more); then the other columns down to otherFloor; then free text
	// down to minTextWidth and the others down to minOtherWidth. A keep
	// column is never narrowed.
	textFloor     = 16
	otherFloor    = 10
	minTextWidth  = 8
	minOtherWidth = 5
)

// writeTable writes the listing as a table fitted to width: when the
// columns' natural widths do not fit, the widest free-text column is
// narrowed first, then the widest other column, in the steps the floors
// above give; a free-text cell wraps onto more lines (at a space, a slash
// or a comma when one fits), another cell is cut with "…". A table that
// does not fit at the smallest widths is left wider than the terminal.
// Cells go through report.TerminalText; an empty cell shows as "-".
func (l *listing) writeTable(w io.Writer, width int) error {
	n := len(l.cols)
	if n == 0 {
		return nil
	}
	cells := make([][]string, len(l.rows))
	for i, r := range l.rows {
		cells[i] = make([]string, n)
		for j := range n {
			c := ""
			if j < len(r) {
				c = r[j]
			}
			if c == "" {
				c = "-"
			}
			cells[i][j] = report.TerminalText(c)
		}
	}
	heads := make([]string, n)
	for j, c := range l.cols {
		heads[j] = report.TerminalText(c.heading())
	}
	widths := fitWidths(l.cols, heads, cells, width)
	bw := bufio.NewWriter(w)
	writeLines(bw, l.cols, widths, heads)
	for _, r := range cells {
		writeLines(bw, l.cols, widths, r)
	}
	return bw.Flush()
}

// fitWidths gives each column its width: its widest cell or header, then
// narrowed as writeTable says until the whole fits width.
func fitWidths(cols []column, heads []string, cells [][]string, width int) []int {
	n := len(cols)
	widths := make([]int, n)
	for j := range n {
		widths[j] = textWidth(heads[j])
		for _, r := range cells {
			widths[j] = max(widths[j], textWidth(r[j]))
		}
	}
	total := columnGap * (n - 1)
	for _, w := range widths {
		total += w
	}
	texts := 0
	for _, c := range cols {
		if c.text {
			texts++
		}
	}
	firstFloor := textFloor
	if texts > 0 {
		firstFloor = max(textFloor, width/3/texts)
	}
	for _, step := range []struct {
		text  bool
		floor int
	}{{true, firstFloor}, {false, otherFloor}, {true, minTextWidth}, {false, minOtherWidth}} {
		for total > width {
			widest := -1
			for j, c := range cols {
				if !c.keep && c.text == step.text && widths[j] > step.floor && (widest < 0 || widths[j] > widths[widest]) {
					widest = j
				}
			}
			if widest < 0 {
				break
			}
			// Down to the next widest column of this kind, or as far as
			// needed, whichever is less: the widest gives first.
			next := step.floor
			for j, c := range cols {
				if j != widest && !c.keep && c.text == step.text && widths[j] < widths[widest] && widths[j] > next {
					next = widths[j]
				}
			}
			cut := max(min(widths[widest]-next, total-width), 1)
			widths[widest] -= cut
			total -= cut
		}
	}
	return widths
}

// writeLines writes one row of the table: as many lines as its tallest
// wrapped cell.
func writeLines(w *bufio.Writer, cols []column, widths []int, row []string) {
	parts := make([][]string, len(cols))
	lines := 1
	for j, c := range cols {
		if c.text {
			parts[j] = wrap(row[j], widths[j])
		} else {
			parts[j] = []string{cut(row[j], widths[j])}
		}
		lines = max(lines, len(parts[j]))
	}
	for k := range lines {
		var b strings.Builder
		for j, c := range cols {
			s := ""
			if k < len(parts[j]) {
				s = parts[j][k]
			}
			pad := strings.Repeat(" ", max(0, widths[j]-textWidth(s)))
			if j > 0 {
				b.WriteString(strings.Repeat(" ", columnGap))
			}
			if c.num {
				b.WriteString(pad + s)
			} else {
				b.WriteString(s)
				if j < len(cols)-1 {
					b.WriteString(pad)
				}
			}
		}
		w.WriteString(strings.TrimRight(b.String(), " "))
		w.WriteByte('\n')
	}
}

// textWidth is the width of s in columns (one a rune: cells are escaped
// and mostly ASCII).
func textWidth(s string) int { return utf8.RuneCountInString(s) }

// cut shortens s to width columns, its last one "…".
func cut(s string, width int) string {
	if textWidth(s) <= width {
		return s
	}
	if width < 1 {
		return ""
	}
	r := []rune(s)
	return string(r[:width-1]) + "…"
}

// wrap breaks s into lines of at most width columns: after the last
// space, slash, comma or colon that fits, else in the middle of a word.
func wrap(s string, width int) []string {
	if width < 1 {
		return []string{s}
	}
	var out []string
	r := []rune(s)
	for len(r) > width {
		brk := -1
		for i := width; i > 0; i-- {
			if r[i] == ' ' {
				brk = i
				break
			}
			if (r[i-1] == '/' && i >= 2 && r[i-2] != ' ' || r[i-1] == ',' || r[i-1] == ':') && i <= width {
				brk = i
				break
			}
		}
		if brk <= 0 {
			out = append(out, string(r[:width]))
			r = r[width:]
			continue
		}
		out = append(out, strings.TrimRight(string(r[:brk]), " "))
		r = r[brk:]
		if len(r) > 0 && r[0] == ' ' {
			r = r[1:]
		}
	}
	return append(out, string(r))
}

// writeRecord writes label: value lines, the labels aligned, for the one
// thing a command describes (a bundle, a verification).
func writeRecord(w io.Writer, pairs [][2]string) {
	n := 0
	for _, p := range pairs {
		n = max(n, textWidth(p[0]))
	}
	for _, p := range pairs {
		fmt.Fprintf(w, "%s:%s %s\n", p[0], strings.Repeat(" ", n-textWidth(p[0])), report.TerminalText(p[1]))
	}
}
