package flow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/dockcase/dockcase/internal/packet"
	"golang.org/x/net/dns/dnsmessage"
)

// Limits of name extraction. Payloads are attacker-controlled and often cut by the
// capture's snap length; every parser here reads only what is present and stops at
// the first length that does not fit.
const (
	// maxNamePayloadBytes is how much of a flow's first client payload is looked at
	// for a TLS server name or an HTTP Host: 4 KiB. A ClientHello with a post-quantum
	// key share is about 1.8 KiB, and a request line with its headers up to the Host
	// fits in far less; a longer prefix only costs time.
	maxNamePayloadBytes = 4096
	// maxDNSBytes is the largest DNS message parsed: 65,535 bytes, the DNS
	// maximum (TCP length prefix), never more than the capture holds.
	maxDNSBytes = 65535
	// maxDNSLog bounds the DNS responses logged per capture: 65,536 (about 20
	// MiB at a few answers each); further ones are counted in DNSDropped.
	maxDNSLog = 65536
	// maxDNSAnswers bounds the answers kept per response: 64, more than any
	// resolver returns for one name (round-robin sets are a few dozen at most).
	maxDNSAnswers = 64
	// MaxNameBytes is the longest name kept: 253 bytes, the longest DNS name
	// in text form. Longer SNI or Host values are not host names and are dropped.
	MaxNameBytes = 253
)

// DNS record types kept in DNSAnswer.Type.
const (
	DNSTypeA     = 1
	DNSTypeCNAME = 5
	DNSTypeAAAA  = 28
)

// DNSAnswer is one A, AAAA or CNAME record of the answer section. Names are
// lowercased, without the trailing dot, and attacker-controlled.
type DNSAnswer struct {
	Name   string // owner name
	Type   uint16 // DNSTypeA, DNSTypeAAAA or DNSTypeCNAME
	TTL    uint32
	Addr   netip.Addr // A and AAAA
	Target string     // CNAME
}

// DNSResponse is one DNS response seen in a capture (UDP or TCP from port 53).
type DNSResponse struct {
	Point  *Point
	Time   int64 // ns since the Unix epoch
	Frame  uint64
	Client netip.Addr // the address that asked: the response's destination
	Server netip.Addr
	QName  string // first question, lowercased, without the trailing dot
	QType  uint16
	RCode  uint8
	// Answers are the A, AAAA and CNAME records of the answer section, in order
	// (at most maxDNSAnswers); other types are skipped.
	Answers []DNSAnswer
	// Partial says the message was cut (snap length, TCP segment) or malformed
	// after the question: Answers are those before the cut.
	Partial bool
}

