package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (scripts/setup.sh installs it)", name)
		}
		t.Skipf("%s is not installed", name)
	}
}

func run(t *testing.T, dir string, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestStandardTools checks a bundle with the tools a responder has without
// dockcase: tar, sha256sum and ssh-keygen.
func TestStandardTools(t *testing.T) {
	for _, tool := range []string{"tar", "zstd", "sha256sum", "ssh-keygen"} {
		needTool(t, tool)
	}
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "lab_ed25519")
	if out, err := run(t, dir, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret pass", "-C", "lab", "-f", keyPath); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	if _, err := LoadSigner(keyPath, nil); err == nil {
		t.Fatal("LoadSigner of an encrypted key without a passphrase succeeded")
	}
	asked := 0
	signer, err := LoadSigner(keyPath, func() ([]byte, error) { asked++; return []byte("s3cret pass"), nil })
	if err != nil || asked != 1 {
		t.Fatalf("LoadSigner = %v (asked %d times)", err, asked)
	}

	var out bytes.Buffer
	w, err := NewWriter(&out, testMeta, Options{ChunkBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	w.Add("host/clock.json", MemberInfo{}, []byte("{}\n"))
	w.Add("images/web.tar", MemberInfo{}, bytes.Repeat([]byte("layer "), 2000)) // chunked
	sum, err := w.Close(signer)
	if err != nil {
		t.Fatal(err)
	}
	bundlePath := filepath.Join(dir, "case.tar.zst")
	os.WriteFile(bundlePath, out.Bytes(), 0o644)

	if o, err := run(t, dir, nil, "tar", "--zstd", "-xf", bundlePath); err != nil {
		t.Fatalf("tar --zstd -xf: %v\n%s", err, o)
	}
	root := filepath.Join(dir, sum.Root)
	if o, err := run(t, root, nil, "sha256sum", "-c", "--strict", SumsName); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, o)
	} else if !strings.Contains(o, "images/web.tar.001: OK") {
		t.Errorf("sha256sum -c did not check the chunks:\n%s", o)
	}
	pub, _ := os.ReadFile(filepath.Join(root, SignerName))
	if !bytes.Equal(pub, ssh.MarshalAuthorizedKey(signer.PublicKey())) {
		t.Errorf("signer.pub = %q, want the lab key", pub)
	}
	allowed := filepath.Join(dir, "allowed_signers")
	os.WriteFile(allowed, []byte(`lab@example namespaces="dockcase" `+string(pub)), 0o644)
	sums, _ := os.ReadFile(filepath.Join(root, SumsName))
	sigPath := filepath.Join(root, SignatureName)
	if o, err := run(t, root, sums, "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "lab@example", "-n", SignatureNamespace, "-s", sigPath); err != nil {
		t.Fatalf("ssh-keygen -Y verify: %v\n%s", err, o)
	}
	if o, err := run(t, root, append(sums, '\n'), "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "lab@example", "-n", SignatureNamespace, "-s", sigPath); err == nil {
		t.Fatalf("ssh-keygen -Y verify accepted altered checksums:\n%s", o)
	}

	// The allowed_signers file that ssh-keygen accepted is also dockcase's.
	f, _ := os.Open(allowed)
	keys, err := ParseAllowedSigners(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Verify(bytes.NewReader(out.Bytes()), VerifyOptions{Trust: Trust{Keys: keys}})
	if err != nil || !res.Trusted {
		t.Fatalf("Verify with the allowed signers = %v, trusted %v", err, res.Trusted)
	}

	// A changed member fails sha256sum -c.
	os.Chmod(filepath.Join(root, "host/clock.json"), 0o644)
	os.WriteFile(filepath.Join(root, "host/clock.json"), []byte("{\"x\":1}\n"), 0o644)
	if o, err := run(t, root, nil, "sha256sum", "-c", "--quiet", SumsName); err == nil {
		t.Fatalf("sha256sum -c passed after a change:\n%s", o)
	}
}

func TestParseAllowedSigners(t *testing.T) {
	a, _ := EphemeralSigner()
	b, _ := EphemeralSigner()
	ka := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(a.PublicKey())))
	kb := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(b.PublicKey())))
	tests := []struct {
		in   string
		want int
		err  bool
	}{
		{"lab " + ka, 1, false},
		{"# comment\n\nlab,other@x " + ka + " comment here\n" + `"a b" ` + kb, 2, false},
		{`lab namespaces="git,dockcase" ` + ka, 1, false},
		{`lab namespaces="git" ` + ka + "\nlab " + kb, 1, false},
		{`lab namespaces="git" ` + ka, 0, true},
		{"lab not-a-key", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		keys, err := ParseAllowedSigners(strings.NewReader(tt.in))
		if (err != nil) != tt.err || len(keys) != tt.want {
			t.Errorf("ParseAllowedSigners(%q) = %d keys, %v; want %d keys, error %v", tt.in, len(keys), err, tt.want, tt.err)
		}
	}
}

// custodyRecipe is the standard-tools check of custody event $N of $LOG
// that the package doc and the README give (with the log's name for $LOG).
const custodyRecipe = `sed -n "${N}s/,\"sig\":\"[^\"]*\"}\$/}/p" "$LOG" > event.msg
{ echo '-----BEGIN SSH SIGNATURE-----'
  sed -n "${N}s/.*,\"sig\":\"\([^\"]*\)\"}\$/\1/p" "$LOG" | fold -w 70
  echo '-----END SSH SIGNATURE-----'; } > event.sig
ssh-keygen -Y verify -f allowed_signers -I lab@example -n dockcase-custody -s event.sig < event.msg`

