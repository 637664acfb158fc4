package collect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/capture"
	"github.com/dockcase/dockcase/collect/host"
)

// The capture during collection.

// captureRun is a capture running while the snapshot steps run.
type captureRun struct {
	started time.Time
	pcap    *bundle.MemberWriter
	events  *bundle.MemberWriter
	filter  string
	done    chan struct{}
	res     capture.Result
	err     error
	ct      host.ConntrackEventStats
	ctErr   error
	evErr   error
	window  *windowRun // the engine's events during the capture
	// windowCalls and windowDetail are the window's, for the custody record.
	windowCalls  []bundle.Call
	windowDetail map[string]any
	sockets      *sockSampling // the socket samples of the window
}

// startCapture starts the capture and the conntrack event recording; the
// snapshot steps run meanwhile. A capture that cannot start is recorded as
// a failed step at once.
func (c *collector) startCapture(ctx context.Context) {
	if c.opts.Capture <= 0 {
		return
	}
	run := &captureRun{started: time.Now().UTC(), filter: c.opts.CaptureFilter, done: make(chan struct{})}
	note := "no capture filter"
	if run.filter != "" {
		note = fmt.Sprintf("capture filter %q", run.filter)
	}
	var err error
	run.pcap, err = c.w.Create("capture/capture.pcapng", bundle.MemberInfo{Step: "capture", Note: note,
		Source: bundle.Source{Kind: "capture", Ref: "AF_PACKET TPACKET_V3, SO_ATTACH_FILTER before bind"}})
	if err == nil {
		run.events, err = c.w.Create("capture/conntrack-events.jsonl", bundle.MemberInfo{Step: "capture",
			Source: bundle.Source{Kind: "netlink", Ref: "NFNLGRP_CONNTRACK_NEW, _UPDATE, _DESTROY"}})
	}
	if err != nil {
		if run.pcap != nil {
			run.pcap.Abort(err.Error())
		}
		c.recordCapture(run, bundle.StepFailed, fmt.Errorf("start capture: %w", err))
		return
	}
	cctx, cancel := context.WithCancel(ctx)
	run.sockets = startSockSampler(cctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer cancel() // the capture ended early (limit, error): stop the events too
		run.res, run.err = capture.Run(cctx, run.pcap, capture.Options{
			Duration:    c.opts.Capture,
			Ifaces:      c.opts.CaptureIfaces,
			Filter:      run.filter,
			Snaplen:     c.opts.Snaplen,
			MaxBytes:    c.opts.CaptureMaxBytes,
			DockerHost:  c.opts.DockerHost,
			Application: "dockcase " + host.ReadBuildInfo().Version,
			Log:         c.opts.Progress,
		})
		if errors.Is(ctx.Err(), context.Canceled) {
			run.res.StopReason = capture.StopInterrupted
		}
	}()
	go func() {
		defer wg.Done()
		run.ct, run.ctErr = host.RecordConntrackEvents(cctx, run.events)
	}()
	go func() {
		wg.Wait()
		close(run.done)
	}()
	run.window = c.startWindow(cctx)
	c.capture = run
	fmt.Fprintf(c.opts.Progress, "dockcase: capturing for %s while the snapshot runs (--capture 0 captures nothing)\n", c.opts.Capture)
	if c.opts.ProgressTTY {
		go func() {
			t := time.NewTicker(countdownEvery)
			defer t.Stop()
			countdown(c.opts.Progress, run.started.Add(c.opts.Capture), run.done, t.C)
		}()
	}
}

// countdownEvery is how often a terminal is told the capture's time left.
const countdownEvery = 10 * time.Second

// countdown prints the capture's time left until end or done, one line
// at every tick: lines, not a redrawn bar, since the steps' lines
// interleave with it.
func countdown(w io.Writer, end time.Time, done <-chan struct{}, ticks <-chan time.Time) {
	for {
		select {
		case <-done:
			return
		case now := <-ticks:
			left := end.Sub(now).Round(time.Second)
			if left <= 0 {
				return
			}
			fmt.Fprintf(w, "dockcase: capture: %s left\n", left)
		}
	}
}

