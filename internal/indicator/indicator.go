// Package indicator is dockcase's one notion of an indicator of compromise
// (IOC): an address, a CIDR prefix or a domain, as a responder types it or
// pastes it from a feed, and how it matches what the evidence holds.
//
// Parse accepts:
//
//   - An IPv4 or IPv6 address. An IPv4-mapped IPv6 address is the IPv4
//     address (::ffff:198.51.100.7 is 198.51.100.7); a zone (fe80::1%eth0)
//     is dropped, since captured addresses carry none.
//   - A CIDR prefix, masked to its network (198.51.100.9/24 is
//     198.51.100.0/24). An IPv4-mapped prefix is the IPv4 prefix, its length
//     less 96 (::ffff:10.0.0.0/104 is 10.0.0.0/8); one shorter than /96 spans
//     more than the mapped range and is an error. Other IPv6 prefixes match
//     IPv6 addresses only.
//   - A domain, in lowercase without its trailing dot. It matches the name
//     and every name under it (evil.example matches www.evil.example, never
//     notevil.example), since whoever holds a zone holds its subdomains. A
//     leading "*." is the same indicator: *.evil.example matches
//     evil.example and its subdomains. Labels are 1 to 63 bytes of letters,
//     digits, '-' and '_', the name at most 253 bytes, and the last label
//     holds a letter (1.2.3.4.5 is a mistyped address, not a domain).
//     Internationalised names are given in their xn-- form.
//   - Defanged text, as threat reports print it: "[.]", "(.)", "{.}",
//     "[dot]", "(dot)", "{dot}" for a dot, "[:]" for a colon, "hxxp" and
//     "hxxps" for the scheme, in any case.
//   - A URL (https://evil.example:8443/path, hxxp://198[.]51[.]100[.]7/x):
//     the indicator is its host, an address or a domain.
//
// Anything else is an *Error that says why. Text keeps what the user typed,
// for display. Matching never allocates a new indicator: a Set answers which
// indicator, first in list order, an address or a name matches.
package indicator

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Kind is what an indicator is. Its values are the "kind" of the analysis
// document's IOC answer.
type Kind string

// Kinds of indicator.
const (
	Address Kind = "ip"
	CIDR    Kind = "cidr"
	Domain  Kind = "domain"
)

// maxDomainBytes is the longest domain name DNS carries (RFC 1035: 255
// bytes on the wire, 253 in text without the trailing dot).
const maxDomainBytes = 253

// maxLabelBytes is the longest DNS label (RFC 1035).
const maxLabelBytes = 63

// Indicator is one parsed indicator of compromise.
type Indicator struct {
	// Text is the indicator as the user typed it, without surrounding
	// space: shown back to them, never matched.
	Text string
	Kind Kind
	// Prefix is the address (a full-length prefix) or the CIDR prefix,
	// IPv4 for IPv4-mapped input; zero for a domain.
	Prefix netip.Prefix
	// Domain is the domain, lowercase, without "*." or the trailing dot;
	// empty for an address or a prefix.
	Domain string
}

// Error is an indicator that does not parse.
type Error struct {
	Input  string // the text given, quoted when printed
	Reason string
}

func (e *Error) Error() string {
	if e.Input == "" {
		return "indicator: " + e.Reason
	}
	return fmt.Sprintf("indicator %q: %s", e.Input, e.Reason)
}

// Parse parses one indicator: an address, a CIDR prefix, a domain or a URL,
// defanged or not (see the package doc).
func Parse(s string) (Indicator, error) {
	text := strings.TrimSpace(s)
	bad := func(reason string) (Indicator, error) {
		return Indicator{}, &Error{Input: text, Reason: reason}
	}
	if text == "" {
		return bad("empty")
	}
	in := strings.ToLower(Refang(text))
	if strings.Contains(in, "://") {
		u, err := url.Parse(in)
		if err != nil || u.Hostname() == "" {
			return bad("a URL without a host")
		}
		in = u.Hostname()
		if strings.HasPrefix(in, "*.") {
			return bad("a URL's host is a name, not a wildcard")
		}
	} else if strings.Contains(in, "/") {
		return parsePrefix(text, in)
	}
	if a, err := netip.ParseAddr(in); err == nil {
		a = a.Unmap().WithZone("")
		return Indicator{Text: text, Kind: Address, Prefix: netip.PrefixFrom(a, a.BitLen())}, nil
	}
	d := strings.TrimSuffix(strings.TrimPrefix(in, "*."), ".")
	if reason := checkDomain(d); reason != "" {
		return bad(reason)
	}
	return Indicator{Text: text, Kind: Domain, Domain: d}, nil
}

