package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// chunkings are the parallel encodings the tests run the writer with:
// workers, elements a chunk, the length from which an array is chunked.
// The first encodes every array in order, as the writer did before it
// chunked them; the others chunk every array of at least one element.
var chunkings = []struct{ workers, chunk, chunked int }{
	{1, jsonChunkElements, math.MaxInt},
	{1, 1, 1}, {2, 1, 1}, {2, 3, 1}, {3, 4, 1}, {8, 4, 1}, {2, 7, 1}, {4, 64, 1},
	{runtime.GOMAXPROCS(0), jsonChunkElements, jsonChunkedElements},
}

// marshalIndentDoc is what the writer must write for doc: the bytes of
// json.MarshalIndent and a newline.
func marshalIndentDoc(t *testing.T, doc any) []byte {
	t.Helper()
	want, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(want, '\n')
}

// checkDocument writes doc with each of chunkings and compares the bytes
// with want.
func checkDocument(t *testing.T, name string, doc any, want []byte) {
	t.Helper()
	for _, c := range chunkings {
		var got bytes.Buffer
		if err := writeDocument(&got, doc, c.workers, c.chunk, c.chunked); err != nil {
			t.Fatalf("%s, %d workers, chunks of %d from %d: %v", name, c.workers, c.chunk, c.chunked, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			i := 0
			for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
				i++
			}
			t.Fatalf("%s, %d workers, chunks of %d from %d: differs from json.MarshalIndent at byte %d of %d: got %q, want %q",
				name, c.workers, c.chunk, c.chunked, i, len(want), got.Bytes()[i:min(got.Len(), i+60)], want[i:min(len(want), i+60)])
		}
	}
}

type kindsElem struct {
	N     int        `json:"n"`
	S     string     `json:"s,omitempty"`
	Inner *kindsElem `json:"inner,omitempty"`
}

// ptrMarshaler encodes itself through a pointer method only: in place (an
// addressable element or field) encoding/json calls it.
type ptrMarshaler struct{ V int }

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, `{"ptr":%d}`, p.V), nil }

// textKey is a TextMarshaler: a string, as a value and as a map key.
type textKey int

func (k textKey) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "k<%d>", int(k)), nil }

// ptrTexts is a slice that encodes itself, through a pointer method.
type ptrTexts []int

func (p *ptrTexts) MarshalText() ([]byte, error) { return fmt.Appendf(nil, "%d texts", len(*p)), nil }

// kindsDoc has a field of each kind the top-level walk meets: scalars,
// pointers, maps, structs, arrays, interfaces, []byte and RawMessage, nil,
// empty and omitted slices, slices of values, pointers, interfaces and
// self-encoding elements, the analysis document's flows and contacts,
// omitempty, omitzero, "-" and unexported fields, keys that JSON escapes.
type kindsDoc struct {
	Str           string             `json:"str"`
	Empty         string             `json:"empty,omitempty"`
	Int           int                `json:"int"`
	Uint          uint64             // no tag: the field's name
	Float         float64            `json:"float"`
	Bool          bool               `json:"bool"`
	Nil           *int               `json:"nil"`
	Ptr           *int               `json:"ptr"`
	Time          time.Time          `json:"time"`
	Zero          time.Time          `json:"zero,omitzero"`
	Addr          netip.Addr         `json:"addr"`
	Map           map[string]int     `json:"map"`
	TextMap       map[textKey]string `json:"text_map"`
	Bytes         []byte             `json:"bytes"`
	Raw           json.RawMessage    `json:"raw"`
	Array         [3]int             `json:"array"`
	Any           any                `json:"any"`
	Struct        kindsElem          `json:"struct"`
	PtrMarshaler  ptrMarshaler       `json:"ptr_marshaler"`
	Hidden        int                `json:"-"`
	unexported    int
	Dash          int               `json:"-,"`
	HTMLKey       string            `json:"<key>&"`
	Strings       []string          `json:"strings"`
	NilSlice      []int             `json:"nil_slice"`
	EmptySlice    []int             `json:"empty_slice"`
	Omitted       []int             `json:"omitted,omitempty"`
	Elems         []kindsElem       `json:"elems"`
	Ptrs          []*kindsElem      `json:"ptrs"`
	Anys          []any             `json:"anys"`
	PtrMarshalers []ptrMarshaler    `json:"ptr_marshalers"`
	Texts         []textKey         `json:"texts"`
	PtrTexts      ptrTexts          `json:"ptr_texts"`
	Nested        [][]int           `json:"nested"`
	Flows         []traffic.Flow    `json:"flows"`
	Contacts      []traffic.Contact `json:"contacts"`
}

