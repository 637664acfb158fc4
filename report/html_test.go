package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/analyze/firewall"
	"github.com/dockcase/dockcase/analyze/ioc"
	"github.com/dockcase/dockcase/analyze/layer"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/internal/indicator"
	"golang.org/x/net/html"
)

var reportUpdate = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// reportDemoResult analyses the demo bundle, trusting its signer: the real
// result of the real collector's bundle.
func reportDemoResult(t testing.TB) *analyze.Result {
	t.Helper()
	sum, err := bundle.FileSHA256(analyzetest.DemoBundle())
	if err != nil {
		t.Fatal(err)
	}
	// The case's question: the scenario's C2 address and domain as
	// indicators; the paths then go towards the C2.
	var iocs []indicator.Indicator
	for _, s := range []string{reportDemoC2(t).String(), analyzetest.Scenario(t, "C2", 5)} {
		i, err := indicator.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		iocs = append(iocs, i)
	}
	res, err := analyze.Analyze(analyzetest.OpenDemo(t), analyze.Options{BundleSHA256: sum, IOCs: iocs})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// reportDemoC2 is the C2 address of testdata/demo/scenario.txt.
func reportDemoC2(t testing.TB) netip.Addr {
	t.Helper()
	return netip.MustParseAddr(analyzetest.Scenario(t, "C2", 1))
}

func reportRender(t testing.TB, f func(io.Writer, *analyze.Result) error, res *analyze.Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b, res); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestGoldenDemo renders the demo bundle's analysis as JSON, HTML and
// Markdown, twice each (the output must not change between runs), and
// compares them with the golden files.
func TestGoldenDemo(t *testing.T) {
	res := reportDemoResult(t)
	for _, tc := range []struct {
		name string
		f    func(io.Writer, *analyze.Result) error
	}{
		{"demo.json", JSON},
		{"demo.html", HTML},
		{"demo.md", Markdown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := reportRender(t, tc.f, res)
			again := reportRender(t, tc.f, reportDemoResult(t))
			if !bytes.Equal(got, again) {
				t.Fatalf("%s is not deterministic: two renderings of the same bundle differ", tc.name)
			}
			analyzetest.Golden(t, *reportUpdate, tc.name, got)
		})
	}
}

// TestDemoAnswers checks what a responder reads in the demo report: the
// beacon's path with its real veth, its br- bridge, the MASQUERADE rule and
// the C2 link with the host's address, and docker0 not carrying it.
func TestDemoAnswers(t *testing.T) {
	res := reportDemoResult(t)
	page := html.UnescapeString(string(reportRender(t, HTML, res)))
	md := string(reportRender(t, Markdown, res))
	var beacon *netpath.Path
	for _, p := range res.Paths {
		if p.Kind == netpath.PathEgress && strings.HasPrefix(p.ContainerName, "dce-beacon-") {
			beacon = p
		}
	}
	if beacon == nil || len(beacon.Hops) < 7 {
		t.Fatalf("the demo analysis has no full beacon path: %+v", beacon)
	}
	veth, bridge, out := beacon.Hops[1].Iface, beacon.Hops[2].Iface, beacon.OutIface
	chain := beacon.ContainerName + " (" + beacon.Src.String() + ") → " + veth + " → " + bridge + " → MASQUERADE "
	if !strings.Contains(page, chain) {
		t.Errorf("the HTML report lacks the chain %q", chain)
	}
	for _, want := range []string{"MASQUERADE", out + " as " + beacon.FinalSrc.String(), "not docker0", "<svg", res.Bundle.SHA256, res.Bundle.Signer} {
		if !strings.Contains(page, want) {
			t.Errorf("the HTML report lacks %q", want)
		}
	}
	// The timeline plot marks the beacon's conversations with the C2 in red.
	if !strings.Contains(page, `class="mark ioc"`) || !strings.Contains(page, `class="bar ioc"`) {
		t.Errorf("the HTML report's traffic pictures do not mark the IOC contacts")
	}
	if !strings.Contains(md, "`"+veth+"` → `"+bridge+"` → `MASQUERADE ") {
		t.Errorf("the Markdown topology lacks the beacon's chain through %s and %s", veth, bridge)
	}
	// Section order: the answer first, then the topology, then the
	// details, custody last.
	last := -1
	for _, id := range []string{`id="answer"`, `id="topology"`, `id="traffic"`, `id="integrity"`, `id="answers"`, `id="containers"`, `id="findings"`, `id="flows"`, `id="timeline"`, `id="evidence"`, `id="custody"`} {
		i := strings.Index(page, id)
		if i < last {
			t.Errorf("section %s is out of order", id)
		}
		last = i
	}
}

