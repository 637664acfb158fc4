package trafficjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"github.com/dockcase/dockcase/analyze/traffic"
)

// TestDecodeMatchesReflection checks that the decoders give, element by
// element, what encoding/json's reflection gives: on the encoders' own
// output (the fast path), and on it changed in the ways a hand-edited or
// hostile document could be (a key's case, an escape, white space, a
// duplicate or unknown key, null, a fraction, a sign, a bad address or
// time), where the result or the failure must be the same.
func TestDecodeMatchesReflection(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 7))
	mutations := []func([]byte) []byte{
		func(b []byte) []byte { return b },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"rule"`), []byte(`"Rule"`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"proto":"`), []byte(`"proto":"\u0041`), 1) },
		func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(`,"`), []byte(" ,\n\t\"")) },
		func(b []byte) []byte { return append([]byte(`{"reason":"dup",`), b[1:]...) },
		func(b []byte) []byte { return append([]byte(`{"unknown":[1,{"a":null}],`), b[1:]...) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"member":"`), []byte(`"member":null,"x":"`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`_port":`), []byte(`_port":1.5,"y":`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`_port":`), []byte(`_port":-`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`_remote":`), []byte(`_remote":1e3,"z":`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"client":"`), []byte(`"client":"x`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"remote":"`), []byte(`"remote":"[`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"first":"`), []byte(`"first":"Z`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"first":"`), []byte(`"first":null,"w":"`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"evidence":[`), []byte(`"evidence":[null,`), 1) },
		func(b []byte) []byte { return bytes.Replace(b, []byte(`"exact":`), []byte(`"exact":"true","v":`), 1) },
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"interface_id":`), []byte(`"interface_id":01,"u":`), 1)
		},
		func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"packets_to_server":`), []byte(`"packets_to_server":99999999999999999999,"u":`), 1)
		},
		func(b []byte) []byte { return []byte("null") },
		func(b []byte) []byte { return []byte(`"a string"`) },
	}
	check := func(kind string, i int, doc []byte, fast, plain any, fastErr, plainErr error) {
		t.Helper()
		if (fastErr == nil) != (plainErr == nil) || (fastErr != nil && fastErr.Error() != plainErr.Error()) {
			t.Fatalf("%s %d: error %v, reflection's %v\n%s", kind, i, fastErr, plainErr, doc)
		}
		if fastErr == nil && !reflect.DeepEqual(fast, plain) {
			t.Fatalf("%s %d: decoded\n%+v\nreflection's\n%+v\n%s", kind, i, fast, plain, doc)
		}
	}
	defer func() { tameStrings = false }()
	for i := range 20000 {
		tameStrings = i%2 == 0
		f := randomFlow(r)
		enc, err := AppendFlow(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		doc := mutations[i%len(mutations)](bytes.Clone(enc))
		if !json.Valid(doc) {
			continue // encoding/json rejects the whole document before any decoder
		}
		got, err := decodeOne(doc, DecodeFlows)
		var want traffic.Flow
		check("flow", i, doc, got, &want, err, json.Unmarshal(doc, &want))
		if i%len(mutations) == 0 && i < 1000 {
			// The fast path: the decoding of an encoding is the value
			// encoded, up to what JSON does not keep.
			var back traffic.Flow
			if err := json.Unmarshal(enc, &back); err != nil || !reflect.DeepEqual(got, &back) {
				t.Fatalf("flow %d: round trip %v", i, err)
			}
		}

		c := randomContact(r)
		enc, err = AppendContact(nil, &c)
		if err != nil {
			t.Fatal(err)
		}
		doc = mutations[(i+7)%len(mutations)](bytes.Clone(enc))
		if !json.Valid(doc) {
			continue
		}
		gotC, err := decodeOne(doc, DecodeContacts)
		var wantC traffic.Contact
		check("contact", i, doc, gotC, &wantC, err, json.Unmarshal(doc, &wantC))
	}
}

