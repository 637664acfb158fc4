package analyze

import (
	"io"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/traffic"
)

// Extract writes the packets of the attributed flows, from every capture in
// inputs, to w as one pcapng section: flow.Extract of the flows' keys.
// Flows not seen in a capture (sockets, conntrack) have no packets and are
// skipped.
func Extract(w io.Writer, inputs []flow.Input, flows []*traffic.Flow) (flow.ExtractStats, error) {
	keys := make([]flow.MemberKey, 0, len(flows))
	for _, f := range flows {
		if k, ok := f.MemberKey(); ok {
			keys = append(keys, k)
		}
	}
	return flow.Extract(w, inputs, keys)
}
