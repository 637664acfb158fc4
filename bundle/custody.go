package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

const (
	// maxCustodyLogBytes bounds a custody sidecar: a few hundred bytes an
	// event (a few KiB signed), thousands of events at the most over a
	// case's life.
	maxCustodyLogBytes = 16 << 20
	// maxCustodySigBytes bounds an event's sig field: the SSHSIG blob of an
	// RSA 16384 key (2 KiB key, 2 KiB signature) is under 6 KiB in base64.
	maxCustodySigBytes = 16 << 10
)

// CustodyNamespace is the SSHSIG namespace of a custody event's signature.
// It is not the bundle's, so that neither signature can stand for the other.
const CustodyNamespace = "dockcase-custody"

// custodySigKey opens the sig field, always the last of a signed line.
const custodySigKey = `,"sig":"`

// Custody actions. Others are allowed; these are the usual ones.
const (
	ActionCollected   = "collected"
	ActionVerified    = "verified"
	ActionCopied      = "copied"
	ActionTransferred = "transferred"
	ActionReceived    = "received"
	ActionAnalysed    = "analysed"
)

// CustodyEvent is one line of a bundle's custody sidecar.
type CustodyEvent struct {
	Seq    int       `json:"seq"`
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	By     string    `json:"by"`
	Where  string    `json:"where,omitempty"`
	Note   string    `json:"note,omitempty"`
	// BundleSHA256 is the bundle file's hash when the event was recorded.
	BundleSHA256 string `json:"bundle_sha256"`
	// PrevSHA256 is the hash of the previous line, or of the bundle for
	// the first line.
	PrevSHA256 string `json:"prev_sha256"`
	// Sig is the standard base64 of an SSHSIG blob (namespace
	// CustodyNamespace, hash sha512) over the line without this field, its
	// newline included; empty for an unsigned event.
	Sig string `json:"sig,omitempty"`
}

// CustodyRecord is one custody event as checked: its chain link and, when it
// is signed, its signature verified.
type CustodyRecord struct {
	CustodyEvent
	// Signer is the key the event is signed with; nil when it is unsigned.
	Signer ssh.PublicKey
	// Fingerprint is Signer's SHA256:… fingerprint; empty when unsigned.
	Fingerprint string
	// Trusted says that the Trust given named Signer.
	Trusted bool
	// LineSHA256 is the hash of the event's line, which the next event
	// chains to; the last one is the log's head.
	LineSHA256 string
}

// Signed reports whether the event carries a signature (which verified).
func (r CustodyRecord) Signed() bool { return r.Signer != nil }

// CustodyError names the first broken link of a custody chain.
type CustodyError struct {
	Line   int
	Reason string
}

func (e *CustodyError) Error() string {
	return fmt.Sprintf("custody chain broken at line %d: %s", e.Line, e.Reason)
}

// CustodyPath returns the sidecar's path for a bundle file.
func CustodyPath(bundlePath string) string { return bundlePath + ".custody.jsonl" }

// FileSHA256 hashes a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CheckCustody reads a custody log and checks its chain against the bundle's
// hash, and the signature of every signed event. It returns the events read;
// the error is a *CustodyError at the first broken link or bad signature.
func CheckCustody(r io.Reader, bundleSHA256 string) ([]CustodyEvent, error) {
	recs, _, err := checkCustody(r, bundleSHA256, Trust{})
	events := make([]CustodyEvent, len(recs))
	for i, rec := range recs {
		events[i] = rec.CustodyEvent
	}
	return events, err
}

// VerifyCustody checks a custody log as CheckCustody does and says of each
// event whether it is signed, by which key, and whether trust names that key.
// An unsigned event, or one signed by a key trust does not name, is not an
// error: the caller reports it event by event.
func VerifyCustody(r io.Reader, bundleSHA256 string, trust Trust) ([]CustodyRecord, error) {
	recs, _, err := checkCustody(r, bundleSHA256, trust)
	return recs, err
}

