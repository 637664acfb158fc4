package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// outputCmds adds to cmds the scripts' checks of the output convention:
//
//   - tsv FILE KEY...: FILE is header-first TSV whose header starts with
//     the KEYs, every line with as many cells as the header, at least one
//     row;
//   - csv FILE KEY...: FILE parses as RFC 4180 CSV (every record as long
//     as the header), its header starts with the KEYs, at least one row;
//   - jsonkeys FILE PATH KEY...: FILE is one JSON value; the object at
//     PATH (".", or dotted names and [N] indexes: .flows[0]) has every KEY.
func outputCmds(cmds map[string]func(ts *testscript.TestScript, neg bool, args []string)) map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds["tsv"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 1 {
			ts.Fatalf("usage: tsv FILE KEY...")
		}
		lines := strings.Split(strings.TrimSuffix(ts.ReadFile(args[0]), "\n"), "\n")
		header := strings.Split(lines[0], "\t")
		checkHeader(ts, args[0], header, args[1:])
		if len(lines) < 2 {
			ts.Fatalf("%s: no row under the header", args[0])
		}
		for i, l := range lines[1:] {
			if n := len(strings.Split(l, "\t")); n != len(header) {
				ts.Fatalf("%s line %d: %d cells, the header has %d", args[0], i+2, n, len(header))
			}
		}
	}
	cmds["csv"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 1 {
			ts.Fatalf("usage: csv FILE KEY...")
		}
		recs, err := csv.NewReader(strings.NewReader(ts.ReadFile(args[0]))).ReadAll()
		if err != nil {
			ts.Fatalf("%s: %v", args[0], err)
		}
		if len(recs) < 2 {
			ts.Fatalf("%s: %d records, want a header and rows", args[0], len(recs))
		}
		checkHeader(ts, args[0], recs[0], args[1:])
	}
	cmds["jsonkeys"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if len(args) < 2 {
			ts.Fatalf("usage: jsonkeys FILE PATH KEY...")
		}
		data, err := os.ReadFile(ts.MkAbs(args[0]))
		ts.Check(err)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			ts.Fatalf("%s: not JSON: %v", args[0], err)
		}
		if dec.More() {
			ts.Fatalf("%s: more than one JSON value", args[0])
		}
		v = jsonAt(ts, args[0], v, args[1])
		obj, ok := v.(map[string]any)
		if !ok {
			ts.Fatalf("%s %s: %T, want an object", args[0], args[1], v)
		}
		for _, k := range args[2:] {
			if _, ok := obj[k]; !ok {
				ts.Fatalf("%s %s: no key %q", args[0], args[1], k)
			}
		}
	}
	return cmds
}

func checkHeader(ts *testscript.TestScript, file string, header, want []string) {
	if len(header) < len(want) {
		ts.Fatalf("%s: header %q, want it to start with %q", file, header, want)
	}
	for i, k := range want {
		if header[i] != k {
			ts.Fatalf("%s: header %q, want it to start with %q", file, header, want)
		}
	}
}

var jsonStep = regexp.MustCompile(`^([a-z_]*)((?:\[[0-9]+\])*)$`)

// jsonAt follows path (".", ".a.b[0]", "[1].c") into v.
func jsonAt(ts *testscript.TestScript, file string, v any, path string) any {
	if path == "." {
		return v
	}
	for _, step := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		m := jsonStep.FindStringSubmatch(step)
		if m == nil {
			ts.Fatalf("bad path %q", path)
		}
		if m[1] != "" {
			obj, ok := v.(map[string]any)
			if !ok {
				ts.Fatalf("%s %s: %T, want an object with %q", file, path, v, m[1])
			}
			if v, ok = obj[m[1]]; !ok {
				ts.Fatalf("%s %s: no key %q", file, path, m[1])
			}
		}
		for _, idx := range regexp.MustCompile(`[0-9]+`).FindAllString(m[2], -1) {
			n, _ := strconv.Atoi(idx)
			arr, ok := v.([]any)
			if !ok || n >= len(arr) {
				ts.Fatalf("%s %s: no element %d", file, path, n)
			}
			v = arr[n]
		}
	}
	return v
}
