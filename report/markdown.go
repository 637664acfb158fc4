package report

import "strings"

// MarkdownText makes s safe inside GitHub-flavoured Markdown, in a table
// cell or in running text, escaping only what Markdown or HTML would act
// on, so that evidence stays readable ("10:46:41", "host:port", "a.b")
// and a container named "[x](javascript:…)" or "<img onerror=…>" stays
// literal text:
//
//   - always: \ ` * [ ] | ~ (code, emphasis, links, table cells,
//     strikethrough), < as &lt; (HTML, autolinks), & as &amp; where it
//     could start an entity;
//   - _ unless it sits between two letters or digits (where it can
//     neither open nor close emphasis);
//   - ( right after ] (a link's target);
//   - : after a scheme-like word and before a letter or a slash
//     ("https://", "javascript:alert"; not "events.jsonl:12"), and the
//     dot of a leading "www."
//     (GFM's extended autolinks);
//   - # - + = > and an ordered list's "1." at the start of the text (block
//     markers).
//
// Control characters are escaped as for the terminal, and newlines become
// visible \x0a: one value, one line, one cell.
func MarkdownText(s string) string {
	s = TerminalText(s)
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '`', '*', '[', ']', '|', '~':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '_':
			if i > 0 && i+1 < len(s) && isAlnum(s[i-1]) && isAlnum(s[i+1]) {
				b.WriteByte(c)
			} else {
				b.WriteString(`\_`)
			}
		case '(':
			if i > 0 && s[i-1] == ']' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case '<':
			b.WriteString("&lt;")
		case '&':
			if i+1 < len(s) && (isAlnum(s[i+1]) || s[i+1] == '#') {
				b.WriteString("&amp;")
			} else {
				b.WriteByte(c)
			}
		case ':':
			if i+1 < len(s) && (s[i+1] == '/' || isAlnum(s[i+1]) && s[i+1] > '9') && schemeBefore(s[:i]) {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case '.':
			if wordStart(s, i-3) && strings.EqualFold(s[i-3:i], "www") || allDigits(s[:i]) && (i+1 == len(s) || s[i+1] == ' ') {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case '#', '-', '+', '=', '>':
			if i == 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// wordStart reports whether position i of s starts a word (i ≥ 0).
func wordStart(s string, i int) bool {
	return i >= 0 && (i == 0 || !isAlnum(s[i-1]))
}

// schemeBefore reports whether s ends with a word that looks like a URL
// scheme: letters and + . -, with at least one letter that is not a hex
// digit (so that an IPv6 group such as "abcd" is not one, nor a
// fingerprint's "SHA256").
func schemeBefore(s string) bool {
	j := len(s)
	for j > 0 && (isAlnum(s[j-1]) && s[j-1] > '9' || s[j-1] == '+' || s[j-1] == '.' || s[j-1] == '-') {
		j--
	}
	w := s[j:]
	if w == "" || !(w[0] >= 'a' && w[0] <= 'z' || w[0] >= 'A' && w[0] <= 'Z') {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i] | 0x20
		if c >= 'g' && c <= 'z' {
			return true
		}
	}
	return false
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
