package indicator

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// show is an indicator as the tests compare it: its kind and canonical form.
func show(i Indicator) string { return fmt.Sprintf("%s %s", i.Kind, i) }

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want string // kind and canonical form; "" for an error
	}{
		{"198.51.100.7", "ip 198.51.100.7"},
		{" 2001:db8::1 ", "ip 2001:db8::1"},
		{"2001:DB8::1", "ip 2001:db8::1"},
		{"::ffff:198.51.100.7", "ip 198.51.100.7"},
		{"fe80::1%eth0", "ip fe80::1"},
		{"198.51.100.9/24", "cidr 198.51.100.0/24"},
		{"2001:db8::/32", "cidr 2001:db8::/32"},
		{"::/0", "cidr ::/0"},
		// An IPv4-mapped prefix is the IPv4 prefix: the three parsers
		// this package replaced read it as /32, as an IPv6 prefix that
		// never matched, and as /8.
		{"::ffff:10.0.0.0/104", "cidr 10.0.0.0/8"},
		{"::ffff:10.1.2.3/128", "cidr 10.1.2.3/32"},
		{"::ffff:0.0.0.0/96", "cidr 0.0.0.0/0"},
		{"::ffff:0:0/80", ""},
		{"Evil.Example.", "domain evil.example"},
		{"*.evil.example", "domain evil.example"},
		{"*.Evil.Example.", "domain evil.example"},
		{"_dmarc.evil.example", "domain _dmarc.evil.example"},
		{"xn--e1afmkfd.example", "domain xn--e1afmkfd.example"},
		{"-evil.example", ""},
		{"evil-.example", ""},
		{"e-vil.example", "domain e-vil.example"},
		// Defanged.
		{"evil[.]example", "domain evil.example"},
		{"evil(.)example", "domain evil.example"},
		{"evil{.}example", "domain evil.example"},
		{"evil[dot]example", "domain evil.example"},
		{"evil[DOT]example", "domain evil.example"},
		{"evil(dot)example", "domain evil.example"},
		{"198[.]51[.]100[.]7", "ip 198.51.100.7"},
		{"198[.]51[.]100[.]0/24", "cidr 198.51.100.0/24"},
		{"hxxp://evil[.]example/payload", "domain evil.example"},
		{"hxxps[:]//evil[.]example", "domain evil.example"},
		{"HXXPS://Evil.Example/", "domain evil.example"},
		{"hxxp.example", "domain hxxp.example"},
		// URLs: the host.
		{"http://evil.example/", "domain evil.example"},
		{"https://www.evil.example:8443/a/b?c=d#e", "domain www.evil.example"},
		{"https://user:pw@evil.example/", "domain evil.example"},
		{"http://198.51.100.7:8080/x", "ip 198.51.100.7"},
		{"http://[2001:db8::1]:80/", "ip 2001:db8::1"},
		{"https://evil.example./", "domain evil.example"},
		// Garbage.
		{"", ""},
		{"   ", ""},
		{"evil..example", ""},
		{".evil.example", ""},
		{"*.", ""},
		{"*", ""},
		{"**.evil.example", ""},
		{"evil.*.example", ""},
		{"1.2.3.4.5", ""},
		{"300.1.1.1", ""},
		{"198.51.100.7/33", ""},
		{"198.51.100.0/", ""},
		{"evil.example/path", ""},
		{"http://", ""},
		{"http:///path", ""},
		{"https://*.evil.example/", ""},
		{"evil example", ""},
		{"evil.example:443", ""},
		{"évil.example", ""},
		{"\x1b[31mred", ""},
		{strings.Repeat("a", 64) + ".example", ""},
		{strings.Repeat("a.", 127) + "example", ""},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %v, want an error", tt.in, show(got))
			} else if e := (*Error)(nil); !errors.As(err, &e) || e.Reason == "" {
				t.Errorf("Parse(%q) = %v, want an *Error with a reason", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, err, tt.want)
			continue
		}
		if show(got) != tt.want {
			t.Errorf("Parse(%q) = %v, want %v", tt.in, show(got), tt.want)
		}
		if want := strings.TrimSpace(tt.in); got.Text != want {
			t.Errorf("Parse(%q).Text = %q, want %q", tt.in, got.Text, want)
		}
	}
}

func TestParseErrorQuotesInput(t *testing.T) {
	_, err := Parse("\x1b[31mred")
	if err == nil || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("Parse(ANSI escape) = %v, want an error that quotes the input", err)
	}
}

