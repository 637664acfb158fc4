// Package report renders analysis results for people: HTML, Markdown, JSON
// and terminal tables. Everything it prints may hold attacker-controlled text
// (container names, labels, command lines, file and DNS names); each output
// format escapes it through one function.
package report

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// TerminalText makes s safe to print on a terminal: escape sequences and
// other control characters are shown as \x.. or \u.... so that a container
// named with an ANSI sequence cannot move the cursor, recolour or retitle the
// analyst's terminal. Tabs and newlines are escaped too: one value, one line.
func TerminalText(s string) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !needsEscape(r) {
			b.WriteRune(r)
			continue
		}
		switch {
		case r == unicode.ReplacementChar:
			b.WriteString(`\ufffd`)
		case r < 0x80:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&0xf])
		default:
			b.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				b.WriteByte("0123456789abcdef"[(r>>shift)&0xf])
			}
		}
	}
	return b.String()
}

// needsEscape is true for control characters (C0, DEL, C1), invalid UTF-8,
// and the bidirectional overrides that can reorder what a terminal shows.
func needsEscape(r rune) bool {
	switch {
	case r == unicode.ReplacementChar:
		return true
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// Table prints rows under a header as a terminal table, every cell passed
// through TerminalText. Headers are printed as given: they can be
// interface names (br-568a2f648eb9) that tablewriter's header formatting
// would split and upper-case.
func Table(w io.Writer, header []string, rows [][]string) error {
	return TableWidth(w, 0, header, rows)
}

// TableWidth is Table fitted to a terminal width columns wide: its cells
// wrapped at word boundaries where that is enough, else one record a row
// (the first cell, then each other column as "name: value" beneath it), so
// that nothing is cut. 0 leaves the table its natural width.
func TableWidth(w io.Writer, width int, header []string, rows [][]string) error {
	if width <= 0 {
		return renderTable(w, header, rows)
	}
	var b bytes.Buffer
	for _, opts := range [][]tablewriter.Option{nil, {tablewriter.WithMaxWidth(width), tablewriter.WithRowAutoWrap(tw.WrapNormal), tablewriter.WithHeaderAutoWrap(tw.WrapNormal)}} {
		b.Reset()
		if err := renderTable(&b, header, rows, opts...); err != nil {
			return err
		}
		if widest(b.String()) <= width {
			_, err := w.Write(b.Bytes())
			return err
		}
	}
	return tableRecords(w, header, rows)
}

// widest is the width of a text's widest line, in runes.
func widest(s string) int {
	n := 0
	for _, line := range strings.Split(s, "\n") {
		n = max(n, utf8.RuneCountInString(line))
	}
	return n
}

// tableRecords prints a table too wide for the terminal one record a row.
func tableRecords(w io.Writer, header []string, rows [][]string) error {
	bw := bufio.NewWriter(w)
	for _, row := range rows {
		for i, c := range row {
			switch {
			case i == 0:
				fmt.Fprintf(bw, "  %s\n", TerminalText(c))
			case c != "" && i < len(header):
				fmt.Fprintf(bw, "      %s: %s\n", TerminalText(header[i]), TerminalText(c))
			}
		}
	}
	return bw.Flush()
}

// renderTable renders the table with tablewriter.
func renderTable(w io.Writer, header []string, rows [][]string, extra ...tablewriter.Option) error {
	opts := append([]tablewriter.Option{tablewriter.WithHeaderAutoFormat(tw.Off)}, extra...)
	t := tablewriter.NewTable(w, opts...)
	h := make([]any, len(header))
	for i, c := range header {
		h[i] = TerminalText(c)
	}
	t.Header(h...)
	for _, row := range rows {
		cells := make([]any, len(row))
		for i, c := range row {
			cells[i] = TerminalText(c)
		}
		if err := t.Append(cells...); err != nil {
			return err
		}
	}
	return t.Render()
}
