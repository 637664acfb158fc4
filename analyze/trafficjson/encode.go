package trafficjson

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// AppendFlow appends the compact JSON encoding of f to dst, byte for byte
// what json.Marshal gives. On an error it returns nil.
func AppendFlow(dst []byte, f *traffic.Flow) ([]byte, error) {
	e := encoder{dst: dst}
	if err := e.flow(f); err != nil {
		return nil, err
	}
	return e.dst, nil
}

// AppendIndentedFlow appends the JSON encoding of f to dst indented, byte
// for byte what json.MarshalIndent(f, prefix, "  ") gives: the value starts
// where dst ends, and each line after the first starts with prefix. On an
// error it returns nil.
func AppendIndentedFlow(dst []byte, f *traffic.Flow, prefix string) ([]byte, error) {
	e := newIndentedEncoder(dst, prefix)
	if err := e.flow(f); err != nil {
		return nil, err
	}
	return e.dst, nil
}

// AppendContact appends the compact JSON encoding of c to dst, byte for
// byte what json.Marshal gives. On an error it returns nil.
func AppendContact(dst []byte, c *traffic.Contact) ([]byte, error) {
	e := encoder{dst: dst}
	if err := e.contact(c); err != nil {
		return nil, err
	}
	return e.dst, nil
}

// AppendIndentedContact appends the JSON encoding of c to dst indented,
// byte for byte what json.MarshalIndent(c, prefix, "  ") gives: the value
// starts where dst ends, and each line after the first starts with
// prefix. On an error it returns nil.
func AppendIndentedContact(dst []byte, c *traffic.Contact, prefix string) ([]byte, error) {
	e := newIndentedEncoder(dst, prefix)
	if err := e.contact(c); err != nil {
		return nil, err
	}
	return e.dst, nil
}

// flow appends f as json.Marshal does.
func (e *encoder) flow(f *traffic.Flow) error {
	e.open('{')
	if f.Container != "" {
		e.key(`"container":`)
		e.str(f.Container)
	}
	if f.ContainerName != "" {
		e.key(`"container_name":`)
		e.str(f.ContainerName)
	}
	if len(f.NamespaceGroup) > 0 {
		e.key(`"namespace_group":`)
		e.strs(f.NamespaceGroup)
	}
	if f.ContainerSide != "" {
		e.key(`"container_side":`)
		e.str(f.ContainerSide)
	}
	e.key(`"rule":`)
	e.str(f.Rule)
	e.key(`"confidence":`)
	e.str(f.Confidence)
	e.key(`"reason":`)
	e.str(f.Reason)
	e.key(`"member":`)
	e.str(f.Member)
	e.key(`"interface":`)
	e.str(f.Interface)
	e.key(`"interface_id":`)
	e.int(int64(f.InterfaceID))
	e.key(`"role":`)
	e.str(f.Role)
	e.key(`"proto":`)
	e.str(f.Proto)
	e.key(`"client":`)
	e.addr(f.Client)
	e.key(`"client_port":`)
	e.uint(uint64(f.ClientPort))
	e.key(`"server":`)
	e.addr(f.Server)
	e.key(`"server_port":`)
	e.uint(uint64(f.ServerPort))
	if o := f.Original; o != nil {
		e.key(`"original":`)
		e.open('{')
		e.key(`"src":`)
		e.addr(o.Src)
		e.key(`"sport":`)
		e.uint(uint64(o.SPort))
		e.key(`"dst":`)
		e.addr(o.Dst)
		e.key(`"dport":`)
		e.uint(uint64(o.DPort))
		e.close('}')
	}
	e.key(`"first":`)
	if err := e.time(f.First); err != nil {
		return err
	}
	e.key(`"last":`)
	if err := e.time(f.Last); err != nil {
		return err
	}
	e.key(`"packets_to_server":`)
	e.uint(f.PacketsToServer)
	e.key(`"packets_to_client":`)
	e.uint(f.PacketsToClient)
	e.key(`"bytes_to_server":`)
	e.uint(f.BytesToServer)
	e.key(`"bytes_to_client":`)
	e.uint(f.BytesToClient)
	if f.TCPFlags != "" {
		e.key(`"tcp_flags":`)
		e.str(f.TCPFlags)
	}
	if f.SNI != "" {
		e.key(`"sni":`)
		e.str(f.SNI)
	}
	if f.HTTPHost != "" {
		e.key(`"http_host":`)
		e.str(f.HTTPHost)
	}
	if len(f.Names) > 0 {
		e.key(`"names":`)
		e.strs(f.Names)
	}
	e.key(`"first_frame":`)
	e.uint(f.FirstFrame)
	e.key(`"last_frame":`)
	e.uint(f.LastFrame)
	e.key(`"evidence":`)
	if f.Evidence == nil {
		e.null()
	} else {
		e.open('[')
		for i := range f.Evidence {
			e.next()
			e.evidence(&f.Evidence[i])
		}
		e.close(']')
	}
	e.close('}')
	return nil
}