// NamesFor returns the names that resolve to a in r: the owners of A or AAAA
// answers equal to a, then the owners of CNAMEs pointing at one of those, and so
// on up the chain. The result is in discovery order, without duplicates.
func (r *DNSResponse) NamesFor(a netip.Addr) []string {
	var names []string
	has := func(n string) bool {
		for _, m := range names {
			if m == n {
				return true
			}
		}
		return false
	}
	for _, ans := range r.Answers {
		if ans.Type != DNSTypeCNAME && ans.Addr == a && !has(ans.Name) {
			names = append(names, ans.Name)
		}
	}
	// Each pass adds at least one name or stops, and names come from Answers, so
	// the walk ends within len(Answers) passes even on a CNAME loop.
	for range r.Answers {
		grew := false
		for _, ans := range r.Answers {
			if ans.Type == DNSTypeCNAME && has(ans.Target) && !has(ans.Name) {
				names = append(names, ans.Name)
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	return names
}

// normalizeName returns a name as the analysis compares names: ASCII lowercase,
// without a trailing dot.
func normalizeName(b []byte) string {
	b = bytes.TrimSuffix(b, []byte("."))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			// ASCII only: DNS compares names so (RFC 4343), and other bytes,
			// not always UTF-8, stay as the evidence has them.
			l := bytes.Clone(b)
			for j := i; j < len(l); j++ {
				if 'A' <= l[j] && l[j] <= 'Z' {
					l[j] += 'a' - 'A'
				}
			}
			return string(l)
		}
	}
	return string(b)
}

func dnsName(n dnsmessage.Name) string {
	return normalizeName(n.Data[:n.Length])
}

var errNotResponse = errors.New("dns message is not a response")

// parseDNS parses a DNS response message. It returns an error when the header
// or the question cannot be read or the message is a query; a message cut later
// returns the answers before the cut with Partial set.
func parseDNS(msg []byte) (DNSResponse, error) {
	var r DNSResponse
	if len(msg) > maxDNSBytes {
		msg = msg[:maxDNSBytes]
	}
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil {
		return r, fmt.Errorf("parse dns header: %w", err)
	}
	if !h.Response {
		return r, errNotResponse
	}
	r.RCode = uint8(h.RCode)
	q, err := p.Question()
	switch {
	case errors.Is(err, dnsmessage.ErrSectionDone):
		// A response without a question (rare, but legal) still has answers.
	case err != nil:
		return r, fmt.Errorf("parse dns question: %w", err)
	default:
		r.QName, r.QType = dnsName(q.Name), uint16(q.Type)
	}
	if err := p.SkipAllQuestions(); err != nil {
		r.Partial = true
		return r, nil
	}
	for len(r.Answers) < maxDNSAnswers {
		ah, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			return r, nil
		}
		if err != nil {
			r.Partial = true
			return r, nil
		}
		ans := DNSAnswer{Type: uint16(ah.Type), TTL: ah.TTL}
		switch ah.Type {
		case dnsmessage.TypeA:
			var a dnsmessage.AResource
			if a, err = p.AResource(); err == nil {
				ans.Addr = netip.AddrFrom4(a.A)
			}
		case dnsmessage.TypeAAAA:
			var a dnsmessage.AAAAResource
			if a, err = p.AAAAResource(); err == nil {
				ans.Addr = netip.AddrFrom16(a.AAAA)
			}
		case dnsmessage.TypeCNAME:
			var c dnsmessage.CNAMEResource
			if c, err = p.CNAMEResource(); err == nil {
				ans.Target = dnsName(c.CNAME)
			}
		default:
			if err = p.SkipAnswer(); err == nil {
				continue
			}
		}
		if err != nil {
			r.Partial = true
			return r, nil
		}
		ans.Name = dnsName(ah.Name)
		r.Answers = append(r.Answers, ans)
	}
	r.Partial = true // more answers than kept
	return r, nil
}

// addDNS logs the DNS response in payload, if it is one: a UDP or TCP payload from
// port 53. A TCP payload is parsed only when it starts a message.
func (t *Table) addDNS(pt *Point, ev *event, payload []byte) {
	msg := payload
	if ev.key.proto == packet.IPProtoTCP {
		if len(msg) < 2 {
			return
		}
		n := int(binary.BigEndian.Uint16(msg))
		msg = msg[2:]
		if n < len(msg) {
			msg = msg[:n]
		}
	}
	if len(msg) < 12 || msg[2]&0x80 == 0 { // header incomplete, or QR clear: a query
		return
	}
	if len(t.dns) >= maxDNSLog {
		t.dnsDropped++
		return
	}
	resp, err := parseDNS(msg)
	if err != nil {
		t.dnsErrors++
		return
	}
	resp.Point, resp.Time, resp.Frame = pt, ev.time, ev.frame
	a, b := ev.key.Addrs()
	resp.Client, resp.Server = a, b // the response's destination asked
	if ev.has(evFwd) {
		resp.Client, resp.Server = b, a
	}
	t.dns = append(t.dns, resp)
}

// addNames looks for a TLS server name or an HTTP Host in a flow's first client
// payload.
func (t *Table) addNames(f *state, frame uint64, payload []byte) {
	if len(payload) > maxNamePayloadBytes {
		payload = payload[:maxNamePayloadBytes]
	}
	if sni, ok := parseSNI(payload); ok {
		t.names = append(t.names, payloadNames{sni: sni, frame: frame})
	} else if host, ok := parseHTTPHost(payload); ok {
		t.names = append(t.names, payloadNames{host: host, frame: frame})
	} else {
		return
	}
	f.names = uint32(len(t.names))
}

// byteReader reads big-endian fields from a byte slice; a read past the end sets
// bad and returns zero, so a parser checks once after a group of reads.
type byteReader struct {
	b   []byte
	bad bool
}

func (r *byteReader) u8() int {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := int(r.b[0])
	r.b = r.b[1:]
	return v
}

func (r *byteReader) u16() int {
	if len(r.b) < 2 {
		r.bad = true
		return 0
	}
	v := int(binary.BigEndian.Uint16(r.b))
	r.b = r.b[2:]
	return v
}

func (r *byteReader) u24() int {
	if len(r.b) < 3 {
		r.bad = true
		return 0
	}
	v := int(r.b[0])<<16 | int(r.b[1])<<8 | int(r.b[2])
	r.b = r.b[3:]
	return v
}

