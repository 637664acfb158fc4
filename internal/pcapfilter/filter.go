// Package pcapfilter compiles tcpdump filter expressions (the subset a
// responder types: host, net, port, portrange, proto and their qualifiers)
// into classic BPF programs for a capture interface's link type, as
// pcapfilter.Compile(expr, lt, snaplen). It is pure Go and runs anywhere.
package pcapfilter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/dockcase/dockcase/internal/pcapng"
	"golang.org/x/net/bpf"
)

const (
	// maxFilterExprBytes bounds the expression text: a hand-typed tcpdump
	// expression is a few hundred bytes, and the kernel refuses programs
	// longer than maxFilterInstructions long before 4 KiB of text anyway.
	maxFilterExprBytes = 4096
	// maxFilterDepth bounds the nesting of parentheses and negations, so that
	// the recursive-descent parser cannot be driven into deep recursion.
	maxFilterDepth = 64
	// maxFilterInstructions is the kernel's limit on a classic BPF socket
	// filter (BPF_MAXINSNS in include/uapi/linux/bpf_common.h).
	maxFilterInstructions = 4096
	// filterAcceptBytes is what the program returns for an accepted packet:
	// the number of bytes to keep. It is libpcap's maximum snapshot length;
	// the capture's own snaplen, when smaller, still applies.
	filterAcceptBytes = 262144
	// filterMaxCondSkip is the longest forward skip a classic BPF
	// conditional jump can encode (8-bit jt/jf fields).
	filterMaxCondSkip = 255
)

// Error reports a capture filter expression that is outside the
// supported subset of tcpdump syntax or is malformed. Offset is the byte
// offset of the offending word in Expr, or -1 when the error concerns the
// whole expression.
type Error struct {
	Expr   string
	Offset int
	Msg    string
}

// Error formats the error as `capture filter "EXPR": MSG at offset N`.
func (e *Error) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("capture filter %q: %s", e.Expr, e.Msg)
	}
	return fmt.Sprintf("capture filter %q: %s at offset %d", e.Expr, e.Msg, e.Offset)
}

// Compile compiles a tcpdump filter expression into a classic BPF program
// for a capture interface of the given link type (pcapng.LinkTypeEthernet,
// or raw IP: pcapng.LinkTypeRaw, or LinkTypeRawBSD12, the number Linux
// libpcap hands out for raw-IP interfaces), ready for SO_ATTACH_FILTER; with snaplen > 0 every accepting return keeps at most
// snaplen bytes, so that the kernel truncates as libpcap does. The program accepts exactly the packets libpcap's own
// program for the same expression accepts.
//
// The supported subset is: host, net (CIDR or "mask"), port, portrange,
// proto, the direction qualifiers src, dst, "src or dst", "src and dst", the
// protocol qualifiers ip, ip6, arp (for host and net), tcp, udp (for port and
// portrange), ip, ip6 (for proto), the primitives ip, ip6, arp, tcp, udp,
// icmp, icmp6, and/&&, or/||, not/!, parentheses, and tcpdump's habit of
// carrying the last qualifier over to a bare value ("host A or B"). As in
// tcpdump, and and or have the same precedence and group to the left.
// Anything else is an *Error that names the word and its offset.
// An empty expression accepts every packet.
func Compile(expr string, linkType pcapng.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	prog, err := compile(expr, linkType)
	if err != nil || snaplen <= 0 {
		return prog, err
	}
	for i, in := range prog {
		if in.Op == opRetK && in.K > uint32(snaplen) {
			prog[i].K = uint32(snaplen)
		}
	}
	return prog, nil
}

// opRetK is the opcode of "ret #k" (BPF_RET|BPF_K), the only return the
// compiler emits.
const opRetK = 0x06

