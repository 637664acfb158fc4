package triage

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// emittedRuleIDs reads the package's source and returns every rule id a
// finding can carry: the id argument of state.finding and of the file
// rules' add, and every ID or id field of a composite literal. An id built
// at run time (not a literal, nor a variable fed from literals) fails the
// test, since the catalogue could not be checked against it.
func emittedRuleIDs(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	record := func(e ast.Expr) {
		switch v := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(v.Value)
			if err != nil || v.Kind != token.STRING {
				t.Errorf("%s: rule id %s is not a string", fset.Position(v.Pos()), v.Value)
				return
			}
			ids[s] = fset.Position(v.Pos()).String()
		case *ast.Ident, *ast.SelectorExpr:
			// A variable: its values are literals recorded where they are
			// written (a composite literal's id field, an assignment below).
		default:
			t.Errorf("%s: a rule id built at run time; write it as a literal so the catalogue can be checked", fset.Position(e.Pos()))
		}
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				switch fn := n.Fun.(type) {
				case *ast.SelectorExpr:
					if fn.Sel.Name == "finding" && len(n.Args) > 1 {
						record(n.Args[1])
					}
				case *ast.Ident:
					if fn.Name == "add" && len(n.Args) > 0 {
						record(n.Args[0])
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := n.Key.(*ast.Ident); ok && (k.Name == "ID" || k.Name == "id") {
					record(n.Value)
				}
			case *ast.AssignStmt:
				// id := "seccomp-unconfined" and the like.
				for i, l := range n.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name == "id" && i < len(n.Rhs) {
						record(n.Rhs[i])
					}
				}
			}
			return true
		})
	}
	return ids
}

// catalogueRuleIDs reads the rule ids of docs/findings.md: one "## `id`"
// heading each.
func catalogueRuleIDs(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("../../docs/findings.md")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^## `([^`]+)`\\s*$").FindAllStringSubmatch(string(data), -1) {
		if ids[m[1]] {
			t.Errorf("docs/findings.md lists %s twice", m[1])
		}
		ids[m[1]] = true
	}
	return ids
}

// TestCatalogueMatchesRules: every rule id the code can emit has its entry
// in docs/findings.md, and every entry there is a rule the code has.
func TestCatalogueMatchesRules(t *testing.T) {
	code, doc := emittedRuleIDs(t), catalogueRuleIDs(t)
	if len(code) < 30 {
		t.Fatalf("found only %d rule ids in the source; the scan is broken: %v", len(code), code)
	}
	var missing, extra []string
	for id, where := range code {
		if !doc[id] {
			missing = append(missing, id+" ("+where+")")
		}
	}
	for id := range doc {
		if _, ok := code[id]; !ok {
			extra = append(extra, id)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("rule ids the code emits that docs/findings.md lacks: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("docs/findings.md entries no rule emits: %v", extra)
	}
}

// TestCatalogueSeverities: each entry's first severity line names the
// severity its rule is given in the code at least once.
func TestCatalogueSeverities(t *testing.T) {
	data, err := os.ReadFile("../../docs/findings.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile("(?m)^## `([^`]+)`\\s*\\n(?:Severity: (.*))?").FindAllStringSubmatch(string(data), -1) {
		if m[2] == "" {
			t.Errorf("docs/findings.md: %s has no Severity: line under its heading", m[1])
			continue
		}
		ok := false
		for s := range severityRanks {
			if strings.Contains(m[2], s) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("docs/findings.md: %s: severity line %q names no severity", m[1], m[2])
		}
	}
}
