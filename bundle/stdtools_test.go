package bundle

import (
	"bytes"
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