func compile(expr string, linkType pcapng.LinkType) ([]bpf.RawInstruction, error) {
	if len(expr) > maxFilterExprBytes {
		return nil, &Error{Expr: expr[:64] + "...", Offset: -1,
			Msg: fmt.Sprintf("expression of %d bytes exceeds the limit of %d bytes", len(expr), maxFilterExprBytes)}
	}
	var linkOff uint32
	switch linkType {
	case pcapng.LinkTypeEthernet:
		linkOff = 14
	case pcapng.LinkTypeRaw, pcapng.LinkTypeRawBSD12:
		linkOff = 0
	default:
		return nil, &Error{Expr: expr, Offset: -1, Msg: fmt.Sprintf("unsupported link type %d", linkType)}
	}
	toks := filterLex(expr)
	p := &filterParser{expr: expr, toks: toks, raw: linkOff == 0, linkOff: linkOff}
	var root filterNode = filterConst(true)
	if len(toks) > 0 {
		var err error
		root, _, err = p.parseExpr(filterQual{})
		if err != nil {
			return nil, err
		}
		if p.pos < len(p.toks) {
			return nil, p.unexpected(p.toks[p.pos], "")
		}
	}
	prog := filterAssemble(root, linkOff)
	if len(prog) > maxFilterInstructions {
		return nil, &Error{Expr: expr, Offset: -1,
			Msg: fmt.Sprintf("program of %d instructions exceeds the kernel limit of %d", len(prog), maxFilterInstructions)}
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble capture filter %q: %w", expr, err)
	}
	return raw, nil
}

// SSHConnection returns the filter expression that excludes the SSH
// connection described by sshConnection, the value sshd puts in
// SSH_CONNECTION ("client_ip client_port server_ip server_port"). A capture
// streamed out over that connection would otherwise capture itself.
func SSHConnection(sshConnection string) (string, error) {
	f := strings.Fields(sshConnection)
	if len(f) != 4 {
		return "", fmt.Errorf("parse SSH_CONNECTION %q: want 4 fields, got %d", sshConnection, len(f))
	}
	var addrs [2]netip.Addr
	var ports [2]uint64
	for i := range 2 {
		// sshd may print a link-local address with its zone; BPF sees no
		// zones, and the address alone identifies the peer on the wire.
		a, err := netip.ParseAddr(f[2*i])
		if err != nil {
			return "", fmt.Errorf("parse SSH_CONNECTION %q: address: %w", sshConnection, err)
		}
		// A v4-mapped address exists only in the socket API: on the wire
		// the connection is IPv4.
		addrs[i] = a.WithZone("").Unmap()
		p, err := strconv.ParseUint(f[2*i+1], 10, 16)
		if err != nil || p == 0 {
			return "", fmt.Errorf("parse SSH_CONNECTION %q: invalid port %q", sshConnection, f[2*i+1])
		}
		ports[i] = p
	}
	if addrs[0].Is4() != addrs[1].Is4() {
		return "", fmt.Errorf("parse SSH_CONNECTION %q: client and server address families differ", sshConnection)
	}
	return fmt.Sprintf("not (host %s and host %s and port %d and port %d)", addrs[0], addrs[1], ports[0], ports[1]), nil
}

// Combine returns the expression that accepts what both a and b
// accept. Either may be empty (accept everything). Each side is
// parenthesised so that tcpdump's equal precedence of and and or cannot
// regroup them.
func Combine(a, b string) string {
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return "(" + a + ") and (" + b + ")"
}

// Lexer.

type filterTokKind int

const (
	ftWord filterTokKind = iota
	ftLParen
	ftRParen
	ftNot   // "!" or "not"
	ftAnd   // "&&" or "and"
	ftOr    // "||" or "or"
	ftSlash // "/" of a CIDR
	ftOther // anything outside the subset: "[", ">", "&", ...
)

type filterToken struct {
	kind filterTokKind
	text string
	off  int
}

func filterIsWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == ':' || c == '-' || c == '_' || c == '\\'
}

func filterLex(expr string) []filterToken {
	var toks []filterToken
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			toks = append(toks, filterToken{ftLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, filterToken{ftRParen, ")", i})
			i++
		case c == '/':
			toks = append(toks, filterToken{ftSlash, "/", i})
			i++
		case c == '!' && !strings.HasPrefix(expr[i:], "!="):
			toks = append(toks, filterToken{ftNot, "!", i})
			i++
		case strings.HasPrefix(expr[i:], "&&"):
			toks = append(toks, filterToken{ftAnd, "&&", i})
			i += 2
		case strings.HasPrefix(expr[i:], "||"):
			toks = append(toks, filterToken{ftOr, "||", i})
			i += 2
		case filterIsWordByte(c):
			j := i
			for j < len(expr) && filterIsWordByte(expr[j]) {
				j++
			}
			w := expr[i:j]
			kind := ftWord
			switch w {
			case "and":
				kind = ftAnd
			case "or":
				kind = ftOr
			case "not":
				kind = ftNot
			}
			toks = append(toks, filterToken{kind, w, i})
			i = j
		default:
			// Arithmetic (tcp[13] & 2 != 0), comparisons and the like: the
			// parser reports it where it stands, after any unsupported
			// keyword before it ("len > 100" names "len").
			j := i + 1
			for j < len(expr) && !filterIsWordByte(expr[j]) && strings.IndexByte(" \t\n\r()", expr[j]) < 0 {
				j++
			}
			toks = append(toks, filterToken{ftOther, expr[i:j], i})
			i = j
		}
	}
	return toks
}