// TestJSONRoundTrip: a report re-rendered from the saved JSON document (what
// `dockcase report` does) is the report rendered from the analysis.
func TestJSONRoundTrip(t *testing.T) {
	res := reportDemoResult(t)
	var back analyze.Result
	if err := json.Unmarshal(reportRender(t, JSON, res), &back); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(io.Writer, *analyze.Result) error{"HTML": HTML, "Markdown": Markdown, "JSON": JSON} {
		if !bytes.Equal(reportRender(t, f, res), reportRender(t, f, &back)) {
			t.Errorf("%s from the decoded JSON differs from %s of the analysis", name, name)
		}
	}
}

// Hostile payloads. Each one, if it ran or loaded, would set the marker
// attribute data-pwned on the document or request something from the
// tripwire server (TRIPWIRE is replaced by its URL).
var hostilePayloads = []string{
	`<script>document.documentElement.setAttribute('data-pwned','script')</script>`,
	`"><img src=TRIPWIRE/img onerror="document.documentElement.setAttribute('data-pwned','img')">`,
	`'><svg onload="document.documentElement.setAttribute('data-pwned','svg')">`,
	`javascript:document.documentElement.setAttribute('data-pwned','js')`,
	`[x](javascript:document.documentElement.setAttribute('data-pwned','md'))`,
	`![i](TRIPWIRE/md-image.png)`,
	`</title></style></textarea><script>document.documentElement.setAttribute('data-pwned','close')</script>`,
	`<link rel=stylesheet href=TRIPWIRE/css><iframe src=TRIPWIRE/frame></iframe>`,
	`<meta http-equiv=refresh content="0;url=TRIPWIRE/refresh">`,
	`x" style="background:url(TRIPWIRE/bg)`,
	`<a href="TRIPWIRE/link">click</a> TRIPWIRE/bare`,
	"\x1b]8;;TRIPWIRE/osc\x07\x1b[2Jterm\u202ekcatta",
}

