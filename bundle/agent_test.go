package bundle

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestAgentSigner signs a bundle with a key held by a real ssh-agent.
func TestAgentSigner(t *testing.T) {
	needTool(t, "ssh-agent")
	needTool(t, "ssh-add")
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	key := filepath.Join(dir, "id_ed25519")
	if o, err := run(t, dir, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, o)
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if o, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, o)
	}

	signer, closer, err := AgentSigner(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	pub, _ := os.ReadFile(key + ".pub")
	want, _, _, _, _ := ssh.ParseAuthorizedKey(pub)
	if !bytes.Equal(signer.PublicKey().Marshal(), want.Marshal()) {
		t.Fatal("the agent signer is not the key that was added")
	}
	var out bytes.Buffer
	w, _ := NewWriter(&out, testMeta, Options{})
	w.Add("host/clock.json", MemberInfo{}, []byte("{}\n"))
	sum, err := w.Close(signer)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Verify(bytes.NewReader(out.Bytes()), VerifyOptions{Trust: Trust{Keys: []ssh.PublicKey{want}}})
	if err != nil || !res.Trusted || res.Fingerprint != sum.Fingerprint {
		t.Fatalf("Verify of an agent-signed bundle = %v, trusted %v", err, res != nil && res.Trusted)
	}
	// A custody event signed through the agent.
	bundlePath := filepath.Join(dir, "case.tar.zst")
	os.WriteFile(bundlePath, out.Bytes(), 0o644)
	if _, err := AppendCustody(bundlePath, CustodyEvent{Action: ActionReceived, By: "lab"}, signer); err != nil {
		t.Fatal(err)
	}
	log, _ := os.ReadFile(CustodyPath(bundlePath))
	recs, err := VerifyCustody(bytes.NewReader(log), sum.SHA256, Trust{Keys: []ssh.PublicKey{want}})
	if err != nil || len(recs) != 1 || !recs[0].Trusted {
		t.Fatalf("VerifyCustody of an agent-signed event = %+v, %v", recs, err)
	}
	if _, _, err := AgentSigner(""); err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK") {
		t.Errorf("AgentSigner(\"\") = %v, want a hint about SSH_AUTH_SOCK", err)
	}
}
