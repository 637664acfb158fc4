//go:build linux && !portable

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/dockcase/dockcase/bundle"
	"golang.org/x/crypto/ssh"
)

// TestCollectedEventSigned checks that the collector's custody event is
// signed by the key that signed the bundle, so that the bundle's fingerprint
// alone trusts it.
func TestCollectedEventSigned(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "case.tar.zst")
	os.WriteFile(path, []byte("pretend bundle"), 0o644)
	sha, _ := bundle.FileSHA256(path)
	signer, _ := bundle.EphemeralSigner()
	fp := ssh.FingerprintSHA256(signer.PublicKey())
	sum := bundle.Summary{SHA256: sha, Fingerprint: fp}
	if err := writeSidecars(path, sum, &collectOptions{caseID: "C-1"}, "web01", signer); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(bundle.CustodyPath(path))
	defer f.Close()
	recs, err := bundle.VerifyCustody(f, sha, bundle.Trust{Fingerprint: fp})
	if err != nil || len(recs) != 1 || recs[0].Action != bundle.ActionCollected || !recs[0].Trusted {
		t.Fatalf("VerifyCustody of the collected event = %+v, %v; want one collected event trusted by %s", recs, err, fp)
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"custody", "show", "--fingerprint", fp, path}, nil, &stdout, &stderr); code != exitOK {
		t.Errorf("custody show --fingerprint %s = exit %d, want 0\n%s%s", fp, code, stdout.String(), stderr.String())
	}
	if code := Main([]string{"custody", "show", path}, nil, &stdout, &stderr); code != exitUntrusted {
		t.Errorf("custody show without a trust anchor = exit %d, want %d", code, exitUntrusted)
	}
}
