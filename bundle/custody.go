package bundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// maxCustodyLogBytes bounds a custody sidecar: a few hundred bytes an event,
// thousands of events at the most over a case's life.
const maxCustodyLogBytes = 16 << 20

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
}

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
// hash. It returns the events read; the error is a *CustodyError at the first
// broken link.
func CheckCustody(r io.Reader, bundleSHA256 string) ([]CustodyEvent, error) {
	events, _, err := checkCustody(r, bundleSHA256)
	return events, err
}

// checkCustody also returns the hash the next event must chain to.
func checkCustody(r io.Reader, bundleSHA256 string) ([]CustodyEvent, string, error) {
	b, err := readLimited(r, maxCustodyLogBytes, "custody log")
	if err != nil {
		return nil, "", err
	}
	var events []CustodyEvent
	prev := bundleSHA256
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, maxCustodyLogBytes)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		var ev CustodyEvent
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			return events, "", &CustodyError{Line: n, Reason: "not a custody event: " + err.Error()}
		}
		switch {
		case ev.PrevSHA256 != prev && n == 1:
			return events, "", &CustodyError{Line: n, Reason: fmt.Sprintf("first event is chained to %s, the bundle's sha256 is %s", ev.PrevSHA256, bundleSHA256)}
		case ev.PrevSHA256 != prev:
			return events, "", &CustodyError{Line: n, Reason: "prev_sha256 does not match the previous line: a line was changed, removed or inserted"}
		case ev.Seq != n:
			return events, "", &CustodyError{Line: n, Reason: fmt.Sprintf("sequence number %d, want %d", ev.Seq, n)}
		case ev.BundleSHA256 != bundleSHA256:
			return events, "", &CustodyError{Line: n, Reason: fmt.Sprintf("recorded bundle sha256 %s, the bundle's is %s", ev.BundleSHA256, bundleSHA256)}
		}
		events = append(events, ev)
		prev = sha256Hex(line)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		return events, "", &CustodyError{Line: len(events), Reason: "the last line is not terminated: the file was cut"}
	}
	return events, prev, sc.Err()
}

// AppendCustody checks the bundle's custody chain and appends an event to
// it, creating the sidecar when there is none. It refuses to extend a broken
// chain. Seq, BundleSHA256 and PrevSHA256 are filled in.
func AppendCustody(bundlePath string, ev CustodyEvent) (CustodyEvent, error) {
	sum, err := FileSHA256(bundlePath)
	if err != nil {
		return ev, err
	}
	return AppendCustodyFor(CustodyPath(bundlePath), sum, ev)
}

// AppendCustodyFor appends an event to the custody log at logPath for a
// bundle whose SHA-256 is known.
func AppendCustodyFor(logPath, bundleSHA256 string, ev CustodyEvent) (CustodyEvent, error) {
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return ev, err
	}
	defer f.Close()
	events, prev, err := checkCustody(f, bundleSHA256)
	if err != nil {
		return ev, fmt.Errorf("%s: %w", logPath, err)
	}
	ev.Seq = len(events) + 1
	ev.BundleSHA256 = bundleSHA256
	ev.PrevSHA256 = prev
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = ev.Time.UTC()
	if ev.Action == "" || ev.By == "" {
		return ev, errors.New("custody event needs an action and who did it")
	}
	line, err := json.Marshal(ev)
	if err != nil {
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