// fullFlow and fullContact have every field set, text JSON escapes in
// their strings.
func fullFlow(i int) traffic.Flow {
	t0 := time.Date(2024, 1, 1, 0, 0, i, 1234, time.UTC)
	return traffic.Flow{
		Container: fmt.Sprintf("c%d", i), ContainerName: "<web>", NamespaceGroup: []string{"a", "b&c"},
		ContainerSide: "client", Rule: "veth", Confidence: "high", Reason: "reason \"quoted\"\n\u2028",
		Member: "pcap:x.pcap", Interface: "veth0", InterfaceID: i, Role: "container", Proto: "tcp",
		Client: netip.MustParseAddr("198.18.0.2"), ClientPort: uint16(i), Server: netip.MustParseAddr("fe80::1%eth0"), ServerPort: 443,
		Original: &traffic.FlowTuple{Src: netip.MustParseAddr("198.18.0.3"), SPort: 1, Dst: netip.MustParseAddr("198.19.0.1"), DPort: 2},
		First:    t0, Last: t0.Add(time.Second).In(time.FixedZone("x", 5400)), PacketsToServer: 1, PacketsToClient: 2,
		BytesToServer: math.MaxUint64, BytesToClient: 4, TCPFlags: "SA", SNI: "evil.example", HTTPHost: "h<1>",
		Names: []string{"n1", "n\x00"}, FirstFrame: 5, LastFrame: 6,
		Evidence: []model.Evidence{{Member: "m", SHA256: "ab", Pointer: "/x", Line: 3, Text: "t\xff"}, {Member: "m2"}},
	}
}

func fullContact(i int) traffic.Contact {
	flow := i
	e := model.Evidence{Member: "m", SHA256: "cd", Line: -1}
	return traffic.Contact{
		Container: fmt.Sprintf("c%d", i), ContainerName: "n", Group: []traffic.ContainerRef{{ID: "a", Name: "b"}, {ID: "c"}},
		Candidates: []traffic.Candidate{{ID: "x", Name: "y", Certain: true, Reason: "r"}, {ID: "z", Reason: "<"}},
		Process:    &traffic.Process{PID: 42, Comm: "sh", Cmdline: []string{"sh", "-c", "x&y"}, Container: "c"},
		Proto:      "udp", Side: "server",
		Local: netip.MustParseAddrPort("198.18.0.2:53"), Remote: netip.MustParseAddrPort("[fd00::1]:5353"),
		First: time.Unix(int64(i), 0).UTC(), Last: time.Unix(int64(i)+1, 5).UTC(), Exact: true, Dating: "estimated",
		PacketsToRemote: 1, PacketsFromRemote: 2, BytesToRemote: 3, BytesFromRemote: 4, CountedAt: "veth0",
		SNI: "s", HTTPHost: "h", Names: []string{"q"}, Rules: []string{}, Confidence: "low", Reason: "because",
		Sources: []traffic.ContactSource{
			{Kind: "capture", Interface: "veth0", Role: "container", Flow: &flow, Packets: 3, Bytes: 7, State: "ESTABLISHED", Evidence: &e},
			{Kind: "socket"},
		},
		Evidence: []*model.Evidence{&e, nil},
	}
}

