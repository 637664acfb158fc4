package report

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
)

func hostileResult() *analyze.Result {
	name := "evil\x1b]0;owned\x07\x1b[2J<script>"
	dst := netip.MustParseAddr("198.51.100.7")
	return &analyze.Result{
		Warning: "UNVERIFIED: hash mismatch",
		Version: analyze.ResultVersion,
		Bundle:  analyze.BundleInfo{Root: "r", Case: "C\x1b[31m", Host: "h", Verified: false, VerificationError: "bad\x1b[0m"},
		Host:    analyze.HostInfo{Destinations: []netip.Addr{dst}},
		Containers: []*model.Container{{ID: "0123456789abcdef", Name: name, State: "running", NetworkMode: "bridge",
			Endpoints: []model.Endpoint{{Network: "n\x1b[1m", IP: netip.MustParseAddr("172.17.0.2")}}}},
		Paths: []*netpath.Path{{Kind: netpath.PathEgress, ContainerName: name, Dst: dst, OutIface: "eth0", NAT: true, Verdict: "accept",
			FinalSrc: netip.MustParseAddr("192.0.2.2"),
			Hops:     []netpath.Hop{{Kind: netpath.HopVeth, Iface: "veth\x1b[2K", Text: "t\x1b[2K", Evidence: []model.Evidence{{Member: "m\x1b[2K", Line: 3}}}}}},
		Visibility: []netpath.VisibilityRow{{ContainerName: name, Dst: dst, Iface: "br-0123456789ab", Visible: netpath.VisibleYes,
			Src: netip.MustParseAddr("172.17.0.2"), As: "container"}},
		Missing: []string{"x\x1b[0m"},
	}
}

// TestSummaryHostile: the first line warns of an unverified bundle, and no
// value can put an escape sequence on the analyst's terminal.
func TestSummaryHostile(t *testing.T) {
	var b bytes.Buffer
	if err := Summary(&b, hostileResult()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, "WARNING: UNVERIFIED") {
		t.Errorf("first line = %q, want the warning", first)
	}
	if strings.ContainsAny(out, "\x1b\x07") {
		t.Errorf("Summary printed a raw escape:\n%q", out)
	}
	for _, want := range []string{`evil\x1b]0;owned\x07`, "br-0123456789ab", "yes 172.17.0.2", `x\x1b[0m`} {
		if !strings.Contains(out, want) {
			t.Errorf("Summary lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := PathDetail(&b, hostileResult().Paths[0]); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), `evidence: m\x1b[2K line 3`) {
		t.Errorf("PathDetail = %q", b.String())
	}
}
