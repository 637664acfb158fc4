package firewall

// NAT is what the nat table does to a packet's source: the MASQUERADE or
// SNAT rule that rewrites it, if any, the steps of the walk that led there
// (every jump and goto with the rule that took it), and the rules whose
// conditions the model could not evaluate, taken as not matching.
type NAT struct {
	Rule      *Rule       `json:"rule,omitempty"`
	Steps     []TraceStep `json:"steps,omitempty"`
	Uncertain []RuleRef   `json:"uncertain,omitempty"`
	// Truncated says the walk hit its step or depth limit (a rule loop).
	Truncated bool `json:"truncated,omitempty"`
}

// SourceNAT follows the first packet of a new connection that arrives on
// p.In and is routed out by p.Out through the chains it traverses in
// order, prerouting, forward, then postrouting, and returns the source NAT
// rule the postrouting chains reach. Each jump is taken only when its own
// conditions hold, RETURN and a chain's end go back to the caller, and an
// ACCEPT in a nat chain ends that chain's table without NAT: so a chain that
// POSTROUTING enters only for another subnet or another container (CNI's
// CNI-<id>, netavark's NETAVARK-<id>), or a MASQUERADE only for marked
// packets (NETAVARK-HOSTPORT-MASQ), is not cited. An empty p.Proto is any
// protocol and a zero p.DPort any port: a condition on either does not
// match. With p.NoMark the packet's mark is followed from zero through the
// rules that set it; otherwise a mark condition is uncertain.
func (rs *Ruleset) SourceNAT(p Probe) NAT {
	if p.CTState == "" {
		p.CTState = "NEW"
	}
	w := &walker{rs: rs, v: Verdict{Probe: p, Verdict: "accept", Steps: []TraceStep{}}, pkt: p,
		anyProto: true, markKnown: p.NoMark}
	v6 := p.Dst.Unmap().Is6() || p.Src.Unmap().Is6()
	for _, hook := range []string{"prerouting", "forward", "postrouting"} {
		if hook == "postrouting" {
			// What came before postrouting counts only for the mark and
			// the destination; its uncertain rules are the forward
			// verdict's.
			w.v.Steps, w.v.Uncertain, w.nat = []TraceStep{}, nil, nil
		}
		for _, c := range rs.sortedHookChains(hook, v6) {
			if c.Type == "nat" && w.pkt.CTState != "NEW" {
				continue
			}
			verdict, _ := w.base(c)
			if hook == "postrouting" && w.nat != nil {
				return NAT{Rule: w.nat, Steps: w.v.Steps, Uncertain: w.v.Uncertain, Truncated: w.v.Truncated}
			}
			if verdict == "drop" || verdict == "reject" {
				return NAT{Uncertain: w.v.Uncertain, Truncated: w.v.Truncated}
			}
		}
	}
	return NAT{Steps: w.v.Steps, Uncertain: w.v.Uncertain, Truncated: w.v.Truncated}
}
