package trafficjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// DecodeFlows decodes the JSON array at the start of data (after white
// space) into *dst and returns the number of bytes read, through the
// closing bracket: the caller goes on from there. It is json.Unmarshal of
// the array into a nil slice (null gives nil, [] an empty slice), but that
// the elements go into *dst's array while it has room, from its start (a
// caller that knows their number makes it of that capacity), and without
// encoding/json's scan of the array before the decoding: each element is
// read once, by the fast path, unless it is not in the form AppendFlow
// writes.
//
// An element that is JSON but not a Flow (a wrong type, a bad address)
// is an *ElementError, returned after the rest of the array has been
// read; any other error means that data does not start with a well-formed
// JSON array or null (the caller has json.Unmarshal name what is wrong).
func DecodeFlows(data []byte, dst *[]traffic.Flow) (int, error) {
	return decodeArray(data, dst, (*scanner).flow)
}

// DecodeContacts is DecodeFlows for an array of contacts.
func DecodeContacts(data []byte, dst *[]traffic.Contact) (int, error) {
	return decodeArray(data, dst, (*scanner).contact)
}

// An ElementError is the error of one element of an array decoded by
// DecodeFlows or DecodeContacts: JSON, but not of the element's type.
type ElementError struct {
	Index  int   // the element's index in the array
	Offset int   // the element's first byte, from the start of the data given
	Err    error // json.Unmarshal's error for the element
}

func (e *ElementError) Error() string { return fmt.Sprintf("element %d: %v", e.Index, e.Err) }

func (e *ElementError) Unwrap() error { return e.Err }

// errNotArray is DecodeFlows' error for data that is not a JSON array.
var errNotArray = errors.New("not a well-formed JSON array")

// decodeArray reads an array of T: each element by fast, else (an element
// fast does not take) by json.Unmarshal of the element's bytes, which an
// encoding/json Decoder finds and checks.
func decodeArray[T any](data []byte, dst *[]T, fast func(*scanner, *T) bool) (int, error) {
	s := scanner{b: data, strings: map[string]string{}}
	if s.null() {
		*dst = nil
		return s.i, nil
	}
	if !s.byte('[') {
		return 0, errNotArray
	}
	out := (*dst)[:0]
	if out == nil {
		out = []T{}
	}
	if s.byte(']') {
		*dst = out
		return s.i, nil
	}
	var first error
	for {
		if len(out) == cap(out) {
			// Double: append's growth by a quarter for a large slice
			// copied a hundred thousand flows four times over.
			out = slices.Grow(out, max(len(out), 64))
		}
		var zero T
		out = append(out, zero)
		e := &out[len(out)-1]
		s.ws()
		start := s.i
		if !fast(&s, e) {
			*e = zero
			dec := json.NewDecoder(bytes.NewReader(data[start:]))
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return 0, fmt.Errorf("element %d: %w", len(out)-1, err)
			}
			if err := json.Unmarshal(raw, e); err != nil && first == nil {
				first = &ElementError{Index: len(out) - 1, Offset: start, Err: err}
			}
			s.i = start + int(dec.InputOffset())
		}
		if s.byte(']') {
			*dst = out
			return s.i, first
		}
		if !s.byte(',') {
			return 0, errNotArray
		}
	}
}

// scanner reads the canonical form of a document element; each method
// reports false for anything outside it.
type scanner struct {
	b []byte
	i int
	// strings, when not nil, holds one copy of each string value read
	// (up to maxSharedStrings): an array's elements repeat the same rules,
	// interfaces, members and digests, a million allocations for a
	// hundred thousand flows and contacts.
	strings map[string]string
}

// maxSharedStrings bounds scanner.strings: 4096 values, a few hundred
// KB, beyond which a string is allocated for each value, as without it.
const maxSharedStrings = 4096

func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return // the common case, inlined: no white space
	}
	s.skipSpace()
}