// decodeOne decodes doc, one element, as decode decodes it in an array:
// the element, or the error of an *ElementError.
func decodeOne[T any](doc []byte, decode func([]byte, *[]T) (int, error)) (*T, error) {
	var out []T
	n, err := decode(append(append([]byte("["), doc...), ']'), &out)
	var ee *ElementError
	if errors.As(err, &ee) {
		return nil, ee.Err
	}
	if err != nil {
		return nil, err
	}
	if len(out) != 1 || n != len(doc)+2 {
		return nil, fmt.Errorf("decoded %d elements from %d bytes of %d", len(out), n, len(doc)+2)
	}
	return &out[0], nil
}

// TestDecodeFastPath checks that a Flow and a Contact as AppendFlow and
// AppendContact write them are read by the fast path, not the fallback.
func TestDecodeFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	fast := 0
	tameStrings = true
	defer func() { tameStrings = false }()
	for range 1000 {
		f := randomFlow(r)
		enc, _ := AppendFlow(nil, &f)
		var got traffic.Flow
		s := scanner{b: enc}
		if s.flow(&got) && s.end() {
			fast++
		}
	}
	if fast < 900 {
		t.Errorf("%d of 1000 random flows of tame strings took the fast path, want 900 or more", fast)
	}
	f := traffic.Flow{Container: "c0ffee", Rule: traffic.RuleVeth, Confidence: traffic.ConfidenceHigh, Reason: "captured on veth1 — ü", Proto: "tcp"}
	f.Evidence = nil
	enc, _ := AppendFlow(nil, &f)
	var got traffic.Flow
	s := scanner{b: enc}
	if !s.flow(&got) || !s.end() || !reflect.DeepEqual(got, f) {
		t.Fatalf("an ordinary flow did not take the fast path: %+v", got)
	}
	c := traffic.Contact{Container: "c0ffee", Rules: []string{traffic.RuleVeth}, Sources: []traffic.ContactSource{{Kind: "flow", Flow: new(int)}}, Process: &traffic.Process{PID: 7, Cmdline: []string{"sh"}}}
	enc, _ = AppendContact(nil, &c)
	var gotC traffic.Contact
	s = scanner{b: enc}
	if !s.contact(&gotC) || !s.end() || !reflect.DeepEqual(gotC, c) {
		t.Fatalf("an ordinary contact did not take the fast path: %+v", gotC)
	}
	t.Logf("%d of 1000 random flows of tame strings took the fast path", fast)
}

