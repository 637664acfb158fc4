package analyze_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/report"
)

// decodeBothWays decodes doc with DecodeResult and with json.Unmarshal and
// fails unless both fail, or both give the same Result.
func decodeBothWays(t *testing.T, name string, doc []byte) *analyze.Result {
	t.Helper()
	got, err := analyze.DecodeResult(doc)
	var want analyze.Result
	wantErr := json.Unmarshal(doc, &want)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%s: DecodeResult: %v; json.Unmarshal: %v", name, err, wantErr)
	}
	if err != nil {
		return nil
	}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("%s: DecodeResult's result differs from json.Unmarshal's", name)
	}
	return got
}

// demoDocument is the demo bundle's saved analysis.
func demoDocument(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("testdata", "golden", "demo.analysis.json"))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// generatedDocument analyses the demo bundle with a capture of
// scripts/gencapture (container traffic on two /16s and its masqueraded
// uplink copy, as the benchmarks' captures) and returns the document
// report.JSON writes of it: the flows and contacts of a perimeter capture.
func generatedDocument(t testing.TB, args ...string) []byte {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin, capture := filepath.Join(dir, "gencapture"), filepath.Join(dir, "gen.pcap")
	cmd := exec.Command("go", "build", "-o", bin, "./scripts/gencapture")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./scripts/gencapture: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, append([]string{"-out", capture}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("gencapture %v: %v\n%s", args, err, out)
	}
	res, err := analyze.Analyze(analyzetest.OpenDemo(t), analyze.Options{Pcaps: []string{capture}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Flows) < 1000 || len(res.Contacts) < 1000 {
		t.Fatalf("the generated capture's analysis has %d flows and %d contacts, want a thousand or more of each", len(res.Flows), len(res.Contacts))
	}
	var b bytes.Buffer
	if err := report.JSON(&b, res); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDecodeResultMatchesUnmarshal checks that DecodeResult gives
// json.Unmarshal's Result on the documents dockcase writes: the demo's
// analysis and a generated perimeter capture's, indented as report.JSON
// writes them and compact.
func TestDecodeResultMatchesUnmarshal(t *testing.T) {
	docs := map[string][]byte{"demo": demoDocument(t)}
	flows := "10000"
	if testing.Short() {
		flows = "2000"
	}
	docs["generated"] = generatedDocument(t, "-size", "20MB", "-flows", flows)
	for name, doc := range docs {
		res := decodeBothWays(t, name, doc)
		if res.Version != analyze.ResultVersion || len(res.Flows) == 0 || len(res.Contacts) == 0 || len(res.Timeline) == 0 {
			t.Fatalf("%s: decoded version %q, %d flows, %d contacts, %d timeline events: not the analysis", name, res.Version, len(res.Flows), len(res.Contacts), len(res.Timeline))
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, doc); err != nil {
			t.Fatal(err)
		}
		decodeBothWays(t, name+" compact", compact.Bytes())
		t.Logf("%s: %d bytes, %d flows, %d contacts: equal", name, len(doc), len(res.Flows), len(res.Contacts))
	}
}

// TestDecodeResultOddDocuments checks DecodeResult against json.Unmarshal
// on documents that are not as dockcase writes them: keys of another case,
// with escapes or twice, unknown keys, null and empty arrays, elements not
// in the canonical form, and documents that are not JSON or not an object.
func TestDecodeResultOddDocuments(t *testing.T) {
	demo := demoDocument(t)
	edit := func(old, new string) []byte {
		t.Helper()
		if !bytes.Contains(demo, []byte(old)) {
			t.Fatalf("the demo document lacks %q", old)
		}
		return bytes.Replace(demo, []byte(old), []byte(new), 1)
	}
	docs := map[string][]byte{
		"key case":          edit(`"flows": [`, `"Flows": [`),
		"key escape":        edit(`"contacts": [`, `"cont\u0061cts": [`),
		"key twice":         edit(`"flows": [`, `"flows": [{"rule": "twice"}], "flows": [`),
		"unknown keys":      edit(`"flows": [`, `"later": {"a": [1, 2.5e3, null, true, "\"]}"]}, "flowsx": [], "flows": [`),
		"unknown key case":  edit(`"flows": [`, `"FLOWSX": 1, "flows": [`),
		"flows null":        append([]byte(`{"flows": null, "contacts": [], "version": "x"}`), "\n"...),
		"flows empty":       []byte(` {"flows":[ ],"contacts" : [] } `),
		"element null":      edit(`"flows": [`, `"flows": [null, `),
		"element escape":    inFlows(t, demo, `"rule": "`, `"rule": "\u0076`),
		"element reordered": []byte(`{"flows": [{"server_port": 53, "rule": "veth", "unknown": 1}, {}], "contacts": [{"names": ["a"], "local": "10.0.0.1:1"}]}`),
		"element fraction":  inFlows(t, demo, `"interface_id": 2`, `"interface_id": 2.0`),
		"element bad addr":  inFlows(t, demo, `"client": "`, `"client": "x`),
		"contact bad time":  inArray(t, demo, "contacts", `"last": "`, `"last": "x`),
		"small type":        edit(`"networks": [`, `"networks": "no", "x": [`),
		"truncated":         demo[:len(demo)/2],
		"garbage after":     append(bytes.Clone(demo), "x"...),
		"second document":   append(bytes.Clone(demo), "{}"...),
		"bad in flows":      inFlows(t, demo, `"rule": "`, `"rule": x"`),
		"bad in small":      edit(`"networks": [`, `"networks": [,`),
		"bad after error":   append(inFlows(t, demo, `"interface_id": 2`, `"interface_id": "2"`), "]"...),
		"array":             []byte(`[{"version": "dockcase-analysis/v2"}]`),
		"null":              []byte(`null`),
		"empty object":      []byte(`{}`),
		"empty":             nil,
		"bad utf-8 element": []byte("{\"flows\": [{\"rule\": \"\xff\"}]}"),
	}
	for name, doc := range docs {
		decodeBothWays(t, name, doc)
	}
}

// inFlows replaces the first old in the flows of doc with new.
func inFlows(t *testing.T, doc []byte, old, new string) []byte {
	t.Helper()
	return inArray(t, doc, "flows", old, new)
}

// inArray replaces the first old after the top-level key of doc with new.
func inArray(t *testing.T, doc []byte, key, old, new string) []byte {
	t.Helper()
	at := bytes.Index(doc, []byte("\n  \""+key+"\": ["))
	if at < 0 {
		t.Fatalf("the document lacks %s", key)
	}
	i := bytes.Index(doc[at:], []byte(old))
	if i < 0 {
		t.Fatalf("the document's %s lack %q", key, old)
	}
	return slices.Concat(doc[:at+i], []byte(new), doc[at+i+len(old):])
}

// TestDecodeResultErrors checks that a document that is not JSON, or
// holds a value of the wrong type, is refused with what is wrong and where.
func TestDecodeResultErrors(t *testing.T) {
	demo := demoDocument(t)
	flowsLine := 1 + bytes.Count(demo[:bytes.Index(demo, []byte(`"flows": [`))], []byte("\n"))
	for _, tc := range []struct {
		name string
		doc  []byte
		want []string
	}{
		{"truncated", demo[:100000], []string{"not a JSON document, at line 2649 (byte 100000): unexpected end of JSON input"}},
		{"garbage after", append(bytes.Clone(demo), "garbage"...), []string{"not a JSON document", "invalid character 'g' after top-level value"}},
		{"not JSON", []byte("<html>"), []string{"not a JSON document, at line 1 (byte 1): invalid character '<' looking for beginning of value"}},
		{"flow field type", inFlows(t, demo, `"interface_id": 2,`, `"interface_id": "x",`),
			[]string{"flows[0], line ", "cannot unmarshal string into Go struct field Flow.interface_id of type int"}},
		{"small field type", bytes.Replace(demo, []byte(`"namespaces": `), []byte(`"namespaces": "x", "y": `), 1),
			[]string{"host, line ", "cannot unmarshal string into Go struct field HostInfo.namespaces of type int"}},
		// A syntax error wins over a type error before it, as in encoding/json.
		{"type then syntax", append(inFlows(t, demo, `"interface_id": 2,`, `"interface_id": "x",`), ","...),
			[]string{"not a JSON document", "invalid character ',' after top-level value"}},
	} {
		_, err := analyze.DecodeResult(tc.doc)
		if err == nil {
			t.Errorf("%s: DecodeResult succeeded", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: DecodeResult error %q, want it to contain %q", tc.name, err, w)
			}
		}
		t.Logf("%s: %v", tc.name, err)
	}
	// The line of a flow's wrong field is the field's.
	doc := inFlows(t, demo, `"interface_id": 2,`, `"interface_id": "x",`)
	line := 1 + bytes.Count(doc[:bytes.Index(doc, []byte(`"x"`))], []byte("\n"))
	if _, err := analyze.DecodeResult(doc); err == nil || !strings.Contains(err.Error(), "flows[0], line "+strconv.Itoa(line)+":") {
		t.Errorf("a flow's wrong field on line %d (the flows begin on line %d): %v", line, flowsLine, err)
	}
}

// FuzzDecodeResult checks DecodeResult against json.Unmarshal on any
// bytes: both fail, or both give the same Result.
func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"version": "dockcase-analysis/v2", "flows": [{"rule": "veth", "client": "10.0.0.1", "first": "2024-01-01T00:00:00Z"}], "contacts": [{"local": "10.0.0.1:80", "sources": [{"kind": "flow", "flow": 0}]}]}`))
	f.Add([]byte(`{"flows": null, "Contacts": [], "x": {"y": [1]}}`))
	// The demo's first flows and contacts, as report.JSON writes them.
	var res analyze.Result
	if doc, err := os.ReadFile(filepath.Join("testdata", "golden", "demo.analysis.json")); err == nil && json.Unmarshal(doc, &res) == nil {
		res.Flows, res.Contacts, res.Timeline = res.Flows[:min(3, len(res.Flows))], res.Contacts[:min(3, len(res.Contacts))], nil
		var b bytes.Buffer
		if report.JSON(&b, &res) == nil {
			f.Add(b.Bytes())
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := analyze.DecodeResult(doc)
		var want analyze.Result
		wantErr := json.Unmarshal(doc, &want)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("DecodeResult: %v; json.Unmarshal: %v", err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, &want) {
			t.Fatalf("DecodeResult's result differs from json.Unmarshal's")
		}
	})
}

// BenchmarkDecodeResult decodes the analysis of a generated perimeter
// capture (about 10k flows and as many contacts).
func BenchmarkDecodeResult(b *testing.B) {
	doc := generatedDocument(b, "-size", "60MB", "-flows", "20000")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := analyze.DecodeResult(doc); err != nil {
			b.Fatal(err)
		}
	}
}
