package analyze

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/dockcase/dockcase/internal/indicator"
)

func TestParseIOC(t *testing.T) {
	tests := []struct {
		in, want string // want: prefix or domain
		kind     indicator.Kind
		err      bool
	}{
		{in: "198.51.100.7", kind: IOCAddress, want: "198.51.100.7/32"},
		{in: " 2001:db8::1 ", kind: IOCAddress, want: "2001:db8::1/128"},
		{in: "::ffff:198.51.100.7", kind: IOCAddress, want: "198.51.100.7/32"},
		{in: "198.51.100.9/24", kind: IOCCIDR, want: "198.51.100.0/24"},
		{in: "2001:db8::/32", kind: IOCCIDR, want: "2001:db8::/32"},
		{in: "Evil.Example.", kind: IOCDomain, want: "evil.example"},
		{in: "evil[.]example", kind: IOCDomain, want: "evil.example"},
		{in: "*.evil.example", kind: IOCDomain, want: "evil.example"},
		{in: "", err: true},
		{in: "evil..example", err: true},
		{in: "http://evil.example/", kind: IOCDomain, want: "evil.example"}, // a URL is its host
		{in: "evil.example/", err: true},
		{in: "1.2.3.4.5", err: true},
		{in: "\x1b[31mred", err: true},
		{in: strings.Repeat("a", 64) + ".example", err: true},
	}
	for _, tt := range tests {
		got, err := ParseIOC(tt.in)
		if tt.err {
			if err == nil {
				t.Errorf("ParseIOC(%q) = %+v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseIOC(%q) = %v, want %s %s", tt.in, err, tt.kind, tt.want)
			continue
		}
		val := got.Domain
		if got.Kind != IOCDomain {
			val = got.Prefix.String()
		}
		if got.Kind != tt.kind || val != tt.want {
			t.Errorf("ParseIOC(%q) = %s %s, want %s %s", tt.in, got.Kind, val, tt.kind, tt.want)
		}
	}
}

func TestParseIOCList(t *testing.T) {
	in := "# feed\n198.51.100.7\n\n  evil.example  # the domain\n203.0.113.0/24\n"
	got, err := ParseIOCList(strings.NewReader(in), "iocs.txt")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, i := range got {
		texts = append(texts, string(i.Kind)+":"+strings.TrimSpace(i.Text))
	}
	if want := "ip:198.51.100.7 domain:evil.example cidr:203.0.113.0/24"; strings.Join(texts, " ") != want {
		t.Errorf("ParseIOCList(%q) = %v, want %s", in, texts, want)
	}
	_, err = ParseIOCList(strings.NewReader("198.51.100.7\nnot an ioc\n"), "bad.txt")
	if err == nil || !strings.Contains(err.Error(), "bad.txt:2") {
		t.Errorf("ParseIOCList(bad line 2) = %v, want an error naming bad.txt:2", err)
	}
	_, err = ParseIOCList(strings.NewReader(strings.Repeat("x", indicator.MaxLineBytes+10)), "long.txt")
	if err == nil {
		t.Error("ParseIOCList(a line over the bound) = nil error")
	}
}

// TestIOCSet checks that findings and the timeline match what the IOC
// answer matches: they once parsed the list themselves, and never matched
// a wildcard, a defanged domain or an IPv4-mapped prefix.
func TestIOCSet(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		ioc  string
		addr netip.Addr
		name string
		want string // how a finding names the match, "" for none
	}{
		{ioc: "198.51.100.7", addr: a("198.51.100.7"), want: "198.51.100.7"},
		{ioc: "::ffff:198.51.100.7", addr: a("198.51.100.7"), want: "::ffff:198.51.100.7"},
		{ioc: "198.51.100.9/24", addr: a("198.51.100.200"), want: "198.51.100.0/24"},
		{ioc: "::ffff:10.0.0.0/104", addr: a("10.9.8.7"), want: "10.0.0.0/8"},
		{ioc: "::ffff:10.0.0.0/104", addr: a("11.9.8.7")},
		{ioc: "evil.example", name: "www.evil.example", want: "evil.example"},
		{ioc: "Evil.Example.", name: "EVIL.example.", want: "evil.example"},
		{ioc: "*.evil.example", name: "c2.evil.example", want: "evil.example"},
		{ioc: "evil[.]example", name: "evil.example", want: "evil.example"},
		{ioc: "hxxps://evil[.]example/x", name: "evil.example", want: "evil.example"},
		{ioc: "evil.example", name: "notevil.example"},
		{ioc: "# comment", name: "comment"},
		{ioc: "not an ioc", name: "not an ioc"},
	}
	for _, tt := range tests {
		set := parseIOCs([]string{tt.ioc})
		var got string
		var ok bool
		if tt.addr.IsValid() {
			got, ok = set.matchAddr(tt.addr)
		} else {
			got, ok = set.matchDomain(tt.name)
		}
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("parseIOCs(%q).match(%v%s) = %q, %v, want %q", tt.ioc, tt.addr, tt.name, got, ok, tt.want)
		}
		i, err := ParseIOC(tt.ioc)
		if err != nil {
			continue
		}
		if answer := i.MatchAddr(tt.addr) || i.MatchName(tt.name); answer != ok {
			t.Errorf("ParseIOC(%q) matches %v%s: %v in the IOC answer, %v in findings", tt.ioc, tt.addr, tt.name, answer, ok)
		}
	}
}
