package bundle

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/hiddeco/sshsig"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/ssh"
)

// entry is one tar entry of a bundle being tampered with.
type entry struct {
	hdr  tar.Header
	data []byte
}

func unpack(t testing.TB, data []byte) []entry {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	var out []entry
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, entry{*hdr, b})
	}
}

func pack(t testing.TB, entries []entry) []byte {
	t.Helper()
	var out bytes.Buffer
	zw, _ := zstd.NewWriter(&out)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

func find(entries []entry, suffix string) int {
	for i, e := range entries {
		if strings.HasSuffix(e.hdr.Name, "/"+suffix) {
			return i
		}
	}
	panic("no member " + suffix)
}

// resign replaces the checksums with sums of the current members and signs
// them with signer: what an attacker with their own key can do.
func resign(t testing.TB, entries []entry, signer ssh.Signer) []entry {
	var sums []SumLine
	for _, e := range entries {
		_, rel, _ := strings.Cut(e.hdr.Name, "/")
		switch rel {
		case SumsName, SignatureName, SignerName:
			continue
		}
		sums = append(sums, SumLine{SHA256: sha256Hex(e.data), Path: rel})
	}
	s := formatSums(sums)
	sig, err := sshsig.Sign(bytes.NewReader(s), signer, sshsig.HashSHA512, SignatureNamespace)
	if err != nil {
		t.Fatal(err)
	}
	entries[find(entries, SumsName)].data = s
	entries[find(entries, SignatureName)].data = sshsig.Armor(sig)
	entries[find(entries, SignerName)].data = ssh.MarshalAuthorizedKey(signer.PublicKey())
	return entries
}

// zstdWindowBomb is a zstd frame whose header asks for a 1 GiB window.
func zstdWindowBomb() []byte {
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3} // no checksum, window log 30
	payload := bytes.Repeat([]byte{0}, 16)
	blockHeader := uint32(1) | uint32(len(payload))<<3 // last block, raw
	frame = append(frame, byte(blockHeader), byte(blockHeader>>8), byte(blockHeader>>16))
	return append(frame, payload...)
}

// hostileFixtures builds each kind of bad bundle from a good one.
func hostileFixtures(t testing.TB) (good *testBundle, fixtures map[string][]byte) {
	good = writeTestBundle(t, Options{})
	attacker, _ := EphemeralSigner()
	fx := map[string][]byte{}
	tamper := func(name string, f func([]entry) []entry) {
		fx[name] = pack(t, f(unpack(t, good.data)))
	}
	fx["truncated stream"] = good.data[:len(good.data)/2]
	tamper("flipped byte in pcap member", func(es []entry) []entry {
		es[find(es, "capture/capture.pcapng.001")].data[17] ^= 0x40
		return es
	})
	tamper("edited manifest", func(es []entry) []entry {
		i := find(es, ManifestName)
		es[i].data = bytes.Replace(es[i].data, []byte(`"complete": true`), []byte(`"complete": false`), 1)
		return es
	})
	tamper("edited checksums", func(es []entry) []entry {
		i := find(es, SumsName)
		es[i].data = append(es[i].data, []byte(strings.Repeat("0", 64)+"  host/extra\n")...)
		return es
	})
	tamper("bad signature", func(es []entry) []entry {
		i := find(es, SignatureName)
		sig, _ := sshsig.Unarmor(es[i].data)
		sig.Signature.Blob[5] ^= 1
		es[i].data = sshsig.Armor(sig)
		return es
	})
	tamper("wrong key", func(es []entry) []entry {
		i := find(es, "host/clock.json")
		es[i].data = []byte(`{"wall":"1999-01-01T00:00:00Z"}`)
		return resign(t, es, attacker)
	})
	tamper("traversal name", func(es []entry) []entry {
		e := es[1]
		e.hdr.Name = es[0].hdr.Name[:strings.Index(es[0].hdr.Name, "/")] + "/../../etc/cron.d/evil"
		return append(es[:2], append([]entry{e}, es[2:]...)...)
	})
	tamper("absolute name", func(es []entry) []entry {
		e := es[1]
		e.hdr.Name = "/etc/cron.d/evil"
		return append(es[:2], append([]entry{e}, es[2:]...)...)
	})
	tamper("symlink member", func(es []entry) []entry {
		e := es[1]
		e.hdr.Name = strings.Replace(e.hdr.Name, "clock.json", "link", 1)
		e.hdr.Typeflag = tar.TypeSymlink
		e.hdr.Linkname = "/etc/shadow"
		e.data = nil
		return append(es[:2], append([]entry{e}, es[2:]...)...)
	})
	tamper("duplicate member", func(es []entry) []entry {
		return append(es[:2], append([]entry{es[1]}, es[2:]...)...)
	})
	tamper("extra member", func(es []entry) []entry {
		e := es[1]
		e.hdr.Name = strings.Replace(e.hdr.Name, "clock.json", "planted.json", 1)
		return append(es[:2], append([]entry{e}, es[2:]...)...)
	})
	tamper("missing member", func(es []entry) []entry {
		i := find(es, "host/empty")
		return append(es[:i], es[i+1:]...)
	})
	tamper("member after trailer", func(es []entry) []entry {
		e := es[1]
		e.hdr.Name = strings.Replace(e.hdr.Name, "clock.json", "late.json", 1)
		return append(es, e)
	})
	tamper("unknown version", func(es []entry) []entry {
		es[0].data = bytes.Replace(es[0].data, []byte(Magic), []byte("dockcase-bundle/v3"), 1)
		return es
	})
	tamper("chunks reordered", func(es []entry) []entry {
		i, j := find(es, "capture/capture.pcapng.000"), find(es, "capture/capture.pcapng.001")
		es[i].data, es[j].data = es[j].data, es[i].data
		es[i].hdr.Name, es[j].hdr.Name = es[j].hdr.Name, es[i].hdr.Name
		return resign(t, es, good.signer)
	})
	fx["zstd window bomb"] = zstdWindowBomb()
	fx["not a bundle"] = []byte("hello, I am a text file\n")
	return good, fx
}