// hostileReportResult is a result whose every attacker-controlled field
// holds the payloads: container names, image, labels' stand-ins (mounts and
// security options: the result does not carry labels), command lines in hop
// and evidence text, file and DNS names in findings, the timeline and the
// IOCs.
func hostileReportResult(tripwire string) *analyze.Result {
	p := func(i int) string {
		return strings.ReplaceAll(hostilePayloads[i%len(hostilePayloads)], "TRIPWIRE", tripwire)
	}
	all := strings.ReplaceAll(strings.Join(hostilePayloads, " "), "TRIPWIRE", tripwire)
	dst := netip.MustParseAddr("198.51.100.7")
	ev := func(i int) model.Evidence {
		return model.Evidence{Member: "docker/containers/" + p(i) + "/inspect.json", SHA256: strings.Repeat("ab", 32), Pointer: "/Config/Labels/" + p(i+1), Text: p(i + 2)}
	}
	res := &analyze.Result{
		Warning: "UNVERIFIED: " + all,
		Version: analyze.ResultVersion,
		Bundle: analyze.BundleInfo{Path: p(0), Root: p(1), Case: p(2), Examiner: p(3), Host: p(4), Collector: p(5), SHA256: p(6),
			Signer: p(7), VerificationError: p(8), Gaps: []string{p(9), p(10)}, Started: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)},
		Host:     analyze.HostInfo{Destinations: []netip.Addr{dst}},
		Missing:  []string{p(11), p(0)},
		Networks: []*model.Network{{ID: p(1), Name: p(2), Driver: "bridge", Bridge: p(3), Containers: []string{p(4)}, Evidence: ev(5)}},
	}
	for i := range hostilePayloads {
		id := strings.Repeat(string(rune('a'+i)), 64)
		c := &model.Container{ID: id, Name: p(i), Names: []string{p(i + 1)}, Image: p(i + 2), ImageID: p(i + 3), State: "running", NetworkMode: p(i + 4),
			Endpoints:  []model.Endpoint{{Network: p(i + 5), IP: netip.AddrFrom4([4]byte{172, 17, 0, byte(2 + i)}), MAC: p(i + 6), Evidence: ev(i)}},
			Ports:      []model.PortBinding{{ContainerPort: 80, Proto: p(i + 7), HostIP: p(i + 8), HostPort: 8080, Evidence: ev(i + 1)}},
			Mounts:     []model.Mount{{Type: "bind", Source: p(i + 9), Destination: p(i + 10), RW: true}},
			Privileges: model.Privileges{CapAdd: []string{p(i + 11)}, SecurityOpt: []string{p(i)}, PidMode: p(i + 1)},
			Labels:     map[string]string{p(i + 3): p(i + 4)},
			Evidence:   []model.Evidence{ev(i + 2)}}
		res.Containers = append(res.Containers, c)
		res.Processes = append(res.Processes, model.HostProcess{PID: 100 + i, PPID: 1, Comm: p(i), Cmdline: []string{p(i + 1), p(i + 2)}, Exe: p(i + 3), ContainerID: id, Evidence: ev(i)})
		res.Sockets = append(res.Sockets, model.HostSocket{Container: id, Proto: p(i), LocalIP: p(i + 1), RemoteIP: p(i + 2), State: p(i + 3), Evidence: ev(i + 1)})
		res.FileChanges = append(res.FileChanges, analyze.FileChange{Container: id, Kind: p(i), Path: p(i + 1), Mode: p(i + 2), SHA256: p(i + 3), Source: p(i + 4), Evidence: ev(i + 2)})
		veth, bridge := p(i+3), p(i+4)
		res.Interfaces = append(res.Interfaces, netpath.HostInterface{Name: veth, Kind: netpath.IfaceVeth, Container: id}, netpath.HostInterface{Name: bridge, Kind: netpath.IfaceBridge})
		res.Paths = append(res.Paths, &netpath.Path{Kind: netpath.PathEgress, Container: id, ContainerName: p(i), NetworkMode: p(i + 1), Dst: dst,
			Src: netip.AddrFrom4([4]byte{172, 17, 0, byte(2 + i)}), FinalSrc: netip.MustParseAddr("192.0.2.2"), OutIface: p(i + 5), NAT: true, Verdict: p(i + 6),
			Hops: []netpath.Hop{
				{Kind: netpath.HopVeth, Iface: veth, Text: p(i + 7), Evidence: []model.Evidence{ev(i + 3)}},
				{Kind: netpath.HopBridge, Iface: bridge, Text: p(i + 8), Evidence: []model.Evidence{ev(i + 4)}},
				{Kind: netpath.HopNAT, Text: p(i + 9), Counters: &firewall.PacketCounters{Packets: 1, Bytes: 2},
					Evidence: []model.Evidence{{Member: "host/firewall/iptables-save.txt", Line: 3, Text: "-A POSTROUTING -s " + p(i) + " -j " + p(i+1)}}},
				{Kind: netpath.HopOut, Iface: p(i + 10), Src: netip.MustParseAddr("192.0.2.2"), Text: p(i + 11), Evidence: []model.Evidence{ev(i + 5)}},
			},
			Notes: []string{p(i + 1)}, Unknown: []string{p(i + 2)}})
		res.Visibility = append(res.Visibility, netpath.VisibilityRow{Container: id, ContainerName: p(i), Dst: dst, Iface: bridge, IfaceKind: netpath.IfaceBridge,
			Visible: netpath.VisibleYes, Src: netip.AddrFrom4([4]byte{172, 17, 0, byte(2 + i)}), As: "container", Why: p(i + 3)})
		res.IPOwnership = append(res.IPOwnership, model.Lease{Addr: netip.AddrFrom4([4]byte{172, 17, 0, byte(2 + i)}), Container: id, ContainerName: p(i), Network: p(i + 1), Note: p(i + 2), Evidence: []model.Evidence{ev(i)}})
		res.Flows = append(res.Flows, traffic.Flow{Container: id, ContainerName: p(i), Rule: p(i + 1), Confidence: p(i + 2), Reason: p(i + 3), Member: p(i + 4), Interface: p(i + 5),
			Role: p(i + 6), Proto: p(i + 7), Client: netip.AddrFrom4([4]byte{172, 17, 0, byte(2 + i)}), ClientPort: 40000, Server: dst, ServerPort: 443,
			Original: &traffic.FlowTuple{Src: netip.AddrFrom4([4]byte{172, 17, 0, byte(2 + i)}), SPort: 1, Dst: dst, DPort: 443},
			First:    time.Date(2026, 11, 28, 10, i, 0, 0, time.UTC), Last: time.Date(2026, 11, 28, 10, i, 1, 0, time.UTC), TCPFlags: p(i + 8),
			SNI: p(i + 9), HTTPHost: p(i + 10), Names: []string{p(i + 11)}, Evidence: []model.Evidence{ev(i + 6)}})
		res.DNS = append(res.DNS, traffic.DNSQuery{Time: time.Date(2026, 11, 28, 10, i, 0, 0, time.UTC), Container: id, ContainerName: p(i), Rule: p(i + 1),
			QName: p(i + 2), QType: 1, Answers: []string{p(i+3) + " A 198.51.100.7", p(i+4) + " CNAME " + p(i+5)}, Interface: p(i + 6), Evidence: ev(i + 7)})
		res.Captures = append(res.Captures, traffic.CaptureSummary{Member: p(i), Format: p(i + 1), Problems: []string{p(i + 2)}, Error: p(i + 3),
			Points: []traffic.PointSummary{{Name: veth, Role: p(i + 4), Container: id, ContainerName: p(i)}}})
		res.Findings = append(res.Findings, triage.Finding{ID: p(i), Title: p(i + 1), Severity: []string{"critical", "high", p(i)}[i%3], Container: id, ContainerName: p(i), Why: p(i + 2),
			Evidence: []model.Evidence{ev(i + 7)}, File: &layer.File{Path: p(i + 3), Type: p(i + 4), ModeText: p(i + 5), SHA256: p(i + 6)}})
		tev := ev(i + 8)
		res.Timeline = append(res.Timeline, timeline.Event{Time: time.Date(2026, 11, 28, 10, i, 0, 0, time.UTC), Kind: p(i), Message: "DNS answer " + p(i) + " for " + p(i+1),
			Source: p(i + 2), Container: id, ContainerName: p(i + 3), Evidence: &tev, Attrs: map[string]string{p(i): p(i + 1)}})
	}
	contact := func(i int) ioc.Contact {
		return ioc.Contact{Container: res.Containers[i].ID, ContainerName: p(i), Rules: []string{p(i + 1)}, Remotes: []netip.Addr{dst}, Names: []string{p(i + 2)},
			Conversations: 1, PacketsToIOC: 3, Points: []ioc.Point{{Member: p(i + 3), Interface: p(i + 4), Role: p(i + 5)}}, Evidence: []model.Evidence{ev(i)}, Path: res.Paths[i]}
	}
	res.IOCs = []ioc.Hit{
		{IOC: dst.String(), Kind: p(1), Containers: []string{res.Containers[0].ID, res.Containers[1].Name}, Contacts: []ioc.Contact{contact(0), contact(1)}},
		{IOC: all, Kind: p(2), Containers: []string{p(3)}, Unattributed: true, Contacts: []ioc.Contact{contact(2), {Rules: []string{p(4)}}, {Who: p(6), Rules: []string{p(7)}}}},
	}
	res.TrafficProblems = []string{p(5)}
	return res
}

