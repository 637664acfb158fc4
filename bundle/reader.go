package bundle

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"filippo.io/age"
	"github.com/hiddeco/sshsig"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/crypto/ssh"
)

// ageMagic opens every age-encrypted file.
const ageMagic = "age-encryption.org/v1"

// VerifyOptions tune Verify.
type VerifyOptions struct {
	Trust Trust
	// Identities decrypt an age-encrypted bundle.
	Identities []age.Identity
	// ExtractTo, when set, is a directory that receives every member
	// (chunked members reassembled) as the stream passes.
	ExtractTo *os.Root
	// Progress, when set, is called with the count of decompressed bytes
	// read so far, now and then.
	Progress func(bytes int64)
	// MaxBytes bounds the decompressed size of the bundle; 0 means
	// DefaultMaxBundleBytes. zstd expands runs of one byte some 40,000
	// times, so a small hostile file can otherwise keep a verifier busy
	// for hours.
	MaxBytes int64
}

// DefaultMaxBundleBytes is the largest decompressed bundle a reader
// accepts: committed images and captures of a large host stay far below.
const DefaultMaxBundleBytes = 4 << 40

// maxTrailingBytes bounds what may follow the tar's end blocks: the writer
// leaves only the tar's own zero padding there.
const maxTrailingBytes = 1 << 20

// Result is what verification established about a bundle.
type Result struct {
	Meta Meta
	// Format is the bundle's magic line: Magic, or MagicV1 for a bundle
	// written before version 2.
	Format      string
	Manifest    *Manifest
	Root        string
	Signer      ssh.PublicKey
	Fingerprint string
	// Trusted is true when the signer is one the caller named; false when
	// only the bundle's own signer.pub vouches for it.
	Trusted bool
	// Physical is the count of tar members, Bytes their total size.
	Physical int
	Bytes    int64
	// Steps is the collection's custody log (custody.jsonl).
	Steps []StepRecord
	// Problems lists every integrity problem found, in order; the error
	// Verify returns is the first of them.
	Problems []error
	// FileSHA256 is the SHA-256 of every byte Verify read (the bundle
	// file's, as the custody log and NAME.sha256 give it), taken in the
	// verifying pass; empty when verification stopped before the end.
	FileSHA256 string
}

// seenMember is a physical member as it passed.
type seenMember struct {
	size   int64
	sha256 string
	index  int
}

// chunkRun follows a run of consecutive chunks name.000, name.001, … In a
// version 1 bundle it hashes them as one stream, so a reassembled member can
// be checked in the same pass; from version 2 on a chunked member's hash is
// that of its chunk list, and h is nil.
type chunkRun struct {
	next int
	size int64
	h    hash.Hash
}

var chunkSuffix = regexp.MustCompile(`^(.+)\.([0-9]{3,})$`)

// Verify reads a bundle stream once, checks its structure, signature and
// every member's hash, and returns what it found. The error is nil only when
// the bundle is intact; it is a *FormatError, *SignatureError,
// *IntegrityError or *VersionError when it is not.
func Verify(r io.Reader, opts VerifyOptions) (*Result, error) {
	res := &Result{}
	br := bufio.NewReaderSize(r, 1<<20)
	var fileSum hash.Hash // of the file, when it is encrypted
	var outer io.Reader
	if head, _ := br.Peek(len(ageMagic)); string(head) == ageMagic {
		if len(opts.Identities) == 0 {
			return res, errors.New("the bundle is encrypted with age: give the lab's identity (--identity FILE)")
		}
		// The digest frame is inside the encryption: the file's own hash
		// is taken of the bytes as read.
		fileSum = sha256.New()
		outer = io.TeeReader(br, fileSum)
		dec, err := age.Decrypt(outer, opts.Identities...)
		if err != nil {
			return res, fmt.Errorf("decrypt bundle: %w", err)
		}
		r = dec
	} else {
		r = br
	}
	dr := newDigestReader(r)
	zr, err := zstd.NewReader(dr,
		zstd.WithDecoderMaxWindow(maxZstdWindowBytes),
		zstd.WithDecoderConcurrency(min(runtime.GOMAXPROCS(0), 4)))
	if err != nil {
		return res, fmt.Errorf("start zstd: %w", err)
	}
	defer zr.Close()

	v := &verifier{opts: opts, res: res, seen: map[string]seenMember{}, runs: map[string]*chunkRun{}, buf: make([]byte, 1<<20),
		maxBytes: opts.MaxBytes}
	if v.maxBytes <= 0 {
		v.maxBytes = DefaultMaxBundleBytes
	}
	if err := v.walk(tar.NewReader(zr)); err != nil {
		return res, err
	}
	// Read to the end of the zstd stream: its checksum is only checked there,
	// and nothing may follow the tar's end blocks.
	if err := drainZeros(zr); err != nil {
		return res, err
	}
	err = dr.check() // reads to the end
	res.FileSHA256 = dr.fileSum
	if fileSum != nil {
		res.FileSHA256 = ""
		if _, cerr := io.Copy(io.Discard, outer); cerr == nil {
			res.FileSHA256 = hex.EncodeToString(fileSum.Sum(nil))
		}
	}
	if err != nil {
		return res, err
	}
	if err := v.checkTrailer(); err != nil {
		return res, err
	}
	v.compare()
	if len(res.Problems) > 0 {
		return res, res.Problems[0]
	}
	if opts.ExtractTo != nil {
		if err := v.reassemble(); err != nil {
			return res, err
		}
	}
	return res, nil
}

