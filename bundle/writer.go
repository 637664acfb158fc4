package bundle

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/hiddeco/sshsig"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/ssh"
)

// Options tune a Writer. The zero value is ready to use.
type Options struct {
	// ChunkBytes is the size of the chunks of a long member; 0 means
	// DefaultChunkBytes. Each open member buffers up to this much memory.
	ChunkBytes int
	// Recipients, when set, encrypt the whole bundle with age.
	Recipients []age.Recipient
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MemberInfo says where a member came from, for the manifest.
type MemberInfo struct {
	Step   string
	Source Source
	Note   string
}

// Call is one thing a collection step called: an API endpoint, a file it
// read, a binary it executed (with that binary's path, version and hash).
type Call struct {
	Kind         string   `json:"kind"`
	Ref          string   `json:"ref,omitempty"`
	Argv         []string `json:"argv,omitempty"`
	Binary       string   `json:"binary,omitempty"`
	BinarySHA256 string   `json:"binary_sha256,omitempty"`
	Version      string   `json:"version,omitempty"`
	ExitCode     *int     `json:"exit_code,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// Step statuses in the custody log.
const (
	StepOK          = "ok"
	StepPartial     = "partial"
	StepFailed      = "failed"
	StepSkipped     = "skipped"
	StepInterrupted = "interrupted"
)

// StepRecord is one line of custody.jsonl: a collection step.
type StepRecord struct {
	Name    string    `json:"step"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	Status  string    `json:"status"`
	Error   string    `json:"error,omitempty"`
	Called  []Call    `json:"called,omitempty"`
	Members []string  `json:"members,omitempty"`
	Detail  any       `json:"detail,omitempty"`
}

// Summary describes a finished bundle.
type Summary struct {
	Root        string
	Size        int64
	SHA256      string // of the bundle file's bytes, encrypted or not
	Fingerprint string // of the signer, ssh-keygen's SHA256:… form
	Members     int
	Complete    bool
}

// Writer streams an evidence bundle. Members may be written from several
// goroutines at once; each physical tar entry is written whole under a lock.
type Writer struct {
	meta       Meta
	root       string
	chunkBytes int
	now        func() time.Time

	out  *hashWriter
	enc  io.WriteCloser // age, or nil
	zw   *frameWriter
	mu   sync.Mutex // guards everything below
	tw   *tar.Writer
	err  error // sticky: after a write error nothing more is written
	done bool

	sums    []SumLine
	members []Member
	names   map[string]bool // logical and physical names taken
	steps   []StepRecord
	gaps    []string
	open    int
}

// NewWriter starts a bundle on w and writes its BUNDLE member.
func NewWriter(w io.Writer, meta Meta, opts Options) (*Writer, error) {
	bw := &Writer{
		meta:       meta,
		root:       meta.Root(),
		chunkBytes: opts.ChunkBytes,
		now:        opts.Now,
		names:      map[string]bool{},
	}
	if bw.chunkBytes <= 0 || bw.chunkBytes > DefaultChunkBytes {
		bw.chunkBytes = DefaultChunkBytes
	}
	if bw.now == nil {
		bw.now = time.Now
	}
	bw.out = &hashWriter{w: w, h: sha256.New()}
	var zdst io.Writer = bw.out
	sum := bw.out.h // unencrypted, the file is the frames: one hash serves both
	if len(opts.Recipients) > 0 {
		enc, err := age.Encrypt(bw.out, opts.Recipients...)
		if err != nil {
			return nil, fmt.Errorf("start encryption: %w", err)
		}
		bw.enc = enc
		zdst, sum = enc, nil
	}
	// The fastest level: a bundle is written on the compromised host, often
	// while packets are captured, and time and CPU there count more than
	// size (about 11% larger than level 3 on a tar of shared libraries,
	// compressed 1.7 times as fast).
	zw, err := newFrameWriter(zdst, zstd.SpeedFastest, sum)
	if err != nil {
		return nil, fmt.Errorf("start zstd: %w", err)
	}
	bw.zw = zw
	bw.tw = tar.NewWriter(zw)
	hdr, err := marshalHeader(meta)
	if err != nil {
		return nil, fmt.Errorf("encode case metadata: %w", err)
	}
	if err := bw.writeEntry(HeaderName, hdr, sha256Hex(hdr)); err != nil {
		return nil, err
	}
	return bw, nil
}

// Root returns the bundle's top-level folder name.
func (w *Writer) Root() string { return w.root }

// Add writes a small member whose bytes are all in hand.
func (w *Writer) Add(name string, info MemberInfo, data []byte) error {
	mw, err := w.Create(name, info)
	if err != nil {
		return err
	}
	if _, err := mw.Write(data); err != nil {
		return err // the bundle's stream is broken; nothing more can be written
	}
	return mw.Close()
}

// AddJSON writes v as an indented JSON member.
func (w *Writer) AddJSON(name string, info MemberInfo, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return w.Add(name, info, append(b, '\n'))
}

// Create starts a member of unknown length. Bytes written to it are buffered
// up to the chunk size; a member longer than that is written as numbered
// chunks. The member is in the bundle once Close returns.
func (w *Writer) Create(name string, info MemberInfo) (*MemberWriter, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("member %q: %w", name, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, w.err
	}
	if w.done {
		return nil, errors.New("bundle already closed")
	}
	if reserved(name) || w.names[name] || w.names[chunkName(name, 0)] {
		return nil, fmt.Errorf("member %q: name already used", name)
	}
	w.names[name] = true
	w.open++
	return &MemberWriter{w: w, name: name, info: info, sum: sha256.New()}, nil
}

func reserved(name string) bool {
	switch name {
	case HeaderName, CustodyName, ManifestName, SumsName, SignatureName, SignerName:
		return true
	}
	return false
}

func chunkName(name string, i int) string { return fmt.Sprintf("%s.%03d", name, i) }

// Record adds a step to the custody log. Steps that do not list their
// members get those the manifest attributes to them.
func (w *Writer) Record(s StepRecord) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.steps = append(w.steps, s)
}

