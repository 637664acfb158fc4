package trafficjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// TestNoJSONMethods checks that the types the codec encodes leave their
// JSON to encoding/json's reflection, the codec's reference: a MarshalJSON
// or UnmarshalJSON on them (or on a type inside them) would make the tests
// compare the codec with itself, or with another encoding.
func TestNoJSONMethods(t *testing.T) {
	for _, v := range []any{&traffic.Flow{}, &traffic.FlowTuple{}, &traffic.Contact{}, &traffic.ContainerRef{},
		&traffic.Candidate{}, &traffic.Process{}, &traffic.ContactSource{}, &model.Evidence{}} {
		_, m := v.(json.Marshaler)
		_, u := v.(json.Unmarshaler)
		_, tm := v.(encoding.TextMarshaler)
		_, tu := v.(encoding.TextUnmarshaler)
		if m || u || tm || tu {
			t.Errorf("%T has a JSON or text method: encoding/json's reflection no longer encodes it", v)
		}
	}
}

// hostileStrings are strings whose JSON escaping differs between encoders:
// controls, quotes, HTML characters, invalid UTF-8, U+2028 and U+2029.
var hostileStrings = []string{
	"", "a", `"quoted" \back\slash`, "<script>&amp;</script>", "\x00\x01\x1f\x7f\b\f\n\r\t",
	"caf\xc3\xa9 \xe2\x80\xa8 \xe2\x80\xa9 \xff\xfe", "\xed\xa0\x80 surrogate", "日本語 🚀", "\xf0\x9f\x9a", "ok\u2028",
}

// tameStrings makes randomString give strings without escapes (printable
// ASCII and valid UTF-8), the decoders' fast path.
var tameStrings bool

func randomString(r *rand.Rand) string {
	if tameStrings {
		const alphabet = "abcxyz0129 -_.:/%$#@!()[]{}'`~^*+=|;?,éü日🚀\u007f"
		rs := []rune(alphabet)
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteRune(rs[r.IntN(len(rs))])
		}
		return b.String()
	}
	if r.IntN(3) == 0 {
		return hostileStrings[r.IntN(len(hostileStrings))]
	}
	var b strings.Builder
	for range r.IntN(12) {
		b.WriteByte(byte(r.IntN(256)))
	}
	return b.String()
}

func randomStrings(r *rand.Rand) []string {
	switch r.IntN(3) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	ss := make([]string, 1+r.IntN(3))
	for i := range ss {
		ss[i] = randomString(r)
	}
	return ss
}

var testAddrs = []netip.Addr{
	{}, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("::ffff:198.18.0.2"),
	netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("fe80::2%<a&b>\"\\"), netip.MustParseAddr("::"),
}

