package bundle

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

func TestCustodyChain(t *testing.T) {
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "case.tar.zst")
	os.WriteFile(bundlePath, []byte("pretend bundle"), 0o644)
	for _, a := range []string{ActionCollected, ActionTransferred, ActionReceived, ActionVerified} {
		if _, err := AppendCustody(bundlePath, CustodyEvent{Action: a, By: "A. Analyst", Note: "note " + a}, nil); err != nil {
			t.Fatalf("AppendCustody(%s) = %v", a, err)
		}
	}
	sum, _ := FileSHA256(bundlePath)
	good, _ := os.ReadFile(CustodyPath(bundlePath))
	events, err := CheckCustody(bytes.NewReader(good), sum)
	if err != nil || len(events) != 4 || events[3].Seq != 4 || events[0].PrevSHA256 != sum {
		t.Fatalf("CheckCustody = %d events, %v", len(events), err)
	}

	lines := strings.SplitAfter(string(good), "\n")
	tests := []struct {
		name     string
		log      string
		bundle   string
		wantLine int
	}{
		{"edited line", lines[0] + strings.Replace(lines[1], "A. Analyst", "B. Other", 1) + lines[2] + lines[3], sum, 3},
		{"removed line", lines[0] + lines[2] + lines[3], sum, 2},
		{"swapped lines", lines[0] + lines[2] + lines[1] + lines[3], sum, 2},
		{"other bundle", string(good), strings.Repeat("0", 64), 1},
		{"cut last line", strings.TrimSuffix(string(good), "\n"), sum, 4},
		{"garbage line", lines[0] + "{not json\n", sum, 2},
	}
	for _, tt := range tests {
		_, err := CheckCustody(strings.NewReader(tt.log), tt.bundle)
		var ce *CustodyError
		if !errors.As(err, &ce) || ce.Line != tt.wantLine {
			t.Errorf("CheckCustody(%s) = %v, want a broken link at line %d", tt.name, err, tt.wantLine)
		}
	}

	// A broken chain is not extended.
	os.WriteFile(CustodyPath(bundlePath), []byte(lines[0]+lines[2]), 0o644)
	if _, err := AppendCustody(bundlePath, CustodyEvent{Action: "copied", By: "x"}, nil); err == nil {
		t.Error("AppendCustody extended a broken chain")
	}
	// Changing the bundle breaks the first link.
	os.WriteFile(CustodyPath(bundlePath), good, 0o644)
	os.WriteFile(bundlePath, []byte("pretend bundle, altered"), 0o644)
	if _, err := AppendCustody(bundlePath, CustodyEvent{Action: "copied", By: "x"}, nil); err == nil {
		t.Error("AppendCustody accepted a changed bundle")
	}
}

// custodyLog builds a custody log for the bundle hash sum, event i signed by
// signers[i] (nil: unsigned), as AppendCustodyFor writes it.
func custodyLog(t testing.TB, sum string, signers ...ssh.Signer) []string {
	t.Helper()
	var lines []string
	prev := sum
	actions := []string{ActionCollected, ActionTransferred, ActionReceived, ActionVerified, ActionAnalysed}
	for i, s := range signers {
		ev := CustodyEvent{
			Seq: i + 1, Time: time.Date(2026, 11, 28, 10+i, 0, 0, 0, time.UTC),
			Action: actions[i%len(actions)], By: "A. Analyst", Where: "lab <1>", Note: `USB "4411"`,
			BundleSHA256: sum, PrevSHA256: prev,
		}
		line, err := encodeCustodyLine(ev, s)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(line)+"\n")
		prev = sha256Hex(line)
	}
	return lines
}