// Gap marks the bundle incomplete and says what is missing.
func (w *Writer) Gap(reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gaps = append(w.gaps, reason)
}

// Err returns the first write error, if any: after it the bundle cannot be
// finished.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// writeEntry writes one physical tar entry and records its hash.
func (w *Writer) writeEntry(name string, data []byte, sum string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	now := w.now().UTC()
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     w.root + "/" + name,
		Size:     int64(len(data)),
		Mode:     0o444,
		ModTime:  now,
		Format:   tar.FormatPAX,
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		w.err = fmt.Errorf("write %s: %w", name, err)
		return w.err
	}
	if _, err := w.tw.Write(data); err != nil {
		w.err = fmt.Errorf("write %s: %w", name, err)
		return w.err
	}
	w.names[name] = true
	w.sums = append(w.sums, SumLine{SHA256: sum, Path: name})
	return nil
}

// Close writes the trailer (custody log, manifest, checksums, signature and
// signer key) and finishes the stream. The signer signs MANIFEST.sha256.
func (w *Writer) Close(signer ssh.Signer) (Summary, error) {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return Summary{}, err
	}
	if w.open > 0 {
		w.gaps = append(w.gaps, fmt.Sprintf("%d member(s) were still being written when the bundle was closed", w.open))
	}
	w.done = true
	members := append([]Member(nil), w.members...)
	sort.SliceStable(members, func(i, j int) bool { return members[i].Written.Before(members[j].Written) })
	steps := append([]StepRecord(nil), w.steps...)
	gaps := append([]string(nil), w.gaps...)
	w.mu.Unlock()

	byStep := map[string][]string{}
	for _, m := range members {
		byStep[m.Step] = append(byStep[m.Step], m.Path)
	}
	var custody bytes.Buffer
	for _, s := range steps {
		if s.Members == nil {
			s.Members = byStep[s.Name]
		}
		line, err := json.Marshal(s)
		if err != nil {
			return Summary{}, fmt.Errorf("encode custody step %q: %w", s.Name, err)
		}
		custody.Write(line)
		custody.WriteByte('\n')
	}
	if err := w.writeEntry(CustodyName, custody.Bytes(), sha256Hex(custody.Bytes())); err != nil {
		return Summary{}, err
	}
	man := Manifest{
		Format:   Magic,
		Root:     w.root,
		Meta:     w.meta,
		Finished: w.now().UTC(),
		Complete: len(gaps) == 0,
		Gaps:     gaps,
		Members:  members,
	}
	mb, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return Summary{}, fmt.Errorf("encode manifest: %w", err)
	}
	mb = append(mb, '\n')
	if err := w.writeEntry(ManifestName, mb, sha256Hex(mb)); err != nil {
		return Summary{}, err
	}
	w.mu.Lock()
	sums := formatSums(w.sums)
	w.mu.Unlock()
	sig, err := sshsig.Sign(bytes.NewReader(sums), signer, sshsig.HashSHA512, SignatureNamespace)
	if err != nil {
		return Summary{}, fmt.Errorf("sign %s: %w", SumsName, err)
	}
	armored := sshsig.Armor(sig)
	pub := ssh.MarshalAuthorizedKey(signer.PublicKey())
	for _, e := range []struct {
		name string
		data []byte
	}{{SumsName, sums}, {SignatureName, armored}, {SignerName, pub}} {
		if err := w.writeEntry(e.name, e.data, sha256Hex(e.data)); err != nil {
			return Summary{}, err
		}
	}
	if err := w.tw.Close(); err != nil {
		return Summary{}, fmt.Errorf("finish tar: %w", err)
	}
	if err := w.zw.Close(); err != nil {
		return Summary{}, fmt.Errorf("finish zstd: %w", err)
	}
	if w.enc != nil {
		if err := w.enc.Close(); err != nil {
			return Summary{}, fmt.Errorf("finish encryption: %w", err)
		}
	}
	if w.out.err != nil {
		return Summary{}, w.out.err
	}
	return Summary{
		Root:        w.root,
		Size:        w.out.n,
		SHA256:      hex.EncodeToString(w.out.h.Sum(nil)),
		Fingerprint: ssh.FingerprintSHA256(signer.PublicKey()),
		Members:     len(members),
		Complete:    len(gaps) == 0,
	}, nil
}