// checkCustody also returns the hash the next event must chain to.
func checkCustody(r io.Reader, bundleSHA256 string, trust Trust) ([]CustodyRecord, string, error) {
	b, err := readLimited(r, maxCustodyLogBytes, "custody log")
	if err != nil {
		return nil, "", err
	}
	var recs []CustodyRecord
	prev := bundleSHA256
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxCustodyLogBytes)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		rec, reason := parseCustodyLine(line)
		if reason != "" {
			return recs, "", &CustodyError{Line: n, Reason: reason}
		}
		ev := rec.CustodyEvent
		switch {
		case ev.PrevSHA256 != prev && n == 1:
			return recs, "", &CustodyError{Line: n, Reason: fmt.Sprintf("first event is chained to %s, the bundle's sha256 is %s", ev.PrevSHA256, bundleSHA256)}
		case ev.PrevSHA256 != prev:
			return recs, "", &CustodyError{Line: n, Reason: "prev_sha256 does not match the previous line: a line was changed, removed or inserted"}
		case ev.Seq != n:
			return recs, "", &CustodyError{Line: n, Reason: fmt.Sprintf("sequence number %d, want %d", ev.Seq, n)}
		case ev.BundleSHA256 != bundleSHA256:
			return recs, "", &CustodyError{Line: n, Reason: fmt.Sprintf("recorded bundle sha256 %s, the bundle's is %s", ev.BundleSHA256, bundleSHA256)}
		}
		if rec.Signer != nil {
			rec.Trusted = trust.trusts(rec.Signer)
		}
		prev = sha256Hex(line)
		rec.LineSHA256 = prev
		recs = append(recs, rec)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return recs, "", &CustodyError{Line: len(recs), Reason: "the last line is not terminated: the file was cut"}
	}
	return recs, prev, sc.Err()
}

// parseCustodyLine decodes one line and verifies its signature, if any. The
// reason is empty when the line is good.
func parseCustodyLine(line []byte) (CustodyRecord, string) {
	var rec CustodyRecord
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec.CustodyEvent); err != nil {
		return rec, "not a custody event: " + err.Error()
	}
	if dec.More() {
		return rec, "not a custody event: more than one JSON value on the line"
	}
	ev := rec.CustodyEvent
	if ev.Sig == "" {
		return rec, ""
	}
	if len(ev.Sig) > maxCustodySigBytes {
		return rec, fmt.Sprintf("signature of %d bytes, more than the %d allowed", len(ev.Sig), maxCustodySigBytes)
	}
	// The signed message is the line without its sig field, byte for byte,
	// and must be what this event encodes to: what is signed is what is shown.
	suffix := custodySigKey + ev.Sig + `"}`
	if !bytes.HasSuffix(line, []byte(suffix)) {
		return rec, `the sig field is not the last of the line`
	}
	msg := append(append([]byte{}, line[:len(line)-len(suffix)]...), "}\n"...)
	ev.Sig = ""
	canon, err := json.Marshal(ev)
	if err != nil || !bytes.Equal(append(canon, '\n'), msg) {
		return rec, "the signed part of the line is not in the form dockcase writes"
	}
	blob, err := base64.StdEncoding.DecodeString(rec.Sig)
	if err != nil {
		return rec, "sig is not base64: " + err.Error()
	}
	sig, err := sshsig.ParseSignature(blob)
	if err != nil {
		return rec, "sig is not an SSH signature: " + err.Error()
	}
	fp := ssh.FingerprintSHA256(sig.PublicKey)
	if sig.Namespace != CustodyNamespace {
		return rec, fmt.Sprintf("signature by %s is for namespace %q, not %q", fp, sig.Namespace, CustodyNamespace)
	}
	if err := sshsig.Verify(bytes.NewReader(msg), sig, sig.PublicKey, sig.HashAlgorithm, CustodyNamespace); err != nil {
		return rec, fmt.Sprintf("signature by %s does not verify: the line was changed after it was signed", fp)
	}
	rec.Signer = sig.PublicKey
	rec.Fingerprint = fp
	return rec, ""
}

// encodeCustodyLine encodes an event as one line without its newline, signed
// when signer is not nil.
func encodeCustodyLine(ev CustodyEvent, signer ssh.Signer) ([]byte, error) {
	ev.Sig = ""
	line, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	if signer == nil {
		return line, nil
	}
	sig, err := sshsig.Sign(bytes.NewReader(append(line[:len(line):len(line)], '\n')), signer, sshsig.HashSHA512, CustodyNamespace)
	if err != nil {
		return nil, fmt.Errorf("sign custody event: %w", err)
	}
	signed := append(line[:len(line)-1:len(line)-1], custodySigKey...)
	signed = append(signed, base64.StdEncoding.EncodeToString(sig.Marshal())...)
	return append(signed, `"}`...), nil
}

