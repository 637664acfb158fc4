package collect

import (
	"context"
	"fmt"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/socksample"
)

// The socket samples of the capture window: the socket tables are read once
// in the namespaces step, so a connection opened and closed after it, or
// one made in a namespace that containers share, has no owner there.

// sockSamplerRef names what the sampler reads, in the member's source and
// the custody record.
var sockSamplerRef = "every " + socksample.DefaultInterval.String() + ": /proc/*/ns/net, NETLINK_SOCK_DIAG TCP dump (v4, v6) in each namespace, " +
	"/proc/<pid>/net/{udp,udp6,raw,raw6}, /proc/<pid>/fd of processes holding sockets not yet owned"

// sockSampling is the socket sampler running through the capture window.
type sockSampling struct {
	err  error // the sampler could not start
	res  socksample.Samples
	done chan struct{}
}

// startSockSampler starts sampling until ctx ends (the capture's end).
func startSockSampler(ctx context.Context) *sockSampling {
	ss := &sockSampling{done: make(chan struct{})}
	sampler, err := socksample.New(socksample.DefaultInterval)
	if err != nil {
		ss.err = err
		close(ss.done)
		return ss
	}
	go func() {
		defer close(ss.done)
		ss.res = sampler.Run(ctx)
	}()
	return ss
}

// finishSockSampler waits for the sampler, writes capture/socket-samples.json
// and returns the gaps: a sampler that could not start, sockets it could
// not keep, the member not written. A round's failure for a namespace is
// an entry of the member's errors, not a gap: the next round reads it again.
func (c *collector) finishSockSampler(ss *sockSampling) []error {
	if ss == nil {
		return nil
	}
	<-ss.done
	if ss.err != nil {
		return []error{fmt.Errorf("socket samples: %w", ss.err)}
	}
	var errs []error
	if ss.res.UntrackedSightings > 0 {
		errs = append(errs, fmt.Errorf("socket samples: more sockets than the sampler keeps: %d sightings not kept", ss.res.UntrackedSightings))
	}
	if err := c.w.AddJSON("capture/socket-samples.json", bundle.MemberInfo{Step: "capture",
		Source: bundle.Source{Kind: "file", Ref: sockSamplerRef}}, ss.res); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// recordSockSampler adds the sampler's call and counts to the capture
// step's custody record.
func recordSockSampler(ss *sockSampling, rec *bundle.StepRecord) {
	if ss == nil {
		return
	}
	call := bundle.Call{Kind: "file", Ref: sockSamplerRef}
	if ss.err != nil {
		call.Error = ss.err.Error()
	}
	rec.Called = append(rec.Called, call)
	if d, ok := rec.Detail.(map[string]any); ok {
		d["socket_sample_rounds"] = ss.res.Rounds
		d["socket_samples"] = len(ss.res.Sockets)
		d["socket_sample_namespaces"] = len(ss.res.Namespaces)
		d["socket_sample_errors"] = len(ss.res.Errors) + ss.res.ErrorsDropped
	}
}