// Qualifiers, as in libpcap's struct qual.

type filterProto int

const (
	fpDefault filterProto = iota
	fpIP
	fpIP6
	fpARP
	fpTCP
	fpUDP
)

type filterDir int

const (
	fdDefault filterDir = iota
	fdSrc
	fdDst
	fdOr
	fdAnd
)

type filterAddr int

const (
	faDefault filterAddr = iota // a direction alone: "src 10.0.0.1"
	faHost
	faNet
	faPort
	faPortRange
	faProto
)

// filterQual is the qualifier of a primitive; tcpdump carries the last one
// over to a bare value after and/or. The zero value is "no qualifier", what
// libpcap calls qerr: a bare value after it is an error.
type filterQual struct {
	ok    bool
	proto filterProto
	dir   filterDir
	addr  filterAddr
	word  string // the qualifier word naming addr, for messages
}

var filterProtoWords = map[string]filterProto{
	"ip": fpIP, "ip6": fpIP6, "arp": fpARP, "tcp": fpTCP, "udp": fpUDP,
}

var filterAddrWords = map[string]filterAddr{
	"host": faHost, "net": faNet, "port": faPort, "portrange": faPortRange, "proto": faProto,
}

// filterPrimitives are the words that make a test on their own.
var filterPrimitives = map[string]bool{
	"ip": true, "ip6": true, "arp": true, "tcp": true, "udp": true, "icmp": true, "icmp6": true,
}

// Boolean tree of packet tests.

type filterNode interface{}

type filterConst bool

type filterAnd struct{ a, b filterNode }

type filterOr struct{ a, b filterNode }

type filterNot struct{ a filterNode }

// filterCmp loads size bytes at off (past the IPv4 header when ind is set)
// and compares them with val: equal after masking, or, with set, any bit of
// val set.
type filterCmp struct {
	ind  bool
	off  uint32
	size int
	mask uint32
	set  bool
	val  uint32
}

// filterRange is lo <= load <= hi, for portrange.
type filterRange struct {
	ind    bool
	off    uint32
	size   int
	lo, hi uint32
}

func filterAndN(ns ...filterNode) filterNode {
	n := ns[0]
	for _, m := range ns[1:] {
		n = filterAnd{n, m}
	}
	return n
}

func filterOrN(ns ...filterNode) filterNode {
	n := ns[0]
	for _, m := range ns[1:] {
		n = filterOr{n, m}
	}
	return n
}

// Parser: recursive descent over libpcap's grammar (grammar.y), including
// its rule that a bare value takes the qualifier of the primitive before it.

type filterParser struct {
	expr    string
	toks    []filterToken
	pos     int
	depth   int
	raw     bool
	linkOff uint32
}

func (p *filterParser) errAt(t filterToken, msg string) error {
	return &Error{Expr: p.expr, Offset: t.off, Msg: msg}
}

// unexpected reports token t where it does not fit; what is appended to
// the message when t is at least a token of the subset.
func (p *filterParser) unexpected(t filterToken, what string) error {
	if t.kind == ftOther {
		return p.errAt(t, fmt.Sprintf("unsupported token %q", t.text))
	}
	return p.errAt(t, fmt.Sprintf("unexpected %q%s", t.text, what))
}

func (p *filterParser) errEnd(msg string) error {
	return &Error{Expr: p.expr, Offset: len(p.expr), Msg: msg}
}

func (p *filterParser) peek(k int) (filterToken, bool) {
	if p.pos+k < len(p.toks) {
		return p.toks[p.pos+k], true
	}
	return filterToken{}, false
}

func (p *filterParser) enter() error {
	p.depth++
	if p.depth > maxFilterDepth {
		t, _ := p.peek(0)
		return p.errAt(t, fmt.Sprintf("nesting deeper than %d", maxFilterDepth))
	}
	return nil
}