func TestHostileFixtures(t *testing.T) {
	good, fixtures := hostileFixtures(t)
	trusted := VerifyOptions{Trust: Trust{Fingerprint: good.summary.Fingerprint}}
	tests := []struct {
		fixture string
		want    any // *FormatError, *IntegrityError, *SignatureError, *VersionError
		member  string
		reason  string
	}{
		{"truncated stream", &FormatError{}, "", "truncated"},
		{"flipped byte in pcap member", &IntegrityError{}, "capture/capture.pcapng.001", "sha256"},
		{"edited manifest", &IntegrityError{}, ManifestName, "sha256"},
		{"edited checksums", &SignatureError{}, "", "does not verify"},
		{"bad signature", &SignatureError{}, "", "does not verify"},
		{"wrong key", &SignatureError{}, "", "not a trusted signer"},
		{"traversal name", &FormatError{}, "", "not a clean local path"},
		{"absolute name", &FormatError{}, "/etc/cron.d/evil", "root"},
		{"symlink member", &FormatError{}, "host/link", "symbolic link"},
		{"duplicate member", &FormatError{}, "host/clock.json", "twice"},
		{"extra member", &IntegrityError{}, "host/planted.json", "not listed"},
		{"missing member", &IntegrityError{}, "host/empty", "missing"},
		{"member after trailer", &FormatError{}, "host/late.json", "trailer"},
		{"unknown version", &VersionError{}, "", ""},
		{"chunks reordered", &IntegrityError{}, "capture/capture.pcapng", "not in order"},
		{"zstd window bomb", &FormatError{}, "", "window"},
		{"not a bundle", &FormatError{}, "", "corrupt"},
	}
	if len(tests) != len(fixtures) {
		t.Fatalf("%d fixtures, %d expectations", len(fixtures), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			data, ok := fixtures[tt.fixture]
			if !ok {
				t.Fatalf("no fixture %q", tt.fixture)
			}
			_, err := Verify(bytes.NewReader(data), trusted)
			if err == nil {
				t.Fatalf("Verify(%s) = nil, want %T", tt.fixture, tt.want)
			}
			var member, reason string
			switch want := tt.want.(type) {
			case *FormatError:
				if !errors.As(err, &want) {
					t.Fatalf("Verify(%s) = %v (%T), want *FormatError", tt.fixture, err, err)
				}
				member, reason = want.Member, want.Error()
			case *IntegrityError:
				if !errors.As(err, &want) {
					t.Fatalf("Verify(%s) = %v (%T), want *IntegrityError", tt.fixture, err, err)
				}
				member, reason = want.Member, want.Reason
			case *SignatureError:
				if !errors.As(err, &want) {
					t.Fatalf("Verify(%s) = %v (%T), want *SignatureError", tt.fixture, err, err)
				}
				reason = want.Reason
			case *VersionError:
				if !errors.As(err, &want) || want.Version != "dockcase-bundle/v3" {
					t.Fatalf("Verify(%s) = %v (%T), want *VersionError for v2", tt.fixture, err, err)
				}
			}
			if tt.member != "" && !strings.HasSuffix(member, tt.member) {
				t.Errorf("Verify(%s) names member %q, want %q (error: %v)", tt.fixture, member, tt.member, err)
			}
			if !strings.Contains(reason, tt.reason) {
				t.Errorf("Verify(%s) = %v, want a reason containing %q", tt.fixture, err, tt.reason)
			}
			if !IsIntegrity(err) && tt.fixture != "unknown version" {
				t.Errorf("IsIntegrity(%v) = false", err)
			}
		})
	}
}

// TestDecompressionBounds: zeros appended after the tar's end, and members
// that would take the bundle past MaxBytes, stop verification early.
func TestDecompressionBounds(t *testing.T) {
	good := writeTestBundle(t, Options{})
	enc, _ := zstd.NewWriter(nil)
	bomb := enc.EncodeAll(make([]byte, 8<<20), nil) // 8 MiB of zeros in a few hundred bytes
	padded := append(bytes.Clone(good.data), bomb...)
	var fe *FormatError
	if _, err := Verify(bytes.NewReader(padded), VerifyOptions{}); !errors.As(err, &fe) || !strings.Contains(fe.Reason, "after the end") {
		t.Errorf("Verify(bundle + %d bytes of zstd zeros) = %v, want a FormatError about data after the end", len(bomb), err)
	}
	if _, err := Verify(bytes.NewReader(good.data), VerifyOptions{MaxBytes: 2000}); !errors.As(err, &fe) || !strings.Contains(fe.Reason, "exceed 2000") {
		t.Errorf("Verify with MaxBytes 2000 = %v, want a FormatError naming the bound", err)
	}
	if _, err := Verify(bytes.NewReader(good.data), VerifyOptions{MaxBytes: 1 << 20}); err != nil {
		t.Errorf("Verify within MaxBytes = %v", err)
	}
}