// TestDecodeArraysMatchUnmarshal checks that DecodeFlows and
// DecodeContacts give json.Unmarshal's slice, and read the array to its
// closing bracket: on arrays of random elements, indented or not, some of
// them in a form the fast path does not take (an escape, an unknown key,
// null), and on arrays that are not JSON or hold an element of the wrong
// type.
func TestDecodeArraysMatchUnmarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 3))
	defer func() { tameStrings = false }()
	array := func(n int, enc func() []byte) []byte {
		b := []byte("[")
		for i := range n {
			if i > 0 {
				b = append(b, ",\n    "...)
			}
			e := enc()
			switch r.IntN(10) {
			case 0:
				e = bytes.Replace(e, []byte(`"proto":"`), []byte(`"proto":"\u0041`), 1)
			case 1:
				e = append([]byte(`{"unknown":[1,{"a":null}],`), e[1:]...)
			case 2:
				e = []byte("null")
			}
			b = append(b, e...)
		}
		return append(b, "\n  ]"...)
	}
	check := func(name string, doc []byte, decode func([]byte) (int, any, error), unmarshal func([]byte) (any, error)) {
		t.Helper()
		const tail = `, "after"]`
		n, got, err := decode(append(bytes.Clone(doc), tail...))
		want, wantErr := unmarshal(doc)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%s: error %v, json.Unmarshal's %v\n%.300s", name, err, wantErr, doc)
		}
		var ee *ElementError
		if err != nil && wantErr != nil && json.Valid(doc) && bytes.HasPrefix(bytes.TrimSpace(doc), []byte("[")) && !errors.As(err, &ee) {
			t.Fatalf("%s: error %v of a JSON array, want an *ElementError", name, err)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: decoded\n%+v\njson.Unmarshal's\n%+v", name, got, want)
		}
		if end := len(bytes.TrimRight(doc, " \n")); (err == nil || ee != nil) && n != end {
			t.Fatalf("%s: read %d bytes of the array's %d", name, n, end)
		}
	}
	flows := func(b []byte) (int, any, error) {
		var fs []traffic.Flow
		n, err := DecodeFlows(b, &fs)
		return n, fs, err
	}
	contacts := func(b []byte) (int, any, error) {
		var cs []traffic.Contact
		n, err := DecodeContacts(b, &cs)
		return n, cs, err
	}
	unmarshalFlows := func(b []byte) (any, error) {
		var fs []traffic.Flow
		return fs, json.Unmarshal(b, &fs)
	}
	unmarshalContacts := func(b []byte) (any, error) {
		var cs []traffic.Contact
		return cs, json.Unmarshal(b, &cs)
	}
	for i := range 300 {
		tameStrings = i%2 == 0
		fa := array(1+r.IntN(20), func() []byte { f := randomFlow(r); b, _ := AppendFlow(nil, &f); return b })
		ca := array(1+r.IntN(20), func() []byte { c := randomContact(r); b, _ := AppendContact(nil, &c); return b })
		check("flows", fa, flows, unmarshalFlows)
		check("contacts", ca, contacts, unmarshalContacts)
		if i%10 == 0 {
			// Wrong types and bad syntax at some byte.
			check("flows with a string port", bytes.Replace(fa, []byte(`"server_port":`), []byte(`"server_port":"1","v":`), 1), flows, unmarshalFlows)
			check("contacts with a bad time", bytes.Replace(ca, []byte(`"first":"`), []byte(`"first":"x`), 1), contacts, unmarshalContacts)
			cut := fa[:r.IntN(len(fa))]
			if _, err := DecodeFlows(cut, new([]traffic.Flow)); err == nil {
				t.Fatalf("DecodeFlows read a truncated array\n%s", cut)
			}
		}
	}
	for _, doc := range []string{"[]", " [ ] ", "[           \n\t\r           {  \"rule\"  :   \"veth\"  }   ,          {}            ]   ", "[ \u00a0 ]", "null", "[null]", "[{}]", "[{},]", "[", "", "{}", `[{"rule":1}]`, `[1]`, "[{}{}]"} {
		check(doc, []byte(doc), flows, unmarshalFlows)
		check(doc, []byte(doc), contacts, unmarshalContacts)
	}
}

// TestSpecialBytes checks the word-at-a-time string scan's mark against a
// byte at a time: its lowest mark is the first quote, backslash, control
// character or byte of 0x80 and above, for every byte at every position
// among plain ones and random words.
func TestSpecialBytes(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	check := func(w [8]byte) {
		t.Helper()
		want := -1
		for i, c := range w {
			if special(c) {
				want = i
				break
			}
		}
		m := specialBytes(binary.LittleEndian.Uint64(w[:]))
		got := -1
		if m != 0 {
			got = bits.TrailingZeros64(m) / 8
		}
		if got != want {
			t.Fatalf("specialBytes(%q) marks byte %d first, want %d", w[:], got, want)
		}
	}
	for c := range 256 {
		for pos := range 8 {
			w := [8]byte{'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}
			w[pos] = byte(c)
			check(w)
			w[(pos+3)%8] = 0x01 // a second special byte, maybe before
			check(w)
		}
	}
	r := rand.New(rand.NewPCG(8, 8))
	for range 200000 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		for i := range w {
			if r.IntN(3) > 0 {
				w[i] = ' ' + byte(r.IntN(95)) // printable, so that some words have none
			}
		}
		check(w)
	}
}

