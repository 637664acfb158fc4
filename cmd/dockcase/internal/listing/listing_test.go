package listing

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFitWidths(t *testing.T) {
	cols := []Column{{Key: "time", Keep: true}, {Key: "container"}, {Key: "message", Text: true}, {Key: "source"}}
	heads := []string{"TIME", "CONTAINER", "MESSAGE", "SOURCE"}
	cells := [][]string{{"2026-11-28 10:46:41", "dce-beacon-9cdee0", strings.TrimSpace(strings.Repeat("word ", 30)), "capture/capture.pcapng"}}
	natural := fitWidths(cols, heads, cells, 1000)
	if want := []int{19, 17, 149, 22}; !equalInts(natural, want) {
		t.Fatalf("fitWidths(…, 1000) = %v, want the natural widths %v", natural, want)
	}
	for _, tc := range []struct {
		width int
		want  []int
	}{
		// The free-text column gives first: the others keep their width.
		{120, []int{19, 17, 56, 22}},
		// Down to a third of the width; then the widest other column.
		{80, []int{19, 12, 26, 17}},
		// The time is never narrowed; at the smallest widths the table is
		// left wider than the terminal.
		{40, []int{19, 5, 8, 5}},
	} {
		got := fitWidths(cols, heads, cells, tc.width)
		if !equalInts(got, tc.want) {
			t.Errorf("fitWidths(…, %d) = %v, want %v", tc.width, got, tc.want)
		}
		total := 3 * columnGap
		for _, w := range got {
			total += w
		}
		if total > tc.width && tc.width >= 80 {
			t.Errorf("fitWidths(…, %d): %d columns wide", tc.width, total)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWriteTableFitsAndKeepsText(t *testing.T) {
	msg := "process 1050 started in host: line_io_tools/binary_backend --uid 0 --gid 0 --startup-timeout 60 --env HOME=/root"
	l := &Table{Cols: []Column{{Key: "n", Label: "#", Num: true}, {Key: "kind"}, {Key: "message", Text: true}, {Key: "container_id"}}}
	l.Add("7", "Process start", msg, "655b0f8c71a9f760140db82f1a6d6074f448a041b7cd1d8932f8c67754324c15")
	l.Add("12", "", "short", "")
	for _, width := range []int{60, 80, 200} {
		var b bytes.Buffer
		if err := l.WriteTable(&b, width); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if !strings.HasPrefix(lines[0], " #  KIND") {
			t.Errorf("width %d: header %q, want upper-case labels, the number right-aligned", width, lines[0])
		}
		for _, line := range lines {
			if n := utf8.RuneCountInString(line); n > width {
				t.Errorf("width %d: line of %d columns: %q", width, n, line)
			}
		}
		// The message's column: wrapped, every short word kept.
		for _, word := range strings.Fields(msg) {
			if len(word) <= minTextWidth && !strings.Contains(b.String(), word) {
				t.Errorf("width %d: the message lost %q:\n%s", width, word, b.String())
			}
		}
		if !regexp.MustCompile(`(?m)^12  -  +short`).MatchString(b.String()) && !strings.Contains(b.String(), "-") {
			t.Errorf("width %d: an empty cell is not shown as -:\n%s", width, b.String())
		}
		if width < 100 && !strings.Contains(b.String(), "…") {
			t.Errorf("width %d: the container id is not cut:\n%s", width, b.String())
		}
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		s     string
		width int
		want  []string
	}{
		{"one two three", 7, []string{"one two", "three"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"host/conntrack.json", 12, []string{"host/", "conntrack.js", "on"}},
		{"a, b, c", 3, []string{"a,", "b,", "c"}},
		{"short", 10, []string{"short"}},
	} {
		if got := wrap(tc.s, tc.width); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tc.s, tc.width, got, tc.want)
		}
	}
}

func TestTSVCell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"a\tb", `a\tb`},
		{"line1\nline2\r", `line1\nline2\r`},
		{`C:\tmp`, `C:\\tmp`},
		{"\x1b[31mred", `\x1b[31mred`},
	} {
		if got := TSVCell(tc.in); got != tc.want {
			t.Errorf("TSVCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	l := &Table{Cols: []Column{{Key: "a"}, {Key: "b"}}, Warning: "UNVERIFIED: x\ty"}
	l.Add("1\t2", "x\ny")
	var b bytes.Buffer
	if err := l.WriteTSV(&b); err != nil {
		t.Fatal(err)
	}
	if want := "# WARNING: UNVERIFIED: x\\ty\na\tb\n1\\t2\tx\\ny\n"; b.String() != want {
		t.Errorf("writeTSV = %q, want %q", b.String(), want)
	}
}

func TestListingJSON(t *testing.T) {
	l := &Table{Cols: []Column{{Key: "z_name"}, {Key: "count", Num: true}, {Key: "pid", Num: true}}, Name: "rows", Warning: "careful"}
	l.Add("x", "12", "")
	l.Add("y", "not a number", "3")
	data, err := json.Marshal(l.Document())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"warning":"careful","rows":[{"z_name":"x","count":12,"pid":null},{"z_name":"y","count":"not a number","pid":3}]}`; string(data) != want {
		t.Errorf("document JSON = %s, want %s", data, want)
	}
}
