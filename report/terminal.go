// Package report renders analysis results for people: HTML, Markdown, JSON
// and terminal tables. Everything it prints may hold attacker-controlled text
// (container names, labels, command lines, file and DNS names); each output
// format escapes it through one function.
package report

import (
	"io"
	"strings"
	"unicode"

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
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off))
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
