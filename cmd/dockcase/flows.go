package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/ioc"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/caselist"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/progress"
	"github.com/dockcase/dockcase/internal/indicator"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// trafficOptions are the flags that bring indicators and outside captures:
// analyze, flows and extract share them.
type trafficOptions struct {
	iocs     []string
	iocFiles []string
	pcaps    []string
	maxFlows int
}

func (o *trafficOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.iocs, "ioc", nil, "an indicator to match: `IP`, CIDR or domain (repeatable)")
	fs.StringArrayVar(&o.iocFiles, "ioc-file", nil, "read indicators from `FILE`, one a line, # comments (repeatable)")
	fs.StringArrayVar(&o.pcaps, "pcap", nil, "also read this capture `FILE` (pcap or pcapng from outside the host, after NAT; repeatable)")
	fs.IntVar(&o.maxFlows, "max-flows", flow.DefaultMaxFlows, "keep at most `N` flows in memory; beyond, the least recently active are counted, not analysed (about 1.5 KiB each: raise it where memory allows)")
}

// indicators parses --ioc and --ioc-file, and checks --max-flows and that
// every --pcap file is a capture; a bad indicator or bound is a usage
// error, a --pcap file that is not a capture an error that says what it
// is, before anything is read or written.
func (o *trafficOptions) indicators() ([]indicator.Indicator, error) {
	if o.maxFlows < 1 {
		return nil, usagef("--max-flows %d: want a positive number of flows", o.maxFlows)
	}
	for _, p := range o.pcaps {
		if err := checkCaptureFile(p); err != nil {
			return nil, err
		}
	}
	var out []indicator.Indicator
	for _, s := range o.iocs {
		i, err := indicator.Parse(s)
		if err != nil {
			return nil, usagef("--ioc: %v", err)
		}
		out = append(out, i)
	}
	for _, name := range o.iocFiles {
		f, err := os.Open(name)
		if err != nil {
			return nil, usagef("--ioc-file: %v", err)
		}
		list, err := indicator.ParseList(f, name)
		f.Close()
		if err != nil {
			return nil, usagef("--ioc-file: %v", err)
		}
		out = append(out, list...)
	}
	return out, nil
}

// inputs records the --pcap and --ioc-file files as inputs of the run.
func (o *trafficOptions) inputs(out *outputs) {
	for _, p := range o.pcaps {
		out.Input("--pcap", p)
	}
	for _, p := range o.iocFiles {
		out.Input("--ioc-file", p)
	}
}

// unattributedError reports flows that stay "host or unknown": the
// analysis finished with gaps (exit 3).
func unattributedError(res *analyze.Result, stderr io.Writer) error {
	n := res.Unattributed()
	var iocs []string
	for _, h := range res.IOCs {
		if h.Unattributed {
			iocs = append(iocs, h.IOC)
		}
	}
	if n == 0 && len(iocs) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%d captured flows stay unattributed (\"host or unknown\", rule %q)", n, traffic.RuleUnknown)
	if len(iocs) > 0 {
		msg += fmt.Sprintf(", among them traffic with %q", iocs)
	}
	fmt.Fprintf(stderr, "dockcase: %s\n", msg)
	return &gapsError{msg}
}

type flowsOptions struct {
	analyze   analyzeOptions
	container string
	points    bool
	output    outputFlags
}