// TestCustodyForgery is the table of ways to rewrite a custody log: each is
// a broken link or bad signature at a named line (exit 4 in the CLI), or an
// intact chain whose events are reported as unsigned or untrusted (exit 5).
func TestCustodyForgery(t *testing.T) {
	collector, _ := EphemeralSigner()
	analyst, _ := EphemeralSigner()
	mallory, _ := EphemeralSigner()
	trust := Trust{Keys: []ssh.PublicKey{collector.PublicKey(), analyst.PublicKey()}}
	sum := strings.Repeat("ab", 32)
	signed := custodyLog(t, sum, collector, analyst, analyst, analyst)
	unsignedTail := custodyLog(t, sum, collector, analyst, analyst, nil)
	resigned := custodyLog(t, sum, mallory, mallory, mallory, mallory)
	extra := func(base []string, s ssh.Signer) string {
		lines := custodyLog(t, sum, collector, analyst, analyst, analyst, s)
		return strings.Join(base, "") + lines[4]
	}
	edit := func(line string) string { return strings.Replace(line, "A. Analyst", "M. Allory", 1) }
	stripSig := func(line string) string {
		i := strings.Index(line, custodySigKey)
		return line[:i] + "}\n"
	}
	// A signature made for the bundle's namespace does not stand for a
	// custody event's.
	otherNS := func() string {
		msg := []byte(stripSig(signed[1]))
		sig, err := sshsig.Sign(bytes.NewReader(msg), analyst, sshsig.HashSHA512, SignatureNamespace)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(string(msg), "}\n") + custodySigKey + base64.StdEncoding.EncodeToString(sig.Marshal()) + "\"}\n"
	}()
	sigFirst := func(line string) string {
		i := strings.Index(line, custodySigKey)
		sig := line[i+1 : len(line)-2]
		return "{" + sig + "," + line[1:i] + "}\n"
	}

	// status is one letter an event: T trusted, U unsigned, X signed by an
	// untrusted key.
	tests := []struct {
		name     string
		log      string
		wantLine int    // a *CustodyError at this line, or 0
		wantWhy  string // in its reason
		want     string // the events' status when the chain holds
	}{
		{"intact", strings.Join(signed, ""), 0, "", "TTTT"},
		{"unsigned last event", strings.Join(unsignedTail, ""), 0, "", "TTTU"},
		{"edit a middle line", signed[0] + edit(signed[1]) + signed[2] + signed[3], 2, "does not verify", ""},
		{"edit the last line", signed[0] + signed[1] + signed[2] + edit(signed[3]), 4, "does not verify", ""},
		{"edit the last line, unsigned", unsignedTail[0] + unsignedTail[1] + unsignedTail[2] + edit(unsignedTail[3]), 0, "", "TTTU"},
		{"strip the last signature and edit", signed[0] + signed[1] + signed[2] + edit(stripSig(signed[3])), 0, "", "TTTU"},
		{"strip a middle signature", signed[0] + stripSig(signed[1]) + signed[2] + signed[3], 3, "prev_sha256", ""},
		{"reorder", signed[0] + signed[2] + signed[1] + signed[3], 2, "prev_sha256", ""},
		{"drop a middle line", signed[0] + signed[2] + signed[3], 2, "prev_sha256", ""},
		{"drop the last line", signed[0] + signed[1] + signed[2], 0, "", "TTT"},
		{"append an unsigned event", extra(signed, nil), 0, "", "TTTTU"},
		{"append an event signed by an untrusted key", extra(signed, mallory), 0, "", "TTTTX"},
		{"re-sign the whole log with another key", strings.Join(resigned, ""), 0, "", "XXXX"},
		{"signature of another namespace", signed[0] + otherNS + signed[2] + signed[3], 2, "namespace", ""},
		{"signature not the last field", signed[0] + sigFirst(signed[1]) + signed[2] + signed[3], 2, "not the last", ""},
		{"re-encoded signed line", signed[0] + strings.Replace(signed[1], `"seq":2,`, `"seq": 2,`, 1) + signed[2] + signed[3], 2, "form dockcase writes", ""},
		{"signature taken from another line", signed[0] + strings.TrimSuffix(stripSig(signed[1]), "}\n") + signed[2][strings.Index(signed[2], custodySigKey):] + signed[2] + signed[3], 2, "does not verify", ""},
		{"garbage after the event", signed[0] + strings.TrimSuffix(signed[1], "\n") + "{}\n" + signed[2] + signed[3], 2, "more than one JSON value", ""},
	}
	for _, tt := range tests {
		recs, err := VerifyCustody(strings.NewReader(tt.log), sum, trust)
		var ce *CustodyError
		if tt.wantLine != 0 {
			if !errors.As(err, &ce) || ce.Line != tt.wantLine || !strings.Contains(ce.Reason, tt.wantWhy) {
				t.Errorf("VerifyCustody(%s) = %v, want a *CustodyError at line %d saying %q", tt.name, err, tt.wantLine, tt.wantWhy)
			}
			continue
		}
		if err != nil {
			t.Errorf("VerifyCustody(%s) = %v, want an intact chain", tt.name, err)
			continue
		}
		var got strings.Builder
		for _, r := range recs {
			switch {
			case !r.Signed():
				got.WriteByte('U')
			case r.Trusted:
				got.WriteByte('T')
			default:
				got.WriteByte('X')
			}
		}
		if got.String() != tt.want {
			t.Errorf("VerifyCustody(%s) statuses = %s, want %s", tt.name, got.String(), tt.want)
		}
	}

	// Dropping the last line leaves an intact, shorter chain: what detects it
	// is the head recorded elsewhere (custody show prints it), which no line
	// of the shortened log hashes to.
	head := sha256Hex([]byte(strings.TrimSuffix(signed[3], "\n")))
	recs, _ := VerifyCustody(strings.NewReader(signed[0]+signed[1]+signed[2]), sum, trust)
	for _, r := range recs {
		if r.LineSHA256 == head {
			t.Errorf("the log without its last line still holds the head %s", head)
		}
	}
	recs, _ = VerifyCustody(strings.NewReader(strings.Join(signed, "")), sum, trust)
	if len(recs) != 4 || recs[3].LineSHA256 != head || recs[0].Fingerprint != ssh.FingerprintSHA256(collector.PublicKey()) {
		t.Errorf("VerifyCustody(intact) = %+v, want head %s and the collector's fingerprint first", recs, head)
	}
}

