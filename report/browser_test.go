package report

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// chromium finds Debian's headless browser, installing it when missing
// under CI (scripts/setup.sh installs it too).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// tripwire is a loopback HTTP server that records every request: a page
// that makes none has sent nothing anywhere.
type tripwire struct {
	URL  string
	mu   sync.Mutex
	hits []string
}

func newTripwire(t *testing.T) *tripwire {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tw := &tripwire{URL: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw.mu.Lock()
		tw.hits = append(tw.hits, r.Method+" "+r.URL.String())
		tw.mu.Unlock()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return tw
}

func (tw *tripwire) Hits() []string {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return append([]string(nil), tw.hits...)
}

// browse loads a local HTML file in headless Chromium, with the network
// features that call home switched off, and returns the DOM after load; when
// png is not empty it also takes a screenshot there.
func browse(t *testing.T, page, png string) string {
	t.Helper()
	bin := chromium(t)
	profile := t.TempDir()
	args := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-default-apps", "--disable-extensions", "--user-data-dir=" + profile,
		"--virtual-time-budget=3000", "--run-all-compositor-stages-before-draw",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	abs, _ := filepath.Abs(page)
	out, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", "file://"+abs)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", page, err)
	}
	if png != "" {
		shot := exec.CommandContext(ctx, bin, append(args, "--window-size=1280,2400", "--screenshot="+png, "file://"+abs)...)
		if o, err := shot.CombinedOutput(); err != nil {
			t.Fatalf("chromium --screenshot: %v\n%s", err, o)
		}
	}
	return string(out)
}

// TestBrowserHarness checks the harness itself: a page whose script runs
// and which loads an image is seen to do both; the same page under the
// report's Content-Security-Policy does neither.
func TestBrowserHarness(t *testing.T) {
	tw := newTripwire(t)
	dir := t.TempDir()
	body := `<body><img src="` + tw.URL + `/img.png"><script>document.body.setAttribute("data-ran","yes")</script></body>`
	open := filepath.Join(dir, "open.html")
	os.WriteFile(open, []byte("<!doctype html><html><head><title>t</title></head>"+body+"</html>"), 0o644)
	dom := browse(t, open, "")
	if !strings.Contains(dom, `data-ran="yes"`) {
		t.Fatalf("the harness did not see an inline script run:\n%s", dom)
	}
	if len(tw.Hits()) == 0 {
		t.Fatal("the harness did not see the image request")
	}

	tw2 := newTripwire(t)
	locked := filepath.Join(dir, "locked.html")
	body2 := strings.ReplaceAll(body, tw.URL, tw2.URL)
	os.WriteFile(locked, []byte(`<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="`+contentSecurityPolicy+`"><title>t</title></head>`+body2+"</html>"), 0o644)
	dom = browse(t, locked, "")
	if strings.Contains(dom, `data-ran="yes"`) || len(tw2.Hits()) != 0 {
		t.Fatalf("under the CSP the script ran or a request left: hits %v", tw2.Hits())
	}
}
