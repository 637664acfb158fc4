package analyze

import (
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
		{in: "198.51.100.7", kind: indicator.Address, want: "198.51.100.7/32"},
		{in: " 2001:db8::1 ", kind: indicator.Address, want: "2001:db8::1/128"},
		{in: "::ffff:198.51.100.7", kind: indicator.Address, want: "198.51.100.7/32"},
		{in: "198.51.100.9/24", kind: indicator.CIDR, want: "198.51.100.0/24"},
		{in: "2001:db8::/32", kind: indicator.CIDR, want: "2001:db8::/32"},
		{in: "Evil.Example.", kind: indicator.Domain, want: "evil.example"},
		{in: "evil[.]example", kind: indicator.Domain, want: "evil.example"},
		{in: "*.evil.example", kind: indicator.Domain, want: "evil.example"},
		{in: "", err: true},
		{in: "evil..example", err: true},
		{in: "http://evil.example/", kind: indicator.Domain, want: "evil.example"}, // a URL is its host
		{in: "evil.example/", err: true},
		{in: "1.2.3.4.5", err: true},
		{in: "\x1b[31mred", err: true},
		{in: strings.Repeat("a", 64) + ".example", err: true},
	}
	for _, tt := range tests {
		got, err := indicator.Parse(tt.in)
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
		if got.Kind != indicator.Domain {
			val = got.Prefix.String()
		}
		if got.Kind != tt.kind || val != tt.want {
			t.Errorf("ParseIOC(%q) = %s %s, want %s %s", tt.in, got.Kind, val, tt.kind, tt.want)
		}
	}
}

func TestParseIOCList(t *testing.T) {
	in := "# feed\n198.51.100.7\n\n  evil.example  # the domain\n203.0.113.0/24\n"
	got, err := indicator.ParseList(strings.NewReader(in), "iocs.txt")
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
	_, err = indicator.ParseList(strings.NewReader("198.51.100.7\nnot an ioc\n"), "bad.txt")
	if err == nil || !strings.Contains(err.Error(), "bad.txt:2") {
		t.Errorf("ParseIOCList(bad line 2) = %v, want an error naming bad.txt:2", err)
	}
	_, err = indicator.ParseList(strings.NewReader(strings.Repeat("x", indicator.MaxLineBytes+10)), "long.txt")
	if err == nil {
		t.Error("ParseIOCList(a line over the bound) = nil error")
	}
}