// parsePrefix parses a CIDR prefix: in is text refanged and lowercased.
func parsePrefix(text, in string) (Indicator, error) {
	p, err := netip.ParsePrefix(in)
	if err != nil {
		return Indicator{}, &Error{Input: text, Reason: "not a CIDR prefix (a URL needs its scheme)"}
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return Indicator{}, &Error{Input: text, Reason: "an IPv4-mapped prefix shorter than /96 spans more than IPv4; give the IPv4 or the IPv6 range"}
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return Indicator{Text: text, Kind: CIDR, Prefix: p.Masked()}, nil
}

// checkDomain returns why d (lowercase) is not a domain name, or "".
func checkDomain(d string) string {
	const notOne = "not an IP address, a CIDR prefix, a URL or a domain"
	if len(d) > maxDomainBytes {
		return fmt.Sprintf("a domain longer than %d bytes", maxDomainBytes)
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if l == "" || len(l) > maxLabelBytes {
			return notOne
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			// No resolver answers such a name (RFC 1123): it is a typo
			// or a fragment of something else.
			return "a domain label that starts or ends with a hyphen"
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return notOne
			}
		}
	}
	if !strings.ContainsFunc(labels[len(labels)-1], func(r rune) bool { return 'a' <= r && r <= 'z' }) {
		return "not a valid IP address, nor a domain (its last label has no letter)"
	}
	return ""
}

// defangs are the spellings threat reports use to keep an indicator from
// being clicked, and what they stand for. Matched without regard to case.
var defangs = []struct{ from, to string }{
	{"[.]", "."}, {"(.)", "."}, {"{.}", "."},
	{"[dot]", "."}, {"(dot)", "."}, {"{dot}", "."},
	{"[://]", "://"}, {"[:]", ":"},
}

// Refang undoes defanging: "evil[.]example" is "evil.example",
// "hxxp://" is "http://". The rest of s, case included, is kept.
func Refang(s string) string {
	if strings.ContainsAny(s, "[({") {
		var b strings.Builder
		b.Grow(len(s))
	next:
		for i := 0; i < len(s); {
			for _, d := range defangs {
				if len(s)-i >= len(d.from) && strings.EqualFold(s[i:i+len(d.from)], d.from) {
					b.WriteString(d.to)
					i += len(d.from)
					continue next
				}
			}
			b.WriteByte(s[i])
			i++
		}
		s = b.String()
	}
	// hxxp only as a URL's scheme: a domain may well hold those letters.
	for _, scheme := range []string{"hxxp://", "hxxps://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			return s[:1] + "tt" + s[3:]
		}
	}
	return s
}

// String is the indicator's canonical form: the address, the masked prefix
// or the domain.
func (i Indicator) String() string {
	switch i.Kind {
	case Address:
		return i.Prefix.Addr().String()
	case CIDR:
		return i.Prefix.String()
	}
	return i.Domain
}

// MatchAddr reports whether a is the address indicator or inside the CIDR
// one. An IPv4-mapped a is its IPv4 address; a domain matches no address.
func (i Indicator) MatchAddr(a netip.Addr) bool {
	return i.Kind != Domain && a.IsValid() && i.Prefix.Contains(a.Unmap().WithZone(""))
}

// MatchName reports whether the name n (a DNS name, an SNI, an HTTP Host)
// is the domain indicator or a name under it, regardless of case and of a
// trailing dot.
func (i Indicator) MatchName(n string) bool {
	if i.Kind != Domain || n == "" {
		return false
	}
	n = normalName(n)
	return n == i.Domain || len(n) > len(i.Domain) && n[len(n)-len(i.Domain)-1] == '.' && strings.HasSuffix(n, i.Domain)
}

// normalName lowercases n and drops its trailing dot, without allocating
// when it already is so.
func normalName(n string) string {
	n = strings.TrimSuffix(n, ".")
	for j := 0; j < len(n); j++ {
		if 'A' <= n[j] && n[j] <= 'Z' {
			return strings.ToLower(n)
		}
	}
	return n
}
