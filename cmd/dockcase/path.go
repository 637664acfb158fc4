package main

import (
	"fmt"
	"io"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

func newPathCmd() *cobra.Command {
	opts := &analyzeOptions{}
	cmd := &cobra.Command{
		Use:   "path BUNDLE CONTAINER",
		Short: "Explain one container's path, hop by hop, with evidence",
		Long: `Path verifies a bundle and explains how one container's traffic reaches an
address (--to, else the host's default gateway): its interface, the host veth,
the bridge, the route, the forward verdict, the NAT rule and the interface it
leaves by with its source address, each hop citing the member and the line or
JSON pointer it comes from. CONTAINER is a name, an id or a unique id prefix.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReading(cmd, &opts.trust, args[0], func(path string) error {
				return runPath(opts, path, args[1], cmd.OutOrStdout())
			})
		},
	}
	opts.trust.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.allowUnverified, "allow-unverified", false, "analyse a bundle that failed verification (the output says so)")
	cmd.Flags().StringArrayVar(&opts.to, "to", nil, "explain the path towards this `IP` (repeatable)")
	return cmd
}

func runPath(opts *analyzeOptions, path, container string, stdout io.Writer) error {
	to, err := opts.destinations()
	if err != nil {
		return err
	}
	b, err := openForAnalysis(opts, path)
	if err != nil {
		return err
	}
	defer b.Close()
	if b.Err != nil {
		fmt.Fprintf(stdout, "WARNING: UNVERIFIED: this bundle failed verification (%s); nothing in it can be relied on\n\n", report.TerminalText(b.Err.Error()))
	}
	c, err := analyze.Open(b, analyze.Options{To: to})
	if err != nil {
		return err
	}
	to = c.Destinations()
	var unknown bool
	for i, dst := range to {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		p, err := c.Path(container, dst)
		if err != nil {
			return usagef("%v", err)
		}
		if err := report.PathDetail(stdout, p); err != nil {
			return err
		}
		unknown = unknown || len(p.Unknown) > 0
	}
	if unknown {
		return &gapsError{fmt.Sprintf("%s: part of the path is unknown", path)}
	}
	return nil
}
