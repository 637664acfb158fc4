package triage

import (
	"net/netip"
	"testing"

	"github.com/dockcase/dockcase/internal/indicator"
)

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
		set := iocSet(tt.ioc)
		var got string
		var ok bool
		if tt.addr.IsValid() {
			got, ok = MatchAddr(set, tt.addr)
		} else {
			got, ok = MatchName(set, tt.name)
		}
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("Match(%q, %v%s) = %q, %v, want %q", tt.ioc, tt.addr, tt.name, got, ok, tt.want)
		}
		i, err := indicator.Parse(tt.ioc)
		if err != nil {
			continue
		}
		if answer := i.MatchAddr(tt.addr) || i.MatchName(tt.name); answer != ok {
			t.Errorf("indicator.Parse(%q) matches %v%s: %v in the IOC answer, %v in findings", tt.ioc, tt.addr, tt.name, answer, ok)
		}
	}
}