func newFlowsCmd() *cobra.Command {
	opts := &flowsOptions{}
	opts.output.legacy = []string{"csv"}
	cmd := &cobra.Command{
		Use:   "flows BUNDLE",
		Short: "List the conversations (contacts), each attributed to a container",
		Long: `Flows reads the bundle's captures (and --pcap files), sockets, socket samples
and conntrack table and prints one line per conversation (contact), however
many capture points saw it: who (the container, the group sharing a network
namespace, the candidates of a reused address, or a host process), the
process holding the socket, the protocol, the local end before NAT and the
remote end, first and last seen, packets and bytes each way as one capture
point counted them (counted_at), the rules that decided with a confidence,
and how it was dated when no packet dates it. --container keeps one
container's conversations, --ioc those that match an indicator.

--points lists the flows per capture point instead (one line per flow and
interface, with the frames that are the evidence): a conversation seen on
the veth, the bridge and the uplink is three lines there.
` + listingHelp + `

Exit status 3 means some conversations (flows with --points) shown stay
unattributed.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			args, err := opts.output.takeLegacyValue(cmd, args, 1)
			if err != nil {
				return &usageError{err}
			}
			return runReading(cmd, &opts.analyze.trust, args[0], func(path string) error {
				return runFlows(opts, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.analyze.trust.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.analyze.allowUnverified, "allow-unverified", false, "analyse a bundle that failed verification (every output says so)")
	opts.analyze.traffic.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.container, "container", "", "only the conversations of this container (`NAME` or id)")
	cmd.Flags().BoolVar(&opts.points, "points", false, "list the flows of each capture point instead of the conversations")
	opts.output.addFlags(cmd.Flags(), "the conversations", true)
	addForceFlag(cmd.Flags(), &opts.analyze.force)
	return cmd
}

// analyzeTraffic opens the bundle's Case with the traffic flags and reads
// its traffic (only: no findings, timeline or paths); it refuses a bundle
// without captures when no --pcap is given. res holds the traffic part of
// the analysis document: warning, containers, captures, flows and IOCs.
// The phases show on prog.
func analyzeTraffic(opts *analyzeOptions, path string, prog *progress.Line) (*bundle.Bundle, *analyze.Case, *analyze.Result, error) {
	iocs, err := opts.traffic.indicators()
	if err != nil {
		return nil, nil, nil, err
	}
	prog.Phase("verifying the bundle")
	b, err := openForAnalysis(opts, path)
	if err != nil {
		return nil, nil, nil, err
	}
	prog.Phase("reading the bundle")
	c, err := analyze.Open(b, analyze.Options{IOCs: iocs, Pcaps: opts.traffic.pcaps, Flow: flow.Options{MaxFlows: opts.traffic.maxFlows}})
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	prog.Phase("reading the captures")
	t, err := c.Traffic()
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	if len(t.Captures) == 0 {
		b.Close()
		return nil, nil, nil, traffic.ErrNoCapture
	}
	prog.Phase("matching the indicators")
	hits, err := c.IOCs()
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	res := &analyze.Result{Warning: c.Warning(), Containers: c.Host().Containers, Captures: t.Captures, Flows: t.Flows, Contacts: t.Contacts, IOCs: hits}
	return b, c, res, nil
}

// selectFlows keeps the flows of one container (by id, id prefix or name,
// also a container gone before the snapshot) that match any of iocs.
func selectFlows(res *analyze.Result, container string, iocs []indicator.Indicator) ([]*traffic.Flow, error) {
	id, err := containerRef(res, container)
	if err != nil {
		return nil, err
	}
	var out []*traffic.Flow
	for i := range res.Flows {
		f := &res.Flows[i]
		if id != "" && f.Container != id {
			continue
		}
		if len(iocs) > 0 {
			hit := false
			for _, ind := range iocs {
				if ioc.MatchFlow(ind, f) {
					hit = true
					break
				}
			}
			if !hit {
				continue
			}
		}
		out = append(out, f)
	}
	return out, nil
}

// containerRef resolves --container (an id, id prefix or name, also of a
// container gone before the snapshot that only the captures or the
// conversations name) to an id; "" when not given.
func containerRef(res *analyze.Result, container string) (string, error) {
	if container == "" {
		return "", nil
	}
	ref := strings.TrimPrefix(container, "/")
	matches := func(id, name string) bool {
		return id != "" && (id == ref || name == ref || (len(ref) >= 4 && strings.HasPrefix(id, ref)))
	}
	for _, c := range res.Containers {
		if matches(c.ID, c.Name) {
			return c.ID, nil
		}
	}
	for i := range res.Flows {
		if f := &res.Flows[i]; matches(f.Container, f.ContainerName) {
			return f.Container, nil
		}
	}
	for i := range res.Contacts {
		k := &res.Contacts[i]
		if matches(k.Container, k.ContainerName) {
			return k.Container, nil
		}
		for _, g := range k.Group {
			if matches(g.ID, g.Name) {
				return g.ID, nil
			}
		}
		for _, g := range k.Candidates {
			if matches(g.ID, g.Name) {
				return g.ID, nil
			}
		}
	}
	return "", usagef("--container %q: no such container in the bundle or its captures", container)
}

// selectContacts keeps the conversations of one container (itself, one of
// its group or of its candidates) that match any of iocs.
func selectContacts(res *analyze.Result, t *traffic.Result, container string, iocs []indicator.Indicator) ([]*traffic.Contact, error) {
	id, err := containerRef(res, container)
	if err != nil {
		return nil, err
	}
	var out []*traffic.Contact
	for i := range res.Contacts {
		k := &res.Contacts[i]
		if id != "" && !contactOf(k, id) {
			continue
		}
		if len(iocs) > 0 && !slices.ContainsFunc(iocs, func(ind indicator.Indicator) bool { return ioc.MatchContact(ind, t, k) }) {
			continue
		}
		out = append(out, k)
	}
	return out, nil
}

// contactOf reports whether the conversation is the container's, alone, as
// one of a group or as one of the candidates.
func contactOf(k *traffic.Contact, id string) bool {
	return k.Container == id || slices.ContainsFunc(k.Group, func(g traffic.ContainerRef) bool { return g.ID == id }) ||
		slices.ContainsFunc(k.Candidates, func(g traffic.Candidate) bool { return g.ID == id })
}

func runFlows(opts *flowsOptions, path string, stdout, stderr io.Writer) error {
	out := newOutputs(opts.analyze.force)
	out.Bundle(path)
	opts.analyze.traffic.inputs(out)
	if err := opts.output.check(out); err != nil {
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
	var l *listing.Table
	unknown, n, what := 0, 0, "conversations"
	if opts.points {
		flows, err := selectFlows(res, opts.container, iocs)
		if err != nil {
			return err
		}
		for _, f := range flows {
			if f.Rule == traffic.RuleUnknown {
				unknown++
			}
		}
		l, n, what = caselist.Flows(flows, res.Warning), len(flows), "flows"
	} else {
		t, err := c.Traffic()
		if err != nil {
			return err
		}
		contacts, err := selectContacts(res, t, opts.container, iocs)
		if err != nil {
			return err
		}
		for _, k := range contacts {
			if !k.Named() && slices.Contains(k.Rules, traffic.RuleUnknown) {
				unknown++
			}
		}
		l, n = caselist.Contacts(contacts, res.Warning), len(contacts)
	}
	prog.End()
	if res.Warning != "" {
		fmt.Fprintf(stderr, "dockcase: WARNING: %s\n", res.Warning)
	}
	if err := opts.output.print(l, out, stdout); err != nil {
		return fmt.Errorf("write flows: %w", err)
	}
	if opts.output.table(stdout) {
		fmt.Fprintf(stdout, "%d %s\n", n, what)
	}
	for _, c := range res.Captures {
		if l := c.Limit; l != nil {
			fmt.Fprintf(stderr, "dockcase: %s: the bound of %d flows was reached: %d least recently active flows (%d packets) are counted, not listed; raise --max-flows\n",
				report.TerminalText(c.Member), l.MaxFlows, l.Evicted, l.EvictedPackets)
		}
	}
	if unknown > 0 {
		msg := fmt.Sprintf("%d of the %s shown stay unattributed (\"host or unknown\")", unknown, what)
		fmt.Fprintf(stderr, "dockcase: %s\n", msg)
		return &gapsError{msg}
	}
	return nil
}
