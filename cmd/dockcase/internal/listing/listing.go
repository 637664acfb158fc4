// Package listing is the output convention of every dockcase command that
// lists things (flows, timeline, findings, locate, path, verify, inspect,
// custody show): a Table of Columns and rows, written
//
//   - on a terminal, as a table fitted to the terminal's width (its size,
//     else $COLUMNS, else 80 columns), headers in upper case (WriteTable);
//   - when stdout is not a terminal, as header-first TSV: one header line
//     of lower snake case keys, then one line a row, cells separated by a
//     tab; in a cell a backslash is written \\, a tab \t, a newline \n, a
//     carriage return \r and any other control character \xNN or \uNNNN,
//     so that a cell never adds a column or a line (WriteTSV);
//   - for --json, as JSON: the rows as an array of objects keyed by the TSV
//     header (numbers as JSON numbers, an empty number as null), or the
//     command's own document (analyze, findings, inspect, verify, custody
//     show, path); the same key means the same thing on every command
//     (container_id, container_name, time, source, …) (Document, WriteJSON);
//   - for --csv (where the output is one table), as RFC 4180 CSV with the
//     TSV's header; a cell a spreadsheet would run as a formula is prefixed
//     with a quote (WriteCSV).
//
// The command's flags choose among them, and write files through the
// command's output guard (never over an input; --force to replace).
// Warnings about the bundle (unverified, clock not synchronised) go to
// stderr whenever stdout is not a table.
package listing

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
	"golang.org/x/term"
)

// Column is one column of a listing.
type Column struct {
	Key   string // lower snake case: the TSV and CSV header, the JSON key
	Label string // the terminal's header; "" is Key in upper case, _ as space
	Text  bool   // free text: on a terminal it gives up width first and wraps
	Num   bool   // a number: a JSON number (null when empty), right-aligned
	Keep  bool   // never narrowed on a terminal (times, counts, severities)
}

// heading is the column's header on a terminal.
func (c Column) heading() string {
	if c.Label != "" {
		return c.Label
	}
	return strings.ToUpper(strings.ReplaceAll(c.Key, "_", " "))
}

// Table is what a command that lists things prints: columns and rows of
// cells (in the columns' order; "" is no value).
type Table struct {
	Cols []Column
	Rows [][]string
	// Name is the JSON key of the rows: --json prints
	// {"warning": …, name: [rows…]}, the warning only when there is one.
	Name string
	// Warning is said first in every format: a "WARNING: " line above the
	// table, a "# WARNING: " line above the TSV or CSV header, the JSON's
	// first key.
	Warning string
	// Value, when set, is what --json prints (the command's Document).
	Value any
	// Term, when set, is the table shown on a terminal (fewer, shorter
	// columns) instead of Cols and Rows.
	Term *Table
	// CSV, when set, writes the CSV instead of the rows (timeline's, whose
	// columns are the ones Timesketch imports).
	CSV func(io.Writer) error
}

// Add appends a row.
func (l *Table) Add(cells ...string) {
	l.Rows = append(l.Rows, cells)
}

// Objects is the listing as JSON objects, one a row, keyed by the columns'
// keys in their order.
func (l *Table) Objects() []Row {
	out := make([]Row, len(l.Rows))
	for i, r := range l.Rows {
		out[i] = Row{cols: l.Cols, cells: r}
	}
	return out
}

// Row is one row of a Table as a JSON object whose keys keep the
// columns' order.
type Row struct {
	cols  []Column
	cells []string
}

