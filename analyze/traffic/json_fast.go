package traffic

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dockcase/dockcase/analyze/model"
)

// The analysis document holds one Flow and one Contact per conversation, a
// hundred thousand of each for a perimeter capture: encoding/json's
// reflection over them was the largest part of writing it. AppendJSON
// writes the bytes json.Marshal gives for the same value (keys in field
// order, omitempty as tagged, strings escaped as encoding/json escapes
// them, HTML characters included), without reflection. MarshalJSON uses it,
// so that every encoder of a Flow or a Contact writes the same bytes; a test
// compares both with the reflection encoder's, on hostile strings too.

// AppendJSON appends the compact JSON encoding of f to dst, byte for byte
// what json.Marshal gives.
func (f *Flow) AppendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, '{')
	first := true
	key := func(k string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
	}
	if f.Container != "" {
		key("container")
		dst = appendJSONString(dst, f.Container)
	}
	if f.ContainerName != "" {
		key("container_name")
		dst = appendJSONString(dst, f.ContainerName)
	}
	if len(f.NamespaceGroup) > 0 {
		key("namespace_group")
		dst = appendJSONStrings(dst, f.NamespaceGroup)
	}
	if f.ContainerSide != "" {
		key("container_side")
		dst = appendJSONString(dst, f.ContainerSide)
	}
	key("rule")
	dst = appendJSONString(dst, f.Rule)
	key("confidence")
	dst = appendJSONString(dst, f.Confidence)
	key("reason")
	dst = appendJSONString(dst, f.Reason)
	key("member")
	dst = appendJSONString(dst, f.Member)
	key("interface")
	dst = appendJSONString(dst, f.Interface)
	key("interface_id")
	dst = strconv.AppendInt(dst, int64(f.InterfaceID), 10)
	key("role")
	dst = appendJSONString(dst, f.Role)
	key("proto")
	dst = appendJSONString(dst, f.Proto)
	key("client")
	dst = appendJSONAddr(dst, f.Client)
	key("client_port")
	dst = strconv.AppendUint(dst, uint64(f.ClientPort), 10)
	key("server")
	dst = appendJSONAddr(dst, f.Server)
	key("server_port")
	dst = strconv.AppendUint(dst, uint64(f.ServerPort), 10)
	if o := f.Original; o != nil {
		key("original")
		dst = append(dst, `{"src":`...)
		dst = appendJSONAddr(dst, o.Src)
		dst = append(dst, `,"sport":`...)
		dst = strconv.AppendUint(dst, uint64(o.SPort), 10)
		dst = append(dst, `,"dst":`...)
		dst = appendJSONAddr(dst, o.Dst)
		dst = append(dst, `,"dport":`...)
		dst = strconv.AppendUint(dst, uint64(o.DPort), 10)
		dst = append(dst, '}')
	}
	key("first")
	if dst, err = appendJSONTime(dst, f.First); err != nil {
		return nil, err
	}
	key("last")
	if dst, err = appendJSONTime(dst, f.Last); err != nil {
		return nil, err
	}
	key("packets_to_server")
	dst = strconv.AppendUint(dst, f.PacketsToServer, 10)
	key("packets_to_client")
	dst = strconv.AppendUint(dst, f.PacketsToClient, 10)
	key("bytes_to_server")
	dst = strconv.AppendUint(dst, f.BytesToServer, 10)
	key("bytes_to_client")
	dst = strconv.AppendUint(dst, f.BytesToClient, 10)
	if f.TCPFlags != "" {
		key("tcp_flags")
		dst = appendJSONString(dst, f.TCPFlags)
	}
	if f.SNI != "" {
		key("sni")
		dst = appendJSONString(dst, f.SNI)
	}
	if f.HTTPHost != "" {
		key("http_host")
		dst = appendJSONString(dst, f.HTTPHost)
	}
	if len(f.Names) > 0 {
		key("names")
		dst = appendJSONStrings(dst, f.Names)
	}
	key("first_frame")
	dst = strconv.AppendUint(dst, f.FirstFrame, 10)
	key("last_frame")
	dst = strconv.AppendUint(dst, f.LastFrame, 10)
	key("evidence")
	if f.Evidence == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range f.Evidence {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONEvidence(dst, &f.Evidence[i])
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

// MarshalJSON implements json.Marshaler through AppendJSON.
func (f Flow) MarshalJSON() ([]byte, error) { return f.AppendJSON(nil) }

// AppendJSON appends the compact JSON encoding of c to dst, byte for byte
// what json.Marshal gives.
func (c *Contact) AppendJSON(dst []byte) ([]byte, error) {
	var err error
	dst = append(dst, '{')
	first := true
	key := func(k string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
	}
	if c.Container != "" {
		key("container")
		dst = appendJSONString(dst, c.Container)
	}
	if c.ContainerName != "" {
		key("container_name")
		dst = appendJSONString(dst, c.ContainerName)
	}
	if len(c.Group) > 0 {
		key("group")
		dst = append(dst, '[')
		for i, g := range c.Group {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = appendJSONString(dst, g.ID)
			if g.Name != "" {
				dst = append(dst, `,"name":`...)
				dst = appendJSONString(dst, g.Name)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if len(c.Candidates) > 0 {
		key("candidates")
		dst = append(dst, '[')
		for i, g := range c.Candidates {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = appendJSONString(dst, g.ID)
			if g.Name != "" {
				dst = append(dst, `,"name":`...)
				dst = appendJSONString(dst, g.Name)
			}
			if g.Certain {
				dst = append(dst, `,"certain":true`...)
			}
			dst = append(dst, `,"reason":`...)
			dst = appendJSONString(dst, g.Reason)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if p := c.Process; p != nil {
		key("process")
		dst = append(dst, `{"pid":`...)
		dst = strconv.AppendInt(dst, int64(p.PID), 10)
		if p.Comm != "" {
			dst = append(dst, `,"comm":`...)
			dst = appendJSONString(dst, p.Comm)
		}
		if len(p.Cmdline) > 0 {
			dst = append(dst, `,"cmdline":`...)
			dst = appendJSONStrings(dst, p.Cmdline)
		}
		if p.Container != "" {
			dst = append(dst, `,"container":`...)
			dst = appendJSONString(dst, p.Container)
		}
		dst = append(dst, '}')
	}
	key("proto")
	dst = appendJSONString(dst, c.Proto)
	key("side")
	dst = appendJSONString(dst, c.Side)
	key("local")
	dst = appendJSONAddrPort(dst, c.Local)
	key("remote")
	dst = appendJSONAddrPort(dst, c.Remote)
	key("first")
	if dst, err = appendJSONTime(dst, c.First); err != nil {
		return nil, err
	}
	key("last")
	if dst, err = appendJSONTime(dst, c.Last); err != nil {
		return nil, err
	}
	key("exact")
	dst = strconv.AppendBool(dst, c.Exact)
	if c.Dating != "" {
		key("dating")
		dst = appendJSONString(dst, c.Dating)
	}
	key("packets_to_remote")
	dst = strconv.AppendUint(dst, c.PacketsToRemote, 10)
	key("packets_from_remote")
	dst = strconv.AppendUint(dst, c.PacketsFromRemote, 10)
	key("bytes_to_remote")
	dst = strconv.AppendUint(dst, c.BytesToRemote, 10)
	key("bytes_from_remote")
	dst = strconv.AppendUint(dst, c.BytesFromRemote, 10)
	if c.CountedAt != "" {
		key("counted_at")
		dst = appendJSONString(dst, c.CountedAt)
	}
	if c.SNI != "" {
		key("sni")
		dst = appendJSONString(dst, c.SNI)
	}
	if c.HTTPHost != "" {
		key("http_host")
		dst = appendJSONString(dst, c.HTTPHost)
	}
	if len(c.Names) > 0 {
		key("names")
		dst = appendJSONStrings(dst, c.Names)
	}
	key("rules")
	if c.Rules == nil {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONStrings(dst, c.Rules)
	}
	key("confidence")
	dst = appendJSONString(dst, c.Confidence)
	key("reason")
	dst = appendJSONString(dst, c.Reason)
	key("sources")
	if c.Sources == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range c.Sources {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONSource(dst, &c.Sources[i])
		}
		dst = append(dst, ']')
	}
	key("evidence")
	if c.Evidence == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, e := range c.Evidence {
			if i > 0 {
				dst = append(dst, ',')
			}
			if e == nil {
				dst = append(dst, "null"...)
			} else {
				dst = appendJSONEvidence(dst, e)
			}
		}
		dst = append(dst, ']')
	}
	return append(dst, '}'), nil
}

// MarshalJSON implements json.Marshaler through AppendJSON.
func (c Contact) MarshalJSON() ([]byte, error) { return c.AppendJSON(nil) }

// appendJSONSource appends a ContactSource as json.Marshal does.
func appendJSONSource(dst []byte, s *ContactSource) []byte {
	dst = append(dst, `{"kind":`...)
	dst = appendJSONString(dst, s.Kind)
	if s.Interface != "" {
		dst = append(dst, `,"interface":`...)
		dst = appendJSONString(dst, s.Interface)
	}
	if s.Role != "" {
		dst = append(dst, `,"role":`...)
		dst = appendJSONString(dst, s.Role)
	}
	if s.Flow != nil {
		dst = append(dst, `,"flow":`...)
		dst = strconv.AppendInt(dst, int64(*s.Flow), 10)
	}
	if s.Packets != 0 {
		dst = append(dst, `,"packets":`...)
		dst = strconv.AppendUint(dst, s.Packets, 10)
	}
	if s.Bytes != 0 {
		dst = append(dst, `,"bytes":`...)
		dst = strconv.AppendUint(dst, s.Bytes, 10)
	}
	if s.State != "" {
		dst = append(dst, `,"state":`...)
		dst = appendJSONString(dst, s.State)
	}
	if s.Evidence != nil {
		dst = append(dst, `,"evidence":`...)
		dst = appendJSONEvidence(dst, s.Evidence)
	}
	return append(dst, '}')
}

// appendJSONEvidence appends a model.Evidence as json.Marshal does.
func appendJSONEvidence(dst []byte, e *model.Evidence) []byte {
	dst = append(dst, `{"member":`...)
	dst = appendJSONString(dst, e.Member)
	if e.SHA256 != "" {
		dst = append(dst, `,"sha256":`...)
		dst = appendJSONString(dst, e.SHA256)
	}
	if e.Pointer != "" {
		dst = append(dst, `,"pointer":`...)
		dst = appendJSONString(dst, e.Pointer)
	}
	if e.Line != 0 {
		dst = append(dst, `,"line":`...)
		dst = strconv.AppendInt(dst, int64(e.Line), 10)
	}
	if e.Text != "" {
		dst = append(dst, `,"text":`...)
		dst = appendJSONString(dst, e.Text)
	}
	return append(dst, '}')
}

// appendJSONTime appends t as time.Time's MarshalJSON does, with its error
// for a time RFC 3339 cannot hold.
func appendJSONTime(dst []byte, t time.Time) ([]byte, error) {
	n := len(dst)
	dst = append(dst, '"')
	out, err := t.AppendText(dst)
	if err != nil {
		return dst[:n], err
	}
	return append(out, '"'), nil
}

// appendJSONAddr appends a as encoding/json encodes a TextMarshaler: its
// text (empty for the zero Addr) as a string.
func appendJSONAddr(dst []byte, a netip.Addr) []byte {
	if a.Zone() != "" { // the only part of the text that could need escaping
		text, _ := a.MarshalText()
		return appendJSONString(dst, string(text))
	}
	dst = append(dst, '"')
	dst = a.AppendTo(dst)
	return append(dst, '"')
}

// appendJSONAddrPort appends ap as encoding/json encodes a TextMarshaler.
func appendJSONAddrPort(dst []byte, ap netip.AddrPort) []byte {
	if ap.Addr().Zone() != "" {
		text, _ := ap.MarshalText()
		return appendJSONString(dst, string(text))
	}
	dst = append(dst, '"')
	dst = ap.AppendTo(dst) // nothing for the zero AddrPort, as MarshalText
	return append(dst, '"')
}

// appendJSONStrings appends a non-nil slice of strings as a JSON array.
func appendJSONStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s)
	}
	return append(dst, ']')
}

const jsonHex = "0123456789abcdef"

// jsonSafe marks the ASCII bytes encoding/json writes as they are when it
// escapes HTML (its default): all but the controls, '"', '\\', '<', '>'
// and '&'.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = true
	}
	for _, b := range `"\<>&` {
		t[b] = false
	}
	return t
}()

// appendJSONString appends s quoted as encoding/json's encoder does by
// default: controls, '"' and '\\' escaped, '<', '>' and '&' as \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 as \u2028 and \u2029.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
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
				dst = append(dst, '\\', 'u', '0', '0', jsonHex[b>>4], jsonHex[b&0xF])
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
			dst = append(dst, '\\', 'u', '2', '0', '2', jsonHex[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