// AppendCustody checks the bundle's custody chain and appends an event to
// it, creating the sidecar when there is none. It refuses to extend a broken
// chain. Seq, BundleSHA256 and PrevSHA256 are filled in. The event is signed
// with signer, or appended unsigned when signer is nil.
func AppendCustody(bundlePath string, ev CustodyEvent, signer ssh.Signer) (CustodyEvent, error) {
	sum, err := FileSHA256(bundlePath)
	if err != nil {
		return ev, err
	}
	return AppendCustodyFor(CustodyPath(bundlePath), sum, ev, signer)
}

// AppendCustodyFor appends an event, signed with signer unless it is nil, to
// the custody log at logPath for a bundle whose SHA-256 is known.
func AppendCustodyFor(logPath, bundleSHA256 string, ev CustodyEvent, signer ssh.Signer) (CustodyEvent, error) {
	if ev.Action == "" || ev.By == "" {
		return ev, errors.New("custody event needs an action and who did it")
	}
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return ev, err
	}
	defer f.Close()
	recs, prev, err := checkCustody(f, bundleSHA256, Trust{})
	if err != nil {
		return ev, fmt.Errorf("%s: %w", logPath, err)
	}
	ev.Seq = len(recs) + 1
	ev.BundleSHA256 = bundleSHA256
	ev.PrevSHA256 = prev
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = ev.Time.UTC()
	line, err := encodeCustodyLine(ev, signer)
	if err != nil {
		return ev, err
	}
	if err := json.Unmarshal(line, &ev); err != nil {
		return ev, err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return ev, err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		return ev, fmt.Errorf("%s: %w", logPath, err)
	}
	return ev, f.Close()
}

// CustodyLog is what checking a bundle's custody sidecar found.
type CustodyLog struct {
	// Path is the sidecar's path, CustodyPath of the bundle's.
	Path string
	// Records are the events read, those before a broken link included.
	Records []CustodyRecord
	// Unsigned are the numbers of the unsigned events, and Untrusted the
	// events signed by a key the trust does not name, as "3 (SHA256:…)":
	// empty for an intact log without either, nil when the check failed.
	Unsigned, Untrusted []string
}

// Head is the SHA-256 of the log's last line; "" for an empty log.
func (l *CustodyLog) Head() string {
	if len(l.Records) == 0 {
		return ""
	}
	return l.Records[len(l.Records)-1].LineSHA256
}

// VerifyCustodyLog checks the custody sidecar of the bundle file at
// bundlePath as VerifyCustody does, and that an event has the line hash
// head, a head recorded earlier, when head is given. The error is the
// sidecar's open error (fs.ErrNotExist when there is none), or a
// *CustodyError for a broken chain, a bad signature or a missing head;
// the events read before it are returned with it.
func VerifyCustodyLog(bundlePath, bundleSHA256 string, trust Trust, head string) (*CustodyLog, error) {
	l := &CustodyLog{Path: CustodyPath(bundlePath)}
	f, err := os.Open(l.Path)
	if err != nil {
		return l, err
	}
	defer f.Close()
	recs, cerr := VerifyCustody(f, bundleSHA256, trust)
	l.Records = recs
	if cerr != nil {
		return l, fmt.Errorf("%s: %w", l.Path, cerr)
	}
	if head != "" && !hasHead(recs, head) {
		return l, fmt.Errorf("%s: %w", l.Path, &CustodyError{Line: len(recs), Reason: fmt.Sprintf("no event has the recorded head %s: events were removed from the end", head)})
	}
	l.Unsigned, l.Untrusted = []string{}, []string{}
	for _, r := range recs {
		switch {
		case !r.Signed():
			l.Unsigned = append(l.Unsigned, fmt.Sprint(r.Seq))
		case !r.Trusted:
			l.Untrusted = append(l.Untrusted, fmt.Sprintf("%d (%s)", r.Seq, r.Fingerprint))
		}
	}
	return l, nil
}

func hasHead(recs []CustodyRecord, head string) bool {
	for _, r := range recs {
		if r.LineSHA256 == head {
			return true
		}
	}
	return false
}
