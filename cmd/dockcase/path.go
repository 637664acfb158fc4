package main

import (
	"fmt"
	"io"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/caselist"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/progress"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

// pathOptions are the flags of path.
type pathOptions struct {
	analyzeOptions
	output outputFlags
}

func newPathCmd() *cobra.Command {
	opts := &pathOptions{}
	cmd := &cobra.Command{
		Use:   "path BUNDLE CONTAINER",
		Short: "Explain one container's path, hop by hop, with evidence",
		Long: `Path verifies a bundle and explains how one container's traffic reaches an
address (--to, else the host's default gateway): its interface, the host veth,
the bridge, the route, the forward verdict, the NAT rule and the interface it
leaves by with its source address, each hop citing the member and the line or
JSON pointer it comes from. CONTAINER is a name, an id or a unique id prefix.

On a terminal each path is explained hop by hop; piped, the tab-separated
lines have one hop a line (then the path's notes and unknowns, kind "note"
and "unknown"), each with the path's container, destination, source as it
leaves, interface and verdict; --json prints them as {"hops": [...]} with
the same keys ("analyze --json" has each path as one object).
` + listingHelp,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReading(cmd, &opts.trust, args[0], func(path string) error {
				return runPath(opts, path, args[1], cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.trust.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.allowUnverified, "allow-unverified", false, "analyse a bundle that failed verification (the output says so)")
	cmd.Flags().StringArrayVar(&opts.to, "to", nil, "explain the path towards this `IP` (repeatable)")
	opts.output.addFlags(cmd.Flags(), "the paths", true)
	addForceFlag(cmd.Flags(), &opts.force)
	return cmd
}

// pathDoc is what path found: the paths, and a warning when the bundle
// did not verify.
type pathDoc struct {
	Warning string
	Paths   []*netpath.Path
}

func runPath(opts *pathOptions, path, container string, stdout, stderr io.Writer) error {
	to, err := opts.destinations()
	if err != nil {
		return err
	}
	out := newOutputs(opts.force)
	out.Bundle(path)
	if err := opts.output.check(out); err != nil {
		return err
	}
	prog := progress.Start(stderr)
	defer prog.End()
	prog.Phase("verifying the bundle")
	b, err := openForAnalysis(&opts.analyzeOptions, path)
	if err != nil {
		return err
	}
	defer b.Close()
	prog.Phase("reading the bundle")
	c, err := analyze.Open(b, analyze.Options{To: to})
	if err != nil {
		return err
	}
	to = c.Destinations()
	doc := pathDoc{Paths: []*netpath.Path{}}
	if b.Err != nil {
		doc.Warning = fmt.Sprintf("UNVERIFIED: this bundle failed verification (%s); nothing in it can be relied on", b.Err)
	}
	var unknown bool
	for _, dst := range to {
		p, err := c.Path(container, dst)
		if err != nil {
			return usagef("%v", err)
		}
		doc.Paths = append(doc.Paths, p)
		unknown = unknown || len(p.Unknown) > 0
	}
	prog.End()
	if opts.output.table(stdout) {
		if doc.Warning != "" {
			fmt.Fprintf(stdout, "WARNING: %s\n\n", report.TerminalText(doc.Warning))
		}
		for i, p := range doc.Paths {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			if err := report.PathDetail(stdout, p); err != nil {
				return err
			}
		}
	} else {
		if doc.Warning != "" {
			fmt.Fprintf(stderr, "dockcase: WARNING: %s\n", report.TerminalText(doc.Warning))
		}
		if err := opts.output.print(caselist.Paths(doc.Paths, doc.Warning), out, stdout); err != nil {
			return fmt.Errorf("write paths: %w", err)
		}
	}
	if unknown {
		return &gapsError{fmt.Sprintf("%s: part of the path is unknown", path)}
	}
	return nil
}
