package report

import (
	"bufio"
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/analyze/trafficjson"
)

// jsonBufferBytes is the write buffer in front of the analysis document:
// 1 MiB, so that a file is written in large blocks.
const jsonBufferBytes = 1 << 20

// jsonChunkElements is how many elements of a long array make a chunk,
// the unit of the parallel encoding: about half a megabyte of flows or
// contacts, large enough that a chunk's hand-offs cost nothing against its
// encoding, small enough that the chunks in flight stay a few megabytes.
const jsonChunkElements = 512

// jsonChunkedElements is the length from which an array of the document
// is encoded in chunks, in parallel: the flows, the contacts, the DNS
// queries and the timeline of a large capture; the rest are a few hundred
// elements at most, encoded in order on the writing goroutine.
const jsonChunkedElements = 2048

// JSON writes the dockcase-analysis/v2 document, indented, with a final
// newline. Its output is deterministic for a given result, and is the
// bytes json.MarshalIndent(res, "", "  ") gives plus the newline; it is
// written as it is encoded, one key of the document at a time, so that a
// document of a million flows is never held in memory whole.
//
// The long arrays (the flows, the contacts) are encoded in chunks of
// jsonChunkElements on runtime.GOMAXPROCS(0) goroutines (jsonMaxWorkers at
// most), each chunk into a buffer of its own, and written in order, each
// buffer in one write, without a copy; the file is written on a
// goroutine of its own, a buffer at a time, so that the system calls (a
// fifth of an analysis's CPU for a 100 MB document, the page cache's pages
// filled) overlap the encoding. A few buffers are in flight at most: the
// memory is bounded whatever the document's size.
func JSON(w io.Writer, res *analyze.Result) error {
	return writeDocument(w, res, min(runtime.GOMAXPROCS(0), jsonMaxWorkers), jsonChunkElements, jsonChunkedElements)
}

// jsonMaxWorkers bounds the goroutines encoding chunks, and so the buffers
// in flight (two a worker, of about jsonBufferBytes): beyond it the one
// goroutine writing the file, not the encoding, is what the document waits
// for.
const jsonMaxWorkers = 8

// writeDocument writes doc, a pointer to a struct, as JSON writes the
// analysis, with the parallelism set: workers goroutines encode the arrays
// of at least chunked elements, chunk elements at a time.
func writeDocument(w io.Writer, doc any, workers, chunk, chunked int) error {
	aw := newAsyncWriter(w, max(asyncWriterBuffers, 2*workers+2))
	jw := &jsonWriter{
		w: bufio.NewWriterSize(aw, jsonBufferBytes), aw: aw, enc: newElementEncoder(),
		workers: max(workers, 1), chunk: max(chunk, 1), chunked: chunked,
	}
	err := jw.writeObject(reflect.ValueOf(doc).Elem())
	if err != nil {
		err = fmt.Errorf("encode analysis: %w", err)
	} else if err = jw.w.WriteByte('\n'); err == nil {
		err = jw.w.Flush()
	}
	if cerr := aw.Close(); cerr != nil {
		return cerr // w's own error, rather than the encoder's report of it
	}
	return err
}

// asyncWriterBuffers is how many buffers the encoding may be ahead of the
// writing at least: those the chunks of the arrays are encoded into, and
// the copies of the write buffer's blocks.
const asyncWriterBuffers = 4

// asyncWriter writes to w on a goroutine of its own: Write copies p into a
// free buffer and hands it over, put hands over a buffer the caller took
// from free and filled itself, Close waits for every write to be done. The first
// error of w is returned by the Write after it and by Close.
type asyncWriter struct {
	w    io.Writer
	free chan []byte
	full chan []byte
	done chan struct{}
	err  error       // the first error of w; read after done is closed
	bad  atomic.Bool // set once err is
}

