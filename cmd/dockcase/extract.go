package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/progress"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

type extractOptions struct {
	analyze   analyzeOptions
	container string
	out       string
}

func newExtractCmd() *cobra.Command {
	opts := &extractOptions{}
	cmd := &cobra.Command{
		Use:   "extract BUNDLE --container NAME -o FILE.pcapng",
		Short: "Write one container's packets as pcapng, each packet once",
		Long: `Extract writes the packets of the conversations of one container as one pcapng
file for Wireshark, each packet once: a packet crosses the container's veth,
its bridge and the uplink (after NAT), and writing every point's copy makes
Wireshark show the copies as retransmissions. Of each conversation it takes
the capture point closest to the container, where its own addresses are
seen: its veth, else the macvlan/ipvlan parent, else the bridge, else the
uplink, else a --pcap file. Every capture interface keeps its interface
block (name and description), so a packet shows where it was captured.
--ioc keeps only the conversations that match an indicator.
`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReading(cmd, &opts.analyze.trust, args[0], func(path string) error {
				return runExtract(opts, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.analyze.trust.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.analyze.allowUnverified, "allow-unverified", false, "analyse a bundle that failed verification")
	opts.analyze.traffic.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.container, "container", "", "the container (`NAME` or id) whose packets to write")
	cmd.Flags().StringVarP(&opts.out, "out", "o", "", "write the pcapng to `FILE` (- for stdout)")
	addForceFlag(cmd.Flags(), &opts.analyze.force)
	return cmd
}

func runExtract(opts *extractOptions, path string, stdout, stderr io.Writer) error {
	if opts.container == "" {
		return usagef("--container is required")
	}
	if opts.out == "" {
		return usagef("-o FILE is required")
	}
	out := newOutputs(opts.analyze.force)
	out.Bundle(path)
	opts.analyze.traffic.inputs(out)
	if err := out.Check("-o", opts.out); err != nil {
		return err
	}
	prog := progress.Start(stderr)
	defer prog.End()
	b, c, res, err := analyzeTraffic(&opts.analyze, path, prog)
	if err != nil {
		return err
	}
	iocs := c.Options().IOCs
	defer b.Close()
	if res.Warning != "" {
		fmt.Fprintf(stderr, "dockcase: WARNING: %s\n", res.Warning)
	}
	t, err := c.Traffic()
	if err != nil {
		return err
	}
	contacts, err := selectContacts(res, t, opts.container, iocs)
	if err != nil {
		return err
	}
	inputs, err := c.CaptureInputs()
	if err != nil {
		return err
	}
	var st flow.ExtractStats
	var flows []*traffic.Flow
	if err := out.Write(opts.out, stdout, func(w io.Writer) error {
		var err error
		st, flows, err = analyze.ExtractContacts(w, inputs, t, contacts)
		return err
	}); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	points := map[string]int{}
	for _, f := range flows {
		points[f.Interface]++
	}
	fmt.Fprintf(stderr, "dockcase: %d packets of %d conversations of %s written to %s, each from one capture point (%s); %d conversations seen in no capture\n",
		st.Packets, len(flows), opts.container, opts.out, pointsText(points), len(contacts)-len(flows))
	return nil
}

// pointsText says how many conversations were taken from each point.
func pointsText(points map[string]int) string {
	names := slices.Sorted(maps.Keys(points))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s: %d", report.TerminalText(n), points[n])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
