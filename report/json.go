package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/dockcase/dockcase/analyze"
)

// jsonBufferBytes is the write buffer in front of the analysis document:
// 1 MiB, so that a file is written in large blocks.
const jsonBufferBytes = 1 << 20

// JSON writes the dockcase-analysis/v2 document, indented, with a final
// newline. Its output is deterministic for a given result, and is the
// bytes json.MarshalIndent(res, "", "  ") gives plus the newline; it is
// written as it is encoded, one key of the document and one element of
// its arrays at a time, so that a document of a million flows is never
// held in memory whole.
//
// The encoding and the writing overlap: the file is written on a goroutine
// of its own, a buffer at a time, so that the system calls (a fifth of an
// analysis's CPU for a 100 MB document, the page cache's pages filled) run
// on the second core while the first encodes.
func JSON(w io.Writer, res *analyze.Result) error {
	aw := newAsyncWriter(w)
	bw := bufio.NewWriterSize(aw, jsonBufferBytes)
	err := writeIndentedObject(bw, reflect.ValueOf(res).Elem())
	if err != nil {
		err = fmt.Errorf("encode analysis: %w", err)
	} else if err = bw.WriteByte('\n'); err == nil {
		err = bw.Flush()
	}
	if cerr := aw.Close(); cerr != nil {
		return cerr // w's own error, rather than the encoder's report of it
	}
	return err
}

// asyncWriterBuffers is how many buffers of jsonBufferBytes the encoding
// may be ahead of the writing.
const asyncWriterBuffers = 4

// asyncWriter writes to w on a goroutine of its own: Write copies p into a
// free buffer and hands it over, Close waits for every write to be done.
// The first error of w is returned by the Write after it and by Close.
type asyncWriter struct {
	w    io.Writer
	free chan []byte
	full chan []byte
	done chan struct{}
	err  error       // the first error of w; read after done is closed
	bad  atomic.Bool // set once err is
}

func newAsyncWriter(w io.Writer) *asyncWriter {
	a := &asyncWriter{w: w, free: make(chan []byte, asyncWriterBuffers), full: make(chan []byte, asyncWriterBuffers), done: make(chan struct{})}
	for range asyncWriterBuffers {
		a.free <- nil // allocated at first use: a small document needs one
	}
	go a.run()
	return a
}

func (a *asyncWriter) run() {
	defer close(a.done)
	for b := range a.full {
		if a.err == nil {
			if _, err := a.w.Write(b); err != nil {
				a.err = err
				a.bad.Store(true)
			}
		}
		a.free <- b[:0]
	}
}

// Write hands a copy of p to the writing goroutine.
func (a *asyncWriter) Write(p []byte) (int, error) {
	if a.bad.Load() {
		return 0, errors.New("write analysis: an earlier write failed")
	}
	b := <-a.free
	a.full <- append(b[:0], p...)
	return len(p), nil
}

// Close waits until everything written has reached w and returns w's first
// error.
func (a *asyncWriter) Close() error {
	close(a.full)
	<-a.done
	return a.err
}

// writeIndentedObject writes the struct v as json.MarshalIndent with an
// indent of two spaces would, each field's value encoded on its own and
// each element of a top-level slice on its own. A struct this walk does
// not cover (an embedded field, a field option other than omitempty and
// omitzero) is encoded whole, the same bytes.
func writeIndentedObject(w *bufio.Writer, v reflect.Value) error {
	t := v.Type()
	type field struct {
		name string
		v    reflect.Value
	}
	var fields []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous || (opts != "" && opts != "omitempty" && opts != "omitzero") {
			return writeWhole(w, v)
		}
		if name == "" {
			name = sf.Name
		}
		fv := v.Field(i)
		if (opts == "omitempty" && isEmptyValue(fv)) || (opts == "omitzero" && fv.IsZero()) {
			continue
		}
		fields = append(fields, field{name, fv})
	}
	if len(fields) == 0 {
		_, err := w.WriteString("{}")
		return err
	}
	enc := newElementEncoder()
	w.WriteString("{\n")
	for i, f := range fields {
		key, err := json.Marshal(f.name)
		if err != nil {
			return err
		}
		w.WriteString("  ")
		w.Write(key)
		w.WriteString(": ")
		if f.v.Kind() == reflect.Slice && f.v.Len() > 0 {
			if err := writeIndentedSlice(w, enc, f.v); err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
		} else if err := enc.write(w, f.v.Interface(), "  "); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if i+1 < len(fields) {
			w.WriteByte(',')
		}
		if _, err := w.WriteString("\n"); err != nil {
			return err
		}
	}
	_, err := w.WriteString("}")
	return err
}

