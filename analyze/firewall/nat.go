package firewall

import (
	"net/netip"
	"slices"
)

// SourceNAT returns the first MASQUERADE or SNAT rule, in dump order, whose
// conditions match a packet from src to dst leaving by out; rules whose
// conditions the model cannot evaluate are returned apart.
func (rs *Ruleset) SourceNAT(src, dst netip.Addr, out, proto string, dport uint16) (*Rule, []RuleRef) {
	var uncertain []RuleRef
	var found *Rule
	rs.rules(func(t *Table, c *Chain, r *Rule) {
		if found != nil || r.Target == nil || (r.Target.Name != "MASQUERADE" && r.Target.Name != "SNAT") {
			return
		}
		if t.Family == "" && t.Name != "nat" {
			return
		}
		if t.Family != "" && !natFamilyFits(t.Family, dst) {
			return
		}
		match, unsure := natRuleMatches(r, src, dst, out, proto, dport)
		if unsure {
			uncertain = append(uncertain, r.Ref())
			return
		}
		if match {
			found = r
		}
	})
	return found, uncertain
}

func natFamilyFits(family string, dst netip.Addr) bool {
	switch family {
	case "ip":
		return dst.Is4()
	case "ip6":
		return dst.Is6()
	}
	return true
}

// natRuleMatches evaluates a NAT rule's conditions; unsure is true when one
// of them (an unknown option, an ipset, a port when the port is unknown) is
// not evaluated.
func natRuleMatches(r *Rule, src, dst netip.Addr, out, proto string, dport uint16) (match, unsure bool) {
	if len(r.Unknown) > 0 {
		return false, true
	}
	for _, m := range r.Matches {
		var ok bool
		switch m.Kind {
		case MatchSource:
			ok = slices.ContainsFunc(m.Prefixes, func(p netip.Prefix) bool { return p.Contains(src) })
		case MatchDest:
			ok = slices.ContainsFunc(m.Prefixes, func(p netip.Prefix) bool { return p.Contains(dst) })
		case MatchOutIface:
			ok = slices.ContainsFunc(m.Values, func(v string) bool { return ifaceMatch(v, m.wildcard, out) })
		case MatchProto:
			if proto == "" {
				return false, false // the path is for any protocol; a per-protocol rule is not the general answer
			}
			ok = slices.ContainsFunc(m.Values, func(v string) bool { return protoEqual(v, proto) })
		case MatchDPort:
			if dport == 0 {
				return false, false
			}
			ok = slices.ContainsFunc(m.Ports, func(s PortSpan) bool { return dport >= s.From && dport <= s.To })
		default:
			return false, true
		}
		if ok == m.Negate {
			return false, false
		}
	}
	return true, false
}