func TestRefang(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Evil[.]Example", "Evil.Example"},
		{"evil(.)example", "evil.example"},
		{"evil[Dot]example", "evil.example"},
		{"hxxps[:]//evil[.]example/a", "https://evil.example/a"},
		{"hxxp[://]evil.example", "http://evil.example"},
		{"hxxp.example", "hxxp.example"},
		{"198.51.100.7", "198.51.100.7"},
		{"[", "["},
	}
	for _, tt := range tests {
		if got := Refang(tt.in); got != tt.want {
			t.Errorf("Refang(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseList(t *testing.T) {
	in := "# feed\n198.51.100.7\n\n  evil[.]example  # the domain\n203.0.113.0/24\r\n*.bad.example\n"
	got, err := ParseList(strings.NewReader(in), "iocs.txt")
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, i := range got {
		shown = append(shown, show(i))
	}
	want := "ip 198.51.100.7, domain evil.example, cidr 203.0.113.0/24, domain bad.example"
	if strings.Join(shown, ", ") != want {
		t.Errorf("ParseList(%q) = %v, want %v", in, shown, want)
	}
	errs := []struct{ in, want string }{
		{"198.51.100.7\nnot an ioc\n", "bad.txt:2: "},
		{"\n\n\n1.2.3.4.5", "bad.txt:4: "},
		{"# ok\n" + strings.Repeat("x", MaxLineBytes+10), "bad.txt:2: a line longer than"},
	}
	for _, tt := range errs {
		_, err := ParseList(strings.NewReader(tt.in), "bad.txt")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("ParseList(%.40q) = %v, want an error starting %q", tt.in, err, tt.want)
		}
	}
}

func TestSet(t *testing.T) {
	var list []Indicator
	for _, s := range []string{"203.0.113.0/24", "203.0.113.7", "::ffff:10.0.0.0/104", "2001:db8::/32", "www.evil.example", "*.evil.example", "evil[.]example", "Bad.Example."} {
		i, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, i)
	}
	set := NewSet(list)
	a := netip.MustParseAddr
	addrs := []struct {
		a    netip.Addr
		want string // the matching indicator's Text, "" for none
	}{
		{a("203.0.113.7"), "203.0.113.7"}, // the address before the CIDR listed first
		{a("203.0.113.8"), "203.0.113.0/24"},
		{a("::ffff:203.0.113.8"), "203.0.113.0/24"},
		{a("10.200.0.1"), "::ffff:10.0.0.0/104"},
		{a("::ffff:10.200.0.1"), "::ffff:10.0.0.0/104"},
		{a("11.0.0.1"), ""},
		{a("2001:db8::5"), "2001:db8::/32"},
		{a("2001:db9::5"), ""},
		{netip.Addr{}, ""},
	}
	for _, tt := range addrs {
		got, ok := set.Addr(tt.a)
		if !ok {
			got = Indicator{}
		}
		if got.Text != tt.want {
			t.Errorf("Set.Addr(%v) = %q, want %q", tt.a, got.Text, tt.want)
		}
		for _, i := range list {
			if i.Text == tt.want && !i.MatchAddr(tt.a) {
				t.Errorf("Parse(%q).MatchAddr(%v) = false, want true", i.Text, tt.a)
			}
		}
	}
	names := []struct{ n, want string }{
		{"www.evil.example", "www.evil.example"},
		{"a.www.evil.example", "www.evil.example"},
		{"evil.example", "*.evil.example"},
		{"EVIL.example.", "*.evil.example"},
		{"mail.evil.example", "*.evil.example"},
		{"notevil.example", ""},
		{"evil.example.org", ""},
		{"example", ""},
		{"bad.example", "Bad.Example."},
		{"x.bad.example", "Bad.Example."},
		{"", ""},
	}
	for _, tt := range names {
		got, ok := set.Name(tt.n)
		if !ok {
			got = Indicator{}
		}
		if got.Text != tt.want {
			t.Errorf("Set.Name(%q) = %q, want %q", tt.n, got.Text, tt.want)
		}
		for _, i := range list {
			if i.Text == tt.want && !i.MatchName(tt.n) {
				t.Errorf("Parse(%q).MatchName(%q) = false, want true", i.Text, tt.n)
			}
		}
	}
	var none *Set
	if _, ok := none.Addr(a("203.0.113.7")); ok {
		t.Error("a nil Set matched an address")
	}
}

func TestMatchKinds(t *testing.T) {
	d, _ := Parse("evil.example")
	ip, _ := Parse("198.51.100.7")
	if d.MatchAddr(netip.MustParseAddr("198.51.100.7")) {
		t.Error(`Parse("evil.example").MatchAddr(198.51.100.7) = true, want false`)
	}
	if ip.MatchName("evil.example") || ip.MatchName("198.51.100.7") {
		t.Error(`Parse("198.51.100.7").MatchName(...) = true, want false`)
	}
	if d.MatchName("xevil.example") {
		t.Error(`Parse("evil.example").MatchName("xevil.example") = true, want false`)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "::ffff:10.0.0.0/104", "2001:db8::/32", "*.evil.example", "evil[.]example",
		"hxxps[:]//evil[dot]example/x", "http://[2001:db8::1]:80/", "fe80::1%eth0", "1.2.3.4.5", "Evil.Example."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		i, err := Parse(s)
		if err != nil {
			return
		}
		if i.Text != strings.TrimSpace(s) {
			t.Fatalf("Parse(%q).Text = %q, want the trimmed input", s, i.Text)
		}
		// The canonical form parses back to the same indicator.
		j, err := Parse(i.String())
		if err != nil || j.Kind != i.Kind || j.Prefix != i.Prefix || j.Domain != i.Domain {
			t.Fatalf("Parse(%q) = %v, then Parse(%q) = %v, %v", s, show(i), i.String(), show(j), err)
		}
		set := NewSet([]Indicator{i})
		switch i.Kind {
		case Address, CIDR:
			if !i.Prefix.IsValid() || i.Prefix != i.Prefix.Masked() || i.Prefix.Addr().Is4In6() {
				t.Fatalf("Parse(%q).Prefix = %v, want a masked, unmapped prefix", s, i.Prefix)
			}
			if _, ok := set.Addr(i.Prefix.Addr()); !ok {
				t.Fatalf("NewSet(Parse(%q)).Addr(%v) = false, want true", s, i.Prefix.Addr())
			}
		case Domain:
			if i.Domain == "" || len(i.Domain) > maxDomainBytes || i.Domain != strings.ToLower(i.Domain) {
				t.Fatalf("Parse(%q).Domain = %q", s, i.Domain)
			}
			if _, ok := set.Name("x." + i.Domain); !ok {
				t.Fatalf("NewSet(Parse(%q)).Name(%q) = false, want true", s, "x."+i.Domain)
			}
		default:
			t.Fatalf("Parse(%q).Kind = %q", s, i.Kind)
		}
	})
}