// contact appends c as json.Marshal does.
func (e *encoder) contact(c *traffic.Contact) error {
	e.open('{')
	if c.Container != "" {
		e.key(`"container":`)
		e.str(c.Container)
	}
	if c.ContainerName != "" {
		e.key(`"container_name":`)
		e.str(c.ContainerName)
	}
	if len(c.Group) > 0 {
		e.key(`"group":`)
		e.open('[')
		for _, g := range c.Group {
			e.next()
			e.open('{')
			e.key(`"id":`)
			e.str(g.ID)
			if g.Name != "" {
				e.key(`"name":`)
				e.str(g.Name)
			}
			e.close('}')
		}
		e.close(']')
	}
	if len(c.Candidates) > 0 {
		e.key(`"candidates":`)
		e.open('[')
		for _, g := range c.Candidates {
			e.next()
			e.open('{')
			e.key(`"id":`)
			e.str(g.ID)
			if g.Name != "" {
				e.key(`"name":`)
				e.str(g.Name)
			}
			if g.Certain {
				e.key(`"certain":`)
				e.bool(true)
			}
			e.key(`"reason":`)
			e.str(g.Reason)
			e.close('}')
		}
		e.close(']')
	}
	if p := c.Process; p != nil {
		e.key(`"process":`)
		e.open('{')
		e.key(`"pid":`)
		e.int(int64(p.PID))
		if p.Comm != "" {
			e.key(`"comm":`)
			e.str(p.Comm)
		}
		if len(p.Cmdline) > 0 {
			e.key(`"cmdline":`)
			e.strs(p.Cmdline)
		}
		if p.Container != "" {
			e.key(`"container":`)
			e.str(p.Container)
		}
		e.close('}')
	}
	e.key(`"proto":`)
	e.str(c.Proto)
	e.key(`"side":`)
	e.str(c.Side)
	e.key(`"local":`)
	e.addrPort(c.Local)
	e.key(`"remote":`)
	e.addrPort(c.Remote)
	e.key(`"first":`)
	if err := e.time(c.First); err != nil {
		return err
	}
	e.key(`"last":`)
	if err := e.time(c.Last); err != nil {
		return err
	}
	e.key(`"exact":`)
	e.bool(c.Exact)
	if c.Dating != "" {
		e.key(`"dating":`)
		e.str(c.Dating)
	}
	e.key(`"packets_to_remote":`)
	e.uint(c.PacketsToRemote)
	e.key(`"packets_from_remote":`)
	e.uint(c.PacketsFromRemote)
	e.key(`"bytes_to_remote":`)
	e.uint(c.BytesToRemote)
	e.key(`"bytes_from_remote":`)
	e.uint(c.BytesFromRemote)
	if c.CountedAt != "" {
		e.key(`"counted_at":`)
		e.str(c.CountedAt)
	}
	if c.SNI != "" {
		e.key(`"sni":`)
		e.str(c.SNI)
	}
	if c.HTTPHost != "" {
		e.key(`"http_host":`)
		e.str(c.HTTPHost)
	}
	if len(c.Names) > 0 {
		e.key(`"names":`)
		e.strs(c.Names)
	}
	e.key(`"rules":`)
	if c.Rules == nil {
		e.null()
	} else {
		e.strs(c.Rules)
	}
	e.key(`"confidence":`)
	e.str(c.Confidence)
	e.key(`"reason":`)
	e.str(c.Reason)
	e.key(`"sources":`)
	if c.Sources == nil {
		e.null()
	} else {
		e.open('[')
		for i := range c.Sources {
			e.next()
			e.source(&c.Sources[i])
		}
		e.close(']')
	}
	e.key(`"evidence":`)
	if c.Evidence == nil {
		e.null()
	} else {
		e.open('[')
		for _, ev := range c.Evidence {
			e.next()
			if ev == nil {
				e.null()
			} else {
				e.evidence(ev)
			}
		}
		e.close(']')
	}
	e.close('}')
	return nil
}