// MemberWriter is an open member; see Writer.Create.
type MemberWriter struct {
	w      *Writer
	name   string
	info   MemberInfo
	buf    []byte
	chunks []Chunk
	sum    hash.Hash // of buf: the bytes are hashed as they arrive, once
	size   int64
	closed bool
}

// Write buffers p, writing a chunk each time the buffer is full and more
// bytes follow. Each byte is hashed as it is buffered, while it is still in
// the processor's cache, and never again: a chunk's SHA-256 is ready when the
// chunk is full, and a chunked member's is that of its chunk list.
func (m *MemberWriter) Write(p []byte) (int, error) {
	if m.closed {
		return 0, fmt.Errorf("member %q: write after close", m.name)
	}
	n := len(p)
	m.size += int64(n)
	for len(p) > 0 {
		if len(m.buf) == m.w.chunkBytes {
			if err := m.flushChunk(); err != nil {
				return 0, err
			}
		}
		if cap(m.buf) < m.w.chunkBytes && len(m.buf)+len(p) > growDirectBytes {
			// A long member: take the whole chunk buffer at once rather
			// than growing it by copies.
			buf := make([]byte, len(m.buf), m.w.chunkBytes)
			copy(buf, m.buf)
			m.buf = buf
		}
		k := min(len(p), m.w.chunkBytes-len(m.buf))
		m.buf = append(m.buf, p[:k]...)
		m.sum.Write(p[:k])
		p = p[k:]
	}
	return n, nil
}

// growDirectBytes is the member size past which the chunk buffer is
// allocated whole.
const growDirectBytes = 1 << 20

// flushChunk writes the buffer as the next chunk.
func (m *MemberWriter) flushChunk() error {
	name := chunkName(m.name, len(m.chunks))
	sum := m.bufSum()
	if err := m.w.writeEntry(name, m.buf, sum); err != nil {
		return err
	}
	m.chunks = append(m.chunks, Chunk{Path: name, Size: int64(len(m.buf)), SHA256: sum})
	m.buf = m.buf[:0]
	return nil
}

// bufSum returns the SHA-256 of the buffer and starts the next one's.
func (m *MemberWriter) bufSum() string {
	sum := hex.EncodeToString(m.sum.Sum(nil))
	m.sum.Reset()
	return sum
}

// Close writes what is buffered and enters the member in the manifest.
func (m *MemberWriter) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	defer m.release()
	var whole string
	if m.chunks != nil {
		if len(m.buf) > 0 {
			if err := m.flushChunk(); err != nil {
				return err
			}
		}
		whole = ChunkListSHA256(m.chunks)
	} else {
		whole = m.bufSum()
		if err := m.w.writeEntry(m.name, m.buf, whole); err != nil {
			return err
		}
	}
	mem := Member{
		Path:    m.name,
		Size:    m.size,
		SHA256:  whole,
		Written: m.w.now().UTC(),
		Step:    m.info.Step,
		Source:  m.info.Source,
		Chunks:  m.chunks,
		Note:    m.info.Note,
	}
	m.w.mu.Lock()
	m.w.members = append(m.w.members, mem)
	m.w.mu.Unlock()
	return nil
}

func (m *MemberWriter) release() {
	m.buf = nil
	m.w.mu.Lock()
	m.w.open--
	m.w.mu.Unlock()
}

// Abort ends a member whose source failed part-way: what was written is
// kept, and the manifest notes that the member is incomplete and why.
func (m *MemberWriter) Abort(reason string) error {
	if m.closed {
		return nil
	}
	if m.info.Note != "" {
		m.info.Note += "; "
	}
	m.info.Note += "incomplete: " + reason
	return m.Close()
}

type hashWriter struct {
	w   io.Writer
	h   hash.Hash
	n   int64
	err error
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	if hw.err != nil {
		return 0, hw.err
	}
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	if err != nil {
		hw.err = err
	}
	return n, err
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
