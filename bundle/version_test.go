package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHashOnce checks that the hashes the writer computed as the bytes
// passed, once each, are those of the bytes: every chunk's in the manifest
// and in MANIFEST.sha256, a chunked member's as the hash of its chunk list,
// an unchunked member's as that of its bytes; and that standard tools agree:
// tar --zstd, sha256sum -c, and the chunk-list recipe of ChunkListSHA256.
func TestHashOnce(t *testing.T) {
	for _, tool := range []string{"tar", "zstd", "sha256sum", "grep", "sh"} {
		needTool(t, tool)
	}
	const chunk = 1 << 20
	pcap := captureLike(3*chunk+12345, 1400) // four chunks, stored raw
	text := logText(chunk / 2)               // one member, compressed
	var out bytes.Buffer
	w, err := NewWriter(&out, testMeta, Options{ChunkBytes: chunk})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := w.Create("capture/capture.pcapng", MemberInfo{Step: "capture"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(pcap); i += 100_000 { // writes that straddle chunks
		mw.Write(pcap[i:min(i+100_000, len(pcap))])
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Add("host/log.txt", MemberInfo{}, text); err != nil {
		t.Fatal(err)
	}
	signer, _ := EphemeralSigner()
	sum, err := w.Close(signer)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Verify(bytes.NewReader(out.Bytes()), VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
	if res.Format != Magic || res.Manifest.Format != Magic {
		t.Errorf("format %q, manifest's %q; want %q", res.Format, res.Manifest.Format, Magic)
	}
	m, _ := res.Manifest.Member("capture/capture.pcapng")
	if len(m.Chunks) != 4 || m.Size != int64(len(pcap)) {
		t.Fatalf("capture: %d bytes in %d chunks, want %d in 4", m.Size, len(m.Chunks), len(pcap))
	}
	for i, c := range m.Chunks {
		want := sha256.Sum256(pcap[i*chunk : min((i+1)*chunk, len(pcap))])
		if c.SHA256 != hex.EncodeToString(want[:]) {
			t.Errorf("chunk %s: sha256 %s, want %x", c.Path, c.SHA256, want)
		}
	}
	var list bytes.Buffer
	for _, c := range m.Chunks {
		list.WriteString(c.SHA256 + "  " + c.Path + "\n")
	}
	if want := sha256.Sum256(list.Bytes()); m.SHA256 != hex.EncodeToString(want[:]) || ChunkListSHA256(m.Chunks) != m.SHA256 {
		t.Errorf("capture sha256 %s, want the chunk list's %x", m.SHA256, want)
	}
	lm, _ := res.Manifest.Member("host/log.txt")
	if want := sha256.Sum256(text); lm.SHA256 != hex.EncodeToString(want[:]) || len(lm.Chunks) != 0 {
		t.Errorf("log sha256 %s (%d chunks), want %x", lm.SHA256, len(lm.Chunks), want)
	}

	// The raw frames hold the capture, and the text is compressed.
	fc := countFrames(t, out.Bytes())
	if fc.raw == 0 || fc.rawBytes < len(pcap)*9/10 || fc.compressed == 0 || fc.skippable != 1 {
		t.Errorf("frames %+v: want raw ones holding most of the %d capture bytes, compressed ones, one digest", fc, len(pcap))
	}
	if limit := len(pcap) + len(text)/3; out.Len() > limit {
		t.Errorf("bundle of %d bytes, want at most %d", out.Len(), limit)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "case.tar.zst")
	os.WriteFile(path, out.Bytes(), 0o644)
	if o, err := run(t, dir, nil, "zstd", "-t", "-q", path); err != nil {
		t.Fatalf("zstd -t: %v\n%s", err, o)
	}
	if o, err := run(t, dir, nil, "tar", "--zstd", "-xf", path); err != nil {
		t.Fatalf("tar --zstd -xf: %v\n%s", err, o)
	}
	root := filepath.Join(dir, sum.Root)
	if o, err := run(t, root, nil, "sha256sum", "-c", "--strict", SumsName); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, o)
	} else if !strings.Contains(o, "capture/capture.pcapng.003: OK") {
		t.Errorf("sha256sum -c did not check the chunks:\n%s", o)
	}
	o, err := run(t, root, nil, "sh", "-c", `grep -E '  capture/capture\.pcapng\.[0-9]{3,}$' MANIFEST.sha256 | sha256sum`)
	if err != nil || !strings.HasPrefix(o, m.SHA256+"  -") {
		t.Errorf("the chunk-list recipe printed %q (%v), want %s", o, err, m.SHA256)
	}
	if err := os.WriteFile(filepath.Join(dir, "pcap"), pcap, 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err = run(t, root, nil, "sh", "-c", `cat capture/capture.pcapng.0* | cmp - "$0"`, filepath.Join(dir, "pcap")); err != nil {
		t.Errorf("the extracted chunks are not the capture: %v\n%s", err, o)
	}
}

// v1Bundle returns what the version 1 writer wrote for writeTestBundle's
// members: the same bundle with version 1's magic line and manifest format,
// and each chunked member's sha256 that of its reassembled stream, signed
// again with the bundle's key.
func v1Bundle(t testing.TB) []byte {
	t.Helper()
	tb := writeTestBundle(t, Options{})
	es := unpack(t, tb.data)
	es[0].data = bytes.Replace(es[0].data, []byte(Magic), []byte(MagicV1), 1)
	i := find(es, ManifestName)
	var man Manifest
	if err := json.Unmarshal(es[i].data, &man); err != nil {
		t.Fatal(err)
	}
	man.Format = MagicV1
	chunked := 0
	for k, m := range man.Members {
		if len(m.Chunks) > 0 {
			man.Members[k].SHA256 = sha256Hex(tb.members[m.Path])
			chunked++
		}
	}
	if chunked == 0 {
		t.Fatal("the test bundle has no chunked member")
	}
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	es[i].data = append(b, '\n')
	return pack(t, resign(t, es, tb.signer))
}

// TestReadsV1 verifies a version 1 bundle, whose chunked member's sha256
// is that of the reassembled stream.
func TestReadsV1(t *testing.T) {
	data := v1Bundle(t)
	res, err := Verify(bytes.NewReader(data), VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify(v1 bundle) = %v", err)
	}
	if res.Format != MagicV1 {
		t.Errorf("Format = %q, want %q", res.Format, MagicV1)
	}
	path := filepath.Join(t.TempDir(), "v1.tar.zst")
	os.WriteFile(path, data, 0o644)
	b, err := Open(path, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, _ := b.Manifest.Member("capture/capture.pcapng")
	pcap, err := b.ReadFile("capture/capture.pcapng", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(pcap); len(m.Chunks) != 3 || m.SHA256 != hex.EncodeToString(want[:]) {
		t.Errorf("v1 capture: %d chunks, sha256 %s; want 3, the reassembled stream's %x", len(m.Chunks), m.SHA256, want)
	}
}

// TestChunkedMemberHashChecked changes a chunked member's sha256 in the
// manifest and signs the checksums again, as the holder of the key could,
// in a v2 bundle, in a v1 bundle, and relabels a v2 bundle v1 (its
// chunk-list hash is then checked as a stream hash): each fails with an
// *IntegrityError, and so does a header that disagrees with the manifest.
func TestChunkedMemberHashChecked(t *testing.T) {
	v1 := v1Bundle(t)
	v2 := writeTestBundle(t, Options{})
	editManifest := func(data []byte, edit func(string) string) []byte {
		es := unpack(t, data)
		i := find(es, ManifestName)
		es[i].data = []byte(edit(string(es[i].data)))
		return pack(t, resign(t, es, v2.signer))
	}
	otherSum := func(man string) string {
		i := strings.Index(man, `"path": "capture/capture.pcapng"`)
		j := i + strings.Index(man[i:], `"sha256": "`) + len(`"sha256": "`)
		return man[:j] + strings.Repeat("0", 64) + man[j+64:]
	}
	relabel := func(data []byte) []byte {
		es := unpack(t, data)
		es[0].data = bytes.Replace(es[0].data, []byte(Magic), []byte(MagicV1), 1)
		i := find(es, ManifestName)
		es[i].data = bytes.Replace(es[i].data, []byte(Magic), []byte(MagicV1), 1)
		return pack(t, resign(t, es, v2.signer))
	}
	headerOnly := unpack(t, v2.data)
	headerOnly[0].data = bytes.Replace(headerOnly[0].data, []byte(Magic), []byte(MagicV1), 1)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"v2 chunk list", editManifest(v2.data, otherSum), "chunk list"},
		{"v1 stream", editManifest(v1, otherSum), "reassembled stream"},
		{"v2 relabelled v1", relabel(v2.data), "reassembled stream"},
		{"header and manifest disagree", pack(t, resign(t, headerOnly, v2.signer)), "says format"},
	} {
		_, err := Verify(bytes.NewReader(tc.data), VerifyOptions{})
		var ie *IntegrityError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Verify(%s) = %v, want an *IntegrityError about %q", tc.name, err, tc.want)
		}
	}
	// The bundle untouched but for being packed again verifies: the
	// failures above are the edits'.
	if _, err := Verify(bytes.NewReader(pack(t, unpack(t, v2.data))), VerifyOptions{}); err != nil {
		t.Errorf("Verify(v2 repacked) = %v", err)
	}
}
