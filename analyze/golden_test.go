package analyze_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/report"
)

var update = flag.Bool("update", false, "rewrite the golden files and docs/analysis-v2.schema.json")

const schemaFile = "../docs/analysis-v2.schema.json"

// demoC2 is the C2 address of the demo scenario.
func demoC2(t testing.TB) netip.Addr {
	return netip.MustParseAddr(analyzetest.Scenario(t, "C2", 1))
}

func demoResult(t testing.TB) *analyze.Result {
	t.Helper()
	sum, err := bundle.FileSHA256(analyzetest.DemoBundle())
	if err != nil {
		t.Fatal(err)
	}
	res, err := analyze.Analyze(analyzetest.OpenDemo(t), analyze.Options{To: []netip.Addr{demoC2(t)}, BundleSHA256: sum})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestGoldenDemo(t *testing.T) {
	res := demoResult(t)
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	analyzetest.Golden(t, *update, "demo.analysis.json", append(js, '\n'))
	var sum bytes.Buffer
	if err := report.Summary(&sum, res); err != nil {
		t.Fatal(err)
	}
	analyzetest.Golden(t, *update, "demo.summary.txt", sum.Bytes())
	// Deterministic: a second run gives the same bytes.
	js2, _ := json.MarshalIndent(demoResult(t), "", "  ")
	if !bytes.Equal(js, js2) {
		t.Error("two analyses of the same bundle differ")
	}
}

// TestSchemaMatchesTypes derives the JSON Schema from the Result type and
// compares it with the committed docs/analysis-v2.schema.json; then it
// validates the real output of the demo bundle against the committed schema.
func TestSchemaMatchesTypes(t *testing.T) {
	derived := deriveSchema(reflect.TypeOf(analyze.Result{}))
	derived["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	derived["$id"] = "https://github.com/dockcase/dockcase/docs/analysis-v2.schema.json"
	derived["title"] = analyze.ResultVersion
	derived["properties"].(map[string]any)["version"] = map[string]any{"const": analyze.ResultVersion}
	got, err := json.MarshalIndent(derived, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Fatalf("%s is not the schema of analyze.Result (run go test -update, then document the change in docs/analysis-v2.md)", schemaFile)
	}
	var schema map[string]any
	if err := json.Unmarshal(committed, &schema); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(demoResult(t))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	if errs := validate(schema, doc, ""); len(errs) > 0 {
		t.Errorf("the demo analysis does not match %s:\n%s", schemaFile, strings.Join(errs, "\n"))
	}
	// The validator is not a rubber stamp.
	doc.(map[string]any)["paths"].([]any)[0].(map[string]any)["hops"] = "not an array"
	delete(doc.(map[string]any), "bundle")
	doc.(map[string]any)["surprise"] = 1
	if errs := validate(schema, doc, ""); len(errs) != 3 {
		t.Errorf("validate(broken document) = %q, want 3 errors", errs)
	}
}

var (
	timeType   = reflect.TypeOf(time.Time{})
	addrType   = reflect.TypeOf(netip.Addr{})
	prefixType = reflect.TypeOf(netip.Prefix{})
	apType     = reflect.TypeOf(netip.AddrPort{})
)

// deriveSchema maps a Go type to JSON Schema the way encoding/json
// marshals it: required properties are those without omitempty/omitzero.
func deriveSchema(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case addrType:
		return map[string]any{"type": "string", "description": "IP address"}
	case prefixType:
		return map[string]any{"type": "string", "description": "CIDR prefix"}
	case apType:
		return map[string]any{"type": "string", "description": "address and port (198.19.134.3:57474, [2001:db8::2]:443)"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return deriveSchema(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": deriveSchema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": deriveSchema(t.Elem())}
	case reflect.Struct:
		props := map[string]any{}
		var required []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			props[name] = deriveSchema(f.Type)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
		sort.Strings(required)
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if len(required) > 0 {
			s["required"] = required
		}
		return s
	}
	panic(fmt.Sprintf("deriveSchema: %s not handled", t))
}

// validate checks doc against the subset of JSON Schema deriveSchema
// writes: type, const, properties, required, additionalProperties, items,
// minimum.
func validate(s map[string]any, doc any, at string) []string {
	var errs []string
	if c, ok := s["const"]; ok && !reflect.DeepEqual(c, doc) {
		return []string{fmt.Sprintf("%s: %v, want %v", at, doc, c)}
	}
	typ, _ := s["type"].(string)
	switch typ {
	case "object":
		m, ok := doc.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an object", at, doc)}
		}
		props, _ := s["properties"].(map[string]any)
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := m[r.(string)]; !ok {
					errs = append(errs, fmt.Sprintf("%s: %q is required", at, r))
				}
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validate(ps, m[k], at+"/"+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					errs = append(errs, fmt.Sprintf("%s: unexpected property %q", at, k))
				}
			case map[string]any:
				errs = append(errs, validate(ap, m[k], at+"/"+k)...)
			}
		}
	case "array":
		a, ok := doc.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %T, want an array", at, doc)}
		}
		items, _ := s["items"].(map[string]any)
		for i, v := range a {
			errs = append(errs, validate(items, v, fmt.Sprintf("%s/%d", at, i))...)
		}
	case "string":
		if _, ok := doc.(string); !ok {
			return []string{fmt.Sprintf("%s: %T, want a string", at, doc)}
		}
	case "boolean":
		if _, ok := doc.(bool); !ok {
			return []string{fmt.Sprintf("%s: %T, want a boolean", at, doc)}
		}
	case "integer", "number":
		n, ok := doc.(float64)
		if !ok || (typ == "integer" && n != float64(int64(n))) {
			return []string{fmt.Sprintf("%s: %v, want an %s", at, doc, typ)}
		}
		if min, ok := s["minimum"].(float64); ok && n < min {
			errs = append(errs, fmt.Sprintf("%s: %v below %v", at, n, min))
		}
	}
	return errs
}
