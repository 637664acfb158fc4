package docker

import (
	"bytes"
	"strings"
	"testing"
)

func TestCopyEventLinesBounds(t *testing.T) {
	ev := func(i int) string {
		return `{"Type":"container","Action":"start","id":"` + strings.Repeat("a", i) + `"}`
	}
	three := ev(1) + "\n" + ev(2) + "\n\n" + ev(3) + "\n"
	tests := []struct {
		name      string
		in        string
		lim       StreamLimits
		wantLines int
		bounded   bool
		wantErr   string
	}{
		{"unbounded", three, StreamLimits{}, 3, false, ""},
		{"max lines", three, StreamLimits{MaxLines: 2}, 2, true, ""},
		{"max bytes cut before the line that would cross", three, StreamLimits{MaxBytes: int64(len(ev(1)) + 1 + len(ev(2)) + 1 + 3)}, 2, true, ""},
		{"max bytes exactly", three, StreamLimits{MaxBytes: int64(len(ev(1)) + len(ev(2)) + len(ev(3)) + 3)}, 3, false, ""},
		{"crlf lines kept verbatim", ev(1) + "\r\n", StreamLimits{}, 1, false, ""},
		{"not json", ev(1) + "\n{oops\n" + ev(2) + "\n", StreamLimits{}, 1, false, "line 2 is not JSON"},
		{"line over MaxEventBytes", ev(1) + "\n" + `"` + strings.Repeat("x", MaxEventBytes) + `"` + "\n", StreamLimits{}, 1, false, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			var seen []string
			st, err := copyEventLines(strings.NewReader(tt.in), &out, tt.lim, func(l []byte) { seen = append(seen, string(l)) })
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("copyEventLines(%q) error = %v, want %q", tt.name, err, tt.wantErr)
			}
			if st.Lines != tt.wantLines || st.Bounded != tt.bounded || st.Bytes != int64(out.Len()) {
				t.Errorf("copyEventLines(%q) = %+v (wrote %d bytes), want %d lines, bounded %v", tt.name, st, out.Len(), tt.wantLines, tt.bounded)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if out.Len() == 0 {
				lines = nil
			}
			if len(lines) != tt.wantLines || len(seen) != tt.wantLines {
				t.Fatalf("wrote %d lines and called back %d times, want %d: %q", len(lines), len(seen), tt.wantLines, out.String())
			}
			for i, l := range lines {
				if l != ev(i+1) || seen[i] != l {
					t.Errorf("line %d = %q (callback %q), want %q", i+1, l, seen[i], ev(i+1))
				}
			}
			if tt.lim.MaxBytes > 0 && st.Bytes > tt.lim.MaxBytes {
				t.Errorf("wrote %d bytes, over the bound %d", st.Bytes, tt.lim.MaxBytes)
			}
		})
	}
}

func TestIsContainerID(t *testing.T) {
	for s, want := range map[string]bool{
		strings.Repeat("ab", 32):        true,
		strings.Repeat("AB", 32):        false,
		strings.Repeat("a", 63):         false,
		"../" + strings.Repeat("a", 61): false,
		strings.Repeat("a", 63) + "g":   false,
	} {
		if got := IsContainerID(s); got != want {
			t.Errorf("IsContainerID(%q) = %v, want %v", s, got, want)
		}
	}
}