// TestStandardToolsCustody checks a custody event's signature with sed, fold
// and ssh-keygen, as a responder without dockcase would.
func TestStandardToolsCustody(t *testing.T) {
	for _, tool := range []string{"sh", "sed", "fold", "ssh-keygen"} {
		needTool(t, tool)
	}
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "lab_ed25519")
	if out, err := run(t, dir, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab", "-f", keyPath); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	lab, err := LoadSigner(keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := EphemeralSigner()
	bundlePath := filepath.Join(dir, "case.tar.zst")
	os.WriteFile(bundlePath, []byte("pretend bundle"), 0o644)
	for i, s := range []ssh.Signer{lab, other, lab} {
		ev := CustodyEvent{Action: ActionReceived, By: "C. Lab", Where: "lab", Note: fmt.Sprintf(`bag "%d" <sealed> & signed`, i)}
		if _, err := AppendCustody(bundlePath, ev, s); err != nil {
			t.Fatal(err)
		}
	}
	pub, _ := os.ReadFile(keyPath + ".pub")
	os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte(`lab@example namespaces="dockcase,dockcase-custody" `+string(pub)), 0o644)
	logPath := CustodyPath(bundlePath)
	recipe := func(n int) (string, error) {
		cmd := exec.Command("sh", "-c", custodyRecipe)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LOG="+logPath, fmt.Sprintf("N=%d", n))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, n := range []int{1, 3} {
		if out, err := recipe(n); err != nil || !strings.Contains(out, `Good "dockcase-custody" signature for lab@example`) {
			t.Fatalf("the recipe on event %d: %v\n%s", n, err, out)
		}
	}
	// The chain link, with sha256sum: line 2 holds the hash of line 1.
	cmd := exec.Command("sh", "-c", `sed -n "$((N-1))p" "$LOG" | tr -d '\n' | sha256sum`)
	cmd.Env = append(os.Environ(), "LOG="+logPath, "N=2")
	link, err := cmd.Output()
	if err != nil {
		t.Fatalf("sha256sum of line 1: %v", err)
	}
	if data, _ := os.ReadFile(logPath); !bytes.Contains(data, []byte(`"prev_sha256":"`+strings.Fields(string(link))[0]+`"`)) {
		t.Errorf("sha256sum of line 1 = %s, which no prev_sha256 holds", link)
	}
	if out, err := recipe(2); err == nil {
		t.Fatalf("the recipe accepted event 2, signed by a key allowed_signers does not hold:\n%s", out)
	}
	// dockcase agrees: events 1 and 3 trusted, 2 signed but not trusted.
	f, _ := os.Open(filepath.Join(dir, "allowed_signers"))
	keys, err := ParseAllowedSignersFor(f, CustodyNamespace)
	f.Close()
	if err != nil || len(keys) != 1 {
		t.Fatalf("ParseAllowedSignersFor = %d keys, %v", len(keys), err)
	}
	sum, _ := FileSHA256(bundlePath)
	data, _ := os.ReadFile(logPath)
	recs, err := VerifyCustody(bytes.NewReader(data), sum, Trust{Keys: keys})
	if err != nil || len(recs) != 3 || !recs[0].Trusted || recs[1].Trusted || !recs[1].Signed() || !recs[2].Trusted {
		t.Fatalf("VerifyCustody = %+v, %v", recs, err)
	}

	// An edited last line fails ssh-keygen as it fails dockcase.
	os.WriteFile(logPath, bytes.Replace(data, []byte(`bag \"2\"`), []byte(`bag \"9\"`), 1), 0o644)
	if out, err := recipe(3); err == nil {
		t.Fatalf("the recipe accepted an edited event 3:\n%s", out)
	}
	edited, _ := os.ReadFile(logPath)
	if bytes.Equal(edited, data) {
		t.Fatal("the edit did not change the log")
	}
	var ce *CustodyError
	if _, err := VerifyCustody(bytes.NewReader(edited), sum, Trust{Keys: keys}); !errors.As(err, &ce) || ce.Line != 3 {
		t.Fatalf("VerifyCustody(edited last line) = %v, want a *CustodyError at line 3", err)
	}
}

// TestCustodyRecipeDocumented keeps the recipe of the package doc and the
// README the one that TestStandardToolsCustody runs.
func TestCustodyRecipeDocumented(t *testing.T) {
	want := strings.ReplaceAll(custodyRecipe, `"$LOG"`, "case.tar.zst.custody.jsonl")
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not give the custody recipe:\n%s", want)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var code strings.Builder
	for _, line := range strings.Split(string(doc), "\n") {
		if rest, ok := strings.CutPrefix(line, "//\t"); ok {
			code.WriteString(rest + "\n")
		}
	}
	if !strings.Contains(code.String(), want) {
		t.Errorf("doc.go does not give the custody recipe:\n%s", want)
	}
}

func TestParseAllowedSignersFor(t *testing.T) {
	a, _ := EphemeralSigner()
	ka := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(a.PublicKey())))
	tests := []struct {
		in   string
		want int
	}{
		{"lab " + ka, 1}, // no namespaces=: every namespace, as for ssh-keygen
		{`lab namespaces="dockcase-custody" ` + ka, 1},
		{`lab namespaces="dockcase,dockcase-custody" ` + ka, 1},
		{`lab namespaces="*" ` + ka, 1},
		{`lab namespaces="dockcase" ` + ka, 0}, // the bundle's namespace only
		{"", 0},
	}
	for _, tt := range tests {
		keys, err := ParseAllowedSignersFor(strings.NewReader(tt.in), CustodyNamespace)
		if err != nil || len(keys) != tt.want {
			t.Errorf("ParseAllowedSignersFor(%q, %q) = %d keys, %v; want %d keys", tt.in, CustodyNamespace, len(keys), err, tt.want)
		}
	}
}
