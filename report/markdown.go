package report

import "strings"

// MarkdownText makes s safe inside GitHub-flavoured Markdown, in a table cell
// or in running text: everything Markdown or HTML would interpret is
// backslash-escaped or written as an entity, so a container named
// "[x](javascript:…)" or "<img onerror=…>" stays literal text. Control
// characters are escaped as for the terminal, and newlines become spaces:
// one value, one line, one cell.
func MarkdownText(s string) string {
	s = TerminalText(s)
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i, r := range s {
		switch r {
		case '\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '!', '|', '~', '>', '"', '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '-', '.':
			// Only special at the start of a line (lists, rules).
			if i == 0 {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		case '<':
			b.WriteString("&lt;")
		case '&':
			b.WriteString("&amp;")
		case ':':
			// Autolinks (GFM extension): break "javascript:", "https:".
			b.WriteString("&#58;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// MarkdownCode renders s as inline code; backticks in s are handled by a
// longer fence, and control characters are escaped.
func MarkdownCode(s string) string {
	s = TerminalText(s)
	if s == "" {
		return "` `"
	}
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	// A pipe ends a table cell even inside code in GFM.
	s = strings.ReplaceAll(s, "|", `\|`)
	return fence + pad + s + pad + fence
}