// htmlAllowedTags are the elements the report template writes; an element
// outside this set in the output came from data.
var htmlAllowedTags = map[string]bool{
	"html": true, "head": true, "meta": true, "title": true, "style": true, "body": true, "div": true, "h1": true, "h2": true, "h3": true,
	"h4": true, "p": true, "ol": true, "ul": true, "li": true, "a": true, "section": true, "table": true, "thead": true, "tbody": true,
	"tr": true, "th": true, "td": true, "span": true, "strong": true, "code": true, "br": true, "footer": true,
	"svg": true, "g": true, "rect": true, "text": true, "path": true, "circle": true,
	"details": true, "summary": true, "dl": true, "dt": true, "dd": true,
}

// TestHTMLHostileStructure parses the hostile report as a browser would and
// checks that data created no element, no event handler, no URL and no
// style: only the template's own markup is there, with the payloads as text.
func TestHTMLHostileStructure(t *testing.T) {
	const tw = "http://127.0.0.1:9"
	page := reportRender(t, HTML, hostileReportResult(tw))
	z := html.NewTokenizer(bytes.NewReader(page))
	metas := 0
	var text strings.Builder
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatal(z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.TextToken:
			text.WriteString(tok.Data)
		case html.StartTagToken, html.SelfClosingTagToken:
			if !htmlAllowedTags[tok.Data] {
				t.Errorf("the hostile report holds a <%s> element", tok.Data)
			}
			for _, a := range tok.Attr {
				switch {
				case strings.HasPrefix(a.Key, "on"), a.Key == "src", a.Key == "srcset", a.Key == "formaction", a.Key == "action":
					t.Errorf("<%s> has attribute %s=%q", tok.Data, a.Key, a.Val)
				case a.Key == "href" && !strings.HasPrefix(a.Val, "#"):
					t.Errorf("<%s> links to %q", tok.Data, a.Val)
				case a.Key == "style":
					t.Errorf("<%s> has a style attribute %q", tok.Data, a.Val)
				case a.Key == "class" && strings.ContainsAny(a.Val, "<>\"'()/:"):
					t.Errorf("<%s> has class %q", tok.Data, a.Val)
				}
				if a.Key == "http-equiv" {
					metas++
					if !strings.EqualFold(a.Val, "Content-Security-Policy") {
						t.Errorf("meta http-equiv=%q", a.Val)
					}
				}
			}
		}
	}
	if metas != 1 {
		t.Errorf("the report has %d http-equiv metas, want the one Content-Security-Policy", metas)
	}
	// The payloads are there, as text a reader can see.
	shown := text.String()
	for _, want := range []string{"<script>document.documentElement.setAttribute('data-pwned','script')</script>", `[x](javascript:`, `\x1b]8;;`, `\u202e`} {
		if !strings.Contains(shown, want) {
			t.Errorf("the report's text lacks the payload %q", want)
		}
	}
	if strings.Contains(string(page), "\x1b") || strings.Contains(string(page), "\u202e") {
		t.Error("the report holds a raw escape or bidirectional override")
	}
	if !strings.HasPrefix(shown[strings.Index(shown, "WARNING"):], "WARNING: UNVERIFIED") {
		t.Error("the warning is not shown")
	}
}