func randomAddr(r *rand.Rand) netip.Addr {
	for {
		a := testAddrs[r.IntN(len(testAddrs))]
		if !tameStrings || !strings.ContainsAny(a.Zone(), `<&"\`) {
			return a
		}
	}
}

func randomTime(r *rand.Rand) time.Time {
	switch r.IntN(4) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(r.Int64N(2e9), r.Int64N(1e9)).UTC()
	case 2:
		return time.Unix(r.Int64N(2e9), 0).In(time.FixedZone("x", -3*3600-1800))
	}
	return time.Unix(r.Int64N(2e9), r.Int64N(1e9)*1000)
}

func randomEvidence(r *rand.Rand) model.Evidence {
	e := model.Evidence{Member: randomString(r)}
	if r.IntN(2) == 0 {
		e.SHA256, e.Pointer, e.Text = randomString(r), randomString(r), randomString(r)
		e.Line = r.IntN(5) - 1
	}
	return e
}

func randomFlow(r *rand.Rand) traffic.Flow {
	f := traffic.Flow{
		Container: randomString(r), ContainerName: randomString(r), NamespaceGroup: randomStrings(r),
		ContainerSide: randomString(r), Rule: randomString(r), Confidence: randomString(r), Reason: randomString(r),
		Member: randomString(r), Interface: randomString(r), InterfaceID: r.IntN(5) - 1, Role: randomString(r),
		Proto: randomString(r), Client: randomAddr(r), ClientPort: uint16(r.Uint32()), Server: randomAddr(r), ServerPort: uint16(r.Uint32()),
		First: randomTime(r), Last: randomTime(r), PacketsToServer: r.Uint64(), PacketsToClient: uint64(r.IntN(2)),
		BytesToServer: r.Uint64() >> r.IntN(64), BytesToClient: 0, TCPFlags: randomString(r), SNI: randomString(r),
		HTTPHost: randomString(r), Names: randomStrings(r), FirstFrame: r.Uint64(), LastFrame: uint64(r.IntN(9)),
	}
	if r.IntN(2) == 0 {
		f.Original = &traffic.FlowTuple{Src: randomAddr(r), SPort: uint16(r.Uint32()), Dst: randomAddr(r), DPort: 0}
	}
	if n := r.IntN(4); n > 0 {
		f.Evidence = make([]model.Evidence, n-1)
		for i := range f.Evidence {
			f.Evidence[i] = randomEvidence(r)
		}
	}
	return f
}

func randomContact(r *rand.Rand) traffic.Contact {
	c := traffic.Contact{
		Container: randomString(r), ContainerName: randomString(r), Proto: randomString(r), Side: randomString(r),
		Local:  netip.AddrPortFrom(randomAddr(r), uint16(r.Uint32())),
		Remote: netip.AddrPortFrom(randomAddr(r), uint16(r.IntN(2))),
		First:  randomTime(r), Last: randomTime(r), Exact: r.IntN(2) == 0, Dating: randomString(r),
		PacketsToRemote: r.Uint64(), PacketsFromRemote: uint64(r.IntN(2)), BytesToRemote: r.Uint64() >> 7, BytesFromRemote: 0,
		CountedAt: randomString(r), SNI: randomString(r), HTTPHost: randomString(r), Names: randomStrings(r),
		Rules: randomStrings(r), Confidence: randomString(r), Reason: randomString(r),
	}
	if r.IntN(3) == 0 {
		c.Remote = netip.AddrPort{}
	}
	for range r.IntN(3) {
		c.Group = append(c.Group, traffic.ContainerRef{ID: randomString(r), Name: randomString(r)})
	}
	for range r.IntN(3) {
		c.Candidates = append(c.Candidates, traffic.Candidate{ID: randomString(r), Name: randomString(r), Certain: r.IntN(2) == 0, Reason: randomString(r)})
	}
	if r.IntN(2) == 0 {
		c.Process = &traffic.Process{PID: r.IntN(70000) - 1, Comm: randomString(r), Cmdline: randomStrings(r), Container: randomString(r)}
	}
	if n := r.IntN(4); n > 0 {
		c.Sources = make([]traffic.ContactSource, n-1)
		for i := range c.Sources {
			s := traffic.ContactSource{Kind: randomString(r), Interface: randomString(r), Role: randomString(r), State: randomString(r)}
			if r.IntN(2) == 0 {
				k := r.IntN(3) - 1
				s.Flow = &k
				s.Packets, s.Bytes = uint64(r.IntN(3)), r.Uint64()
			}
			if r.IntN(2) == 0 {
				e := randomEvidence(r)
				s.Evidence = &e
			}
			c.Sources[i] = s
		}
	}
	if n := r.IntN(4); n > 0 {
		c.Evidence = make([]*model.Evidence, n-1)
		for i := range c.Evidence {
			if r.IntN(4) > 0 {
				e := randomEvidence(r)
				c.Evidence[i] = &e
			}
		}
	}
	return c
}

// TestAppendMatchesReflection checks that the compact encoders write the
// bytes of encoding/json's reflection, with its HTML escaping, on random
// values with hostile strings, zoned addresses and every omitempty field
// both set and not.
func TestAppendMatchesReflection(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 2026))
	for i := range 20000 {
		f := randomFlow(r)
		want, err := json.Marshal(&f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendFlow([]byte("prefix"), &f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[len("prefix"):], want) {
			t.Fatalf("flow %d:\n got %s\nwant %s", i, got[len("prefix"):], want)
		}

		c := randomContact(r)
		want, err = json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		got, err = AppendContact(nil, &c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("contact %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestAppendIndentedMatchesReflection checks that the indented encoders
// write the bytes of json.MarshalIndent over encoding/json's reflection, at
// the prefixes the analysis document uses and others, after what dst
// already holds, on the random values of TestAppendMatchesReflection.
func TestAppendIndentedMatchesReflection(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 2027))
	prefixes := []string{"", "    ", "\t", "  >"}
	for i := range 20000 {
		prefix := prefixes[i%len(prefixes)]
		f := randomFlow(r)
		want, err := json.MarshalIndent(&f, prefix, "  ")
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendIndentedFlow([]byte("before"), &f, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[len("before"):], want) {
			t.Fatalf("flow %d, prefix %q:\n got %s\nwant %s", i, prefix, got[len("before"):], want)
		}

		c := randomContact(r)
		want, err = json.MarshalIndent(&c, prefix, "  ")
		if err != nil {
			t.Fatal(err)
		}
		got, err = AppendIndentedContact(nil, &c, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("contact %d, prefix %q:\n got %s\nwant %s", i, prefix, got, want)
		}
	}
}

// TestAppendTimeError checks that a time RFC 3339 cannot hold fails every
// encoder, as it fails encoding/json's.
func TestAppendTimeError(t *testing.T) {
	bad := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	f := traffic.Flow{First: bad}
	if _, err := json.Marshal(&f); err == nil {
		t.Fatal("reflection encoded a year of 10000")
	}
	if _, err := AppendFlow(nil, &f); err == nil {
		t.Fatal("AppendFlow encoded a year of 10000")
	}
	if b, err := AppendIndentedFlow(nil, &f, "    "); err == nil || b != nil {
		t.Fatalf("AppendIndentedFlow of a year of 10000 = %q, %v; want nil and an error", b, err)
	}
	c := traffic.Contact{Last: bad}
	if _, err := AppendContact(nil, &c); err == nil {
		t.Fatal("AppendContact encoded a year of 10000")
	}
	if b, err := AppendIndentedContact(nil, &c, "    "); err == nil || b != nil {
		t.Fatalf("AppendIndentedContact of a year of 10000 = %q, %v; want nil and an error", b, err)
	}
}

// TestAppendStringEveryByte checks the string encoder, whose scan
// looks at eight bytes at a time, against encoding/json with every byte
// value at every position of strings longer than a few words, alone and
// beside a second one, and safeWord against the byte table.
func TestAppendStringEveryByte(t *testing.T) {
	const n = 19 // two words and a tail
	for b := range 256 {
		for at := range n {
			word := []byte("abcdefgh")
			if at < len(word) {
				word[at] = byte(b)
				x := uint64(0)
				for i := len(word) - 1; i >= 0; i-- {
					x = x<<8 | uint64(word[i])
				}
				want := true
				for _, c := range word {
					want = want && c < 0x80 && safeASCII[c]
				}
				if got := safeWord(x); got != want {
					t.Fatalf("safeWord(%q) = %v, want %v", word, got, want)
				}
			}
			for _, second := range []byte{'a', '<', 0x01, 0xe2} {
				s := []byte(strings.Repeat("x", n))
				s[at] = byte(b)
				s[(at+9)%n] = second
				want, err := json.Marshal(string(s))
				if err != nil {
					t.Fatal(err)
				}
				if got := appendString(nil, string(s)); !bytes.Equal(got, want) {
					t.Fatalf("appendString(%q) = %s, want %s", s, got, want)
				}
			}
		}
	}
}
