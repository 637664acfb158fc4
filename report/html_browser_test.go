package report

import (
	"context"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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
	for _, want := range []string{"Answer", "Integrity", "verified: the manifest", bridge, "MASQUERADE", "<svg"} {
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

// measureScript is what the layout test adds to its copy of the report (the
// report itself runs no script): the page's scroll width against its
// client width, and the answer box's bottom against the viewport height,
// written to an attribute of the document element for --dump-dom.
const measureScript = `<script>
const a = document.getElementById("answer").getBoundingClientRect();
const d = document.documentElement;
d.setAttribute("data-measure", [d.scrollWidth, d.clientWidth, Math.ceil(a.bottom), window.innerHeight].join(" "));
</script>`

var measureAttr = regexp.MustCompile(`data-measure="(\d+) (\d+) (\d+) (\d+)"`)

// TestBrowserDemoLayout opens the demo report at 1024 and 1400 px: with
// every section unfolded nothing scrolls sideways, and the answer's box
// ends within the first screen. It prints the page to PDF as a reader
// would and counts its pages: at most 15.
func TestBrowserDemoLayout(t *testing.T) {
	bin := chromium(t)
	dir := reportArtifacts(t)
	page := reportRender(t, HTML, reportDemoResult(t))
	// The copy measured: the CSP lifted so that the measuring script runs,
	// every <details> open so that its tables are laid out.
	measured := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy"[^>]*>`).ReplaceAllString(string(page), "")
	measured = strings.ReplaceAll(measured, "<details", "<details open")
	measured = strings.Replace(measured, "</body>", measureScript+"</body>", 1)
	mpath := filepath.Join(dir, "demo-report-measure.html")
	if err := os.WriteFile(mpath, []byte(measured), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, size := range []string{"1024,768", "1400,900"} {
		t.Run(size, func(t *testing.T) {
			out := chromiumRun(t, bin, "--window-size="+size, "--dump-dom", "file://"+mpath)
			m := measureAttr.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("the measuring script left no result in the DOM")
			}
			n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
			if scroll, client := n(1), n(2); scroll > client {
				t.Errorf("at %s px the page is %d px wide in a %d px viewport: it scrolls sideways", size, scroll, client)
			}
			if bottom, height := n(3), n(4); bottom > height {
				t.Errorf("at %s px the answer ends at %d px, below the first screen (%d px)", size, bottom, height)
			}
		})
	}

	rpath := filepath.Join(dir, "demo-report.html")
	if err := os.WriteFile(rpath, page, 0o644); err != nil {
		t.Fatal(err)
	}
	pdf := filepath.Join(dir, "demo-report.pdf")
	chromiumRun(t, bin, "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+rpath)
	data, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	pages := len(pdfPage.FindAll(data, -1))
	if pages == 0 || pages > 15 {
		t.Errorf("the demo report prints on %d pages, want 1 to 15", pages)
	}
	t.Logf("demo report: %d printed pages (%s)", pages, pdf)
}

// pdfPage matches a page object of an uncompressed PDF dictionary (not
// the /Pages tree), as Chromium writes them.
var pdfPage = regexp.MustCompile(`/Type\s*/Page[^s]`)

// chromiumRun runs headless Chromium with the report tests' switches and
// returns its standard output.
func chromiumRun(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--user-data-dir=" + t.TempDir(),
		"--virtual-time-budget=3000", "--run-all-compositor-stages-before-draw"}
	out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return string(out)
}