// newKindsDoc returns a kindsDoc with n elements in each of its slices of
// values (distinct, so that their order shows), and everything else set.
func newKindsDoc(n int) *kindsDoc {
	seven := 7
	d := &kindsDoc{
		Str: "<script>&", Int: -1, Uint: math.MaxUint64, Float: 1.5e-7, Bool: true, Ptr: &seven,
		Time: time.Date(2025, 2, 3, 4, 5, 6, 7, time.FixedZone("y", -3600)), Addr: netip.MustParseAddr("198.18.1.1"),
		Map: map[string]int{"b": 2, "a": 1, "<": 0}, TextMap: map[textKey]string{2: "two", 1: "one"},
		Bytes: []byte{0, 1, 2, 255}, Raw: json.RawMessage(`{"raw":[1,{"x":"}"}]}`), Array: [3]int{1, 2, 3},
		Any: map[string]any{"k": []any{1, "v", nil}}, Struct: kindsElem{N: 1, Inner: &kindsElem{N: 2, S: "s"}},
		PtrMarshaler: ptrMarshaler{V: 9}, Hidden: 1, unexported: 2, Dash: 3, HTMLKey: "v",
		EmptySlice: []int{}, PtrTexts: ptrTexts{1, 2}, Strings: []string{},
	}
	for i := range n {
		d.Strings = append(d.Strings, fmt.Sprintf("s%d\t", i))
		d.Elems = append(d.Elems, kindsElem{N: i, S: strings.Repeat("x", i%3)})
		p := &kindsElem{N: -i}
		if i%2 == 1 {
			p = nil
		}
		d.Ptrs = append(d.Ptrs, p)
		d.Anys = append(d.Anys, []any{i, "a", nil, map[string]int{}, []int{}}[i%5])
		d.PtrMarshalers = append(d.PtrMarshalers, ptrMarshaler{V: i})
		d.Texts = append(d.Texts, textKey(i))
		d.Nested = append(d.Nested, []int{i, i + 1}[:i%3%2+1])
		d.Flows = append(d.Flows, fullFlow(i))
		d.Contacts = append(d.Contacts, fullContact(i))
	}
	if n > 2 { // the zero element and one with nil slices among the full ones
		d.Flows[1], d.Contacts[1] = traffic.Flow{}, traffic.Contact{}
	}
	return d
}

// TestJSONChunksEveryKind checks that the document the chunked writer
// writes is json.MarshalIndent's, on a document with a field of every
// kind, with arrays empty, of one element, of one chunk less one, exactly
// one chunk, one more, exact multiples and not, in order and chunked by
// every parallelism of chunkings.
func TestJSONChunksEveryKind(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 64, 65, 128, 200} {
		doc := newKindsDoc(n)
		checkDocument(t, fmt.Sprintf("%d elements", n), doc, marshalIndentDoc(t, doc))
	}
}

// TestJSONChunksOrder checks that the elements of long arrays of many
// chunks come out in order, whichever worker encoded them: the demo's
// flows and contacts over and over, each made distinct.
func TestJSONChunksOrder(t *testing.T) {
	res := *reportDemoResult(t)
	if len(res.Flows) == 0 || len(res.Contacts) == 0 {
		t.Fatal("the demo has no flows or no contacts")
	}
	var flows []traffic.Flow
	var contacts []traffic.Contact
	for i := 0; len(flows) < 3000; i++ {
		for _, f := range res.Flows {
			f.FirstFrame = uint64(len(flows))
			flows = append(flows, f)
		}
		for _, c := range res.Contacts {
			c.PacketsToRemote = uint64(len(contacts))
			contacts = append(contacts, c)
		}
	}
	res.Flows, res.Contacts = flows, contacts
	checkDocument(t, "demo, many flows", &res, marshalIndentDoc(t, &res))
}

