package report

import (
	"bytes"
	"strings"
	"testing"
)

func TestTerminalText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-1", "web-1"},
		{"naïve café", "naïve café"},
		{"\x1b[2J\x1b[31mred", `\x1b[2J\x1b[31mred`},
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"a\nb\tc\r", `a\x0ab\x09c\x0d`},
		{"\u009b31m", `\u009b31m`},
		{"file\u202egnp.exe", `file\u202egnp.exe`},
		{"bad\xffutf8", `bad\ufffdutf8`},
		{"\x7f", `\x7f`},
	}
	for _, tt := range tests {
		if got := TerminalText(tt.in); got != tt.want {
			t.Errorf("TerminalText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTableEscapesCells(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, []string{"name", "state"}, [][]string{{"\x1b[31mevil\x1b[0m", "running"}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.ContainsRune(out, 0x1b) {
		t.Fatalf("table output holds a raw escape: %q", out)
	}
	if !strings.Contains(out, `\x1b[31mevil`) || !strings.Contains(out, "running") {
		t.Fatalf("table output lacks the escaped value: %q", out)
	}
}
