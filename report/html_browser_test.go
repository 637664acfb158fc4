package report

import (
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze/analyzetest"
)

// reportArtifacts is where the browser tests keep what a person should look
// at (the demo report and its screenshot): $DOCKCASE_ARTIFACTS, else a
// temporary directory of the test.
func reportArtifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("DOCKCASE_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// htmlStartTag is the document element's start tag in a dumped DOM, where a
// payload that runs sets its marker attribute data-pwned.
var htmlStartTag = regexp.MustCompile(`(?i)<html[^>]*>`)

// TestBrowserDemoReport opens the demo report in headless Chromium, checks
// the page shows the answer and made no request, and keeps a screenshot.
func TestBrowserDemoReport(t *testing.T) {
	res := reportDemoResult(t)
	dir := reportArtifacts(t)
	page := filepath.Join(dir, "demo-report.html")
	if err := os.WriteFile(page, reportRender(t, HTML, res), 0o644); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, "demo-report.png")
	dom := browse(t, page, png)
	bridge := analyzetest.Scenario(t, "network", 4)
	for _, want := range []string{"1. Integrity", "verified: the manifest", bridge, "MASQUERADE", "<svg"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered demo report lacks %q", want)
		}
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 10_000 {
		t.Fatalf("no screenshot at %s: %v", png, err)
	}
	t.Logf("demo report: %s; screenshot: %s", page, png)
}

// TestBrowserHostileReport renders a report whose every value is a payload
// (script tags, attribute break-outs, javascript: and Markdown links, and
// URLs of a tripwire server) and opens it in Chromium: no payload may run
// and no request may reach the tripwire. The same page without its
// Content-Security-Policy is opened too, so that the escaping is tested on
// its own; and, as a control, the payloads written raw into a page do run
// and do call the tripwire, so the check can fail.
func TestBrowserHostileReport(t *testing.T) {
	dir := t.TempDir()
	tw := newTripwire(t)
	page := reportRender(t, HTML, hostileReportResult(tw.URL))
	csp := `<meta http-equiv="Content-Security-Policy" content="` + html.EscapeString(contentSecurityPolicy) + `">`
	if !strings.Contains(string(page), csp) {
		t.Fatalf("the report lacks its Content-Security-Policy meta tag %s", csp)
	}
	bare := strings.Replace(string(page), csp, "", 1)
	// The control leaves out the refresh payload: it would navigate away
	// before the dump (in the report, that would lose the payload text,
	// which the check below would see).
	var raw []string
	for _, p := range hostilePayloads {
		if !strings.Contains(p, "http-equiv") {
			raw = append(raw, strings.ReplaceAll(p, "TRIPWIRE", tw.URL))
		}
	}
	control := "<!doctype html><html><head><title>control</title></head><body>" + strings.Join(raw, "\n") + "</body></html>"
	for _, tc := range []struct {
		name, html string
		wantRun    bool
	}{
		{"report", string(page), false},
		{"report-without-csp", bare, false},
		{"control", control, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(tw.Hits())
			path := filepath.Join(dir, tc.name+".html")
			if err := os.WriteFile(path, []byte(tc.html), 0o644); err != nil {
				t.Fatal(err)
			}
			dom := browse(t, path, "")
			root := htmlStartTag.FindString(dom)
			if root == "" {
				t.Fatalf("no <html> element in the dumped DOM: %.200q", dom)
			}
			ran := strings.Contains(root, "data-pwned=")
			hits := tw.Hits()[before:]
			if tc.wantRun {
				if !ran || len(hits) == 0 {
					t.Fatalf("control: payloads ran %v, tripwire hits %v: the payloads would not show an escaping failure", ran, hits)
				}
				return
			}
			if ran {
				t.Errorf("a payload ran in the %s: %s", tc.name, root)
			}
			if len(hits) != 0 {
				t.Errorf("the %s made requests: %v", tc.name, hits)
			}
			if !strings.Contains(dom, "data-pwned") {
				t.Errorf("the %s does not show the payloads as text", tc.name)
			}
		})
	}
}
