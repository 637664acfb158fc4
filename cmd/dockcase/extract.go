package main

import (
	"fmt"
	"io"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/flow"
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
		Short: "Write one container's packets from every capture point as pcapng",
		Long: `Extract writes the packets of the flows attributed to one container, from
every capture point of the bundle (its veth, its bridge, the uplinks after
NAT) and from --pcap files, as one pcapng file for Wireshark. Every capture
interface keeps its interface block (name and description), so a packet
shows where it was captured. --ioc keeps only the flows that match an
indicator.`,
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
	out.bundle(path)
	opts.analyze.traffic.inputs(out)
	if err := out.check("-o", opts.out); err != nil {
		return err
	}
	prog := startProgress(stderr)
	defer prog.end()
	b, c, res, err := analyzeTraffic(&opts.analyze, path, prog)
	if err != nil {
		return err
	}
	iocs := c.Options().IOCs
	defer b.Close()
	if res.Warning != "" {
		fmt.Fprintf(stderr, "dockcase: WARNING: %s\n", res.Warning)
	}
	flows, err := selectFlows(res, opts.container, iocs)
	if err != nil {
		return err
	}
	inputs, err := c.CaptureInputs()
	if err != nil {
		return err
	}
	var st flow.ExtractStats
	if err := out.write(opts.out, stdout, func(w io.Writer) error {
		var err error
		st, err = analyze.Extract(w, inputs, flows)
		return err
	}); err != nil {
		return fmt.Errorf("extract: %w", err)
	}
	fmt.Fprintf(stderr, "dockcase: %d packets of %d flows of %s written to %s (%d capture interfaces)\n",
		st.Packets, len(flows), opts.container, opts.out, st.Interfaces)
	return nil
}