// writeIndentedSlice writes a non-empty slice one level in, one element at
// a time.
func writeIndentedSlice(w *bufio.Writer, enc *elementEncoder, v reflect.Value) error {
	w.WriteString("[\n")
	for i := range v.Len() {
		w.WriteString("    ")
		if err := enc.writeElement(w, v.Index(i), "    "); err != nil {
			return err
		}
		if i+1 < v.Len() {
			w.WriteByte(',')
		}
		if _, err := w.WriteString("\n"); err != nil {
			return err
		}
	}
	_, err := w.WriteString("  ]")
	return err
}

// writeWhole writes v at the top level as json.MarshalIndent does.
func writeWhole(w *bufio.Writer, v reflect.Value) error {
	data, err := json.MarshalIndent(v.Interface(), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// elementEncoder encodes values indented, reusing its buffers from one
// value to the next. It indents compact JSON itself: encoding/json's
// indentation runs its full scanner over every byte, which cost more than
// the encoding (a fifth of an analysis).
type elementEncoder struct {
	buf     bytes.Buffer
	enc     *json.Encoder
	compact []byte // an AppendJSON's output
	out     []byte
}

func newElementEncoder() *elementEncoder {
	e := &elementEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	return e
}

// jsonAppender is a document type that encodes itself: AppendJSON appends
// the compact bytes json.Marshal would give (traffic.Flow, traffic.Contact,
// the hundred thousands of a perimeter capture).
type jsonAppender interface {
	AppendJSON(dst []byte) ([]byte, error)
}

// writeElement writes the slice element v as write does, through its
// AppendJSON when its type has one: no reflection, and no copy of the
// element into an interface. An element AppendJSON fails on is encoded by
// write, for encoding/json's error.
func (e *elementEncoder) writeElement(w *bufio.Writer, v reflect.Value, prefix string) error {
	if v.CanAddr() {
		if a, ok := v.Addr().Interface().(jsonAppender); ok {
			b, err := a.AppendJSON(e.compact[:0])
			if err == nil {
				e.compact = b
				e.out = appendIndented(e.out[:0], b, prefix)
				_, err = w.Write(e.out)
				return err
			}
		}
	}
	return e.write(w, v.Interface(), prefix)
}

// write writes v as json.MarshalIndent(v, prefix, "  ") does.
func (e *elementEncoder) write(w *bufio.Writer, v any, prefix string) error {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	b := e.buf.Bytes()
	e.out = appendIndented(e.out[:0], b[:len(b)-1], prefix) // Encode ends the value with a newline
	_, err := w.Write(e.out)
	return err
}

// jsonStructural marks the bytes of compact JSON that indentation acts on.
var jsonStructural = [256]bool{'"': true, '{': true, '}': true, '[': true, ']': true, ',': true, ':': true}

// appendIndented appends src, compact JSON as encoding/json writes it (no
// insignificant space), indented as json.Indent(dst, src, prefix, "  ")
// would: a newline, prefix and two spaces a level before each element and
// each closing bracket, ": " after keys, and empty objects and arrays kept
// as {} and [].
func appendIndented(dst, src []byte, prefix string) []byte {
	depth := 0
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, ' ', ' ')
		}
	}
	for i := 0; i < len(src); {
		j := i
		for j < len(src) && !jsonStructural[src[j]] {
			j++
		}
		dst = append(dst, src[i:j]...)
		if j == len(src) {
			break
		}
		c := src[j]
		i = j + 1
		switch c {
		case '"':
			// To the closing quote: one not escaped by an odd run of
			// backslashes.
			k := i
			for {
				q := bytes.IndexByte(src[k:], '"')
				if q < 0 {
					k = len(src)
					break
				}
				k += q
				n := 0
				for n < k-i && src[k-1-n] == '\\' {
					n++
				}
				k++
				if n%2 == 0 {
					break
				}
			}
			dst = append(dst, src[j:k]...)
			i = k
		case '{', '[':
			if i < len(src) && (src[i] == '}' || src[i] == ']') {
				dst = append(dst, c, src[i])
				i++
				continue
			}
			dst = append(dst, c)
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		}
	}
	return dst
}

// isEmptyValue is encoding/json's test for omitempty.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}