// TestAddrsMatchNetip checks the decoders' own reading of IPv4 addresses
// and address:port pairs against netip's UnmarshalText: what they take,
// it takes the same way, and what it refuses they refuse.
func TestAddrsMatchNetip(t *testing.T) {
	inputs := []string{"1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..3.4", ".1.2.3",
		"1.2.3.4 ", "1.2.3.04", "1.2.3.0", "1.2.3.4%eth0", "::1", "::ffff:1.2.3.4", "", "1.2.3.4:80", "1.2.3.4:0", "1.2.3.4:65535",
		"1.2.3.4:65536", "1.2.3.4:080", "1.2.3.4:", ":80", "[::1]:80", "[1.2.3.4]:80", "1.2.3.4::80", "999.2.3.4:1", "1.2.3.4:+1", "1.2.3.4:-1"}
	r := rand.New(rand.NewPCG(4, 4))
	const alphabet = "0123456789.:"
	for range 50000 {
		b := make([]byte, 1+r.IntN(22))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		quoted := []byte(`"` + in + `"`)
		var a netip.Addr
		s := scanner{b: quoted}
		ok := s.addr(&a)
		var want netip.Addr
		err := want.UnmarshalText([]byte(in))
		if ok != (err == nil) || (ok && a != want) {
			t.Fatalf("addr(%q) = %v, %v; netip's UnmarshalText: %v, %v", in, a, ok, want, err)
		}
		var ap netip.AddrPort
		s = scanner{b: quoted}
		ok = s.addrPort(&ap)
		var wantAP netip.AddrPort
		err = wantAP.UnmarshalText([]byte(in))
		if ok != (err == nil) || (ok && ap != wantAP) {
			t.Fatalf("addrPort(%q) = %v, %v; netip's UnmarshalText: %v, %v", in, ap, ok, wantAP, err)
		}
	}
}

// fuzzDecode checks decode against an encoding/json Decoder reading the
// first value of data into a nil slice: both fail, or both give the same
// slice and end at the same byte.
func fuzzDecode[T any](t *testing.T, data []byte, decode func([]byte, *[]T) (int, error)) {
	var got []T
	n, err := decode(data, &got)
	var want []T
	dec := json.NewDecoder(bytes.NewReader(data))
	wantErr := dec.Decode(&want)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("decoded with error %v; encoding/json's: %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nencoding/json's\n%+v", got, want)
	}
	if end := int(dec.InputOffset()); n != end {
		t.Fatalf("read %d bytes, encoding/json %d", n, end)
	}
}

// fuzzSeeds adds to f arrays of the encoders' output of random values, and
// arrays not in their form.
func fuzzSeeds(f *testing.F, enc func(r *rand.Rand, indent bool) []byte) {
	r := rand.New(rand.NewPCG(18, 13))
	for i := range 6 {
		tameStrings = i%2 == 0
		b := []byte("[")
		for j := range 1 + i%3 {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, enc(r, i >= 3)...)
		}
		f.Add(append(b, ']'))
	}
	tameStrings = false
	for _, s := range []string{"null", "[]", " [ {} , null ] x", `[{"rule":1}]`, `[{"Rule":"a","rule":"b"}]`, "[1]", "[{}{}]"} {
		f.Add([]byte(s))
	}
}

// FuzzDecodeFlows checks DecodeFlows against encoding/json on any bytes.
func FuzzDecodeFlows(f *testing.F) {
	fuzzSeeds(f, func(r *rand.Rand, indent bool) []byte {
		fl := randomFlow(r)
		if indent {
			b, _ := AppendIndentedFlow(nil, &fl, "    ")
			return b
		}
		b, _ := AppendFlow(nil, &fl)
		return b
	})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, DecodeFlows) })
}

// FuzzDecodeContacts checks DecodeContacts against encoding/json on any
// bytes.
func FuzzDecodeContacts(f *testing.F) {
	fuzzSeeds(f, func(r *rand.Rand, indent bool) []byte {
		c := randomContact(r)
		if indent {
			b, _ := AppendIndentedContact(nil, &c, "    ")
			return b
		}
		b, _ := AppendContact(nil, &c)
		return b
	})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, DecodeContacts) })
}