// TestMarkdownHostile: in the Markdown report no payload becomes a link, an
// image, an HTML element or a broken table row.
func TestMarkdownHostile(t *testing.T) {
	md := string(reportRender(t, Markdown, hostileReportResult("http://127.0.0.1:9")))
	if !strings.HasPrefix(md, "**WARNING: UNVERIFIED") {
		t.Errorf("the Markdown report does not start with the warning: %.80q", md)
	}
	for i, line := range strings.Split(md, "\n") {
		// Code spans are literal in Markdown; look outside them.
		outside := mdOutsideCode(line)
		for _, bad := range []string{"](", "javascript:", "http:", "\x1b", "\u202e"} {
			if strings.Contains(line, bad) && (bad == "\x1b" || bad == "\u202e" || strings.Contains(outside, bad)) {
				t.Errorf("line %d holds %q outside code: %q", i+1, bad, line)
			}
		}
		if strings.Contains(strings.ReplaceAll(outside, "<br>", ""), "<") {
			t.Errorf("line %d holds raw HTML: %q", i+1, line)
		}
		if strings.HasPrefix(line, "|") {
			cells := mdCells(line)
			if cells != 0 && cells != mdHeaderCells(md, i) {
				t.Errorf("line %d has %d cells, its table %d: %q", i+1, cells, mdHeaderCells(md, i), line)
			}
		}
	}
}