// source appends a ContactSource as json.Marshal does.
func (e *encoder) source(s *traffic.ContactSource) {
	e.open('{')
	e.key(`"kind":`)
	e.str(s.Kind)
	if s.Interface != "" {
		e.key(`"interface":`)
		e.str(s.Interface)
	}
	if s.Role != "" {
		e.key(`"role":`)
		e.str(s.Role)
	}
	if s.Flow != nil {
		e.key(`"flow":`)
		e.int(int64(*s.Flow))
	}
	if s.Packets != 0 {
		e.key(`"packets":`)
		e.uint(s.Packets)
	}
	if s.Bytes != 0 {
		e.key(`"bytes":`)
		e.uint(s.Bytes)
	}
	if s.State != "" {
		e.key(`"state":`)
		e.str(s.State)
	}
	if s.Evidence != nil {
		e.key(`"evidence":`)
		e.evidence(s.Evidence)
	}
	e.close('}')
}

// evidence appends a model.Evidence as json.Marshal does.
func (e *encoder) evidence(ev *model.Evidence) {
	e.open('{')
	e.key(`"member":`)
	e.str(ev.Member)
	if ev.SHA256 != "" {
		e.key(`"sha256":`)
		e.str(ev.SHA256)
	}
	if ev.Pointer != "" {
		e.key(`"pointer":`)
		e.str(ev.Pointer)
	}
	if ev.Line != 0 {
		e.key(`"line":`)
		e.int(int64(ev.Line))
	}
	if ev.Text != "" {
		e.key(`"text":`)
		e.str(ev.Text)
	}
	e.close('}')
}

// encoder appends one JSON value to dst as it is walked: compact, as
// json.Marshal writes it, or with indent set as json.MarshalIndent(v,
// prefix, "  ") does (a newline, prefix and two spaces a level before each
// member, element and non-empty closing bracket, ": " after keys, empty
// objects and arrays as {} and []).
type encoder struct {
	dst    []byte
	indent bool
	prefix string
	nl     string // indentNewline where prefix is spaces, else empty
	depth  int    // objects and arrays open
	empty  bool   // the innermost open object or array has nothing in it yet
}

// indentSpaces is the indentation of 32 levels, appended a slice at a time.
const indentSpaces = "                                                                "

// indentNewline is a newline and the indentation of 32 levels: the start of
// a line at any depth, one append, where the prefix is spaces.
const indentNewline = "\n" + indentSpaces

// newIndentedEncoder returns an encoder that appends to dst as
// json.MarshalIndent(v, prefix, "  ") does.
func newIndentedEncoder(dst []byte, prefix string) encoder {
	e := encoder{dst: dst, indent: true, prefix: prefix}
	if strings.Trim(prefix, " ") == "" {
		e.nl = indentNewline
	}
	return e
}

// newline starts a line at the current depth.
func (e *encoder) newline() {
	if n := 1 + len(e.prefix) + 2*e.depth; n <= len(e.nl) {
		e.dst = append(e.dst, e.nl[:n]...)
		return
	}
	e.dst = append(e.dst, '\n')
	e.dst = append(e.dst, e.prefix...)
	for n := 2 * e.depth; n > 0; n -= len(indentSpaces) {
		e.dst = append(e.dst, indentSpaces[:min(n, len(indentSpaces))]...)
	}
}

// open starts an object or an array, c its opening bracket.
func (e *encoder) open(c byte) {
	e.dst = append(e.dst, c)
	e.depth++
	e.empty = true
}

// close ends the innermost object or array, c its closing bracket.
func (e *encoder) close(c byte) {
	e.depth--
	if e.indent && !e.empty {
		e.newline()
	}
	e.dst = append(e.dst, c)
	e.empty = false
}

// next starts an element of the innermost array.
func (e *encoder) next() {
	if !e.empty {
		e.dst = append(e.dst, ',')
	}
	e.empty = false
	if e.indent {
		e.newline()
	}
}

