package main

import (
	"fmt"
	"io"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/caselist"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/progress"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

// timelineOptions are the flags of timeline.
type timelineOptions struct {
	trust           trustOptions
	allowUnverified bool
	timesketch      string
	output          outputFlags
	traffic         trafficOptions
	force           bool
}

func newTimelineCmd() *cobra.Command {
	opts := &timelineOptions{}
	opts.output.legacy = []string{"csv"}
	cmd := &cobra.Command{
		Use:   "timeline BUNDLE",
		Short: "Build the case timeline of a bundle (UTC), for reading or Timesketch",
		Long: `Timeline verifies a bundle, then puts in one UTC timeline: containers
created, started, finished (inspect) and every engine event (create, start,
exec, pause, die, network connect…), process start times, modification times
of the files in the committed images' top layers, every collection and
containment step, and the custody sidecar's entries. Each event names its
source and evidence.

--timesketch writes Timesketch's JSONL (message, datetime, timestamp_desc and
attributes) to a file ("-": stdout). --csv writes the CSV Timesketch imports
(datetime, timestamp_desc, message, …); the table, the tab-separated lines
and --json name those time, kind, message, … as the analysis document does.
When the bundle shows the host clock was not synchronised, the first line
says so with the offset and error the kernel reported (on stderr when the
output is not a table).
` + listingHelp,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := opts.output.takeLegacyValue(cmd, args, 1)
			if err != nil {
				return &usageError{err}
			}
			return runReading(cmd, &opts.trust, args[0], func(path string) error {
				return runTimeline(opts, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.trust.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.allowUnverified, "allow-unverified", false, "read a bundle that failed verification (every output says so)")
	cmd.Flags().StringVar(&opts.timesketch, "timesketch", "", "write the timeline as Timesketch JSONL to `FILE` (- for stdout)")
	opts.output.addFlags(cmd.Flags(), "the events", true)
	opts.traffic.addFlags(cmd.Flags())
	addForceFlag(cmd.Flags(), &opts.force)
	return cmd
}

func runTimeline(opts *timelineOptions, path string, stdout, stderr io.Writer) error {
	if opts.timesketch == "-" && opts.output.toStdout() {
		return usagef("--timesketch - and --json or --csv cannot both print to stdout; write one to a file")
	}
	iocs, err := opts.traffic.indicators()
	if err != nil {
		return err
	}
	out := newOutputs(opts.force)
	out.Bundle(path)
	opts.traffic.inputs(out)
	if err := out.Check("--timesketch", opts.timesketch); err != nil {
		return err
	}
	if err := opts.output.check(out); err != nil {
		return err
	}
	prog := progress.Start(stderr)
	defer prog.End()
	prog.Phase("verifying the bundle")
	b, err := openForAnalysis(&analyzeOptions{trust: opts.trust, allowUnverified: opts.allowUnverified}, path)
	if err != nil {
		return err
	}
	defer b.Close()
	sum, err := bundleSHA256(b.Result, path)
	if err != nil {
		return err
	}
	prog.Phase("reading the bundle")
	c, err := analyze.Open(b, analyze.Options{BundleSHA256: sum, IOCs: iocs, Pcaps: opts.traffic.pcaps,
		Flow: flow.Options{MaxFlows: opts.traffic.maxFlows}})
	if err != nil {
		return err
	}
	prog.Phase("building the timeline")
	evs, err := c.Timeline()
	if err != nil {
		return err
	}
	prog.End()
	var notes []string
	if b.Err != nil {
		notes = append(notes, unverifiedWarning(b.Err))
	}
	if n := c.ClockNote(); n != "" {
		notes = append(notes, n)
	}
	table := opts.timesketch != "-" && opts.output.table(stdout)
	for _, n := range notes {
		if table {
			fmt.Fprintln(stdout, report.TerminalText(n))
		} else {
			fmt.Fprintf(stderr, "dockcase: %s\n", report.TerminalText(n))
		}
	}
	if dst := opts.timesketch; dst != "" {
		if err := out.Write(dst, stdout, func(w io.Writer) error { return timeline.WriteTimesketch(w, evs) }); err != nil {
			return fmt.Errorf("write timeline: %w", err)
		}
		if dst != "-" {
			fmt.Fprintf(stderr, "dockcase: wrote %d events to %s\n", len(evs), dst)
		}
		if dst == "-" {
			return nil
		}
	}
	l := caselist.Timeline(evs)
	if !table && b.Err != nil { // the table has it on its first line already
		l.Warning = unverifiedWarning(b.Err)
	}
	if err := opts.output.print(l, out, stdout); err != nil {
		return fmt.Errorf("write timeline: %w", err)
	}
	for _, f := range []string{opts.output.json, opts.output.csv} {
		if f != "" && f != "-" {
			fmt.Fprintf(stderr, "dockcase: wrote %d events to %s\n", len(evs), f)
		}
	}
	return nil
}
