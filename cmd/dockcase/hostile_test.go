package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/dockcase/dockcase/analyze/analyzetest"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/filekind"
)

// maxMemberBytes bounds a demo member read into memory to repack it: the
// demo bundle is well under a megabyte.
const maxMemberBytes = 64 << 20

// hostileFixtures is a case folder made from the demo bundle.
type hostileFixtures struct {
	dir        string
	complete   string // case.tar.zst: the demo repacked complete, signed by a new key
	incomplete string // partial.tar.zst: the same with a gap
	signers    string // allowed_signers naming that key
	capture    string // cap.pcapng: the demo's capture, as an IDS would hand it in
	gz         string // cap.pcapng.gz
	encrypted  string // enc.tar.zst.age: case.tar.zst encrypted with age
	identity   string // the age identity of enc.tar.zst.age
	beacon     string // the container that beacons
}

// repack writes the demo bundle's members as a new bundle at path, signed by
// signer, with gaps (none: a complete collection).
func repack(t *testing.T, demo *bundle.Bundle, path string, signer ssh.Signer, gaps []string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := bundle.NewWriter(f, demo.Meta, bundle.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range demo.Members() {
		data, err := demo.ReadFile(m.Path, maxMemberBytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(m.Path, bundle.MemberInfo{Step: m.Step, Source: m.Source, Note: m.Note}, data); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range demo.Steps {
		w.Record(s)
	}
	for _, g := range gaps {
		w.Gap(g)
	}
	if _, err := w.Close(signer); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func newHostileFixtures(t *testing.T) *hostileFixtures {
	t.Helper()
	demo := analyzetest.OpenDemo(t)
	fx := &hostileFixtures{dir: t.TempDir(), beacon: analyzetest.Scenario(t, "beacon", 1)}
	p := func(name string) string { return filepath.Join(fx.dir, name) }
	signer, err := bundle.EphemeralSigner()
	if err != nil {
		t.Fatal(err)
	}
	fx.complete, fx.incomplete, fx.signers = p("case.tar.zst"), p("partial.tar.zst"), p("allowed_signers")
	repack(t, demo, fx.complete, signer, nil)
	repack(t, demo, fx.incomplete, signer, []string{"processes: interrupted by the examiner"})
	line := "examiner@lab " + string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	write(t, fx.signers, []byte(line))
	sum, err := bundle.FileSHA256(fx.complete)
	if err != nil {
		t.Fatal(err)
	}
	write(t, fx.complete+".sha256", []byte(sum+"  case.tar.zst\n"))

	capData, err := demo.ReadFile("capture/capture.pcapng", maxMemberBytes)
	if err != nil {
		t.Fatal(err)
	}
	fx.capture, fx.gz = p("cap.pcapng"), p("cap.pcapng.gz")
	write(t, fx.capture, capData)
	write(t, fx.gz, gzipBytes(t, capData))

	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	fx.identity, fx.encrypted = p("lab.key"), p("enc.tar.zst.age")
	write(t, fx.identity, []byte(id.String()+"\n"))
	plain, err := os.ReadFile(fx.complete)
	if err != nil {
		t.Fatal(err)
	}
	var enc bytes.Buffer
	aw, err := age.Encrypt(&enc, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	aw.Write(plain)
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	write(t, fx.encrypted, enc.Bytes())

	write(t, p("notes.txt"), []byte("IDS export, see ticket 4411\n"))
	write(t, p("existing.csv"), []byte("an earlier export\n"))
	if err := os.Mkdir(p("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(fx.complete, p("hardlink.tar.zst")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(fx.complete, p("symlink.html")); err != nil {
		t.Fatal(err)
	}
	return fx
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// hashDir returns the SHA-256 of every regular file under dir (symlinks
// are left out: their target is hashed under its own name).
func hashDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		out[path] = hex.EncodeToString(sum[:])
		return nil
	})
	return out
}

// hostileCase is one command line and what a responder must see.
type hostileCase struct {
	name     string
	args     []string // $D is the case folder, $B the complete bundle, $P the partial one, $S --allowed-signers=…
	stdin    string   // a file fed on stdin
	code     int
	stderr   string // a regexp that stderr matches
	replaced string // an existing output --force may change
	absent   string // a file the command must not create
}

func TestHostileInputs(t *testing.T) {
	fx := newHostileFixtures(t)
	expand := func(s string) string {
		return strings.NewReplacer("$BEACON", fx.beacon, "$D", fx.dir, "$B", fx.complete, "$P", fx.incomplete,
			"$S", "--allowed-signers="+fx.signers).Replace(s)
	}
	reading := func(cmd string, extra ...string) []string {
		return append(append([]string{cmd, "$S"}, extra...), "$P")
	}
	var cases []hostileCase
	// Outputs never overwrite an input, however spelled.
	for _, out := range []struct{ flag, cmd string }{
		{"--html", "analyze"}, {"--md", "analyze"}, {"--json", "analyze"}, {"--csv", "flows"}, {"--csv", "timeline"},
		{"--timesketch", "timeline"}, {"-o", "extract"},
	} {
		extra := []string{}
		if out.cmd == "extract" {
			extra = []string{"--container", "$BEACON"}
		}
		for _, spelling := range []struct{ name, path, what string }{
			{"same path", "$B", "the bundle"},
			{"dot-dot", "$D/x/../case.tar.zst", "the bundle"},
			{"hard link", "$D/hardlink.tar.zst", "the bundle"},
			{"symlink", "$D/symlink.html", "the bundle"},
			{"pcap input", "$D/cap.pcapng", "--pcap"},
			{"sha256 sidecar", "$B.sha256", "checksum file"},
			{"custody sidecar not yet there", "$B.custody.jsonl", "custody log"},
		} {
			args := append([]string{out.cmd, "$S", out.flag, spelling.path, "--pcap", "$D/cap.pcapng"}, extra...)
			cases = append(cases, hostileCase{
				name: out.cmd + " " + out.flag + " = " + spelling.name, args: append(args, "$B"),
				code: exitUsage, stderr: regexp.QuoteMeta(filepath.Base(expand(spelling.path))) + `: that is .*` + regexp.QuoteMeta(spelling.what) + `.*evidence is never overwritten`,
				absent: "$B.custody.jsonl",
			})
		}
	}
	cases = append(cases,
		hostileCase{name: "two outputs, one file", args: []string{"analyze", "$S", "--html", "$D/r", "--md", "$D/r", "$B"},
			code: exitUsage, stderr: `--html writes to the same file`, absent: "$D/r"},
		hostileCase{name: "report --html = its input", args: []string{"report", "$D/saved.json", "--html", "$D/saved.json"},
			code: exitUsage, stderr: `saved.json: that is the analysis`},
		hostileCase{name: "existing output without --force", args: []string{"flows", "$S", "--csv", "$D/existing.csv", "$B"},
			code: exitUsage, stderr: `existing.csv: the file exists; pass --force`},
		hostileCase{name: "existing output with --force", args: []string{"flows", "$S", "--force", "--csv", "$D/existing.csv", "$B"},
			code: exitOK, replaced: "$D/existing.csv"},

		// Inputs that are not what the command takes.
		hostileCase{name: "pcap as bundle", args: []string{"analyze", "$D/cap.pcapng"},
			code: exitIntegrity, stderr: `cap.pcapng: this is a pcapng capture, not a dockcase bundle; pass it with --pcap\nhint: dockcase analyze BUNDLE --pcap`},
		hostileCase{name: "text as --pcap, flows", args: []string{"flows", "$S", "--pcap", "$D/notes.txt", "--csv", "$D/flows.csv", "$B"},
			code: exitError, stderr: `notes.txt: not a capture \(pcap or pcapng\): it starts with text`, absent: "$D/flows.csv"},
		hostileCase{name: "text as --pcap, analyze", args: []string{"analyze", "$S", "--pcap", "$D/notes.txt", "--json", "$D/a.json", "$B"},
			code: exitError, stderr: `notes.txt: not a capture \(pcap or pcapng\): it starts with text`, absent: "$D/a.json"},
		hostileCase{name: "bundle as --pcap", args: []string{"flows", "$S", "--pcap", "$B", "$B"},
			code: exitError, stderr: `case.tar.zst: this is a zstd file \(a dockcase bundle\), not a capture; give it as the BUNDLE argument`},
		hostileCase{name: "missing --pcap", args: []string{"flows", "$S", "--pcap", "$D/nothere.pcap", "$B"},
			code: exitError, stderr: `nothere.pcap: no such file`},
		hostileCase{name: "truncated gzip", args: []string{"flows", "$S", "--pcap", "$D/cut.pcapng.gz", "$B"},
			code: exitError, stderr: `cut.pcapng.gz: a gzip file cut short or damaged`},
		hostileCase{name: "gzip of text", args: []string{"flows", "$S", "--pcap", "$D/notes.txt.gz", "$B"},
			code: exitError, stderr: `notes.txt.gz: a gzip file, but not of a capture \(pcap or pcapng\): inside is text`},
		hostileCase{name: "gzip bomb", args: []string{"flows", "$S", "--pcap", "$D/bomb.pcapng.gz", "$B"},
			code: exitError, stderr: `bomb.pcapng.gz: decompresses to more than 1 MiB: refused \(a gzip bomb`},
		hostileCase{name: "age-encrypted bundle", args: []string{"verify", "$S", "$D/enc.tar.zst.age"},
			code: exitError, stderr: `enc.tar.zst.age: this bundle is encrypted with age \(collected with --recipient\): give the lab's identity with --identity FILE\nhint: or decrypt it first: age -d`},
		hostileCase{name: "age-encrypted bundle with --identity", args: []string{"verify", "$S", "--identity", "$D/lab.key", "$D/enc.tar.zst.age"},
			code: exitOK},
		hostileCase{name: "text as bundle", args: []string{"inspect", "$D/notes.txt"},
			code: exitIntegrity, stderr: `notes.txt: not a dockcase bundle: it starts with text`},
		hostileCase{name: "directory as bundle", args: []string{"flows", "$D/x"},
			code: exitUsage, stderr: `x: is a directory, not a bundle file\nhint: dockcase flows --help`},
		hostileCase{name: "missing bundle", args: []string{"analyze", "$D/nothere.tar.zst"},
			code: exitError, stderr: `nothere.tar.zst: no such file \(a bundle\)`},
		hostileCase{name: "bundle given to report", args: []string{"report", "$B", "--html", "$D/r.html"},
			code: exitError, stderr: `case.tar.zst: this is a zstd file \(a dockcase bundle\), not a saved analysis\nhint: dockcase analyze`, absent: "$D/r.html"},
		hostileCase{name: "usage hint names the command", args: []string{"timeline", "--no-such-flag", "$B"},
			code: exitUsage, stderr: `hint: dockcase timeline --help shows its usage`},
		hostileCase{name: "- as bundle", args: []string{"verify", "$S", "-"}, stdin: "$B",
			code: exitOK},
		hostileCase{name: "- as bundle, analyze", args: []string{"analyze", "$S", "-"}, stdin: "$B",
			code: exitOK, stderr: `read the bundle from stdin`},
		hostileCase{name: "- as bundle, empty stdin", args: []string{"inspect", "-"}, stdin: "$D/empty",
			code: exitError, stderr: `read the bundle from stdin: standard input is empty`},
		hostileCase{name: "- as bundle with --by", args: []string{"verify", "--by", "C. Lab", "-"}, stdin: "$B",
			code: exitUsage, stderr: `--by records a custody event beside a bundle file`},

		// Trust: 5 without an anchor, 0 with one.
		hostileCase{name: "verify without anchor", args: []string{"verify", "$B"},
			code: exitUntrusted, stderr: `verified, but not trusted: signer SHA256:\S+ is only vouched for by the bundle's own signer.pub\nhint: compare the signer fingerprint`},
		hostileCase{name: "verify with anchor", args: []string{"verify", "$S", "$B"}, code: exitOK},
		hostileCase{name: "inspect without anchor", args: []string{"inspect", "$B"}, code: exitUntrusted, stderr: `not trusted`},
		hostileCase{name: "inspect with anchor", args: []string{"inspect", "$S", "$B"}, code: exitOK},
		hostileCase{name: "path without anchor", args: []string{"path", "$B", "$BEACON"}, code: exitUntrusted, stderr: `not trusted`},
		// An incomplete bundle beats an untrusted signer: 3 before 5.
		hostileCase{name: "incomplete and untrusted", args: []string{"verify", "$P"}, code: exitGaps, stderr: `complete: NO`},
	)
	// An incomplete bundle: 3 from every command that reads it, after its work.
	for _, args := range [][]string{
		reading("verify"), reading("inspect"), reading("analyze"), reading("flows"), reading("findings"),
		reading("timeline"), reading("extract", "--container", "$BEACON", "-o", "$D/beacon.pcapng"),
		append(reading("path"), "$BEACON"),
	} {
		cases = append(cases, hostileCase{name: "incomplete bundle, " + args[0], args: args, code: exitGaps,
			stderr: `partial.tar.zst: the collection is incomplete \(complete: NO\): the bundle lacks "processes: interrupted by the examiner"`})
	}

	// Fixtures made from others.
	capData, err := os.ReadFile(fx.capture)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := os.ReadFile(fx.gz)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(fx.dir, "cut.pcapng.gz"), gz[:len(gz)/2])
	write(t, filepath.Join(fx.dir, "notes.txt.gz"), gzipBytes(t, []byte("not a capture\n")))
	write(t, filepath.Join(fx.dir, "bomb.pcapng.gz"), gzipBytes(t, append(capData[:64:64], make([]byte, 2<<20)...)))
	write(t, filepath.Join(fx.dir, "empty"), nil)
	defer func(old int64) { maxGzipCaptureBytes = old }(maxGzipCaptureBytes)
	maxGzipCaptureBytes = 1 << 20
	if code := Main([]string{"analyze", "--allowed-signers=" + fx.signers, "--json", filepath.Join(fx.dir, "saved.json"), fx.complete}, nil, io.Discard, io.Discard); code != exitOK && code != exitGaps {
		t.Fatalf("analyze --json saved.json: exit %d", code)
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = expand(a)
			}
			var stdin io.Reader
			if tc.stdin != "" {
				f, err := os.Open(expand(tc.stdin))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				stdin = f
			}
			before := hashDir(t, fx.dir)
			var stdout, stderr bytes.Buffer
			code := Main(args, stdin, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("dockcase %q = exit %d, want %d\nstderr:\n%s", args, code, tc.code, stderr.String())
			}
			if tc.stderr != "" && !regexp.MustCompile(tc.stderr).MatchString(stderr.String()) {
				t.Errorf("dockcase %q: stderr does not match %q:\n%s", args, tc.stderr, stderr.String())
			}
			after := hashDir(t, fx.dir)
			for path, sum := range before {
				if path == expand(tc.replaced) {
					if after[path] == sum {
						t.Errorf("%s: --force did not replace it", path)
					}
					continue
				}
				if after[path] != sum {
					t.Errorf("dockcase %q changed or removed %s", args, path)
				}
			}
			if tc.absent != "" {
				if _, err := os.Lstat(expand(tc.absent)); err == nil {
					t.Errorf("dockcase %q wrote %s", args, tc.absent)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(fx.dir, ".*partial*")); len(left) > 0 {
				t.Errorf("dockcase %q left partial files %q", args, left)
			}
			for path := range after {
				if _, ok := before[path]; !ok && tc.code != exitOK && tc.code != exitGaps && tc.code != exitUntrusted {
					t.Errorf("dockcase %q failed (exit %d) but wrote %s", args, code, path)
				}
			}
		})
	}
}

// TestGzipPcap checks that a gzip capture given with --pcap is read as the
// plain file is: the same flows, under its own name, and hashed as given.
func TestGzipPcap(t *testing.T) {
	fx := newHostileFixtures(t)
	flows := func(pcap string) (string, string) {
		var stdout, stderr bytes.Buffer
		code := Main([]string{"flows", "--points", "--allowed-signers=" + fx.signers, "--pcap", pcap, "--csv", "-", fx.complete}, nil, &stdout, &stderr) // per point: the member column
		if code != exitOK && code != exitGaps {
			t.Fatalf("flows --pcap %s: exit %d\n%s", pcap, code, stderr.String())
		}
		var rows []string
		member := "pcap:" + filepath.Base(pcap)
		for _, line := range strings.Split(stdout.String(), "\n") {
			if strings.Contains(line, member) {
				rows = append(rows, strings.ReplaceAll(line, member, "pcap:X"))
			}
		}
		return strings.Join(rows, "\n"), stderr.String()
	}
	plain, _ := flows(fx.capture)
	gz, _ := flows(fx.gz)
	if plain == "" {
		t.Fatal("flows --pcap cap.pcapng: no flow from the --pcap file")
	}
	if gz != plain {
		t.Errorf("flows --pcap cap.pcapng.gz differs from the plain file:\n got %d rows\nwant %d rows", strings.Count(gz, "\n")+1, strings.Count(plain, "\n")+1)
	}

	out := filepath.Join(t.TempDir(), "a.json")
	if code := Main([]string{"analyze", "--allowed-signers=" + fx.signers, "--pcap", fx.gz, "--json", out, fx.complete}, nil, io.Discard, io.Discard); code != exitOK && code != exitGaps {
		t.Fatalf("analyze --pcap cap.pcapng.gz: exit %d", code)
	}
	doc, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := bundle.FileSHA256(fx.gz)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(sum)) {
		t.Errorf("the analysis does not cite the SHA-256 %s of cap.pcapng.gz as given", sum)
	}

	pcapng := filepath.Join(t.TempDir(), "beacon.pcapng")
	var stderr bytes.Buffer
	if code := Main([]string{"extract", "--allowed-signers=" + fx.signers, "--pcap", fx.gz, "--container", fx.beacon, "-o", pcapng, fx.complete}, nil, io.Discard, &stderr); code != exitOK {
		t.Fatalf("extract --pcap cap.pcapng.gz: exit %d\n%s", code, stderr.String())
	}
	if data, err := os.ReadFile(pcapng); err != nil || filekind.Sniff(data) != filekind.Pcapng {
		t.Errorf("extract -o beacon.pcapng: %v, not a pcapng file", err)
	}
}