// key starts a member of the innermost object: k is its key quoted and
// the colon (`"name":`), one of the document's keys, which need no
// escaping.
func (e *encoder) key(k string) {
	e.next()
	e.dst = append(e.dst, k...)
	if e.indent {
		e.dst = append(e.dst, ' ')
	}
}

func (e *encoder) str(s string)               { e.dst = appendString(e.dst, s) }
func (e *encoder) int(i int64)                { e.dst = strconv.AppendInt(e.dst, i, 10) }
func (e *encoder) uint(u uint64)              { e.dst = strconv.AppendUint(e.dst, u, 10) }
func (e *encoder) bool(b bool)                { e.dst = strconv.AppendBool(e.dst, b) }
func (e *encoder) null()                      { e.dst = append(e.dst, "null"...) }
func (e *encoder) addr(a netip.Addr)          { e.dst = appendAddr(e.dst, a) }
func (e *encoder) addrPort(ap netip.AddrPort) { e.dst = appendAddrPort(e.dst, ap) }

// time appends t as time.Time's MarshalJSON does, with its error.
func (e *encoder) time(t time.Time) (err error) {
	e.dst, err = appendTime(e.dst, t)
	return err
}

// strs appends a non-nil slice of strings as an array.
func (e *encoder) strs(ss []string) {
	e.open('[')
	for _, s := range ss {
		e.next()
		e.str(s)
	}
	e.close(']')
}

// appendTime appends t as time.Time's MarshalJSON does, with its error
// for a time RFC 3339 cannot hold.
func appendTime(dst []byte, t time.Time) ([]byte, error) {
	n := len(dst)
	dst = append(dst, '"')
	out, err := t.AppendText(dst)
	if err != nil {
		return dst[:n], err
	}
	return append(out, '"'), nil
}

// appendAddr appends a as encoding/json encodes a TextMarshaler: its
// text (empty for the zero Addr) as a string.
func appendAddr(dst []byte, a netip.Addr) []byte {
	if a.Zone() != "" { // the only part of the text that could need escaping
		text, _ := a.MarshalText()
		return appendString(dst, string(text))
	}
	dst = append(dst, '"')
	dst = a.AppendTo(dst)
	return append(dst, '"')
}

// appendAddrPort appends ap as encoding/json encodes a TextMarshaler.
func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	if ap.Addr().Zone() != "" {
		text, _ := ap.MarshalText()
		return appendString(dst, string(text))
	}
	dst = append(dst, '"')
	dst = ap.AppendTo(dst) // nothing for the zero AddrPort, as MarshalText
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// safeASCII marks the ASCII bytes encoding/json writes as they are when it
// escapes HTML (its default): all but the controls, '"', '\\', '<', '>'
// and '&'.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// safeWord reports whether all eight bytes of x are safeASCII, a word
// at a time: the document's strings are mostly such runs (reasons, hashes,
// names), which a byte at a time made the larger part of encoding it. A
// byte's high bit ends up set in t where it is not ASCII, where it is below
// 0x20, and where it is zero after the xor with one of the unsafe bytes:
// (y - n*ones) &^ y has a high bit set if and only if some byte of y is
// below n (n at most 0x80). '"' and '&' differ in one bit, '<' and '>' in
// another: that bit set in every byte, one comparison finds either.
func safeWord(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	qa := (x | 0x04*ones) ^ ('&' * ones) // '"' or '&'
	lg := (x | 0x02*ones) ^ ('>' * ones) // '<' or '>'
	bs := x ^ ('\\' * ones)
	t := x | (x-0x20*ones)&^x | (qa-ones)&^qa | (lg-ones)&^lg | (bs-ones)&^bs
	return t&highs == 0
}

// safeRun returns the end of the run of safeASCII bytes of s from i, a
// word at a time and then a byte at a time. It is a function of its own so
// that its loop keeps its few variables in registers.
func safeRun(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		w := s[i : i+8]
		if !safeWord(uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
			uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56) {
			break
		}
	}
	for ; i < len(s) && s[i] < utf8.RuneSelf && safeASCII[s[i]]; i++ {
	}
	return i
}

// appendString appends s quoted as encoding/json's encoder does by
// default: controls, '"' and '\\' escaped, '<', '>' and '&' as \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 as \u2028 and \u2029.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = safeRun(s, i); i == len(s) {
			break
		}
		if b := s[i]; b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
