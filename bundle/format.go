package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// Magic is the first line of the BUNDLE member that the Writer writes; its
// suffix is the major version. MagicV1 is the version before, which readers
// still verify: it differs only in what a chunked member's sha256 is (see
// Member.SHA256).
const (
	Magic       = "dockcase-bundle/v2"
	MagicV1     = "dockcase-bundle/v1"
	magicPrefix = "dockcase-bundle/v"
)

// Names of the fixed members, relative to the bundle root.
const (
	HeaderName    = "BUNDLE"
	CustodyName   = "custody.jsonl"
	ManifestName  = "manifest.json"
	SumsName      = "MANIFEST.sha256"
	SignatureName = "MANIFEST.sha256.sig"
	SignerName    = "signer.pub"
)

// SignatureNamespace is the SSHSIG namespace of a bundle signature.
const SignatureNamespace = "dockcase"

// Limits on what a reader accepts from a bundle, which may be hostile.
const (
	maxMembers         = 200_000  // a host with 1,000 containers writes ~30k members; room for 64 MiB chunks of large images
	maxNameBytes       = 1024     // member paths are short: <kind>/<container id>/<file>
	maxHeaderBytes     = 64 << 10 // BUNDLE: a magic line and a few metadata fields
	maxManifestBytes   = 64 << 20 // manifest.json: ~300 B a member at maxMembers
	maxSumsBytes       = 32 << 20 // MANIFEST.sha256: ~100 B a line at maxMembers
	maxCustodyBytes    = 64 << 20 // custody.jsonl: a few lines a step
	maxSignatureBytes  = 64 << 10 // an armored SSHSIG is under 1 KiB for Ed25519, a few KiB for RSA
	maxSignerBytes     = 16 << 10 // one public key in authorized_keys format
	maxZstdWindowBytes = 64 << 20 // the writer uses 8 MiB windows; anything much larger is a memory bomb
	// DefaultChunkBytes is the largest physical member the writer makes; it is
	// also the most memory one open member buffers.
	DefaultChunkBytes = 64 << 20
)

// Meta is the case metadata of the BUNDLE member.
type Meta struct {
	CaseID    string    `json:"case_id"`
	Examiner  string    `json:"examiner,omitempty"`
	Host      string    `json:"host"`
	Collector string    `json:"collector"`
	Started   time.Time `json:"started"`
}

// Root returns the name of the bundle's top-level folder.
func (m Meta) Root() string {
	return "dockcase-" + sanitizeHost(m.Host) + "-" + m.Started.UTC().Format("20060102T150405Z")
}

var unsafeHostChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func sanitizeHost(h string) string {
	h = strings.Trim(unsafeHostChars.ReplaceAllString(h, "_"), "._")
	if h == "" {
		h = "host"
	}
	if len(h) > 64 {
		h = h[:64]
	}
	return h
}

func marshalHeader(m Meta) ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(Magic+"\n"), append(b, '\n')...), nil
}

// parseHeader reads the BUNDLE member and returns its metadata and magic
// (Magic or MagicV1).
func parseHeader(b []byte) (Meta, string, error) {
	line, rest, _ := bytes.Cut(b, []byte("\n"))
	magic := strings.TrimRight(string(line), "\r")
	if !strings.HasPrefix(magic, magicPrefix) {
		return Meta{}, "", &FormatError{Member: HeaderName, Reason: fmt.Sprintf("first line %q is not a dockcase bundle magic", truncate(magic, 64))}
	}
	if magic != Magic && magic != MagicV1 {
		return Meta{}, "", &VersionError{Version: truncate(magic, 64)}
	}
	var m Meta
	if err := json.Unmarshal(rest, &m); err != nil {
		return Meta{}, "", &FormatError{Member: HeaderName, Reason: "case metadata is not JSON", Err: err}
	}
	return m, magic, nil
}

// Source says where a member's bytes came from.
type Source struct {
	Kind string   `json:"kind"`           // api, file, command, netlink, capture, collector
	Ref  string   `json:"ref,omitempty"`  // API path, file path, netlink request
	Argv []string `json:"argv,omitempty"` // command line, for Kind "command"
}

// Chunk is one physical part of a member written in chunks.
type Chunk struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Member describes one logical member in manifest.json.
type Member struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
	// SHA256 is the SHA-256 of the member's bytes. For a member written
	// in chunks it is, from version 2 on, the SHA-256 of its chunk list
	// (ChunkListSHA256): each chunk's bytes are hashed once, for
	// MANIFEST.sha256, and the list binds them in order as strongly as a
	// hash of the reassembled stream, which version 1 gave.
	SHA256  string    `json:"sha256"`
	Written time.Time `json:"written"`
	Step    string    `json:"step,omitempty"`
	Source  Source    `json:"source"`
	Chunks  []Chunk   `json:"chunks,omitempty"`
	// Note says what a reader should know, e.g. that a log was truncated.
	Note string `json:"note,omitempty"`
}