// MarshalJSON writes the row as an object.
func (o Row) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, c := range o.cols {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(c.Key)
		b = append(b, k...)
		b = append(b, ':')
		cell := ""
		if i < len(o.cells) {
			cell = o.cells[i]
		}
		switch {
		case c.Num && cell == "":
			b = append(b, "null"...)
		case c.Num && isNumber(cell):
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

// Document is the JSON of a listing without a document of its own:
// {"warning": …, Name: [rows…]}.
func (l *Table) Document() any {
	return listingDoc{warning: l.Warning, name: l.Name, rows: l.Objects()}
}

// listingDoc is {"warning": …, name: rows}.
type listingDoc struct {
	warning string
	name    string
	rows    []Row
}

// MarshalJSON writes the Document, the warning first.
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

// WriteJSON writes v indented, with a final newline.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// csvBufferBytes is the write buffer of a CSV or TSV listing: 1 MiB, so
// that a large listing is written in large blocks.
const csvBufferBytes = 1 << 20

// WriteCSV writes the listing as RFC 4180 CSV with its header.
func (l *Table) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriterSize(w, csvBufferBytes)
	cw := csv.NewWriter(bw)
	if l.Warning != "" {
		cw.Write([]string{"# WARNING: " + l.Warning})
	}
	header := make([]string, len(l.Cols))
	for i, c := range l.Cols {
		header[i] = c.Key
	}
	cw.Write(header)
	for _, r := range l.Rows {
		cw.Write(CSVSafe(slices.Clone(r)))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// WriteTSV writes the listing as header-first TSV, each cell escaped by
// TSVCell.
func (l *Table) WriteTSV(w io.Writer) error {
	bw := bufio.NewWriterSize(w, csvBufferBytes)
	if l.Warning != "" {
		bw.WriteString("# WARNING: " + TSVCell(l.Warning) + "\n")
	}
	for i, c := range l.Cols {
		if i > 0 {
			bw.WriteByte('\t')
		}
		bw.WriteString(c.Key)
	}
	bw.WriteByte('\n')
	for _, r := range l.Rows {
		for i, cell := range r {
			if i > 0 {
				bw.WriteByte('\t')
			}
			bw.WriteString(TSVCell(cell))
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// TSVCell escapes a TSV cell: a backslash as \\, tab, newline and carriage
// return as \t, \n and \r, other control characters (ANSI escapes among
// them) as report.TerminalText writes them.
func TSVCell(s string) string {
	if !strings.ContainsAny(s, "\\\t\n\r") {
		return report.TerminalText(s)
	}
	s = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`).Replace(s)
	return report.TerminalText(s)
}

// defaultWidth is the terminal width when neither the terminal nor
// $COLUMNS gives one.
const defaultWidth = 80

// TerminalWidth is the width of the terminal on stdout, else $COLUMNS,
// else defaultWidth.
func TerminalWidth(stdout io.Writer) int {
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

// WriteTable writes the listing as a table fitted to width: when the
// columns' natural widths do not fit, the widest free-text column is
// narrowed first, then the widest other column, in the steps the floors
// above give; a free-text cell wraps onto more lines (at a space, a slash
// or a comma when one fits), another cell is cut with "…". A table that
// does not fit at the smallest widths is left wider than the terminal.
// Cells go through report.TerminalText; an empty cell shows as "-".
func (l *Table) WriteTable(w io.Writer, width int) error {
	n := len(l.Cols)
	if n == 0 {
		return nil
	}
	cells := make([][]string, len(l.Rows))
	for i, r := range l.Rows {
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
	for j, c := range l.Cols {
		heads[j] = report.TerminalText(c.heading())
	}
	widths := fitWidths(l.Cols, heads, cells, width)
	bw := bufio.NewWriter(w)
	writeLines(bw, l.Cols, widths, heads)
	for _, r := range cells {
		writeLines(bw, l.Cols, widths, r)
	}
	return bw.Flush()
}

// fitWidths gives each column its width: its widest cell or header, then
// narrowed as WriteTable says until the whole fits width.
func fitWidths(cols []Column, heads []string, cells [][]string, width int) []int {
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
		if c.Text {
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
				if !c.Keep && c.Text == step.text && widths[j] > step.floor && (widest < 0 || widths[j] > widths[widest]) {
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
				if j != widest && !c.Keep && c.Text == step.text && widths[j] < widths[widest] && widths[j] > next {
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
func writeLines(w *bufio.Writer, cols []Column, widths []int, row []string) {
	parts := make([][]string, len(cols))
	lines := 1
	for j, c := range cols {
		if c.Text {
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
			if c.Num {
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

// WriteRecord writes label: value lines, the labels aligned, for the one
// thing a command describes (a bundle, a verification).
func WriteRecord(w io.Writer, pairs [][2]string) {
	n := 0
	for _, p := range pairs {
		n = max(n, textWidth(p[0]))
	}
	for _, p := range pairs {
		fmt.Fprintf(w, "%s:%s %s\n", p[0], strings.Repeat(" ", n-textWidth(p[0])), report.TerminalText(p[1]))
	}
}

// CSVSafe defuses cells a spreadsheet would run as a formula: names and
// reasons come from the evidence.
func CSVSafe(row []string) []string {
	for i, c := range row {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) && !isNumber(c) {
			row[i] = "'" + c
		}
	}
	return row
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