// skipSpace skips white space, the runs of spaces of an indented
// document's lines eight bytes at a time.
func (s *scanner) skipSpace() {
	const spaces = 0x2020202020202020
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ':
			if s.i+8 > len(s.b) {
				s.i++
				continue
			}
			// The spaces up to the first other byte: at least this one.
			x := binary.LittleEndian.Uint64(s.b[s.i:]) ^ spaces
			if x == 0 {
				s.i += 8
			} else {
				s.i += bits.TrailingZeros64(x) / 8
			}
		case '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// byte consumes c after white space.
func (s *scanner) byte(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// peek returns the next byte after white space, 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// null consumes null.
func (s *scanner) null() bool {
	s.ws()
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// raw returns a string's bytes without its quotes when it holds no escape
// (printable ASCII or valid UTF-8); esc reports a string with escapes,
// left unread for str.
func (s *scanner) raw() (v []byte, ok bool) {
	v, esc, ok := s.rawOrEscaped()
	return v, ok && !esc
}

func (s *scanner) rawOrEscaped() (v []byte, esc, ok bool) {
	if !s.byte('"') {
		return nil, false, false
	}
	start := s.i
	high := false
	for s.i < len(s.b) {
		// Eight bytes at a time to the next that needs a look: most of a
		// document's bytes are in strings (digests, reasons, frames).
		if s.i+8 <= len(s.b) {
			m := specialBytes(binary.LittleEndian.Uint64(s.b[s.i:]))
			if m == 0 {
				s.i += 8
				continue
			}
			s.i += bits.TrailingZeros64(m) / 8
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if high && !utf8.Valid(v) {
				return nil, false, false
			}
			return v, esc, true
		case c == '\\':
			esc = true
			s.i++ // the escaped byte: never the closing quote
		case c < 0x20:
			return nil, false, false
		case c >= utf8.RuneSelf:
			high = true
		}
		s.i++
	}
	return nil, false, false
}

// specialBytes marks the bytes of x (little-endian) that a string scan
// must look at, a quote, a backslash, a control character or a byte of a
// multi-byte UTF-8 sequence, with their high bit. Above the first marked
// byte others may be marked that are not (a borrow of the subtractions):
// the lowest mark is exact.
func specialBytes(x uint64) uint64 {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	control := (x - 0x20*ones) &^ x // a byte below 0x20
	q := x ^ ('"' * ones)
	quote := (q - ones) &^ q // a zero byte of q: a quote of x
	b := x ^ ('\\' * ones)
	backslash := (b - ones) &^ b
	return (control | quote | backslash | x) & high
}

// str reads a string, shared with the equal ones read before it.
func (s *scanner) str(dst *string) bool {
	v, esc, ok := s.rawOrEscaped()
	if !ok {
		return false
	}
	if esc {
		return unescape(dst, v)
	}
	if s.strings == nil {
		*dst = string(v)
		return true
	}
	if shared, ok := s.strings[string(v)]; ok { // no allocation: a map index
		*dst = shared
		return true
	}
	*dst = string(v)
	if len(s.strings) < maxSharedStrings {
		s.strings[*dst] = *dst
	}
	return true
}

// text reads a string whose values rarely repeat (an evidence's text, a
// server name), not looked up among the shared ones.
func (s *scanner) text(dst *string) bool {
	v, esc, ok := s.rawOrEscaped()
	if !ok {
		return false
	}
	if esc {
		return unescape(dst, v)
	}
	*dst = string(v)
	return true
}

// unescape decodes the escapes of a string as encoding/json does, but for
// \u of a UTF-16 surrogate (its pairs and its replacement of lone ones are
// left to encoding/json).
func unescape(dst *string, v []byte) bool {
	var buf [256]byte // on the stack: the string is the one allocation
	out := buf[:0]
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		if i == len(v) {
			return false
		}
		switch v[i] {
		case '"', '\\', '/':
			out = append(out, v[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if i+4 >= len(v) {
				return false
			}
			r, err := strconv.ParseUint(string(v[i+1:i+5]), 16, 32)
			if err != nil || utf16.IsSurrogate(rune(r)) || v[i+1] == '+' {
				return false
			}
			out = utf8.AppendRune(out, rune(r))
			i += 4
		default:
			return false
		}
	}
	*dst = string(out)
	return true
}

// strs reads a non-null array of strings.
func (s *scanner) strs(dst *[]string) bool {
	if !s.byte('[') {
		return false
	}
	out := []string{}
	if s.byte(']') {
		*dst = out
		return true
	}
	for {
		var v string
		if !s.str(&v) {
			return false
		}
		out = append(out, v)
		if s.byte(']') {
			*dst = out
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// digits returns a plain decimal integer's bytes: no sign, no leading
// zero, no fraction or exponent.
func (s *scanner) digits() ([]byte, bool) {
	s.ws()
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	v := s.b[start:s.i]
	if len(v) == 0 || (v[0] == '0' && len(v) > 1) || (s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E')) {
		return nil, false
	}
	return v, true
}

func (s *scanner) uint(dst *uint64, bits int) bool {
	v, ok := s.digits()
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(string(v), 10, bits)
	*dst = n
	return err == nil
}

func (s *scanner) uint16(dst *uint16) bool {
	var n uint64
	ok := s.uint(&n, 16)
	*dst = uint16(n)
	return ok
}

func (s *scanner) int(dst *int) bool {
	neg := s.peek() == '-'
	if neg {
		s.i++
	}
	v, ok := s.digits()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(v), 10, strconv.IntSize)
	if neg {
		n = -n
	}
	*dst = int(n)
	return err == nil
}

func (s *scanner) bool(dst *bool) bool {
	s.ws()
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		s.i += 4
		*dst = true
		return true
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		s.i += 5
		*dst = false
		return true
	}
	return false
}

func (s *scanner) addr(dst *netip.Addr) bool {
	v, ok := s.raw()
	if !ok {
		return false
	}
	if a, ok := parseIPv4(v); ok {
		*dst = a
		return true
	}
	return dst.UnmarshalText(v) == nil
}

func (s *scanner) addrPort(dst *netip.AddrPort) bool {
	v, ok := s.raw()
	if !ok {
		return false
	}
	if i := bytes.LastIndexByte(v, ':'); i > 0 {
		a, ok := parseIPv4(v[:i])
		p, pok := plainUint(v[i+1:], 0xffff)
		if ok && pok {
			*dst = netip.AddrPortFrom(a, uint16(p))
			return true
		}
	}
	return dst.UnmarshalText(v) == nil
}

// parseIPv4 reads a dotted-quad IPv4 address in the form netip writes it
// (no leading zero), without UnmarshalText's string of it: an allocation
// for each of the half-million addresses of a large document. Anything
// else is false, for UnmarshalText to decide.
func parseIPv4(v []byte) (netip.Addr, bool) {
	var a [4]byte
	for i := range a {
		if i > 0 {
			if len(v) == 0 || v[0] != '.' {
				return netip.Addr{}, false
			}
			v = v[1:]
		}
		n := 0
		for n < len(v) && n < 3 && v[n] >= '0' && v[n] <= '9' {
			n++
		}
		b, ok := plainUint(v[:n], 255)
		if !ok {
			return netip.Addr{}, false
		}
		a[i], v = byte(b), v[n:]
	}
	return netip.AddrFrom4(a), len(v) == 0
}

// plainUint reads a decimal of at most five digits without a leading
// zero, up to max.
func plainUint(v []byte, max int) (int, bool) {
	if len(v) == 0 || len(v) > 5 || (v[0] == '0' && len(v) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n <= max
}

func (s *scanner) time(dst *time.Time) bool {
	s.ws()
	start := s.i
	if _, ok := s.raw(); !ok {
		return false
	}
	return dst.UnmarshalJSON(s.b[start:s.i]) == nil
}

// object reads an object's members, calling field with each key (seen
// once at most, as field's bit says); field reads the value.
func (s *scanner) object(field func(key []byte) (bit uint64, ok bool)) bool {
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return true
	}
	var seen uint64
	for {
		k, ok := s.raw()
		if !ok || !s.byte(':') {
			return false
		}
		bit, ok := field(k) // no string of the key: each field switches on string(k), which allocates none
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if s.byte('}') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

// array reads an array, calling elem for each element.
func (s *scanner) array(elem func() bool) bool {
	if !s.byte('[') {
		return false
	}
	if s.byte(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if s.byte(']') {
			return true
		}
		if !s.byte(',') {
			return false
		}
	}
}

func (s *scanner) evidence(e *model.Evidence) bool {
	return s.object(func(k []byte) (uint64, bool) {
		switch string(k) {
		case "member":
			return 1 << 0, s.str(&e.Member)
		case "sha256":
			return 1 << 1, s.str(&e.SHA256)
		case "pointer":
			return 1 << 2, s.text(&e.Pointer)
		case "line":
			return 1 << 3, s.int(&e.Line)
		case "text":
			return 1 << 4, s.text(&e.Text)
		}
		return 0, false
	})
}

func (s *scanner) flow(f *traffic.Flow) bool {
	return s.object(func(k []byte) (uint64, bool) {
		switch string(k) {
		case "container":
			return 1 << 0, s.str(&f.Container)
		case "container_name":
			return 1 << 1, s.str(&f.ContainerName)
		case "namespace_group":
			return 1 << 2, s.strs(&f.NamespaceGroup)
		case "container_side":
			return 1 << 3, s.str(&f.ContainerSide)
		case "rule":
			return 1 << 4, s.str(&f.Rule)
		case "confidence":
			return 1 << 5, s.str(&f.Confidence)
		case "reason":
			return 1 << 6, s.str(&f.Reason)
		case "member":
			return 1 << 7, s.str(&f.Member)
		case "interface":
			return 1 << 8, s.str(&f.Interface)
		case "interface_id":
			return 1 << 9, s.int(&f.InterfaceID)
		case "role":
			return 1 << 10, s.str(&f.Role)
		case "proto":
			return 1 << 11, s.str(&f.Proto)
		case "client":
			return 1 << 12, s.addr(&f.Client)
		case "client_port":
			return 1 << 13, s.uint16(&f.ClientPort)
		case "server":
			return 1 << 14, s.addr(&f.Server)
		case "server_port":
			return 1 << 15, s.uint16(&f.ServerPort)
		case "original":
			o := &traffic.FlowTuple{}
			f.Original = o
			return 1 << 16, s.object(func(k []byte) (uint64, bool) {
				switch string(k) {
				case "src":
					return 1 << 0, s.addr(&o.Src)
				case "sport":
					return 1 << 1, s.uint16(&o.SPort)
				case "dst":
					return 1 << 2, s.addr(&o.Dst)
				case "dport":
					return 1 << 3, s.uint16(&o.DPort)
				}
				return 0, false
			})
		case "first":
			return 1 << 17, s.time(&f.First)
		case "last":
			return 1 << 18, s.time(&f.Last)
		case "packets_to_server":
			return 1 << 19, s.uint(&f.PacketsToServer, 64)
		case "packets_to_client":
			return 1 << 20, s.uint(&f.PacketsToClient, 64)
		case "bytes_to_server":
			return 1 << 21, s.uint(&f.BytesToServer, 64)
		case "bytes_to_client":
			return 1 << 22, s.uint(&f.BytesToClient, 64)
		case "tcp_flags":
			return 1 << 23, s.str(&f.TCPFlags)
		case "sni":
			return 1 << 24, s.text(&f.SNI)
		case "http_host":
			return 1 << 25, s.text(&f.HTTPHost)
		case "names":
			return 1 << 26, s.strs(&f.Names)
		case "first_frame":
			return 1 << 27, s.uint(&f.FirstFrame, 64)
		case "last_frame":
			return 1 << 28, s.uint(&f.LastFrame, 64)
		case "evidence":
			if s.null() {
				return 1 << 29, true
			}
			f.Evidence = []model.Evidence{}
			return 1 << 29, s.array(func() bool {
				f.Evidence = append(f.Evidence, model.Evidence{})
				return s.evidence(&f.Evidence[len(f.Evidence)-1])
			})
		}
		return 0, false
	})
}

func (s *scanner) contact(c *traffic.Contact) bool {
	return s.object(func(k []byte) (uint64, bool) {
		switch string(k) {
		case "container":
			return 1 << 0, s.str(&c.Container)
		case "container_name":
			return 1 << 1, s.str(&c.ContainerName)
		case "group":
			c.Group = []traffic.ContainerRef{}
			return 1 << 2, s.array(func() bool {
				c.Group = append(c.Group, traffic.ContainerRef{})
				g := &c.Group[len(c.Group)-1]
				return s.object(func(k []byte) (uint64, bool) {
					switch string(k) {
					case "id":
						return 1 << 0, s.str(&g.ID)
					case "name":
						return 1 << 1, s.str(&g.Name)
					}
					return 0, false
				})
			})
		case "candidates":
			c.Candidates = []traffic.Candidate{}
			return 1 << 3, s.array(func() bool {
				c.Candidates = append(c.Candidates, traffic.Candidate{})
				g := &c.Candidates[len(c.Candidates)-1]
				return s.object(func(k []byte) (uint64, bool) {
					switch string(k) {
					case "id":
						return 1 << 0, s.str(&g.ID)
					case "name":
						return 1 << 1, s.str(&g.Name)
					case "certain":
						return 1 << 2, s.bool(&g.Certain)
					case "reason":
						return 1 << 3, s.str(&g.Reason)
					}
					return 0, false
				})
			})
		case "process":
			p := &traffic.Process{}
			c.Process = p
			return 1 << 4, s.object(func(k []byte) (uint64, bool) {
				switch string(k) {
				case "pid":
					return 1 << 0, s.int(&p.PID)
				case "comm":
					return 1 << 1, s.str(&p.Comm)
				case "cmdline":
					return 1 << 2, s.strs(&p.Cmdline)
				case "container":
					return 1 << 3, s.str(&p.Container)
				}
				return 0, false
			})
		case "proto":
			return 1 << 5, s.str(&c.Proto)
		case "side":
			return 1 << 6, s.str(&c.Side)
		case "local":
			return 1 << 7, s.addrPort(&c.Local)
		case "remote":
			return 1 << 8, s.addrPort(&c.Remote)
		case "first":
			return 1 << 9, s.time(&c.First)
		case "last":
			return 1 << 10, s.time(&c.Last)
		case "exact":
			return 1 << 11, s.bool(&c.Exact)
		case "dating":
			return 1 << 12, s.str(&c.Dating)
		case "packets_to_remote":
			return 1 << 13, s.uint(&c.PacketsToRemote, 64)
		case "packets_from_remote":
			return 1 << 14, s.uint(&c.PacketsFromRemote, 64)
		case "bytes_to_remote":
			return 1 << 15, s.uint(&c.BytesToRemote, 64)
		case "bytes_from_remote":
			return 1 << 16, s.uint(&c.BytesFromRemote, 64)
		case "counted_at":
			return 1 << 17, s.str(&c.CountedAt)
		case "sni":
			return 1 << 18, s.text(&c.SNI)
		case "http_host":
			return 1 << 19, s.text(&c.HTTPHost)
		case "names":
			return 1 << 20, s.strs(&c.Names)
		case "rules":
			return 1 << 21, s.null() || s.strs(&c.Rules)
		case "confidence":
			return 1 << 22, s.str(&c.Confidence)
		case "reason":
			return 1 << 23, s.str(&c.Reason)
		case "sources":
			if s.null() {
				return 1 << 24, true
			}
			c.Sources = []traffic.ContactSource{}
			return 1 << 24, s.array(func() bool {
				c.Sources = append(c.Sources, traffic.ContactSource{})
				return s.source(&c.Sources[len(c.Sources)-1])
			})
		case "evidence":
			if s.null() {
				return 1 << 25, true
			}
			c.Evidence = []*model.Evidence{}
			return 1 << 25, s.array(func() bool {
				if s.null() {
					c.Evidence = append(c.Evidence, nil)
					return true
				}
				e := &model.Evidence{}
				c.Evidence = append(c.Evidence, e)
				return s.evidence(e)
			})
		}
		return 0, false
	})
}

func (s *scanner) source(src *traffic.ContactSource) bool {
	return s.object(func(k []byte) (uint64, bool) {
		switch string(k) {
		case "kind":
			return 1 << 0, s.str(&src.Kind)
		case "interface":
			return 1 << 1, s.str(&src.Interface)
		case "role":
			return 1 << 2, s.str(&src.Role)
		case "flow":
			n := new(int)
			src.Flow = n
			return 1 << 3, s.int(n)
		case "packets":
			return 1 << 4, s.uint(&src.Packets, 64)
		case "bytes":
			return 1 << 5, s.uint(&src.Bytes, 64)
		case "state":
			return 1 << 6, s.str(&src.State)
		case "evidence":
			e := &model.Evidence{}
			src.Evidence = e
			return 1 << 7, s.evidence(e)
		}
		return 0, false
	})
}
