package report

import (
	"regexp"
	"strings"
	"testing"
)

func TestMarkdownText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-1", `web-1`},
		{"a|b", `a\|b`},
		// Evidence reads as it is: times, ports, IPv6, prose.
		{"2026-11-28 10:46:41", `2026-11-28 10:46:41`},
		{"198.19.134.3:57474 -> 198.18.185.2:4444", `198.19.134.3:57474 -> 198.18.185.2:4444`},
		{"2001:db8::1 fe80::1", `2001:db8::1 fe80::1`},
		{"namespaces: partial (1 of 81)", `namespaces: partial (1 of 81)`},
		{`Metasploit's "default"`, `Metasploit's "default"`},
		{"line_io_tools/binary_backend", `line_io_tools/binary_backend`},
		{"a & b", `a & b`},
		{"SHA256:OZq6NxTV abcd:ef01::1", `SHA256:OZq6NxTV abcd:ef01::1`},
		{"docker/events.jsonl:12", `docker/events.jsonl:12`},
		// What Markdown or HTML acts on does not work.
		{"[x](javascript:alert(1))", `\[x\]\(javascript\:alert(1))`},
		{"![i](http://x/i.png)", `!\[i\]\(http\://x/i.png)`},
		{"<script>alert(1)</script>", `&lt;script>alert(1)&lt;/script>`},
		{`"><img src=x onerror=alert(1)>`, `">&lt;img src=x onerror=alert(1)>`},
		{"`rm -rf /`", "\\`rm -rf /\\`"},
		{"# heading", `\# heading`},
		{"- item", `\- item`},
		{"> quote", `\> quote`},
		{"1. item", `1\. item`},
		{"a\nb", `a\\x0ab`},
		{"\x1b[31mred", `\\x1b\[31mred`},
		{"\x1b]8;;http://x\x07", `\\x1b\]8;;http\://x\\x07`},
		{"https://evil.example", `https\://evil.example`},
		{"see www.evil.example", `see www\.evil.example`},
		{"&lt; &#60;", `&amp;lt; &amp;#60;`},
		{"**bold** _it_ __x__", `\*\*bold\*\* \_it\_ \_\_x\_\_`},
		{"~~gone~~", `\~\~gone\~\~`},
		{`a\`, `a\\`},
	}
	for _, tt := range tests {
		if got := MarkdownText(tt.in); got != tt.want {
			t.Errorf("MarkdownText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// unescaped matches a character Markdown acts on that no backslash
// escapes (an even run of backslashes before it escapes nothing).
func unescaped(c string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[^\\])(\\\\)*` + regexp.QuoteMeta(c))
}

// TestMarkdownTextNeverBreaksOut checks, for hostile values, that the
// escaped text holds no raw construct that a Markdown renderer acts on:
// no HTML, no link or image brackets, no autolink scheme, no control
// character, no unescaped pipe.
func TestMarkdownTextNeverBreaksOut(t *testing.T) {
	hostile := []string{"<script>", "](javascript:x)", "[a](javascript:alert(1))", "| cell | break |", "![i](http://x/i.png)", "<a href=x>",
		"\x1b]8;;http://x\x07", "\x1b[2J\x1b[31m", "line\n# title", "https://evil.example/x", "www.evil.example", "\\[x\\](y)", "`code`"}
	for _, h := range hostile {
		got := MarkdownText(h)
		for _, bad := range []string{"<", "javascript:", "http:", "https:", "\n", "\x1b", "\x07"} {
			if strings.Contains(got, bad) {
				t.Errorf("MarkdownText(%q) = %q holds %q", h, got, bad)
			}
		}
		for _, c := range []string{"[", "]", "|", "`"} {
			if unescaped(c).MatchString(got) {
				t.Errorf("MarkdownText(%q) = %q holds an unescaped %s", h, got, c)
			}
		}
		if strings.HasPrefix(got, "www.") {
			t.Errorf("MarkdownText(%q) = %q starts a www autolink", h, got)
		}
	}
}

func TestMarkdownCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ls -la", "`ls -la`"},
		{"a`b", "``a`b``"},
		{"`x`", "`` `x` ``"},
		{"a|b", "`a\\|b`"},
		{"", "` `"},
		{"\x1b[31m", "`\\x1b[31m`"},
	}
	for _, tt := range tests {
		if got := MarkdownCode(tt.in); got != tt.want {
			t.Errorf("MarkdownCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