func newAsyncWriter(w io.Writer, buffers int) *asyncWriter {
	a := &asyncWriter{w: w, free: make(chan []byte, buffers), full: make(chan []byte, buffers), done: make(chan struct{})}
	for range buffers {
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

// errEarlierWrite is what a write after the writer's first error returns:
// JSON returns the writer's own error instead.
var errEarlierWrite = errors.New("write analysis: an earlier write failed")

// Write hands a copy of p to the writing goroutine.
func (a *asyncWriter) Write(p []byte) (int, error) {
	if a.bad.Load() {
		return 0, errEarlierWrite
	}
	b := <-a.free
	a.full <- append(b[:0], p...)
	return len(p), nil
}

// put hands b, a buffer from free, to the writing goroutine, which writes
// it and puts it back on free.
func (a *asyncWriter) put(b []byte) error {
	if a.bad.Load() {
		a.free <- b[:0]
		return errEarlierWrite
	}
	a.full <- b
	return nil
}

// Close waits until everything written has reached w and returns w's first
// error.
func (a *asyncWriter) Close() error {
	close(a.full)
	<-a.done
	return a.err
}

// jsonWriter writes the analysis document: its top-level object a field at
// a time through w, its long arrays in chunks encoded in parallel into the
// buffers of aw.
type jsonWriter struct {
	w       *bufio.Writer // in front of aw
	aw      *asyncWriter
	enc     *elementEncoder // for what w writes
	scratch []byte
	workers int // goroutines encoding the chunks of an array
	chunk   int // elements a chunk
	chunked int // the length from which an array is encoded in chunks
}

// writeObject writes the struct v as json.MarshalIndent with an indent of
// two spaces would, each field's value encoded on its own and each element
// of a top-level slice on its own. A struct this walk does not cover (an
// embedded field, a field option other than omitempty and omitzero) is
// encoded whole, the same bytes.
func (jw *jsonWriter) writeObject(v reflect.Value) error {
	w := jw.w
	t := v.Type()
	if marshals(t) || marshals(reflect.PointerTo(t)) {
		return writeWhole(w, v)
	}
	type field struct {
		name string
		v    reflect.Value
	}
	var fields []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous { // its fields are promoted, exported or not
			return writeWhole(w, v)
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts != "" && opts != "omitempty" && opts != "omitzero" {
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
	w.WriteString("{\n")
	for i, f := range fields {
		key, err := json.Marshal(f.name)
		if err != nil {
			return err
		}
		w.WriteString("  ")
		w.Write(key)
		w.WriteString(": ")
		if f.v.Kind() == reflect.Slice && f.v.Len() > 0 && elementWise(f.v.Type()) {
			if err := jw.writeSlice(f.v); err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
		} else {
			jw.scratch, err = jw.enc.appendValue(jw.scratch[:0], encodable(f.v), "  ")
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			w.Write(jw.scratch)
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

// writeSlice writes a non-empty slice one level in: in chunks encoded in
// parallel from jw.chunked elements, else one element at a time.
func (jw *jsonWriter) writeSlice(v reflect.Value) error {
	jw.w.WriteString("[\n")
	if v.Len() >= jw.chunked {
		if err := jw.w.Flush(); err != nil {
			return err
		}
		if err := jw.writeChunks(v); err != nil {
			return err
		}
	} else {
		for i := range v.Len() {
			var err error
			if jw.scratch, err = jw.enc.appendElements(jw.scratch[:0], v, i, i+1); err != nil {
				return err
			}
			if _, err := jw.w.Write(jw.scratch); err != nil {
				return err
			}
		}
	}
	_, err := jw.w.WriteString("  ]")
	return err
}

// jsonChunk is elements [start, end) of an array, encoded into buf by a
// worker, which closes done when it is.
type jsonChunk struct {
	start, end int
	buf        []byte
	err        error
	done       chan struct{}
}

// writeChunks writes the elements of v, each with its separator, as
// appendElements does, the write buffer flushed before: jw.workers
// goroutines encode chunks of jw.chunk elements into the asyncWriter's free
// buffers, and this one hands each, in order, to the writing goroutine.
// The free buffers bound the chunks in flight. The error of the first
// element that fails to encode is returned, as the encoding in order would,
// once the chunks dispatched are done.
func (jw *jsonWriter) writeChunks(v reflect.Value) error {
	n := v.Len()
	free := jw.aw.free
	jobs := make(chan *jsonChunk)
	order := make(chan *jsonChunk, cap(free)) // each holds a free buffer: never full
	stop := make(chan struct{})
	go func() {
		defer close(order)
		defer close(jobs)
		for start := 0; start < n; start += jw.chunk {
			var buf []byte
			select { // stop first: after an error, no more chunks
			case <-stop:
				return
			default:
			}
			select {
			case <-stop:
				return
			case buf = <-free:
			}
			if buf == nil {
				buf = make([]byte, 0, jsonBufferBytes) // a chunk's size, about
			}
			c := &jsonChunk{start: start, end: min(start+jw.chunk, n), buf: buf, done: make(chan struct{})}
			order <- c
			jobs <- c
		}
	}()
	var wg sync.WaitGroup
	for range min(jw.workers, (n+jw.chunk-1)/jw.chunk) {
		wg.Go(func() {
			enc := newElementEncoder()
			for c := range jobs {
				c.buf, c.err = enc.appendElements(c.buf[:0], v, c.start, c.end)
				close(c.done)
			}
		})
	}
	var err error
	for c := range order {
		<-c.done
		if err == nil && c.err == nil {
			if err = jw.aw.put(c.buf); err != nil { // put took the buffer back
				close(stop)
			}
			continue
		}
		if err == nil {
			err = c.err
			close(stop)
		}
		free <- c.buf[:0] // not written: the dispatcher may be waiting for it
	}
	wg.Wait()
	return err
}

// writeWhole writes v at the top level as json.MarshalIndent does.
func writeWhole(w *bufio.Writer, v reflect.Value) error {
	data, err := json.MarshalIndent(encodable(v), "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// elementEncoder encodes values indented, reusing its buffer from one
// value to the next. It indents compact JSON itself: encoding/json's
// indentation runs its full scanner over every byte, which cost more than
// the encoding (a fifth of an analysis).
type elementEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newElementEncoder() *elementEncoder {
	e := &elementEncoder{}
	e.enc = json.NewEncoder(&e.buf)
	return e
}

// elementPrefix is what each element of a top-level array starts with, and
// each of its lines.
const elementPrefix = "    "

// appendElements appends elements [start, end) of the slice v as the
// document holds them: each on lines of its own one level in, followed by a
// comma unless it is the slice's last, and a newline.
func (e *elementEncoder) appendElements(dst []byte, v reflect.Value, start, end int) ([]byte, error) {
	last := v.Len() - 1
	for i := start; i < end; i++ {
		dst = append(dst, elementPrefix...)
		var err error
		if dst, err = e.appendElement(dst, v.Index(i)); err != nil {
			return dst, err
		}
		if i < last {
			dst = append(dst, ',', '\n')
		} else {
			dst = append(dst, '\n')
		}
	}
	return dst, nil
}

// appendElement appends the slice element v as appendValue does, a flow or
// a contact (the hundred thousands of a perimeter capture) through
// trafficjson's encoders: no reflection, no copy of the element into an
// interface, no indentation pass. An element they fail on is encoded by
// appendValue, for encoding/json's error.
func (e *elementEncoder) appendElement(dst []byte, v reflect.Value) ([]byte, error) {
	if v.CanAddr() {
		switch x := v.Addr().Interface().(type) {
		case *traffic.Flow:
			if b, err := trafficjson.AppendIndentedFlow(dst, x, elementPrefix); err == nil {
				return b, nil
			}
		case *traffic.Contact:
			if b, err := trafficjson.AppendIndentedContact(dst, x, elementPrefix); err == nil {
				return b, nil
			}
		}
	}
	return e.appendValue(dst, encodable(v), elementPrefix)
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// marshals reports whether values of t encode themselves, through
// MarshalJSON or MarshalText.
func marshals(t reflect.Type) bool {
	return t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType)
}

// elementWise reports whether the slice type t encodes as the array of its
// elements, each on its own: not a []byte (a base64 string) nor a slice
// that encodes itself.
func elementWise(t reflect.Type) bool {
	return t.Elem().Kind() != reflect.Uint8 && !marshals(t) && !marshals(reflect.PointerTo(t))
}

// encodable returns what encoding/json, given it, encodes as it encodes
// the addressable v in place, with the same errors: v itself where its
// type encodes itself (the error names the type, not a pointer to it),
// else a pointer to v, so that the pointer methods of v and of its fields
// are called as they are in place.
func encodable(v reflect.Value) any {
	if v.CanAddr() && !marshals(v.Type()) {
		return v.Addr().Interface()
	}
	return v.Interface()
}

// appendValue appends v as json.MarshalIndent(v, prefix, "  ") does.
func (e *elementEncoder) appendValue(dst []byte, v any, prefix string) ([]byte, error) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return dst, err
	}
	b := e.buf.Bytes()
	return appendIndented(dst, b[:len(b)-1], prefix), nil // Encode ends the value with a newline
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
