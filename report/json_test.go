package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// TestJSONIsMarshalIndent checks that the streamed document is the bytes
// json.MarshalIndent gives, on the demo's analysis and on results with the
// cases the walk of the top level handles on its own: omitted, nil and
// empty slices, a warning, text that JSON escapes.
func TestJSONIsMarshalIndent(t *testing.T) {
	demo := reportDemoResult(t)
	hostile := *demo
	hostile.Warning = "UNVERIFIED: <script>alert(1)</script> & \u2028 \x00 \"quoted\""
	hostile.Flows = append([]traffic.Flow{{Container: "</script>", SNI: "a&b"}}, demo.Flows...)
	hostile.Containers = []*model.Container{nil, {Name: "<b>"}}
	cases := map[string]*analyze.Result{
		"demo":    demo,
		"hostile": &hostile,
		"zero":    {},
		"empty":   {Version: analyze.ResultVersion, Containers: []*model.Container{}, Missing: []string{}, Flows: []traffic.Flow{}},
	}
	for name, res := range cases {
		want, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		var got bytes.Buffer
		if err := JSON(&got, res); err != nil {
			t.Fatalf("%s: JSON: %v", name, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			i := 0
			for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
				i++
			}
			t.Errorf("%s: JSON differs from json.MarshalIndent at byte %d: got %q, want %q", name, i,
				got.Bytes()[i:min(got.Len(), i+80)], want[i:min(len(want), i+80)])
		}
	}
}

// TestJSONWriteError checks that a failing writer's error is returned.
func TestJSONWriteError(t *testing.T) {
	want := errors.New("disk full")
	if err := JSON(failingWriter{want}, reportDemoResult(t)); !errors.Is(err, want) {
		t.Fatalf("JSON to a failing writer = %v, want %v", err, want)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestAppendIndented checks the indentation against json.Indent on
// compact JSON with what could mislead a scanner: brackets, commas,
// colons and escaped quotes inside strings, backslashes ending a string,
// empty and nested containers.
func TestAppendIndented(t *testing.T) {
	for _, v := range []any{
		"plain",
		`a "quoted" {[,:]} string \`,
		`\\`,
		map[string]any{"k\"ey": `v\`, "empty": map[string]any{}, "list": []any{}, "n": []any{1, "2", nil, true, []any{[]any{}}}},
		[]any{map[string]any{}, map[string]any{"a": map[string]any{"b": []any{"}", "]", ","}}}},
		json.RawMessage(`{"x":[{"y":"\u003cscript\u003e\\\""}]}`),
	} {
		compact, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, prefix := range []string{"", "  ", "    "} {
			var want bytes.Buffer
			if err := json.Indent(&want, compact, prefix, "  "); err != nil {
				t.Fatal(err)
			}
			if got := appendIndented(nil, compact, prefix); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("appendIndented(%s, %q) = %s, want %s", compact, prefix, got, want.Bytes())
			}
		}
	}
}

// TestJSONLargeDocument checks a document of many write buffers: the bytes
// are json.MarshalIndent's, and a writer failing midway has its error
// returned.
func TestJSONLargeDocument(t *testing.T) {
	res := *reportDemoResult(t)
	if len(res.Flows) == 0 {
		t.Fatal("the demo has no flows")
	}
	for len(res.Flows) < 40000 {
		res.Flows = append(res.Flows, res.Flows...)
	}
	want, err := json.MarshalIndent(&res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if len(want) < 3*asyncWriterBuffers*jsonBufferBytes {
		t.Fatalf("document of %d bytes, want more than %d write buffers", len(want), 3*asyncWriterBuffers)
	}
	var got bytes.Buffer
	if err := JSON(&got, &res); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("JSON of %d flows differs from json.MarshalIndent (%d bytes, want %d)", len(res.Flows), got.Len(), len(want))
	}
	full := errors.New("disk full")
	lw := &limitedWriter{left: 5 * jsonBufferBytes / 2, err: full}
	if err := JSON(lw, &res); !errors.Is(err, full) {
		t.Fatalf("JSON to a writer failing after 2.5 MiB = %v, want %v", err, full)
	}
}

// limitedWriter fails with err once left bytes are written.
type limitedWriter struct {
	left int
	err  error
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, w.err
	}
	w.left -= len(p)
	return len(p), nil
}