// mdOutsideCode returns the line without its code spans (fences of any
// length).
func mdOutsideCode(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); {
		if line[i] == '\\' && i+1 < len(line) {
			b.WriteString(line[i : i+2])
			i += 2
			continue
		}
		if line[i] != '`' {
			b.WriteByte(line[i])
			i++
			continue
		}
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		fence := line[i : i+n]
		end := strings.Index(line[i+n:], fence)
		if end < 0 {
			b.WriteString(line[i:])
			break
		}
		i += n + end + n
	}
	return b.String()
}

// mdCells counts the cells of a table row: unescaped pipes outside code
// spans (GFM splits on pipes even inside code unless escaped).
func mdCells(line string) int {
	n := 0
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if line[i] == '|' {
			n++
		}
	}
	return n - 1
}

// mdHeaderCells is the cell count of the header of the table holding line i.
func mdHeaderCells(md string, i int) int {
	lines := strings.Split(md, "\n")
	for i > 0 && strings.HasPrefix(lines[i-1], "|") {
		i--
	}
	return mdCells(lines[i])
}

// TestTopologyMarksCapturesAndContacts: captured interfaces carry the
// capture marker and the path of an IOC contact is highlighted, node and
// edges, while other paths are not.
func TestTopologyMarksCapturesAndContacts(t *testing.T) {
	res := reportDemoResult(t)
	var beacon *netpath.Path
	for _, p := range res.Paths {
		if p.Kind == netpath.PathEgress && strings.HasPrefix(p.ContainerName, "dce-beacon-") {
			beacon = p
		}
	}
	if beacon == nil {
		t.Fatal("no beacon path in the demo")
	}
	res.IOCs = []ioc.Hit{{IOC: beacon.Dst.String(), Kind: "ip", Containers: []string{beacon.Container},
		Contacts: []ioc.Contact{{Container: beacon.Container, ContainerName: beacon.ContainerName, Remotes: []netip.Addr{beacon.Dst}, Path: beacon}}}}
	tv := buildTopology(res, map[string]bool{beacon.OutIface: true, "docker0": true})
	hl := map[string]bool{}
	captured := map[string]bool{}
	for _, n := range tv.Nodes {
		if n.Highlight {
			hl[n.Label] = true
		}
		if n.Captured {
			captured[n.Label] = true
		}
	}
	for _, want := range []string{beacon.ContainerName, beacon.Hops[1].Iface, beacon.Hops[2].Iface, beacon.OutIface, beacon.Dst.String()} {
		if !hl[want] {
			t.Errorf("node %q is not highlighted; highlighted: %v", want, hl)
		}
	}
	if hl["docker0"] || len(hl) != 6 {
		t.Errorf("highlighted nodes = %v, want the beacon's 6 (container, veth, bridge, NAT, uplink, the indicator)", hl)
	}
	if !captured[beacon.OutIface] || !captured["docker0"] || len(captured) != 2 {
		t.Errorf("captured nodes = %v, want %s and docker0", captured, beacon.OutIface)
	}
	edges := 0
	for _, e := range tv.Edges {
		if e.Class == "edge hl" {
			edges++
		}
	}
	if edges != 5 {
		t.Errorf("%d highlighted edges, want 5 (container→veth→bridge→NAT→uplink→indicator)", edges)
	}
	page := string(reportRender(t, HTML, res))
	if !strings.Contains(page, `<path class="edge hl"`) || !strings.Contains(page, "IOC contact") {
		t.Error("the HTML report does not highlight the IOC contact")
	}
}