func TestAppendCustodySigned(t *testing.T) {
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "case.tar.zst")
	os.WriteFile(bundlePath, []byte("pretend bundle"), 0o644)
	s, _ := EphemeralSigner()
	if _, err := AppendCustody(bundlePath, CustodyEvent{Action: ActionCollected, By: "collector"}, s); err != nil {
		t.Fatal(err)
	}
	ev, err := AppendCustody(bundlePath, CustodyEvent{Action: ActionReceived, By: "lab"}, nil)
	if err != nil || ev.Seq != 2 || ev.Sig != "" {
		t.Fatalf("AppendCustody(unsigned) = %+v, %v", ev, err)
	}
	ev, err = AppendCustody(bundlePath, CustodyEvent{Action: ActionVerified, By: "lab", Note: "<ok> & \"done\""}, s)
	if err != nil || ev.Seq != 3 || ev.Sig == "" {
		t.Fatalf("AppendCustody(signed) = %+v, %v", ev, err)
	}
	f, _ := os.Open(CustodyPath(bundlePath))
	defer f.Close()
	sum, _ := FileSHA256(bundlePath)
	recs, err := VerifyCustody(f, sum, Trust{Fingerprint: ssh.FingerprintSHA256(s.PublicKey())})
	if err != nil || len(recs) != 3 || !recs[0].Trusted || recs[1].Signed() || !recs[2].Trusted || recs[2].Note != ev.Note {
		t.Fatalf("VerifyCustody = %+v, %v; want signed, unsigned, signed, trusted by fingerprint", recs, err)
	}
	// A line whose signature no longer verifies is not extended.
	data, _ := os.ReadFile(CustodyPath(bundlePath))
	os.WriteFile(CustodyPath(bundlePath), bytes.Replace(data, []byte("done"), []byte("undone"), 1), 0o644)
	if _, err := AppendCustody(bundlePath, CustodyEvent{Action: "copied", By: "x"}, nil); err == nil {
		t.Error("AppendCustody extended a log whose last signature does not verify")
	}
}

// FuzzCustody feeds custody logs, signed and not, to VerifyCustody: no
// panic, and an event reported signed names its key.
func FuzzCustody(f *testing.F) {
	s, _ := EphemeralSigner()
	sum := strings.Repeat("ab", 32)
	f.Add([]byte(strings.Join(custodyLog(f, sum, s, nil, s), "")), sum)
	f.Add([]byte(strings.Join(custodyLog(f, sum, nil), "")), sum)
	if demo, err := os.ReadFile("../testdata/demo/demo.tar.zst.custody.jsonl"); err == nil {
		f.Add(demo, "9d955888a572e371cacf62d9cadbd7311653de8848955e9039567be59066c1be")
	}
	f.Fuzz(func(t *testing.T, b []byte, sum string) {
		recs, _ := VerifyCustody(bytes.NewReader(b), sum, Trust{Keys: []ssh.PublicKey{s.PublicKey()}})
		for _, r := range recs {
			if r.Signed() != (r.Fingerprint != "") || (r.Trusted && !r.Signed()) {
				t.Fatalf("record %+v: signed %v, fingerprint %q, trusted %v", r.CustodyEvent, r.Signed(), r.Fingerprint, r.Trusted)
			}
		}
	})
}
