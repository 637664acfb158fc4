package report

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/e2etest"
)

// TestBrowserSixContainerIncident collects a real six-container incident
// (two beacons to the C2, a published web server, a server on the default
// bridge, an idle container and a stopped one) with a capture, writes the
// HTML report with the C2 as indicator, and checks what the issue asks of
// such a report: both beacons named in the answer and no other container,
// no sideways scroll, the answer within the first screen at 1400 px, and
// at most 25 printed pages.
func TestBrowserSixContainerIncident(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: -short")
	}
	bin := chromium(t)
	// The engine to this test alone: the tests of other packages run their
	// scenarios on it at the same time, and a collection counts them too.
	e2etest.ExclusiveHost(t)
	sc := e2etest.NewScenario(t, e2etest.ScenarioOptions{})
	second := sc.StartBeacon(t, "second")
	sc.StartContainer(t, "quiet", e2etest.ContainerSpec{})
	if n := len(sc.Containers()); n != 6 {
		t.Fatalf("the scenario has %d containers, want 6", n)
	}
	for _, name := range []string{sc.Beacon.Name, second.Name} {
		sc.WaitContact(t, 30*time.Second, func(e e2etest.Event) bool { return e.Proto == "tcp" && strings.Contains(e.Data, "name="+name+" ") })
	}
	dockcase := e2etest.DockcaseBinary(t)
	dir := reportArtifacts(t)
	// A test that makes a container without a scenario (the collector's
	// own unit tests do) may still have one up for a moment: collect again
	// until the bundle holds the six and nothing else.
	ours := map[string]bool{}
	for _, c := range sc.Containers() {
		ours[c.ID] = true
	}
	var out string
	for try := 1; ; try++ {
		out = filepath.Join(t.TempDir(), "six.tar.zst")
		collect := exec.Command(dockcase, "collect", "--case", "IR-SIX", "--no-images", "--capture", "8s", "--out", out)
		if o, err := collect.CombinedOutput(); err != nil && collect.ProcessState.ExitCode() != 3 {
			t.Fatalf("collect: %v\n%s", err, o)
		}
		foreign := foreignContainers(t, out, ours)
		if len(foreign) == 0 {
			break
		}
		if try == 3 {
			t.Fatalf("every collection held containers of other tests: %v", foreign)
		}
		t.Logf("collection %d held containers of other tests %v: collecting again", try, foreign)
	}
	page := filepath.Join(dir, "six-container-report.html")
	os.Remove(page)
	analyze := exec.Command(dockcase, "analyze", out, "--ioc", sc.C2Addr.String(), "--html", page)
	if o, err := analyze.CombinedOutput(); err != nil && analyze.ProcessState.ExitCode() != 3 {
		t.Fatalf("analyze: %v\n%s", err, o)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	answer := regexp.MustCompile(`(?s)<section[^>]*id="answer".*?</section>`).Find(html)
	for _, name := range []string{sc.Beacon.Name, second.Name} {
		if !strings.Contains(string(answer), name) {
			t.Errorf("the answer does not name the beacon %s", name)
		}
	}
	for _, quiet := range []string{sc.Published.Name, sc.Bridge.Name} {
		if strings.Contains(string(answer), quiet) {
			t.Errorf("the answer names %s, which never talked to the C2", quiet)
		}
	}

	measured := regexp.MustCompile(`<meta http-equiv="Content-Security-Policy"[^>]*>`).ReplaceAllString(string(html), "")
	measured = strings.ReplaceAll(measured, "<details", "<details open")
	measured = strings.Replace(measured, "</body>", measureScript+"</body>", 1)
	mpath := filepath.Join(dir, "six-container-report-measure.html")
	if err := os.WriteFile(mpath, []byte(measured), 0o644); err != nil {
		t.Fatal(err)
	}
	// Two contacts make a longer answer than the demo's one: at 1024 px it
	// may run a little below the first screen (logged); at 1400 px it must
	// fit.
	for _, size := range []string{"1024,768", "1400,900"} {
		m := measureAttr.FindStringSubmatch(chromiumRun(t, bin, "--window-size="+size, "--dump-dom", "file://"+mpath))
		if m == nil {
			t.Fatal("the measuring script left no result in the DOM")
		}
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		if scroll, client := n(1), n(2); scroll > client {
			t.Errorf("at %s px the page is %d px wide in a %d px viewport: it scrolls sideways", size, scroll, client)
		}
		bottom, height := n(3), n(4)
		t.Logf("at %s px the answer ends at %d px of a %d px first screen", size, bottom, height)
		if size == "1400,900" && bottom > height {
			t.Errorf("at %s px the answer ends at %d px, below the first screen (%d px)", size, bottom, height)
		}
	}

	pdf := filepath.Join(dir, "six-container-report.pdf")
	chromiumRun(t, bin, "--no-pdf-header-footer", "--print-to-pdf="+pdf, "file://"+page)
	data, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	pages := len(pdfPage.FindAll(data, -1))
	if pages == 0 || pages > 25 {
		t.Errorf("the six-container report prints on %d pages, want 1 to 25", pages)
	}
	t.Logf("six-container report: %d printed pages, %d bytes (%s)", pages, len(html), pdf)
}

// foreignContainers lists the containers of the bundle at path that are not
// the scenario's.
func foreignContainers(t *testing.T, path string, ours map[string]bool) []string {
	t.Helper()
	b, err := bundle.Open(path, bundle.OpenOptions{AllowUnverified: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data, err := b.ReadFile("docker/containers.json", 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		t.Fatalf("docker/containers.json: %v", err)
	}
	var out []string
	for _, c := range list {
		if !ours[c.ID] {
			out = append(out, c.Name)
		}
	}
	return out
}