// TestTopologyEdgesAvoidBoxes: an edge that spans columns (a host network
// container straight to its uplink, a veth whose traffic leaves without
// NAT) passes no box on its way; every point of every edge lies outside
// every node but its own two ends' borders.
func TestTopologyEdgesAvoidBoxes(t *testing.T) {
	res := reportDemoResult(t)
	var veth *netpath.Path
	for _, p := range res.Paths {
		if p.Kind == netpath.PathEgress && len(p.Hops) > 1 && p.Hops[1].Kind == netpath.HopVeth {
			veth = p
			break
		}
	}
	if veth == nil || len(res.Containers) < 2 {
		t.Fatal("the demo has no egress path through a veth, or fewer than two containers")
	}
	hostNet := res.Containers[0]
	res.Paths = append(res.Paths,
		&netpath.Path{Kind: netpath.PathEgress, Container: hostNet.ID, ContainerName: hostNet.Name, NetworkMode: "host",
			Hops: []netpath.Hop{{Kind: netpath.HopOut, Iface: veth.OutIface}}},
		&netpath.Path{Kind: netpath.PathEgress, Container: veth.Container, ContainerName: veth.ContainerName,
			Hops: []netpath.Hop{veth.Hops[0], veth.Hops[1], {Kind: netpath.HopOut, Iface: "uplink-no-nat"}}})
	tv := buildTopology(res, nil)
	long := 0
	for _, e := range tv.Edges {
		pts, segs := topoEdgePoints(t, e.D)
		if segs > 1 {
			long++
		}
		for _, p := range pts {
			for _, n := range tv.Nodes {
				if p[0] > float64(n.X) && p[0] < float64(n.X+n.W) && p[1] > float64(n.Y) && p[1] < float64(n.Y+n.H) {
					t.Errorf("edge %q passes under the box %q at (%.0f, %.0f)", e.D, n.Label, p[0], p[1])
				}
			}
		}
	}
	if long < 2 {
		t.Errorf("%d edges span columns, want at least the two added", long)
	}
}

// topoEdgePoints samples an edge's SVG path (M, C and L commands, absolute)
// and returns the points and the number of curves (one per column gap).
func topoEdgePoints(t *testing.T, d string) (pts [][2]float64, curves int) {
	t.Helper()
	f := strings.Fields(strings.NewReplacer("M", " M ", "C", " C ", "L", " L ").Replace(d))
	xy := func(s string) [2]float64 {
		var p [2]float64
		if _, err := fmt.Sscanf(s, "%g,%g", &p[0], &p[1]); err != nil {
			t.Fatalf("edge path %q: %v", d, err)
		}
		return p
	}
	var cur [2]float64
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "M":
			cur = xy(f[i+1])
			i++
		case "L":
			q := xy(f[i+1])
			for s := 0.0; s <= 1; s += 0.02 {
				pts = append(pts, [2]float64{cur[0] + s*(q[0]-cur[0]), cur[1] + s*(q[1]-cur[1])})
			}
			cur = q
			i++
		case "C":
			c1, c2, q := xy(f[i+1]), xy(f[i+2]), xy(f[i+3])
			for s := 0.0; s <= 1; s += 0.02 {
				u := 1 - s
				pts = append(pts, [2]float64{
					u*u*u*cur[0] + 3*u*u*s*c1[0] + 3*u*s*s*c2[0] + s*s*s*q[0],
					u*u*u*cur[1] + 3*u*u*s*c1[1] + 3*u*s*s*c2[1] + s*s*s*q[1]})
			}
			cur = q
			curves++
			i += 3
		default:
			t.Fatalf("edge path %q: unexpected %q", d, f[i])
		}
	}
	return pts, curves
}