// bytes returns the next n bytes, or fewer when the data ends first (a truncated
// capture): truncation is reported by cut.
func (r *byteReader) bytes(n int) (b []byte, cut bool) {
	if n > len(r.b) {
		b, r.b = r.b, nil
		return b, true
	}
	b, r.b = r.b[:n], r.b[n:]
	return b, false
}

func (r *byteReader) skip(n int) {
	if n > len(r.b) {
		r.b, r.bad = nil, true
		return
	}
	r.b = r.b[n:]
}

// TLS constants of the ClientHello walk (RFC 8446 section 4).
const (
	tlsHandshake     = 22
	tlsClientHello   = 1
	tlsExtServerName = 0
	tlsHostName      = 0
	tlsRandomBytes   = 32
)

// parseSNI returns the server_name of a TLS ClientHello at the start of b. The
// record may be cut (snap length, or a ClientHello spanning TCP segments): the
// extensions present are walked and the name is returned if it is among them.
func parseSNI(b []byte) (string, bool) {
	r := byteReader{b: b}
	if r.u8() != tlsHandshake || r.u8() != 3 { // content type, major version
		return "", false
	}
	r.u8() // minor version: SSL 3.0 to TLS 1.3 records all start 3.x
	recLen := r.u16()
	if r.bad {
		return "", false
	}
	rec, _ := r.bytes(recLen)
	r = byteReader{b: rec}
	if r.u8() != tlsClientHello {
		return "", false
	}
	hs, _ := r.bytes(r.u24())
	r = byteReader{b: hs}
	r.skip(2 + tlsRandomBytes) // client_version, random
	r.skip(r.u8())             // legacy_session_id
	r.skip(r.u16())            // cipher_suites
	r.skip(r.u8())             // legacy_compression_methods
	extLen := r.u16()
	if r.bad {
		return "", false
	}
	exts, _ := r.bytes(extLen)
	r = byteReader{b: exts}
	for len(r.b) >= 4 {
		typ, n := r.u16(), r.u16()
		data, cut := r.bytes(n)
		if typ != tlsExtServerName {
			if cut {
				return "", false
			}
			continue
		}
		list := byteReader{b: data}
		names, _ := list.bytes(list.u16())
		list = byteReader{b: names}
		for len(list.b) >= 3 {
			nt := list.u8()
			name, cut := list.bytes(list.u16())
			if cut {
				return "", false // a cut name is not the name
			}
			if nt == tlsHostName {
				return hostName(name)
			}
		}
		return "", false
	}
	return "", false
}

// hostName validates a host name from SNI or a Host header and normalises it.
func hostName(b []byte) (string, bool) {
	if len(b) == 0 || len(b) > MaxNameBytes {
		return "", false
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f {
			return "", false // control characters and spaces are not in host names
		}
	}
	n := normalizeName(b)
	return n, n != ""
}

// parseHTTPHost returns the Host header of an HTTP/1 request at the start of
// b, without the port. Only the part of the request present in b is read.
func parseHTTPHost(b []byte) (string, bool) {
	// The request line: an upper-case method token, a space, the target, and
	// HTTP/1.x. Anything else is not an HTTP/1 request.
	i := 0
	for i < len(b) && i <= 16 && 'A' <= b[i] && b[i] <= 'Z' {
		i++
	}
	if i < 3 || i >= len(b) || b[i] != ' ' {
		return "", false
	}
	end := bytes.IndexByte(b, '\n')
	if end < 0 {
		return "", false
	}
	line := bytes.TrimSuffix(b[:end], []byte("\r"))
	if sp := bytes.LastIndexByte(line, ' '); sp < 0 || !bytes.HasPrefix(line[sp+1:], []byte("HTTP/1.")) {
		return "", false
	}
	rest := b[end+1:]
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			return "", false // the header line is cut: its value may be too
		}
		line := bytes.TrimSuffix(rest[:end], []byte("\r"))
		rest = rest[end+1:]
		if len(line) == 0 {
			return "", false // end of the headers
		}
		if len(line) < 5 || !bytes.EqualFold(line[:5], []byte("host:")) {
			continue
		}
		v := bytes.Trim(line[5:], " \t")
		if len(v) > 0 && v[0] == '[' { // IPv6 literal
			if j := bytes.IndexByte(v, ']'); j > 0 {
				return hostName(v[1:j])
			}
			return "", false
		}
		if j := bytes.LastIndexByte(v, ':'); j >= 0 && allDigits(v[j+1:]) {
			v = v[:j]
		}
		return hostName(v)
	}
	return "", false
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
