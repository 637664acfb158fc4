package traffic

// ClosestFlow returns the flow of the conversation seen at the capture
// point closest to the container, the one extract writes its packets from:
// its veth, else a macvlan/ipvlan parent, else the bridge (the container's
// own addresses are seen on all three), else the uplink or another point
// after NAT, else a --pcap file; the first such flow when a point saw
// several. nil when no capture saw it. A packet crosses every point on its
// way, so writing the packets of one point writes each packet once.
func (t *Result) ClosestFlow(c *Contact) *Flow {
	var best *Flow
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Flow == nil || *s.Flow < 0 || *s.Flow >= len(t.Flows) {
			continue
		}
		f := &t.Flows[*s.Flow]
		if best == nil || pointRank(f.Role) < pointRank(best.Role) {
			best = f
		}
	}
	return best
}

// pointRank orders capture points by their distance from the container:
// rolePriority's order, a --pcap file (outside the host) last.
func pointRank(role string) int {
	if role == PointExternal {
		return rolePriority(role) + 1
	}
	return rolePriority(role)
}
