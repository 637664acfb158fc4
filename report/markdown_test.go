package report

import (
	"strings"
	"testing"
)

func TestMarkdownText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-1", `web-1`},
		{"a|b", `a\|b`},
		{"[x](javascript:alert(1))", `\[x\]\(javascript&#58;alert\(1\)\)`},
		{"<script>alert(1)</script>", `&lt;script\>alert\(1\)&lt;/script\>`},
		{`"><img src=x onerror=alert(1)>`, `\"\>&lt;img src=x onerror=alert\(1\)\>`},
		{"`rm -rf /`", "\\`rm -rf /\\`"},
		{"# heading", `\# heading`},
		{"- item", `\- item`},
		{"a\nb", `a\\x0ab`},
		{"\x1b[31m", `\\x1b\[31m`},
		{"https://evil.example", `https&#58;//evil.example`},
		{"&lt;", `&amp;lt;`},
		{"**bold** _it_", `\*\*bold\*\* \_it\_`},
	}
	for _, tt := range tests {
		if got := MarkdownText(tt.in); got != tt.want {
			t.Errorf("MarkdownText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMarkdownTextNeverBreaksOut checks, for hostile values, that the
// escaped text holds no raw construct that a Markdown renderer acts on.
func TestMarkdownTextNeverBreaksOut(t *testing.T) {
	hostile := []string{"<script>", "](javascript:x)", "| cell | break |", "![i](http://x/i.png)", "<a href=x>", "\x1b]8;;http://x\x07", "line\n# title"}
	for _, h := range hostile {
		got := MarkdownText(h)
		for _, bad := range []string{"<", "](", "javascript:", "\n", "\x1b", "http:"} {
			if strings.Contains(got, bad) {
				t.Errorf("MarkdownText(%q) = %q holds %q", h, got, bad)
			}
		}
		if strings.Contains(strings.ReplaceAll(got, `\|`, ""), "|") {
			t.Errorf("MarkdownText(%q) = %q holds an unescaped pipe", h, got)
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
	}
	for _, tt := range tests {
		if got := MarkdownCode(tt.in); got != tt.want {
			t.Errorf("MarkdownCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
