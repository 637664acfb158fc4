package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/progress"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// analyzeOptions are the flags of analyze and path.
type analyzeOptions struct {
	trust           trustOptions
	allowUnverified bool
	to              []string
	jsonOut         string
	traffic         trafficOptions
	reports         reportOutputs
	hashFile        string
	force           bool
}

func (o *analyzeOptions) destinations() ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range o.to {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, usagef("--to %q: not an IP address", s)
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

func newAnalyzeCmd() *cobra.Command {
	opts := &analyzeOptions{}
	cmd := &cobra.Command{
		Use:   "analyze BUNDLE",
		Short: "Rebuild a host's container network from a bundle and explain its paths",
		Long: `Analyze verifies a bundle, then rebuilds the host's container network from
it, offline: containers, networks, namespaces, veths and bridges, routes, NAT
and filter rules. For each container it explains the path of its traffic
towards an outside address (--to; else the --ioc indicators' addresses, a
domain's from the DNS answers captured; else the host's default gateway),
and which host interfaces a capture would show it on, under which source
address.

A bundle that fails verification is refused unless --allow-unverified is
given; every output then says so on its first line (the JSON's first key is
"warning").

When the bundle holds a capture (collect --capture), or captures are given
with --pcap (an IDS or firewall capture where the host's address is the
source), every flow is attributed to a container, with the rule that decided
it and a confidence: the container's veth; the container that held the
address then (bridges); the conntrack entry, snapshot or events, that
reverses the NAT (uplinks, --pcap); a published port's DNAT; a host-network
container's socket. --ioc and --ioc-file match addresses, CIDRs and domains
(through DNS answers, TLS SNI and HTTP Host) and say which containers talked
to them. Exit status 3 means the bundle has gaps that leave answers unknown,
or captured flows stay unattributed ("host or unknown").

--json prints the dockcase-analysis/v2 document on stdout instead of the
summary; --json=FILE writes it to FILE and the summary is printed (the
spelling "--json FILE" still works, with a notice: it is deprecated). --html
and --md write the reports ("-": stdout). No output file replaces an input
of the run, nor an existing file without --force.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			legacy := outputFlags{legacy: []string{"json"}}
			args, err := legacy.takeLegacyValue(cmd, args, 1)
			if err != nil {
				return &usageError{err}
			}
			return runReading(cmd, &opts.trust, args[0], func(path string) error {
				return runAnalyze(opts, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.trust.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.allowUnverified, "allow-unverified", false, "analyse a bundle that failed verification (every output says so)")
	cmd.Flags().StringArrayVar(&opts.to, "to", nil, "explain paths towards this `IP` (repeatable)")
	cmd.Flags().StringVar(&opts.jsonOut, "json", "", "print the dockcase-analysis/v2 document on stdout (--json=`FILE` writes FILE instead)")
	cmd.Flags().Lookup("json").NoOptDefVal = "-"
	opts.traffic.addFlags(cmd.Flags())
	opts.reports.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.hashFile, "hash-file", "", "flag files whose SHA-256 is in `FILE` (sha256sum format or bare hashes)")
	addForceFlag(cmd.Flags(), &opts.force)
	return cmd
}

// openForAnalysis verifies and opens the bundle; an integrity failure is
// returned as is (exit 4) unless allowUnverified.
func openForAnalysis(opts *analyzeOptions, path string) (*bundle.Bundle, error) {
	vo, err := opts.trust.verifyOptions()
	if err != nil {
		return nil, err
	}
	b, err := bundle.Open(path, bundle.OpenOptions{VerifyOptions: vo, AllowUnverified: opts.allowUnverified})
	if err != nil {
		return nil, err
	}
	opts.trust.record(path, b.Result, b.Err)
	return b, nil
}

func runAnalyze(opts *analyzeOptions, path string, stdout, stderr io.Writer) error {
	to, err := opts.destinations()
	if err != nil {
		return err
	}
	iocs, err := opts.traffic.indicators()
	if err != nil {
		return err
	}
	out := newOutputs(opts.force)
	out.Bundle(path)
	opts.traffic.inputs(out)
	out.Input("--hash-file", opts.hashFile)
	if err := out.Check("--json", opts.jsonOut); err != nil {
		return err
	}
	if err := opts.reports.check(out); err != nil {
		return err
	}
	prog := progress.Start(stderr)
	defer prog.End()
	prog.Phase("verifying the bundle")
	b, err := openForAnalysis(opts, path)
	if err != nil {
		return err
	}
	defer b.Close()
	sum, err := bundleSHA256(b.Result, path)
	if err != nil {
		return err
	}
	badHashes, err := readHashFile(opts.hashFile)
	if err != nil {
		return err
	}
	c, err := analyze.Open(b, analyze.Options{To: to, BundleSHA256: sum, IOCs: iocs, Pcaps: opts.traffic.pcaps, BadHashes: badHashes,
		Flow: flow.Options{MaxFlows: opts.traffic.maxFlows}})
	if err != nil {
		return err
	}
	prog.Phase("analysing (captures, paths, findings, timeline)")
	res, err := c.Result()
	if err != nil {
		return err
	}
	prog.End()
	if opts.jsonOut != "" {
		// Streamed to the file as it is encoded: the document of 100k flows
		// is some 60 MB, which need not sit in memory twice.
		if err := out.Write(opts.jsonOut, stdout, func(w io.Writer) error { return report.JSON(w, res) }); err != nil {
			return fmt.Errorf("write analysis: %w", err)
		}
	}
	if err := opts.reports.write(res, out, stdout); err != nil {
		return err
	}
	if opts.jsonOut != "-" && opts.reports.html != "-" && opts.reports.md != "-" {
		// On a terminal the summary's tables fit its width; piped, they
		// keep their natural width (a file holds every cell whole).
		width := 0
		if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			width = listing.TerminalWidth(stdout)
		}
		if err := report.SummaryWidth(stdout, res, width); err != nil {
			return err
		}
	}
	if res.Unknown() {
		msg := fmt.Sprintf("%s: some answers are unknown: the bundle lacks %d things the analysis needs (see \"Unknown\", or \"missing\" in the JSON)", path, len(res.Missing))
		fmt.Fprintf(stderr, "dockcase: %s\n", msg)
		return &gapsError{msg}
	}
	if err := unattributedError(res, stderr); err != nil {
		return err
	}
	return nil
}
