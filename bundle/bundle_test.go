package bundle

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

var testMeta = Meta{
	CaseID:    "IR-TEST-1",
	Examiner:  "A. Analyst",
	Host:      "web01.example",
	Collector: "dockcase test",
	Started:   time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC),
}

// testBundle describes what writeTestBundle put in a bundle.
type testBundle struct {
	data    []byte
	signer  ssh.Signer
	members map[string][]byte // logical path → content
	summary Summary
}

// writeTestBundle writes a bundle with small members, a chunked member and
// members written concurrently.
func writeTestBundle(t testing.TB, opts Options) *testBundle {
	t.Helper()
	signer, err := EphemeralSigner()
	if err != nil {
		t.Fatal(err)
	}
	if opts.ChunkBytes == 0 {
		opts.ChunkBytes = 1000
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, testMeta, opts)
	if err != nil {
		t.Fatal(err)
	}
	tb := &testBundle{signer: signer, members: map[string][]byte{}}
	add := func(name string, data []byte) {
		if err := w.Add(name, MemberInfo{Step: "test", Source: Source{Kind: "file", Ref: "/" + name}}, data); err != nil {
			t.Fatal(err)
		}
		tb.members[name] = data
	}
	add("host/clock.json", []byte(`{"wall":"2026-11-28T09:30:00Z"}`+"\n"))
	add("host/empty", nil)
	pcap := make([]byte, 2500) // three chunks of 1000, 1000, 500
	rand.Read(pcap)
	mw, err := w.Create("capture/capture.pcapng", MemberInfo{Step: "capture", Source: Source{Kind: "capture"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(pcap); i += 333 {
		mw.Write(pcap[i:min(i+333, len(pcap))])
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	tb.members["capture/capture.pcapng"] = pcap
	exact := bytes.Repeat([]byte("x"), 1000) // exactly one chunk: stays unchunked
	add("docker/exact", exact)

	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("docker/containers/c%d/logs.txt", i)
			data := bytes.Repeat([]byte(fmt.Sprintf("line %d\n", i)), 300)
			if err := w.Add(name, MemberInfo{Step: "docker"}, data); err != nil {
				t.Error(err)
			}
			mu.Lock()
			tb.members[name] = data
			mu.Unlock()
		}()
	}
	wg.Wait()
	w.Record(StepRecord{Name: "test", Started: testMeta.Started, Ended: testMeta.Started.Add(time.Second), Status: StepOK})
	tb.summary, err = w.Close(signer)
	if err != nil {
		t.Fatal(err)
	}
	tb.data = out.Bytes()
	return tb
}

func TestRoundTrip(t *testing.T) {
	tb := writeTestBundle(t, Options{})
	res, err := Verify(bytes.NewReader(tb.data), VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if res.Trusted {
		t.Error("Trusted = true without a named signer")
	}
	if res.Fingerprint != ssh.FingerprintSHA256(tb.signer.PublicKey()) || res.Fingerprint != tb.summary.Fingerprint {
		t.Errorf("Fingerprint = %s, want %s", res.Fingerprint, tb.summary.Fingerprint)
	}
	if res.Meta.CaseID != testMeta.CaseID || res.Root != "dockcase-web01.example-20261128T093000Z" {
		t.Errorf("Meta = %+v, root %q", res.Meta, res.Root)
	}
	if len(res.Steps) != 1 || len(res.Steps[0].Members) != 3 {
		t.Errorf("Steps = %+v, want one step with its 3 members", res.Steps)
	}
	if sum := sha256Hex(tb.data); sum != tb.summary.SHA256 || int64(len(tb.data)) != tb.summary.Size {
		t.Errorf("summary sha256/size %s/%d, file %s/%d", tb.summary.SHA256, tb.summary.Size, sum, len(tb.data))
	}
	pc, _ := res.Manifest.Member("capture/capture.pcapng")
	if len(pc.Chunks) != 3 || pc.Chunks[2].Size != 500 {
		t.Errorf("capture chunks = %+v, want 3 (1000, 1000, 500)", pc.Chunks)
	}
	if ex, _ := res.Manifest.Member("docker/exact"); len(ex.Chunks) != 0 {
		t.Errorf("a member of exactly one chunk was chunked: %+v", ex.Chunks)
	}

	// Verified for trusted keys and fingerprints.
	for _, trust := range []Trust{{Keys: []ssh.PublicKey{tb.signer.PublicKey()}}, {Fingerprint: tb.summary.Fingerprint}} {
		res, err := Verify(bytes.NewReader(tb.data), VerifyOptions{Trust: trust})
		if err != nil || !res.Trusted {
			t.Errorf("Verify with trust %+v = %v, trusted %v", trust, err, res.Trusted)
		}
	}
}

func TestOpenReassembles(t *testing.T) {
	tb := writeTestBundle(t, Options{})
	path := filepath.Join(t.TempDir(), "case.tar.zst")
	if err := os.WriteFile(path, tb.data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for name, want := range tb.members {
		got, err := b.ReadFile(name, 1<<20)
		if err != nil {
			t.Errorf("ReadFile(%q) = %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ReadFile(%q) = %d bytes, differ from the %d written", name, len(got), len(want))
		}
	}
	if b.Has("capture/capture.pcapng.000") {
		t.Error("chunk file left after reassembly")
	}
	if _, err := b.ReadFile("../etc/passwd", 100); err == nil {
		t.Error("ReadFile of a traversal path succeeded")
	}
	if _, err := b.ReadFile("capture/capture.pcapng", 100); err == nil {
		t.Error("ReadFile over its limit succeeded")
	}
}

func TestEncryptedRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	tb := writeTestBundle(t, Options{Recipients: []age.Recipient{id.Recipient()}})
	if !bytes.HasPrefix(tb.data, []byte(ageMagic)) {
		t.Fatal("encrypted bundle does not start with the age header")
	}
	if _, err := Verify(bytes.NewReader(tb.data), VerifyOptions{}); err == nil || !strings.Contains(err.Error(), "--identity") {
		t.Errorf("Verify without identity = %v, want a hint to --identity", err)
	}
	other, _ := age.GenerateX25519Identity()
	if _, err := Verify(bytes.NewReader(tb.data), VerifyOptions{Identities: []age.Identity{other}}); err == nil {
		t.Error("Verify with the wrong identity succeeded")
	}
	res, err := Verify(bytes.NewReader(tb.data), VerifyOptions{Identities: []age.Identity{id}})
	if err != nil {
		t.Errorf("Verify with the identity = %v", err)
	}
	if want := sha256.Sum256(tb.data); res.FileSHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("Verify's FileSHA256 of the encrypted file = %q, want %x", res.FileSHA256, want)
	}
}

// TestVerifyFileSHA256: the verifying pass gives the file's SHA-256 (what
// the custody log and NAME.sha256 hold), so that no command reads a bundle
// twice; a bundle whose verification stops early gives none.
func TestVerifyFileSHA256(t *testing.T) {
	tb := writeTestBundle(t, Options{})
	res, err := Verify(bytes.NewReader(tb.data), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(tb.data); res.FileSHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("FileSHA256 = %q, want %x", res.FileSHA256, want)
	}
	path := filepath.Join(t.TempDir(), "b.tar.zst")
	if err := os.WriteFile(path, tb.data, 0o644); err != nil {
		t.Fatal(err)
	}
	if sum, err := FileSHA256(path); err != nil || sum != res.FileSHA256 {
		t.Errorf("FileSHA256(file) = %q, %v; Verify gave %q", sum, err, res.FileSHA256)
	}
	res, _ = Verify(bytes.NewReader(tb.data[:len(tb.data)/2]), VerifyOptions{})
	if res.FileSHA256 != "" {
		t.Errorf("a truncated bundle's FileSHA256 = %q, want none", res.FileSHA256)
	}
}

// TestFlippedBytes flips 200 random bytes of a bundle file, one at a time,
// and expects verification to fail each time.
func TestFlippedBytes(t *testing.T) {
	tb := writeTestBundle(t, Options{})
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := range 200 {
		data := bytes.Clone(tb.data)
		pos := rng.IntN(len(data))
		data[pos] ^= byte(1 + rng.IntN(255))
		if _, err := Verify(bytes.NewReader(data), VerifyOptions{}); err == nil {
			t.Fatalf("flip %d: byte %d of %d changed and Verify succeeded", i, pos, len(data))
		}
	}
}

func TestWriterRejectsBadNames(t *testing.T) {
	w, err := NewWriter(io.Discard, testMeta, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"", "../x", "/abs", "a/../../b", "a//b", "manifest.json", "MANIFEST.sha256", "x\ny", `a\b`} {
		if err := w.Add(name, MemberInfo{}, nil); err == nil {
			t.Errorf("Add(%q) succeeded", name)
		}
	}
	if err := w.Add("ok", MemberInfo{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Add("ok", MemberInfo{}, nil); err == nil {
		t.Error("Add of a duplicate succeeded")
	}
}

// failAfter fails every write once n bytes went through: a full disk or a
// broken pipe.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errors.New("no space left on device")
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriterReportsOutputFailure(t *testing.T) {
	signer, _ := EphemeralSigner()
	w, err := NewWriter(&failAfter{n: 1 << 10}, testMeta, Options{ChunkBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	mw, _ := w.Create("big", MemberInfo{})
	mw.Write(data)
	mw.Close()
	if _, err := w.Close(signer); err == nil || !strings.Contains(err.Error(), "no space") {
		t.Errorf("Close after a failed write = %v, want the write error", err)
	}
}

// TestEveryByteFlipped flips the low bit of every third byte of a bundle
// file, and of every byte of the digest frame at its end, in turn: zstd has
// bits that change nothing a stream decodes to, so only the digest frame
// makes each of these flips fail verification.
func TestEveryByteFlipped(t *testing.T) {
	tb := writeTestBundle(t, Options{})
	data := bytes.Clone(tb.data)
	for pos := range data {
		if pos%3 != 0 && pos < len(data)-digestFrameBytes {
			continue
		}
		data[pos] ^= 0x01
		if _, err := Verify(bytes.NewReader(data), VerifyOptions{}); err == nil {
			t.Errorf("byte %d of %d flipped and Verify succeeded", pos, len(data))
		}
		data[pos] ^= 0x01
	}
}
