package bundle

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// captureLike returns n bytes of what a capture of frames of frameBytes
// looks like in pcapng: per packet an Enhanced Packet Block header with a
// rising timestamp, Ethernet, IPv4 and UDP headers between two fixed hosts,
// and a random payload (as encrypted traffic is).
func captureLike(n, frameBytes int) []byte {
	out := make([]byte, 0, n+frameBytes+64)
	payload := make([]byte, frameBytes-42)
	ts := uint64(1_764_000_000_000_000_000)
	for len(out) < n {
		rand.Read(payload)
		ts += 11_000 + uint64(mrand.IntN(500))
		capLen := (frameBytes + 3) &^ 3
		out = binary.LittleEndian.AppendUint32(out, 6)
		out = binary.LittleEndian.AppendUint32(out, uint32(32+capLen+8))
		out = binary.LittleEndian.AppendUint32(out, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(ts>>32))
		out = binary.LittleEndian.AppendUint32(out, uint32(ts))
		out = binary.LittleEndian.AppendUint32(out, uint32(frameBytes))
		out = binary.LittleEndian.AppendUint32(out, uint32(frameBytes))
		frame := []byte{0x02, 0x42, 0xac, 0x13, 0, 2, 0x02, 0x42, 0xac, 0x13, 0, 3, 8, 0,
			0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 198, 18, 250, 1, 198, 18, 250, 2,
			0x9c, 0x40, 0, 9, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(frame[16:], uint16(frameBytes-14))
		binary.BigEndian.PutUint16(frame[38:], uint16(frameBytes-34))
		out = append(out, frame...)
		out = append(out, payload...)
		out = append(out, make([]byte, capLen-frameBytes)...)
		out = binary.LittleEndian.AppendUint32(out, 0x00040002) // epb_flags
		out = binary.LittleEndian.AppendUint32(out, 1)
		out = binary.LittleEndian.AppendUint32(out, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(32+capLen+8))
	}
	return out[:n]
}

func logText(n int) []byte {
	rng := mrand.New(mrand.NewPCG(1, 2))
	var b []byte
	for len(b) < n {
		b = fmt.Appendf(b, "2026-11-28T09:%02d:%02d.%06dZ 172.19.0.%d GET /api/v1/users/%d %d\n",
			rng.IntN(60), rng.IntN(60), rng.IntN(1e6), rng.IntN(254)+1, rng.IntN(100000), 200+rng.IntN(4)*100)
	}
	return b[:n]
}

func TestIncompressible(t *testing.T) {
	random := make([]byte, rawBlockBytes)
	rand.Read(random)
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"random", random, true},
		{"capture of 1400-byte encrypted frames", captureLike(rawBlockBytes, 1400), true},
		{"capture of 64-byte frames", captureLike(rawBlockBytes, 64), false},
		{"log text", logText(rawBlockBytes), false},
		{"zeros", make([]byte, rawBlockBytes), false},
		{"random block's small tail", random[:rawMinBytes-1], false},
		{"random of the smallest size judged", random[:rawMinBytes], true},
	} {
		if got := incompressible(tc.data); got != tc.want {
			t.Errorf("incompressible(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestEncodeMixed checks that a frame's input that mixes blocks which
// compress with blocks which do not comes out as valid zstd that decodes to
// the input, stores the random blocks raw (the output is about their size)
// and still compresses the text.
func TestEncodeMixed(t *testing.T) {
	fw, err := newFrameWriter(&bytes.Buffer{}, zstd.SpeedFastest, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	random := make([]byte, 5*rawBlockBytes+777)
	rand.Read(random)
	text := logText(3 * rawBlockBytes)
	var in []byte
	in = append(in, text[:rawBlockBytes]...)
	in = append(in, random[:2*rawBlockBytes]...)
	in = append(in, text[rawBlockBytes:]...)
	in = append(in, random[2*rawBlockBytes:]...) // ends in a short random tail
	out := fw.encode(in, nil)
	dec, err := zstd.NewReader(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	got, err := dec.DecodeAll(out, nil)
	if err != nil || !bytes.Equal(got, in) {
		t.Fatalf("DecodeAll(encode(in)) = %d bytes, %v; want the %d bytes in", len(got), err, len(in))
	}
	frames := countFrames(t, out)
	if frames.raw != 2 || frames.rawBytes != len(random) || frames.compressed != 2 {
		t.Errorf("frames %+v; want 2 raw ones holding the %d random bytes and 2 compressed", frames, len(random))
	}
	if limit := len(random) + len(text)/2; len(out) > limit {
		t.Errorf("encoded %d bytes of random and %d of text into %d, want at most %d", len(random), len(text), len(out), limit)
	}
}

type frameCount struct {
	raw, compressed, skippable int
	rawBytes                   int // content of the frames of raw blocks
}

// countFrames walks a zstd stream frame by frame, by their headers and
// block headers (RFC 8878), and counts the frames of raw blocks only, the
// others and the skippable ones.
func countFrames(t *testing.T, b []byte) frameCount {
	t.Helper()
	var fc frameCount
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("%d bytes left, no frame", len(b))
		}
		magic := binary.LittleEndian.Uint32(b)
		if magic&^0xF == 0x184D2A50 {
			fc.skippable++
			b = b[8+binary.LittleEndian.Uint32(b[4:]):]
			continue
		}
		if magic != zstdMagic {
			t.Fatalf("no zstd frame at %d bytes from the end", len(b))
		}
		fhd := b[4]
		single := fhd&0x20 != 0
		fcsBytes := [4]int{0, 2, 4, 8}[fhd>>6]
		if fhd>>6 == 0 && single {
			fcsBytes = 1
		}
		hdr := 5 + [4]int{0, 1, 2, 4}[fhd&3] + fcsBytes
		if !single {
			hdr++ // Window_Descriptor
		}
		p := b[hdr:]
		allRaw := true
		content := 0
		for {
			bh := uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16
			size := int(bh >> 3)
			typ := bh >> 1 & 3
			allRaw = allRaw && typ == 0
			if typ == 1 { // RLE: one byte stands for size bytes
				p = p[4:]
			} else {
				p = p[3+size:]
			}
			content += size
			if bh&1 != 0 {
				break
			}
		}
		if fhd&4 != 0 {
			p = p[4:] // Content_Checksum
		}
		if allRaw && fhd == 0xA0 {
			fc.raw++
			fc.rawBytes += content
		} else {
			fc.compressed++
		}
		b = p
	}
	return fc
}