// parseExpr parses term { (and|or) (term|value) }, left to right with equal
// precedence. carried is the qualifier in force before the expression.
func (p *filterParser) parseExpr(carried filterQual) (filterNode, filterQual, error) {
	n, q, err := p.parseTerm(carried)
	if err != nil {
		return nil, q, err
	}
	for {
		t, ok := p.peek(0)
		if !ok || (t.kind != ftAnd && t.kind != ftOr) {
			return n, q, nil
		}
		p.pos++
		var rhs filterNode
		if p.valueAhead() {
			rhs, err = p.parseID(q)
		} else {
			rhs, q, err = p.parseTerm(q)
		}
		if err != nil {
			return nil, q, err
		}
		if t.kind == ftAnd {
			n = filterAnd{n, rhs}
		} else {
			n = filterOr{n, rhs}
		}
	}
}

// valueAhead reports whether the operand after and/or is a bare value (which
// takes the carried qualifier) rather than a primitive: libpcap decides on
// the first token that is not "not" or "(".
func (p *filterParser) valueAhead() bool {
	for k := 0; ; k++ {
		t, ok := p.peek(k)
		if !ok {
			return false
		}
		switch t.kind {
		case ftNot, ftLParen:
			continue
		case ftWord:
			return !filterIsKeyword(t.text)
		default:
			return false
		}
	}
}

// filterIsKeyword reports whether w is a keyword, supported or not, rather
// than a value.
func filterIsKeyword(w string) bool {
	return filterIsOwnKeyword(w) || filterLooksLikeKeyword(w)
}

// filterIsOwnKeyword reports whether w is a keyword of the supported subset.
func filterIsOwnKeyword(w string) bool {
	_, ok := filterAddrWords[w]
	return ok || filterPrimitives[w] || w == "src" || w == "dst" || w == "mask"
}

// filterLooksLikeKeyword reports whether w cannot be an address, a number
// or a port range, so it must be meant as a keyword.
func filterLooksLikeKeyword(w string) bool {
	if _, err := netip.ParseAddr(w); err == nil {
		return false
	}
	if w != "" && (w[0] >= '0' && w[0] <= '9' || w[0] == '\\') {
		return false
	}
	return !strings.Contains(w, ":")
}

func (p *filterParser) parseTerm(carried filterQual) (filterNode, filterQual, error) {
	if err := p.enter(); err != nil {
		return nil, carried, err
	}
	defer func() { p.depth-- }()
	t, ok := p.peek(0)
	if !ok {
		return nil, carried, p.errEnd("expression ends where a primitive is expected")
	}
	switch t.kind {
	case ftNot:
		p.pos++
		n, q, err := p.parseTerm(carried)
		if err != nil {
			return nil, q, err
		}
		return filterNot{n}, q, nil
	case ftLParen:
		p.pos++
		n, _, err := p.parseExpr(carried)
		if err != nil {
			return nil, carried, err
		}
		if err := p.expect(ftRParen, t); err != nil {
			return nil, carried, err
		}
		// libpcap gives a parenthesised expression the qualifier that was
		// in force before it, not the one inside it.
		return n, carried, nil
	case ftWord:
	default:
		return nil, carried, p.unexpected(t, "")
	}

	var q filterQual
	start := p.pos
	w := t.text
	if pr, ok := filterProtoWords[w]; ok || filterPrimitives[w] {
		next, more := p.peek(1)
		_, isAddr := filterAddrWords[next.text]
		if !more || next.kind != ftWord || (!isAddr && next.text != "src" && next.text != "dst") {
			p.pos++
			return p.primitive(w), filterQual{}, nil
		}
		if !ok {
			return nil, carried, p.errAt(t, fmt.Sprintf("%q cannot qualify %q", w, next.text))
		}
		q.proto = pr
		p.pos++
	}
	// Direction: src, dst, src or dst, src and dst (either order).
	if t, ok := p.peek(0); ok && t.kind == ftWord && (t.text == "src" || t.text == "dst") {
		q.dir = fdSrc
		if t.text == "dst" {
			q.dir = fdDst
		}
		p.pos++
		if op, ok := p.peek(0); ok && (op.kind == ftAnd || op.kind == ftOr) {
			if other, ok := p.peek(1); ok && other.kind == ftWord && (other.text == "src" || other.text == "dst") && other.text != t.text {
				q.dir = fdOr
				if op.kind == ftAnd {
					q.dir = fdAnd
				}
				p.pos += 2
			}
		}
	}
	at, ok := p.peek(0)
	if !ok {
		return nil, carried, p.errEnd(fmt.Sprintf("expression ends after %q", p.toks[p.pos-1].text))
	}
	if a, isAddr := filterAddrWords[at.text]; isAddr && at.kind == ftWord {
		if a == faProto && q.dir != fdDefault {
			return nil, carried, p.errAt(at, `"proto" takes no direction`)
		}
		q.addr = a
		q.word = at.text
		p.pos++
	} else if p.pos == start {
		// A word in primitive position that is none of ours.
		if filterLooksLikeKeyword(at.text) || at.kind != ftWord {
			return nil, carried, p.errAt(at, fmt.Sprintf("unsupported keyword %q", at.text))
		}
		return nil, carried, p.errAt(at, fmt.Sprintf("missing qualifier (host, net, port, ...) before %q", at.text))
	} else if q.dir == fdDefault {
		return nil, carried, p.errAt(at, fmt.Sprintf("unsupported keyword %q", at.text))
	} else {
		q.addr = faDefault
		q.word = "host"
	}
	q.ok = true
	n, err := p.parseID(q)
	return n, q, err
}