// TestJSONWhole checks the documents the walk encodes whole: one with an
// embedded field, one with a field option it does not cover, one that
// encodes itself.
func TestJSONWhole(t *testing.T) {
	type embedded struct{ E []int }
	docs := map[string]any{
		"embedded": &struct{ embedded }{embedded{[]int{1, 2, 3}}},
		"untagged": &struct{ N []int }{[]int{4}},
		"option": &struct {
			N int `json:"n,string"`
		}{5},
		"ptrMarshaler": &ptrMarshaler{V: 1},
		"empty":        &struct{}{},
		"zero": &struct {
			N []int `json:",omitempty"`
		}{},
	}
	for name, doc := range docs {
		checkDocument(t, name, doc, marshalIndentDoc(t, doc))
	}
}

// failElem fails to encode where Fail is set, naming its index.
type failElem struct {
	N    int
	Fail bool
}

func (e failElem) MarshalJSON() ([]byte, error) {
	if e.Fail {
		return nil, fmt.Errorf("element %d fails", e.N)
	}
	return fmt.Appendf(nil, `{"n":%d}`, e.N), nil
}

// TestJSONChunksError checks that an element that fails to encode gives
// the error the writer gave before it chunked the arrays (the field's name
// and encoding/json's error), that of the first element that fails in the
// array's order wherever the later ones are, for the analysis's flows and
// for a type of the test; and that no goroutine stays behind.
func TestJSONChunksError(t *testing.T) {
	base := runtime.NumGoroutine()
	badTime := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{1, 4, 5, 9, 64, 300} {
		for _, first := range []int{0, 3, 4, n / 2, n - 1} {
			if first >= n {
				continue
			}
			doc := newKindsDoc(n)
			doc.Flows[first].Last = badTime
			_, merr := json.MarshalIndent(doc, "", "  ")
			var me *json.MarshalerError
			if !errors.As(merr, &me) {
				t.Fatalf("json.MarshalIndent of a year of 10000 = %v, want a *json.MarshalerError", merr)
			}
			checkDocumentError(t, fmt.Sprintf("flow %d of %d", first, n), doc, "encode analysis: flows: "+merr.Error())

			type failDoc struct {
				Before []int      `json:"before"`
				Elems  []failElem `json:"elems"`
			}
			fd := &failDoc{Before: []int{1, 2}}
			for i := range n {
				fd.Elems = append(fd.Elems, failElem{N: i, Fail: i == first || (i > first && i%3 == 0)})
			}
			_, merr = json.MarshalIndent(fd, "", "  ")
			if merr == nil || !strings.Contains(merr.Error(), fmt.Sprintf("element %d fails", first)) {
				t.Fatalf("json.MarshalIndent of element %d failing = %v", first, merr)
			}
			checkDocumentError(t, fmt.Sprintf("element %d of %d", first, n), fd, "encode analysis: elems: "+merr.Error())
		}
	}
	for range 100 { // the goroutines end once the write returns, not before
		if runtime.NumGoroutine() <= base {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines after the failed writes, %d before", n, base)
	}
}

// checkDocumentError writes doc with each of chunkings and checks the
// error.
func checkDocumentError(t *testing.T, name string, doc any, want string) {
	t.Helper()
	for _, c := range chunkings {
		err := writeDocument(new(bytes.Buffer), doc, c.workers, c.chunk, c.chunked)
		if err == nil || err.Error() != want {
			t.Fatalf("%s, %d workers, chunks of %d from %d: error %v, want %s", name, c.workers, c.chunk, c.chunked, err, want)
		}
	}
}

// TestJSONChunksWriteError checks that a writer failing while the chunks
// are written has its error returned, at every point of the document.
func TestJSONChunksWriteError(t *testing.T) {
	doc := newKindsDoc(200)
	size := len(marshalIndentDoc(t, doc))
	full := errors.New("disk full")
	for left := 0; left < size; left += size/17 + 1 {
		for _, c := range chunkings {
			err := writeDocument(&limitedWriter{left: left, err: full}, doc, c.workers, c.chunk, c.chunked)
			if !errors.Is(err, full) {
				t.Fatalf("%d workers, chunks of %d from %d, writer failing after %d of %d bytes: %v, want %v",
					c.workers, c.chunk, c.chunked, left, size, err, full)
			}
		}
	}
}
