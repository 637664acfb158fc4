package analyze

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/analyze/trafficjson"
	"github.com/dockcase/dockcase/internal/hugepage"
)

// Reading a saved analysis (dockcase report) was mostly encoding/json
// scanning the document before decoding it, then scanning each flow and
// contact once more to decode it: three reads of a 100 MB document, two of
// them by encoding/json's byte-at-a-time state machine. DecodeResult walks
// the top-level object itself and hands the flows and contacts to
// trafficjson's decoders, which read each element once; every other key's
// value (small beside them) goes to an encoding/json Decoder, which checks
// and decodes it as json.Unmarshal would. The decoding lives here, next to
// Result: it follows Result's fields (a key is decoded into the field of
// its tag, the flows and contacts found by their types), so that a field
// added to Result is read with no change here.

// DecodeResult decodes the JSON analysis document data into a Result, the
// one json.Unmarshal gives (keys it does not know are ignored). It does not
// check the document's version: that is the caller's.
//
// Whatever the walk does not read the way encoding/json would (a key
// with an escape or of another case, a key given twice) is decoded by
// json.Unmarshal of the whole document; so is a document that is not JSON,
// for encoding/json's description of what is wrong, which the error gives
// with its line. A value that is JSON but not of its field's type is
// reported by key (and element) and line.
func DecodeResult(data []byte) (*Result, error) {
	res := &Result{}
	err := decodeResult(data, res)
	if errors.Is(err, errResultFallback) {
		*res = Result{}
		err = json.Unmarshal(data, res)
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("not a JSON document, at line %d (byte %d): %w", lineAt(data, se.Offset), se.Offset, err)
		}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// errResultFallback is decodeResult's error for a document it leaves to
// json.Unmarshal.
var errResultFallback = errors.New("decode the whole document with encoding/json")

// resultKeys maps each key of the document to its field of Result.
var resultKeys = sync.OnceValue(func() map[string]int {
	t := reflect.TypeFor[Result]()
	keys := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		keys[name] = i
	}
	return keys
})

var (
	flowsType    = reflect.TypeFor[[]traffic.Flow]()
	contactsType = reflect.TypeFor[[]traffic.Contact]()
)

// decodeResult walks the top-level object of data into res. It returns
// errResultFallback for anything it does not read as encoding/json would,
// a syntax error included; else the first value's error, once the walk has
// reached the end of the document (a syntax error after it wins, as it
// does in encoding/json).
func decodeResult(data []byte, res *Result) error {
	keys := resultKeys()
	v := reflect.ValueOf(res).Elem()
	seen := make([]bool, v.NumField())
	var first error
	s := topScanner{b: data}
	if !s.byte('{') {
		return errResultFallback
	}
	if s.byte('}') {
		return s.endOrFallback(first)
	}
	for {
		key, ok := s.key()
		if !ok || !s.byte(':') {
			return errResultFallback
		}
		s.ws()
		start := s.i
		i, known := keys[key]
		var n int
		var err error
		switch {
		case known && seen[i]:
			return errResultFallback // a second value for a field: encoding/json's merging is its own
		case known && v.Field(i).Type() == flowsType:
			flows := v.Field(i).Addr().Interface().(*[]traffic.Flow)
			*flows = make([]traffic.Flow, 0, elementsHint(data[start:]))
			hugepage.Advise(*flows)
			n, err = trafficjson.DecodeFlows(data[start:], flows)
		case known && v.Field(i).Type() == contactsType:
			contacts := v.Field(i).Addr().Interface().(*[]traffic.Contact)
			*contacts = make([]traffic.Contact, 0, elementsHint(data[start:]))
			hugepage.Advise(*contacts)
			n, err = trafficjson.DecodeContacts(data[start:], contacts)
		case known:
			n, err = decodeValue(data[start:], v.Field(i).Addr().Interface())
		case foldsToKey(key, keys):
			return errResultFallback // encoding/json matches keys without regard to case
		default:
			n, err = decodeValue(data[start:], new(json.RawMessage)) // checked, then ignored
		}
		if known {
			seen[i] = true
		}
		var ee *trafficjson.ElementError
		switch {
		case errors.As(err, &ee):
			if first == nil {
				at := start + ee.Offset + typeErrorOffset(ee.Err)
				first = fmt.Errorf("%s[%d], line %d: %w", key, ee.Index, lineAt(data, int64(at)), ee.Err)
			}
		case errors.Is(err, errValueSyntax) || (err != nil && n == 0):
			return errResultFallback
		case err != nil:
			if first == nil {
				first = fmt.Errorf("%s, line %d: %w", key, lineAt(data, int64(start+typeErrorOffset(err))), err)
			}
		}
		s.i = start + n
		if s.byte('}') {
			return s.endOrFallback(first)
		}
		if !s.byte(',') {
			return errResultFallback
		}
	}
}