func (p *filterParser) expect(kind filterTokKind, open filterToken) error {
	t, ok := p.peek(0)
	if !ok {
		return p.errEnd(fmt.Sprintf("missing \")\" for \"(\" at offset %d", open.off))
	}
	if t.kind != kind {
		return p.unexpected(t, `, want ")"`)
	}
	p.pos++
	return nil
}

// parseID parses a value with the qualifier q, possibly negated or a
// parenthesised and/or list of values ("host (A or B)").
func (p *filterParser) parseID(q filterQual) (filterNode, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	t, ok := p.peek(0)
	if !ok {
		prev := p.toks[len(p.toks)-1]
		return nil, p.errEnd(fmt.Sprintf("missing value after %q", prev.text))
	}
	switch t.kind {
	case ftNot:
		p.pos++
		n, err := p.parseID(q)
		if err != nil {
			return nil, err
		}
		return filterNot{n}, nil
	case ftLParen:
		p.pos++
		n, err := p.parseID(q)
		if err != nil {
			return nil, err
		}
		for {
			op, ok := p.peek(0)
			if !ok || (op.kind != ftAnd && op.kind != ftOr) {
				break
			}
			p.pos++
			rhs, err := p.parseID(q)
			if err != nil {
				return nil, err
			}
			if op.kind == ftAnd {
				n = filterAnd{n, rhs}
			} else {
				n = filterOr{n, rhs}
			}
		}
		if err := p.expect(ftRParen, t); err != nil {
			return nil, err
		}
		return n, nil
	case ftWord:
	default:
		return nil, p.unexpected(t, " where a value is expected")
	}
	// "proto tcp" is a convenience: tcpdump itself wants "proto \tcp".
	protoName := q.addr == faProto && (t.text == "tcp" || t.text == "udp" || t.text == "icmp")
	if filterIsOwnKeyword(t.text) && !protoName {
		return nil, p.errAt(t, fmt.Sprintf("unexpected keyword %q where a value is expected", t.text))
	}
	if !q.ok {
		return nil, p.errAt(t, fmt.Sprintf("missing qualifier (host, net, port, ...) before %q", t.text))
	}
	p.pos++
	switch q.addr {
	case faDefault, faHost, faNet:
		return p.genAddr(q, t)
	case faPort, faPortRange:
		return p.genPort(q, t)
	default: // faProto
		return p.genProto(q, t)
	}
}

