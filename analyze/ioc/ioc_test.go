package ioc

import (
	"net/netip"
	"testing"

	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/internal/indicator"
)

func TestIOCMatch(t *testing.T) {
	mustIOC := func(s string) indicator.Indicator {
		i, err := indicator.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	a := netip.MustParseAddr
	flow := &traffic.Flow{Client: a("172.18.0.2"), Server: a("198.51.100.7"), SNI: "www.evil.example", ContainerSide: "client"}
	nat := &traffic.Flow{Client: a("192.0.2.10"), Server: a("203.0.113.5"), Original: &traffic.FlowTuple{Src: a("172.18.0.2"), Dst: a("203.0.113.5")}}
	tests := []struct {
		ioc  string
		f    *traffic.Flow
		want bool
	}{
		{"198.51.100.7", flow, true},
		{"198.51.100.0/24", flow, true},
		{"198.51.100.8", flow, false},
		{"evil.example", flow, true},
		{"www.evil.example", flow, true},
		{"notevil.example", flow, false},
		{"example.evil", flow, false},
		{"172.18.0.2", nat, true}, // the pre-NAT source
		{"203.0.113.0/28", nat, true},
		{"evil.example", nat, false},
	}
	for _, tt := range tests {
		if got := MatchFlow(mustIOC(tt.ioc), tt.f); got != tt.want {
			t.Errorf("MatchFlow(ParseIOC(%q), %v→%v sni %q) = %v, want %v", tt.ioc, tt.f.Client, tt.f.Server, tt.f.SNI, got, tt.want)
		}
	}
}
