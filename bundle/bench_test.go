package bundle

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"
	"time"
)

// benchInputs are 256 MiB of log-like text, of random bytes, and of
// captures of 1400-byte frames with encrypted payloads and of 64-byte ones.
func benchInputs(b *testing.B) map[string][]byte {
	const size = 256 << 20
	rng := mrand.New(mrand.NewPCG(1, 2))
	text := make([]byte, 0, size+200)
	for len(text) < size {
		text = fmt.Appendf(text, "2026-11-28T09:%02d:%02d.%06dZ 172.19.0.%d GET /api/v1/users/%d %d %d \"Mozilla/5.0 (X11; Linux x86_64)\"\n",
			rng.IntN(60), rng.IntN(60), rng.IntN(1e6), rng.IntN(254)+1, rng.IntN(100000), 200+rng.IntN(4)*100, rng.IntN(50000))
	}
	random := make([]byte, size)
	rand.Read(random)
	return map[string][]byte{"text": text[:size], "random": random,
		"capture1400": captureLike(size, 1400), "capture64": captureLike(size, 64)}
}

// BenchmarkWrite streams one large member through the writer; see
// scripts/bench-bundle.sh for the comparison with zstd | sha256sum.
func BenchmarkWrite(b *testing.B) {
	signer, _ := EphemeralSigner()
	for name, data := range benchInputs(b) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for range b.N {
				w, _ := NewWriter(io.Discard, Meta{Host: "bench", Started: time.Now()}, Options{})
				mw, _ := w.Create("images/bench.tar", MemberInfo{})
				for i := 0; i < len(data); i += 1 << 20 {
					mw.Write(data[i:min(i+1<<20, len(data))])
				}
				mw.Close()
				if _, err := w.Close(signer); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	signer, _ := EphemeralSigner()
	for name, data := range benchInputs(b) {
		var out bytes.Buffer
		w, _ := NewWriter(&out, Meta{Host: "bench", Started: time.Now()}, Options{})
		w.Add("images/bench.tar", MemberInfo{}, data)
		w.Close(signer)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for range b.N {
				if _, err := Verify(bytes.NewReader(out.Bytes()), VerifyOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