// filterNumber parses a number as libpcap does: 0x hexadecimal, a leading 0
// octal, decimal otherwise; 32 bits at most.
func filterNumber(s string) (uint32, bool) {
	base := 10
	switch {
	case len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '+' || s[i] == '-' || s[i] == '_' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

func (p *filterParser) genAddr(q filterQual, t filterToken) (filterNode, error) {
	a, err := netip.ParseAddr(t.text)
	if err != nil || a.Zone() != "" {
		return nil, p.errAt(t, fmt.Sprintf("unsupported %s %q (want an IPv4 or IPv6 address; names are not resolved)", q.word, t.text))
	}
	if q.proto == fpTCP || q.proto == fpUDP {
		return nil, p.errAt(t, fmt.Sprintf("%q cannot qualify %q", filterProtoName(q.proto), q.word))
	}
	bits := a.BitLen()
	maskAddr := netip.Prefix{}
	next, _ := p.peek(0)
	switch {
	case next.kind == ftSlash:
		if q.addr != faNet {
			return nil, p.errAt(next, "mask syntax for networks only")
		}
		p.pos++
		lt, ok := p.peek(0)
		n, numOK := filterNumber(lt.text)
		if !ok || lt.kind != ftWord || !numOK {
			return nil, p.errAt(next, `"/" must be followed by a prefix length`)
		}
		if int(n) > bits {
			return nil, p.errAt(lt, fmt.Sprintf("prefix length %d > %d", n, bits))
		}
		p.pos++
		maskAddr = netip.PrefixFrom(a, int(n))
		if maskAddr.Masked().Addr() != a {
			return nil, p.errAt(t, fmt.Sprintf("non-network bits set in %q", t.text+"/"+lt.text))
		}
	case next.kind == ftWord && next.text == "mask":
		if q.addr != faNet || !a.Is4() {
			return nil, p.errAt(next, "mask syntax for IPv4 networks only")
		}
		p.pos++
		mt, ok := p.peek(0)
		m, err := netip.ParseAddr(mt.text)
		if !ok || mt.kind != ftWord || err != nil || !m.Is4() {
			return nil, p.errAt(next, `"mask" must be followed by an IPv4 mask`)
		}
		p.pos++
		a4, m4 := a.As4(), m.As4()
		av, mv := filterBE32(a4[:]), filterBE32(m4[:])
		if av&^mv != 0 {
			return nil, p.errAt(t, fmt.Sprintf("non-network bits set in %q", t.text+" mask "+mt.text))
		}
		return p.hostV4(q, t, av, mv)
	}
	if a.Is4() {
		b := a.As4()
		mask := uint32(0xffffffff)
		if maskAddr.IsValid() {
			mask = ^uint32(0) << (32 - maskAddr.Bits())
			if maskAddr.Bits() == 0 {
				mask = 0
			}
		}
		return p.hostV4(q, t, filterBE32(b[:]), mask)
	}
	if q.proto != fpDefault && q.proto != fpIP6 {
		return nil, p.errAt(t, fmt.Sprintf("%q cannot qualify an IPv6 %s", filterProtoName(q.proto), q.word))
	}
	plen := 128
	if maskAddr.IsValid() {
		plen = maskAddr.Bits()
	}
	b := a.As16()
	var words []filterNode
	for i := range 4 {
		m := uint32(0xffffffff)
		switch {
		case plen <= 32*i:
			m = 0
		case plen < 32*(i+1):
			m = ^uint32(0) << (32*(i+1) - plen)
		}
		if m == 0 {
			continue // libpcap's optimizer drops tests that always pass
		}
		words = append(words, filterCmp{off: uint32(4 * i), size: 4, mask: m, val: filterBE32(b[4*i:])})
	}
	addrTest := func(base uint32) filterNode {
		if len(words) == 0 {
			return filterConst(true)
		}
		ns := make([]filterNode, len(words))
		for i, w := range words {
			c := w.(filterCmp)
			c.off += p.linkOff + base
			ns[i] = c
		}
		return filterAndN(ns...)
	}
	return filterAnd{p.ethType(0x86dd), filterDirTest(q.dir, addrTest(8), addrTest(24))}, nil
}

func filterBE32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func filterProtoName(pr filterProto) string {
	for w, v := range filterProtoWords {
		if v == pr {
			return w
		}
	}
	return "?"
}

// filterDirTest combines the source and destination tests as the direction
// qualifier says; no direction means either.
func filterDirTest(d filterDir, src, dst filterNode) filterNode {
	switch d {
	case fdSrc:
		return src
	case fdDst:
		return dst
	case fdAnd:
		return filterAnd{src, dst}
	default:
		return filterOr{src, dst}
	}
}

// hostV4 tests an IPv4 address or network: in the IPv4 header and, unless
// qualified with ip, in ARP and RARP sender/target protocol addresses, as
// libpcap does.
func (p *filterParser) hostV4(q filterQual, t filterToken, addr, mask uint32) (filterNode, error) {
	test := func(off uint32) filterNode {
		if mask == 0 {
			return filterConst(true)
		}
		return filterCmp{off: p.linkOff + off, size: 4, mask: mask, val: addr}
	}
	ip := filterAnd{p.ethType(0x0800), filterDirTest(q.dir, test(12), test(16))}
	arp := func(etype uint32) filterNode {
		return filterAnd{p.ethType(etype), filterDirTest(q.dir, test(14), test(24))}
	}
	switch q.proto {
	case fpIP:
		return ip, nil
	case fpARP:
		return arp(0x0806), nil
	case fpDefault:
		return filterOrN(ip, arp(0x0806), arp(0x8035)), nil
	default:
		return nil, p.errAt(t, fmt.Sprintf("%q cannot qualify an IPv4 %s", filterProtoName(q.proto), q.word))
	}
}

func (p *filterParser) genPort(q filterQual, t filterToken) (filterNode, error) {
	var protos []uint32
	switch q.proto {
	case fpDefault:
		protos = []uint32{132, 6, 17} // SCTP, TCP, UDP, in libpcap's order
	case fpTCP:
		protos = []uint32{6}
	case fpUDP:
		protos = []uint32{17}
	default:
		return nil, p.errAt(t, fmt.Sprintf("%q cannot qualify %q", filterProtoName(q.proto), q.word))
	}
	var lo, hi uint32
	if q.addr == faPort {
		v, ok := filterNumber(t.text)
		if !ok {
			return nil, p.errAt(t, fmt.Sprintf("unsupported port %q (want a number; service names are not resolved)", t.text))
		}
		lo, hi = v, v
	} else {
		a, b, found := strings.Cut(t.text, "-")
		if !found {
			b = a
		}
		va, okA := filterNumber(a)
		vb, okB := filterNumber(b)
		if !okA || !okB {
			return nil, p.errAt(t, fmt.Sprintf("unsupported port range %q (want N-M)", t.text))
		}
		lo, hi = min(va, vb), max(va, vb)
	}
	if hi > 65535 {
		return nil, p.errAt(t, fmt.Sprintf("illegal port number %d > 65535", hi))
	}
	portTest := func(ind bool, off uint32) filterNode {
		if lo == hi {
			return filterCmp{ind: ind, off: off, size: 2, mask: 0xffffffff, val: lo}
		}
		return filterRange{ind: ind, off: off, size: 2, lo: lo, hi: hi}
	}
	protoTest := func(off uint32) filterNode {
		ns := make([]filterNode, len(protos))
		for i, v := range protos {
			ns[i] = filterCmp{off: off, size: 1, mask: 0xffffffff, val: v}
		}
		return filterOrN(ns...)
	}
	lp := p.linkOff
	// IPv6: only when the next header is the transport itself.
	v6 := filterAndN(p.ethType(0x86dd), protoTest(lp+6),
		filterDirTest(q.dir, portTest(false, lp+40), portTest(false, lp+42)))
	// IPv4: not a later fragment; ports past the variable-length header.
	v4 := filterAndN(p.ethType(0x0800), protoTest(lp+9),
		filterNot{filterCmp{off: lp + 6, size: 2, set: true, val: 0x1fff}},
		filterDirTest(q.dir, portTest(true, lp), portTest(true, lp+2)))
	return filterOr{v6, v4}, nil
}

func (p *filterParser) genProto(q filterQual, t filterToken) (filterNode, error) {
	name := strings.TrimPrefix(t.text, `\`)
	var v uint32
	switch name {
	case "tcp":
		v = 6
	case "udp":
		v = 17
	case "icmp":
		v = 1
	default:
		n, ok := filterNumber(t.text)
		if !ok {
			return nil, p.errAt(t, fmt.Sprintf("unsupported protocol %q (want a number, tcp, udp or icmp)", t.text))
		}
		v = n
	}
	switch q.proto {
	case fpDefault:
		return filterOr{p.ipProto(v), p.ip6Proto(v)}, nil
	case fpIP:
		return p.ipProto(v), nil
	case fpIP6:
		return p.ip6Proto(v), nil
	default:
		return nil, p.errAt(t, fmt.Sprintf("%q cannot qualify %q", filterProtoName(q.proto), q.word))
	}
}

// primitive returns the test for a protocol word used on its own.
func (p *filterParser) primitive(w string) filterNode {
	switch w {
	case "ip":
		return p.ethType(0x0800)
	case "ip6":
		return p.ethType(0x86dd)
	case "arp":
		return p.ethType(0x0806)
	case "tcp":
		return filterOr{p.ipProto(6), p.ip6Proto(6)}
	case "udp":
		return filterOr{p.ipProto(17), p.ip6Proto(17)}
	case "icmp":
		return p.ipProto(1)
	default: // icmp6
		return p.ip6Proto(58)
	}
}

func (p *filterParser) ipProto(v uint32) filterNode {
	return filterAnd{p.ethType(0x0800), filterCmp{off: p.linkOff + 9, size: 1, mask: 0xffffffff, val: v}}
}

// ip6Proto matches the IPv6 next header, or the header after a fragment
// header, as libpcap does (no other extension headers are walked).
func (p *filterParser) ip6Proto(v uint32) filterNode {
	nh := func(off, val uint32) filterNode {
		return filterCmp{off: p.linkOff + off, size: 1, mask: 0xffffffff, val: val}
	}
	return filterAnd{p.ethType(0x86dd), filterOr{nh(6, v), filterAnd{nh(6, 44), nh(40, v)}}}
}

// ethType tests the network protocol: the EtherType on Ethernet, the IP
// version nibble on raw IP (where ARP cannot occur).
func (p *filterParser) ethType(t uint32) filterNode {
	if !p.raw {
		return filterCmp{off: 12, size: 2, mask: 0xffffffff, val: t}
	}
	switch t {
	case 0x0800:
		return filterCmp{off: 0, size: 1, mask: 0xf0, val: 0x40}
	case 0x86dd:
		return filterCmp{off: 0, size: 1, mask: 0xf0, val: 0x60}
	default:
		return filterConst(false)
	}
}

// Code generation. The program is built backwards, from the return
// instructions up, so that every jump target already has a position when the
// jump is emitted; a conditional whose target is out of its 8-bit reach
// goes through an unconditional jump placed right after it.

type filterAsm struct {
	rev     []bpf.Instruction // rev[0] is the last instruction
	linkOff uint32
}

func filterAssemble(root filterNode, linkOff uint32) []bpf.Instruction {
	a := &filterAsm{linkOff: linkOff}
	a.rev = append(a.rev, bpf.RetConstant{Val: 0}, bpf.RetConstant{Val: filterAcceptBytes})
	entry := a.compile(root, 1, 0)
	if entry != len(a.rev)-1 {
		a.ja(entry)
	}
	prog := make([]bpf.Instruction, len(a.rev))
	for i, ins := range a.rev {
		prog[len(a.rev)-1-i] = ins
	}
	return prog
}

// compile emits code that continues at label t when n holds and at f when it
// does not, and returns the label of its first instruction. Labels are
// indexes into rev.
func (a *filterAsm) compile(n filterNode, t, f int) int {
	switch n := n.(type) {
	case filterConst:
		if n {
			return t
		}
		return f
	case filterAnd:
		return a.compile(n.a, a.compile(n.b, t, f), f)
	case filterOr:
		return a.compile(n.a, t, a.compile(n.b, t, f))
	case filterNot:
		return a.compile(n.a, f, t)
	case filterCmp:
		if n.set {
			a.cond(bpf.JumpBitsSet, n.val, t, f)
		} else {
			a.cond(bpf.JumpEqual, n.val, t, f)
			if n.mask != 0xffffffff {
				a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: n.mask})
			}
		}
		return a.load(n.ind, n.off, n.size)
	case filterRange:
		above := a.cond(bpf.JumpGreaterThan, n.hi, f, t)
		a.cond(bpf.JumpGreaterOrEqual, n.lo, above, f)
		return a.load(n.ind, n.off, n.size)
	}
	panic(fmt.Sprintf("capture filter: unknown node %T", n))
}

func (a *filterAsm) emit(ins bpf.Instruction) int {
	a.rev = append(a.rev, ins)
	return len(a.rev) - 1
}

func (a *filterAsm) load(ind bool, off uint32, size int) int {
	if !ind {
		return a.emit(bpf.LoadAbsolute{Off: off, Size: size})
	}
	a.emit(bpf.LoadIndirect{Off: off, Size: size})
	return a.emit(bpf.LoadMemShift{Off: a.linkOff})
}

func (a *filterAsm) ja(target int) int {
	return a.emit(bpf.Jump{Skip: uint32(len(a.rev) - target - 1)})
}

func (a *filterAsm) cond(c bpf.JumpTest, val uint32, t, f int) int {
	for {
		here := len(a.rev)
		switch {
		case here-t-1 > filterMaxCondSkip:
			t = a.ja(t)
		case here-f-1 > filterMaxCondSkip:
			f = a.ja(f)
		default:
			return a.emit(bpf.JumpIf{Cond: c, Val: val, SkipTrue: uint8(here - t - 1), SkipFalse: uint8(here - f - 1)})
		}
	}
}