// ChunkListSHA256 returns the SHA-256 of a chunked member's chunk list:
// of its chunks' lines in MANIFEST.sha256's format ("<sha256>  <path>\n"),
// in order. In the extracted bundle,
//
//	grep -E '  capture/capture\.pcapng\.[0-9]{3,}$' MANIFEST.sha256 | sha256sum
//
// prints it for capture/capture.pcapng.
func ChunkListSHA256(chunks []Chunk) string {
	h := sha256.New()
	for _, c := range chunks {
		fmt.Fprintf(h, "%s  %s\n", c.SHA256, c.Path)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Manifest is the content of manifest.json.
type Manifest struct {
	Format   string    `json:"format"`
	Root     string    `json:"root"`
	Meta     Meta      `json:"meta"`
	Finished time.Time `json:"finished"`
	// Complete is false when the collection was interrupted or a step failed.
	Complete bool     `json:"complete"`
	Gaps     []string `json:"gaps,omitempty"`
	Members  []Member `json:"members"`
}

// Member returns the manifest entry of a logical member.
func (m *Manifest) Member(path string) (Member, bool) {
	for _, mem := range m.Members {
		if mem.Path == path {
			return mem, true
		}
	}
	return Member{}, false
}

// ParseManifest decodes manifest.json.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > maxManifestBytes {
		return nil, &FormatError{Member: ManifestName, Reason: fmt.Sprintf("larger than %d bytes", maxManifestBytes)}
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &FormatError{Member: ManifestName, Reason: "not valid JSON", Err: err}
	}
	if m.Format != Magic && m.Format != MagicV1 {
		return nil, &FormatError{Member: ManifestName, Reason: fmt.Sprintf("format %q, want %q or %q", truncate(m.Format, 64), Magic, MagicV1)}
	}
	if len(m.Members) > maxMembers {
		return nil, &FormatError{Member: ManifestName, Reason: fmt.Sprintf("%d members, more than %d", len(m.Members), maxMembers)}
	}
	seen := make(map[string]bool, len(m.Members))
	for i, mem := range m.Members {
		if err := checkName(mem.Path); err != nil {
			return nil, &FormatError{Member: ManifestName, Reason: fmt.Sprintf("member %d: %v", i, err)}
		}
		if seen[mem.Path] {
			return nil, &FormatError{Member: ManifestName, Reason: fmt.Sprintf("member %q listed twice", mem.Path)}
		}
		seen[mem.Path] = true
		if !isHexSHA256(mem.SHA256) || mem.Size < 0 {
			return nil, &FormatError{Member: ManifestName, Reason: fmt.Sprintf("member %q: bad size or sha256", mem.Path)}
		}
		for _, c := range mem.Chunks {
			if err := checkName(c.Path); err != nil || !isHexSHA256(c.SHA256) || c.Size < 0 {
				return nil, &FormatError{Member: ManifestName, Reason: fmt.Sprintf("member %q: bad chunk %q", mem.Path, c.Path)}
			}
		}
	}
	return &m, nil
}

// SumLine is one line of MANIFEST.sha256.
type SumLine struct {
	SHA256 string
	Path   string
}

// ParseSums decodes MANIFEST.sha256 in sha256sum's format. It accepts only
// what the writer produces: text mode ("  ") lines with lowercase hex and
// local paths, no duplicates.
func ParseSums(b []byte) ([]SumLine, error) {
	if len(b) > maxSumsBytes {
		return nil, &FormatError{Member: SumsName, Reason: fmt.Sprintf("larger than %d bytes", maxSumsBytes)}
	}
	var out []SumLine
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxNameBytes+128)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		sum, path, ok := strings.Cut(line, "  ")
		if !ok || !isHexSHA256(sum) {
			return nil, &FormatError{Member: SumsName, Reason: fmt.Sprintf("line %d: not \"<sha256>  <path>\"", n)}
		}
		if err := checkName(path); err != nil {
			return nil, &FormatError{Member: SumsName, Reason: fmt.Sprintf("line %d: %v", n, err)}
		}
		if seen[path] {
			return nil, &FormatError{Member: SumsName, Reason: fmt.Sprintf("line %d: %q listed twice", n, path)}
		}
		seen[path] = true
		if len(out) >= maxMembers {
			return nil, &FormatError{Member: SumsName, Reason: fmt.Sprintf("more than %d lines", maxMembers)}
		}
		out = append(out, SumLine{SHA256: sum, Path: path})
	}
	if err := sc.Err(); err != nil {
		return nil, &FormatError{Member: SumsName, Reason: "unreadable", Err: err}
	}
	return out, nil
}

func formatSums(lines []SumLine) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		fmt.Fprintf(&b, "%s  %s\n", l.SHA256, l.Path)
	}
	return b.Bytes()
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// readLimited reads all of r, failing when it holds more than max bytes.
func readLimited(r io.Reader, max int64, member string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &FormatError{Member: member, Reason: fmt.Sprintf("larger than %d bytes", max)}
	}
	return b, nil
}
