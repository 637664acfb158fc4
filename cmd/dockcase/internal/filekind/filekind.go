// Package filekind says what a file is from its first bytes, so that a
// command given the wrong kind of file can say what it was given instead.
package filekind

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// SniffBytes is how much of a file format detection reads: every magic
// below fits, and 512 bytes is enough to tell text from binary.
const SniffBytes = 512

// Kind is what a file is, from its first bytes.
type Kind int

// The kinds of file Sniff tells apart.
const (
	Unknown Kind = iota
	Empty
	Zstd   // a dockcase bundle is tar+zstd
	Age    // an encrypted bundle (collect --recipient)
	Pcap   // libpcap, either byte order, micro or nano seconds
	Pcapng // pcapng
	Gzip
	Analysis // a saved dockcase-analysis document (v2 is read; v1 refused)
	Text
)

func (k Kind) String() string {
	switch k {
	case Empty:
		return "an empty file"
	case Zstd:
		return "a zstd file (a dockcase bundle)"
	case Age:
		return "an age-encrypted file (a dockcase bundle collected with --recipient)"
	case Pcap:
		return "a pcap capture"
	case Pcapng:
		return "a pcapng capture"
	case Gzip:
		return "a gzip file"
	case Analysis:
		return "a saved analysis (dockcase analyze --json)"
	case Text:
		return "text"
	}
	return "of an unknown format"
}

// Sniff says what head, the first bytes of a file, is.
func Sniff(head []byte) Kind {
	le := func(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
	switch {
	case len(head) == 0:
		return Empty
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case len(head) >= 4 && le(head)&0xfffffff0 == 0x184d2a50: // a skippable zstd frame
		return Zstd
	case bytes.HasPrefix(head, []byte("age-encryption.org/v1")):
		return Age
	case len(head) >= 4 && (le(head) == 0xa1b2c3d4 || le(head) == 0xa1b23c4d || binary.BigEndian.Uint32(head) == 0xa1b2c3d4 || binary.BigEndian.Uint32(head) == 0xa1b23c4d):
		return Pcap
	case bytes.HasPrefix(head, []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		return Pcapng
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip
	case bytes.Contains(head, []byte(`"dockcase-analysis/`)):
		return Analysis
	case isText(head):
		return Text
	}
	return Unknown
}

// isText reports whether head reads as UTF-8 text (a cut rune at the end
// allowed).
func isText(head []byte) bool {
	for i := 0; i < len(head); {
		r, n := utf8.DecodeRune(head[i:])
		if r == utf8.RuneError && n <= 1 {
			return len(head)-i < utf8.UTFMax
		}
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
		i += n
	}
	return true
}

// CheckGzipCapture reads the gzip stream r to its end: it must hold a pcap
// or pcapng capture of at most maxBytes decompressed. The error says what
// is wrong, for a message that names the file.
func CheckGzipCapture(r io.Reader, maxBytes int64) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("a gzip file that cannot be read: %v", err)
	}
	head := make([]byte, SniffBytes)
	n, err := io.ReadFull(zr, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("a gzip file cut short or damaged: %v", err)
	}
	if k := Sniff(head[:n]); k != Pcap && k != Pcapng {
		return fmt.Errorf("a gzip file, but not of a capture (pcap or pcapng): inside is %s", k)
	}
	rest, err := io.Copy(io.Discard, io.LimitReader(zr, maxBytes-int64(n)+1))
	if err != nil {
		return fmt.Errorf("a gzip file cut short or damaged: %v", err)
	}
	if int64(n)+rest > maxBytes {
		return fmt.Errorf("decompresses to more than %d MiB: refused (a gzip bomb; a capture that large goes uncompressed)", maxBytes>>20)
	}
	return nil
}