type verifier struct {
	maxBytes int64
	opts     VerifyOptions
	res      *Result
	seen     map[string]seenMember
	runs     map[string]*chunkRun
	trailer  map[string][]byte
	order    []string
	buf      []byte
}

// walk reads every tar entry, enforcing the structural rules.
func (v *verifier) walk(tr *tar.Reader) error {
	v.trailer = map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return streamError(err, "")
		}
		if v.res.Physical >= maxMembers {
			return &FormatError{Reason: fmt.Sprintf("more than %d members", maxMembers)}
		}
		rel, err := v.memberName(hdr)
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			return &FormatError{Member: rel, Reason: fmt.Sprintf("is a %s, only regular files are allowed", typeName(hdr.Typeflag))}
		}
		if _, dup := v.seen[rel]; dup {
			return &FormatError{Member: rel, Reason: "appears twice"}
		}
		if _, done := v.trailer[SignerName]; done {
			return &FormatError{Member: rel, Reason: "follows the signature trailer"}
		}
		if v.res.Physical == 0 && rel != HeaderName {
			return &FormatError{Member: rel, Reason: "the first member must be " + HeaderName}
		}
		if hdr.Size > v.maxBytes-v.res.Bytes {
			return &FormatError{Member: rel, Reason: fmt.Sprintf("the bundle would exceed %d decompressed bytes", v.maxBytes)}
		}
		sum, size, err := v.consume(tr, rel, hdr.Size)
		if err != nil {
			return err
		}
		v.seen[rel] = seenMember{size: size, sha256: sum, index: v.res.Physical}
		v.order = append(v.order, rel)
		v.res.Physical++
		v.res.Bytes += size
		if v.opts.Progress != nil {
			v.opts.Progress(v.res.Bytes)
		}
		if rel == HeaderName {
			meta, magic, err := parseHeader(v.trailer[HeaderName])
			if err != nil {
				return err
			}
			v.res.Meta, v.res.Format = meta, magic
		}
	}
}

// memberName checks a tar entry's name and returns it relative to the root.
func (v *verifier) memberName(hdr *tar.Header) (string, error) {
	name := strings.TrimSuffix(hdr.Name, "/")
	if len(name) > maxNameBytes+256 {
		return "", &FormatError{Member: truncate(name, 128), Reason: "name too long"}
	}
	root, rel, ok := strings.Cut(name, "/")
	if v.res.Root == "" {
		if err := checkName(root); err != nil || !strings.HasPrefix(root, "dockcase-") {
			return "", &FormatError{Member: name, Reason: "not under a dockcase-<host>-<time> root folder"}
		}
		v.res.Root = root
	}
	if root != v.res.Root {
		return "", &FormatError{Member: name, Reason: fmt.Sprintf("outside the bundle root %q", v.res.Root)}
	}
	if !ok {
		if hdr.Typeflag == tar.TypeDir {
			return "", nil
		}
		return "", &FormatError{Member: name, Reason: "is the root itself"}
	}
	if err := checkName(rel); err != nil {
		return "", &FormatError{Member: name, Reason: err.Error()}
	}
	return rel, nil
}