// finishCapture waits for the capture to end, closes its members, writes
// capture/interfaces.json and records the capture step.
func (c *collector) finishCapture() {
	run := c.capture
	if run == nil {
		return
	}
	c.capture = nil
	if time.Since(run.started) < c.opts.Capture {
		fmt.Fprintf(c.opts.Progress, "dockcase: waiting for the capture to end (%s)\n", (c.opts.Capture - time.Since(run.started)).Round(time.Second))
	}
	<-run.done
	res := run.res
	var errs []error
	if run.err != nil {
		errs = append(errs, run.err)
	}
	if err := c.stopWindow(run); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.finishSockSampler(run.sockets)...)
	var closeErr error
	switch res.StopReason {
	case capture.StopMaxBytes:
		closeErr = run.pcap.Abort(fmt.Sprintf("capture stopped at the --capture-max-bytes limit of %d bytes after %s; %d later packets not written",
			res.MaxBytes, res.Ended.Sub(res.Started).Round(time.Millisecond), res.OverLimit))
	case capture.StopInterrupted:
		closeErr = run.pcap.Abort("capture ended early: collection interrupted")
	case capture.StopWriteError:
		closeErr = run.pcap.Abort("capture ended early: the bundle could not be written")
	default:
		closeErr = run.pcap.Close()
	}
	if closeErr != nil {
		errs = append(errs, closeErr)
	}
	if run.ctErr != nil {
		errs = append(errs, fmt.Errorf("conntrack events: %w", run.ctErr))
		closeErr = run.events.Abort(run.ctErr.Error())
	} else {
		closeErr = run.events.Close()
	}
	if closeErr != nil {
		errs = append(errs, closeErr)
	}
	if err := c.w.AddJSON("capture/interfaces.json", bundle.MemberInfo{Step: "capture",
		Source: bundle.Source{Kind: "capture", Ref: "netlink links and routes, /proc/*/cgroup, Docker API, PACKET_STATISTICS"}}, res); err != nil {
		errs = append(errs, err)
	}
	for _, it := range res.Interfaces {
		if it.Dropped > 0 {
			errs = append(errs, fmt.Errorf("the kernel dropped %d of %d packets on %s", it.Dropped, it.Received, it.Name))
		}
	}
	if run.ct.Lost > 0 {
		errs = append(errs, fmt.Errorf("%d conntrack event overflow(s): events were lost", run.ct.Lost))
	}
	status := bundle.StepOK
	switch {
	case res.StopReason == capture.StopInterrupted:
		status = bundle.StepInterrupted
		errs = append(errs, ErrInterrupted)
	case run.err != nil && len(res.Interfaces) == 0:
		status = bundle.StepFailed
	case len(errs) > 0:
		status = bundle.StepPartial
	}
	c.recordCapture(run, status, errors.Join(errs...))
}

func (c *collector) recordCapture(run *captureRun, status string, err error) {
	res := run.res
	rec := bundle.StepRecord{Name: "capture", Started: run.started, Ended: time.Now().UTC(), Status: status,
		Called: []bundle.Call{
			{Kind: "capture", Ref: fmt.Sprintf("socket(AF_PACKET, SOCK_RAW), SO_ATTACH_FILTER, PACKET_RX_RING TPACKET_V3, bind, on %d interface(s)", len(res.Interfaces))},
			{Kind: "netlink", Ref: "RTM_GETLINK, RTM_GETROUTE, RTM_GETNSID every " + capture.DiscoverInterval.String()},
			{Kind: "netlink", Ref: "NFNL_SUBSYS_CTNETLINK multicast NEW, UPDATE, DESTROY"},
		},
		Detail: map[string]any{
			"filter": run.filter, "mode": res.Mode, "stop_reason": res.StopReason, "bytes": res.Bytes,
			"max_bytes": res.MaxBytes, "packets": res.Packets, "kernel_received": res.Received,
			"kernel_dropped": res.Dropped, "over_limit": res.OverLimit, "interfaces": len(res.Interfaces),
			"conntrack_events": run.ct.Events,
		},
	}
	rec.Called = append(rec.Called, run.windowCalls...)
	for k, v := range run.windowDetail {
		rec.Detail.(map[string]any)[k] = v
	}
	recordSockSampler(run.sockets, &rec)
	if err != nil {
		rec.Error = err.Error()
	}
	if res.StopReason == capture.StopMaxBytes {
		rec.Detail.(map[string]any)["note"] = fmt.Sprintf("stopped at the --capture-max-bytes limit of %d bytes", res.MaxBytes)
		fmt.Fprintf(c.opts.Progress, "dockcase: capture stopped at the --capture-max-bytes limit (%d bytes)\n", res.MaxBytes)
	}
	switch status {
	case bundle.StepInterrupted:
		c.gap("capture: interrupted before it finished")
	case bundle.StepFailed, bundle.StepPartial:
		c.gap(fmt.Sprintf("capture: %s: %v", status, err))
		fmt.Fprintf(c.opts.Progress, "dockcase: capture: %s: %s\n", status, firstLine(rec.Error))
	}
	c.w.Record(rec)
}
