package analyze

import (
	"io"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// Extract writes the packets of the attributed flows, from every capture in
// inputs, to w as one pcapng section: flow.Extract of the flows' keys.
// Flows not seen in a capture (sockets, conntrack) have no packets and are
// skipped. Given the flows of several capture points of one conversation it
// writes each packet once per point: ExtractContacts writes it once.
func Extract(w io.Writer, inputs []flow.Input, flows []*traffic.Flow) (flow.ExtractStats, error) {
	keys := make([]flow.MemberKey, 0, len(flows))
	for _, f := range flows {
		if k, ok := f.MemberKey(); ok {
			keys = append(keys, k)
		}
	}
	return flow.Extract(w, inputs, keys)
}

// ExtractContacts writes the packets of the conversations to w, each
// packet once: of each contact, only the flow of the capture point closest
// to the container (traffic.Result.ClosestFlow: its veth, else the
// macvlan/ipvlan parent, else the bridge, else the uplink after NAT, else a
// --pcap file). It returns the flows written; a contact seen in no capture
// (sockets, conntrack) has none and is skipped.
func ExtractContacts(w io.Writer, inputs []flow.Input, t *traffic.Result, contacts []*traffic.Contact) (flow.ExtractStats, []*traffic.Flow, error) {
	var flows []*traffic.Flow
	for _, k := range contacts {
		if f := t.ClosestFlow(k); f != nil {
			flows = append(flows, f)
		}
	}
	st, err := Extract(w, t.KnownInterfaces(inputs), flows)
	return st, flows, err
}