// consume hashes one member's bytes, keeps the small fixed members in
// memory, feeds chunk runs, and extracts when asked.
func (v *verifier) consume(tr *tar.Reader, rel string, declared int64) (string, int64, error) {
	h := sha256.New()
	var w io.Writer = h
	var keep *bytes.Buffer
	if limit, ok := fixedLimit(rel); ok {
		if declared > limit {
			return "", 0, &FormatError{Member: rel, Reason: fmt.Sprintf("%d bytes, more than %d allowed", declared, limit)}
		}
		keep = &bytes.Buffer{}
		w = io.MultiWriter(h, keep)
	}
	if run := v.chunkRunFor(rel); run != nil {
		if run.h != nil {
			w = io.MultiWriter(w, run.h)
		}
		run.size += declared
	}
	var f *os.File
	if v.opts.ExtractTo != nil {
		if dir := path.Dir(rel); dir != "." {
			if err := v.opts.ExtractTo.MkdirAll(dir, 0o755); err != nil {
				return "", 0, fmt.Errorf("extract %q: %w", rel, err)
			}
		}
		var err error
		f, err = v.opts.ExtractTo.OpenFile(rel, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o444)
		if err != nil {
			return "", 0, fmt.Errorf("extract %q: %w", rel, err)
		}
		defer f.Close()
		w = io.MultiWriter(w, f)
	}
	n, err := io.CopyBuffer(w, tr, v.buf)
	if err != nil {
		return "", n, streamError(err, rel)
	}
	if keep != nil {
		v.trailer[rel] = keep.Bytes()
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return "", n, fmt.Errorf("extract %q: %w", rel, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// fixedLimit returns the size bound of a member read into memory.
func fixedLimit(rel string) (int64, bool) {
	switch rel {
	case HeaderName:
		return maxHeaderBytes, true
	case CustodyName:
		return maxCustodyBytes, true
	case ManifestName:
		return maxManifestBytes, true
	case SumsName:
		return maxSumsBytes, true
	case SignatureName:
		return maxSignatureBytes, true
	case SignerName:
		return maxSignerBytes, true
	}
	return 0, false
}

func (v *verifier) chunkRunFor(rel string) *chunkRun {
	m := chunkSuffix.FindStringSubmatch(rel)
	if m == nil {
		return nil
	}
	i, err := strconv.Atoi(m[2])
	if err != nil {
		return nil
	}
	run := v.runs[m[1]]
	if i == 0 {
		run = &chunkRun{}
		if v.res.Format == MagicV1 {
			run.h = sha256.New()
		}
		v.runs[m[1]] = run
	}
	if run == nil || run.next != i {
		return nil
	}
	run.next++
	return run
}

// checkTrailer checks that the trailer is there and that the signature over
// MANIFEST.sha256 verifies, then parses the manifests.
func (v *verifier) checkTrailer() error {
	for _, name := range []string{HeaderName, CustodyName, ManifestName, SumsName, SignatureName, SignerName} {
		if _, ok := v.trailer[name]; !ok {
			return &FormatError{Member: name, Reason: "missing: the bundle is truncated or was never finished"}
		}
	}
	if n := len(v.order); n < 4 || v.order[n-3] != SumsName || v.order[n-2] != SignatureName || v.order[n-1] != SignerName {
		return &FormatError{Reason: "the trailer is not MANIFEST.sha256, MANIFEST.sha256.sig, signer.pub in that order at the end"}
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(v.trailer[SignerName])
	if err != nil {
		return &SignatureError{Reason: "signer.pub is not a public key", Err: err}
	}
	v.res.Signer = pub
	v.res.Fingerprint = ssh.FingerprintSHA256(pub)
	sig, err := sshsig.Unarmor(v.trailer[SignatureName])
	if err != nil {
		return &SignatureError{Reason: "MANIFEST.sha256.sig is not an SSH signature", Err: err}
	}
	if err := sshsig.Verify(bytes.NewReader(v.trailer[SumsName]), sig, pub, sig.HashAlgorithm, SignatureNamespace); err != nil {
		return &SignatureError{Reason: "MANIFEST.sha256.sig does not verify with signer.pub " + v.res.Fingerprint, Err: err}
	}
	if v.opts.Trust.named() {
		if !v.opts.Trust.trusts(pub) {
			return &SignatureError{Reason: "signer " + v.res.Fingerprint + " is not a trusted signer"}
		}
		v.res.Trusted = true
	}
	man, err := ParseManifest(v.trailer[ManifestName])
	if err != nil {
		return err
	}
	v.res.Manifest = man
	if man.Format != v.res.Format {
		return &IntegrityError{Member: ManifestName, Reason: fmt.Sprintf("says format %q, %s says %q", man.Format, HeaderName, v.res.Format)}
	}
	for n, line := range bytes.Split(bytes.TrimSuffix(v.trailer[CustodyName], []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var s StepRecord
		if err := json.Unmarshal(line, &s); err != nil {
			return &FormatError{Member: CustodyName, Reason: fmt.Sprintf("line %d is not a step record", n+1), Err: err}
		}
		v.res.Steps = append(v.res.Steps, s)
	}
	if man.Root != v.res.Root {
		return &IntegrityError{Member: ManifestName, Reason: fmt.Sprintf("names root %q, the bundle's is %q", truncate(man.Root, 128), v.res.Root)}
	}
	return nil
}

// compare checks the members seen against the signed checksums and the
// manifest, recording every problem.
func (v *verifier) compare() {
	add := func(member, format string, a ...any) {
		v.res.Problems = append(v.res.Problems, &IntegrityError{Member: member, Reason: fmt.Sprintf(format, a...)})
	}
	sums, err := ParseSums(v.trailer[SumsName])
	if err != nil {
		v.res.Problems = append(v.res.Problems, err)
		return
	}
	listed := map[string]string{}
	for _, l := range sums {
		listed[l.Path] = l.SHA256
	}
	// The checksums are signed: check them first, against every member.
	for _, rel := range v.order {
		if rel == SumsName || rel == SignatureName || rel == SignerName {
			continue
		}
		want, ok := listed[rel]
		switch {
		case !ok:
			add(rel, "is not listed in %s", SumsName)
		case want != v.seen[rel].sha256:
			add(rel, "sha256 is %s, %s says %s", v.seen[rel].sha256, SumsName, want)
		}
	}
	for _, l := range sums {
		if _, ok := v.seen[l.Path]; !ok {
			add(l.Path, "is listed in %s but missing from the bundle", SumsName)
		}
	}
	// The manifest is covered by the checksums; its sizes and stream hashes
	// must agree with what passed.
	accounted := map[string]bool{HeaderName: true, CustodyName: true, ManifestName: true}
	for _, m := range v.res.Manifest.Members {
		if len(m.Chunks) == 0 {
			accounted[m.Path] = true
			got, ok := v.seen[m.Path]
			switch {
			case !ok:
				add(m.Path, "is in %s but missing from the bundle", ManifestName)
			case got.size != m.Size:
				add(m.Path, "is %d bytes, %s says %d", got.size, ManifestName, m.Size)
			case got.sha256 != m.SHA256:
				add(m.Path, "sha256 is %s, %s says %s", got.sha256, ManifestName, m.SHA256)
			}
			continue
		}
		var total int64
		for i, c := range m.Chunks {
			accounted[c.Path] = true
			got, ok := v.seen[c.Path]
			switch {
			case c.Path != chunkName(m.Path, i):
				add(c.Path, "chunk %d of %q has the wrong name", i, m.Path)
			case !ok:
				add(c.Path, "chunk of %q is missing", m.Path)
			case got.size != c.Size || got.sha256 != c.SHA256:
				add(c.Path, "chunk of %q differs from %s", m.Path, ManifestName)
			}
			total += c.Size
		}
		run := v.runs[m.Path]
		switch {
		case total != m.Size:
			add(m.Path, "chunks add up to %d bytes, %s says %d", total, ManifestName, m.Size)
		case run == nil || run.next != len(m.Chunks):
			add(m.Path, "chunks are not in order in the stream")
		case run.h != nil && hex.EncodeToString(run.h.Sum(nil)) != m.SHA256:
			add(m.Path, "reassembled stream sha256 differs from %s", ManifestName)
		case run.h == nil && ChunkListSHA256(m.Chunks) != m.SHA256:
			add(m.Path, "sha256 of the chunk list differs from %s", ManifestName)
		}
	}
	for _, rel := range v.order {
		if !accounted[rel] && rel != SumsName && rel != SignatureName && rel != SignerName {
			add(rel, "is not described in %s", ManifestName)
		}
	}
}

// reassemble joins extracted chunks into their logical members.
func (v *verifier) reassemble() error {
	root := v.opts.ExtractTo
	for _, m := range v.res.Manifest.Members {
		if len(m.Chunks) == 0 {
			continue
		}
		out, err := root.OpenFile(m.Path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o444)
		if err != nil {
			return fmt.Errorf("reassemble %q: %w", m.Path, err)
		}
		for _, c := range m.Chunks {
			in, err := root.Open(c.Path)
			if err != nil {
				out.Close()
				return fmt.Errorf("reassemble %q: %w", m.Path, err)
			}
			_, err = io.CopyBuffer(out, in, v.buf)
			in.Close()
			if err == nil {
				err = root.Remove(c.Path)
			}
			if err != nil {
				out.Close()
				return fmt.Errorf("reassemble %q: %w", m.Path, err)
			}
		}
		if err := out.Close(); err != nil {
			return fmt.Errorf("reassemble %q: %w", m.Path, err)
		}
	}
	return nil
}

// drainZeros reads r to its end, failing on anything but zero bytes or
// more than maxTrailingBytes of them.
func drainZeros(r io.Reader) error {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if bytes.ContainsFunc(buf[:k], func(r rune) bool { return r != 0 }) || n > maxTrailingBytes {
			return &FormatError{Reason: "data after the end of the tar archive"}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return streamError(err, "")
		}
	}
}

// streamError classifies a read error of the tar/zstd stream.
func streamError(err error, member string) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &FormatError{Member: member, Reason: "stream truncated", Err: err}
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return &FormatError{Member: member, Reason: fmt.Sprintf("zstd window larger than %d bytes", maxZstdWindowBytes), Err: err}
	case errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrFieldTooLong), errors.Is(err, tar.ErrInsecurePath):
		return &FormatError{Member: member, Reason: "bad tar header", Err: err}
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &FormatError{Member: member, Reason: "corrupt stream", Err: err}
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("tar entry of type %q", t)
}
