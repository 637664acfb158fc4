package report

import (
	"bufio"
	_ "embed"
	"fmt"
	"html/template"
	"io"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/triage"
)

//go:embed html.tmpl
var htmlTemplateText string

// htmlTemplate is the report page. It is parsed once; html/template escapes
// every value for its context, and the template places values only in text
// and in plain attributes (class names from a fixed set, tooltips), never in
// a script, a URL or a style.
var htmlTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"sevClass": htmlSeverityClass,
}).Parse(htmlTemplateText))

// htmlSeverityClass maps a severity to its CSS class; a severity of another
// name gets the neutral class, so the class attribute only ever holds one of
// these constants.
func htmlSeverityClass(s string) string {
	switch s {
	case triage.SeverityCritical:
		return "sev-critical"
	case triage.SeverityHigh:
		return "sev-high"
	case triage.SeverityMedium:
		return "sev-medium"
	case triage.SeverityLow:
		return "sev-low"
	case triage.SeverityInfo:
		return "sev-info"
	}
	return "sev-other"
}

// HTML writes the report of an analysis as one self-contained HTML page: no
// external asset, no script, and a Content-Security-Policy that forbids
// loading anything, so it opens on an offline workstation and prints to PDF.
// The page reads: integrity, the answers (indicators, paths, the capture
// visibility matrix), the topology as inline SVG, each container, findings
// by severity, flows, the timeline, the evidence index and the custody log.
// Its output is deterministic for a given result.
func HTML(w io.Writer, res *analyze.Result) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	data := struct {
		CSP     string
		Version string
		V       *reportView
	}{contentSecurityPolicy, viewText(res.Version), buildView(res)}
	if err := htmlTemplate.Execute(bw, data); err != nil {
		return fmt.Errorf("render html report: %w", err)
	}
	return bw.Flush()
}