// minElementBytes bounds elementsHint's count: a flow or a contact as
// report.JSON writes it takes 300 bytes and more (its keys alone).
const minElementBytes = 200

// elementsHint is how many elements the array at the start of data holds,
// if it is indented as report.JSON writes a top-level array (its elements
// on lines of their own four spaces in, its closing bracket two in): a
// slice of their number, rather than one grown as they are read, was a
// fifth less of a report's time, the copies' pages faulted in once each.
// A document of another form gets a hint of 0 or a wrong one; neither
// changes the result.
func elementsHint(data []byte) int {
	// Byte by byte from one bracket to the next: bytes.Index and Count
	// of the indented brackets stopped at every new line.
	end := nextIndented(data, 0, len(data), ']', "\n  ")
	if end < 0 {
		return 0
	}
	n := 0
	for i := nextIndented(data, 0, end, '{', "\n    "); i >= 0; i = nextIndented(data, i+1, end, '{', "\n    ") {
		n++
	}
	return min(n, end/minElementBytes)
}

// nextIndented is the index of the first c of data[from:to] that follows
// indent, -1 if none.
func nextIndented(data []byte, from, to int, c byte, indent string) int {
	for from < to {
		j := bytes.IndexByte(data[from:to], c)
		if j < 0 {
			return -1
		}
		from += j
		if from >= len(indent) && string(data[from-len(indent):from]) == indent {
			return from
		}
		from++
	}
	return -1
}

// errValueSyntax marks decodeValue's error for bytes that are not one
// JSON value.
var errValueSyntax = errors.New("not a JSON value")

// decodeValue decodes the JSON value at the start of data into ptr, as
// json.Unmarshal would, and returns the bytes it read.
func decodeValue(data []byte, ptr any) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(ptr)
	var se *json.SyntaxError
	if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return 0, errValueSyntax
	}
	return int(dec.InputOffset()), err
}

// typeErrorOffset is where in its value a type error is, 0 for another
// error.
func typeErrorOffset(err error) int {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return int(te.Offset)
	}
	return 0
}

// foldsToKey reports whether key (ASCII: topScanner.key reads no other)
// is one of keys but for its case, which encoding/json takes for that key.
func foldsToKey(key string, keys map[string]int) bool {
	for k := range keys {
		if strings.EqualFold(k, key) {
			return true
		}
	}
	return false
}

// lineAt is the line of data's byte at offset, counted from 1.
func lineAt(data []byte, offset int64) int {
	offset = min(max(offset, 0), int64(len(data)))
	return bytes.Count(data[:offset], []byte{'\n'}) + 1
}

// topScanner reads the top-level object's punctuation and keys.
type topScanner struct {
	b []byte
	i int
}

func (s *topScanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// byte consumes c after white space.
func (s *topScanner) byte(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// key reads a key of printable ASCII without escapes.
func (s *topScanner) key() (string, bool) {
	if !s.byte('"') {
		return "", false
	}
	start := s.i
	for ; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return string(s.b[start : s.i-1]), true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return "", false
		}
	}
	return "", false
}

// endOrFallback returns err if only white space follows the object,
// errResultFallback (encoding/json's syntax error) if anything else does.
func (s *topScanner) endOrFallback(err error) error {
	s.ws()
	if s.i != len(s.b) {
		return errResultFallback
	}
	return err
}
