package main

import (
	"fmt"
	"io"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

// timelineOptions are the flags of timeline.
type timelineOptions struct {
	trust           trustOptions
	allowUnverified bool
	timesketch      string
	csv             string
	traffic         trafficOptions
	force           bool
}

func newTimelineCmd() *cobra.Command {
	opts := &timelineOptions{}
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
attributes), --csv a CSV file; "-" writes to stdout instead of the table.
When the bundle shows the host clock was not synchronised, the first line
says so with the offset and error the kernel reported.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReading(cmd, &opts.trust, args[0], func(path string) error {
				return runTimeline(opts, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.trust.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.allowUnverified, "allow-unverified", false, "read a bundle that failed verification (every output says so)")
	cmd.Flags().StringVar(&opts.timesketch, "timesketch", "", "write the timeline as Timesketch JSONL to `FILE` (- for stdout)")
	cmd.Flags().StringVar(&opts.csv, "csv", "", "write the timeline as CSV to `FILE` (- for stdout)")
	opts.traffic.addFlags(cmd.Flags())
	addForceFlag(cmd.Flags(), &opts.force)
	return cmd
}

func runTimeline(opts *timelineOptions, path string, stdout, stderr io.Writer) error {
	if opts.timesketch == "-" && opts.csv == "-" {
		return usagef("--timesketch and --csv cannot both write to stdout")
	}
	iocs, err := opts.traffic.indicators()
	if err != nil {
		return err
	}
	out := newOutputs(opts.force)
	out.bundle(path)
	opts.traffic.inputs(out)
	if err := out.check("--timesketch", opts.timesketch); err != nil {
		return err
	}
	if err := out.check("--csv", opts.csv); err != nil {
		return err
	}
	b, err := openForAnalysis(&analyzeOptions{trust: opts.trust, allowUnverified: opts.allowUnverified}, path)
	if err != nil {
		return err
	}
	defer b.Close()
	sum, err := bundle.FileSHA256(path)
	if err != nil {
		return err
	}
	c, err := analyze.Open(b, analyze.Options{BundleSHA256: sum, IOCs: iocs, Pcaps: opts.traffic.pcaps,
		Flow: flow.Options{MaxFlows: opts.traffic.maxFlows}})
	if err != nil {
		return err
	}
	evs, err := c.Timeline()
	if err != nil {
		return err
	}
	var notes []string
	if b.Err != nil {
		notes = append(notes, unverifiedWarning(b.Err))
	}
	if n := c.ClockNote(); n != "" {
		notes = append(notes, n)
	}
	toStdout := opts.timesketch == "-" || opts.csv == "-"
	for _, n := range notes {
		if toStdout {
			fmt.Fprintf(stderr, "dockcase: %s\n", report.TerminalText(n))
		} else {
			fmt.Fprintln(stdout, report.TerminalText(n))
		}
	}
	write := func(dst string, fn func(io.Writer, []timeline.Event) error) error {
		if dst == "" {
			return nil
		}
		if dst == "-" {
			return fn(stdout, evs)
		}
		if err := out.write(dst, stdout, func(w io.Writer) error { return fn(w, evs) }); err != nil {
			return fmt.Errorf("write timeline: %w", err)
		}
		fmt.Fprintf(stderr, "dockcase: wrote %d events to %s\n", len(evs), dst)
		return nil
	}
	if err := write(opts.timesketch, timeline.WriteTimesketch); err != nil {
		return err
	}
	if err := write(opts.csv, timeline.WriteCSV); err != nil {
		return err
	}
	if toStdout {
		return nil
	}
	rows := make([][]string, 0, len(evs))
	for _, e := range evs {
		ct := e.ContainerName
		if ct == "" {
			ct = "-"
		}
		rows = append(rows, []string{e.Time.UTC().Format("2006-01-02T15:04:05.000Z"), e.Kind, ct, truncateForTerminal(e.Message, 160), e.Source})
	}
	return report.Table(stdout, []string{"Time (UTC)", "What", "Container", "Event", "Source"}, rows)
}
