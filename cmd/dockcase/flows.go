package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/ioc"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/bundle"
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
		out.input("--pcap", p)
	}
	for _, p := range o.iocFiles {
		out.input("--ioc-file", p)
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
	output    outputFlags
}

func newFlowsCmd() *cobra.Command {
	opts := &flowsOptions{}
	opts.output.legacy = []string{"csv"}
	cmd := &cobra.Command{
		Use:   "flows BUNDLE",
		Short: "List the captured flows, each attributed to a container",
		Long: `Flows reads the bundle's captures (and --pcap files) and prints one line per
flow and capture point: the container it is attributed to, the rule that
decided it (veth, address-owner, conntrack, conntrack-event, correlation,
dnat, host-socket; or host, foreign, unknown) with a confidence, the
endpoints, times, packets and bytes each way, and the frames that are the
evidence. --container keeps one container's flows, --ioc keeps the flows
that match an indicator.
` + listingHelp + `

Exit status 3 means some flows shown stay unattributed.`,
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
	cmd.Flags().StringVar(&opts.container, "container", "", "only the flows of this container (`NAME` or id)")
	opts.output.addFlags(cmd.Flags(), "the flows", true)
	addForceFlag(cmd.Flags(), &opts.analyze.force)
	return cmd
}

// analyzeTraffic opens the bundle's Case with the traffic flags and reads
// its traffic (only: no findings, timeline or paths); it refuses a bundle
// without captures when no --pcap is given. res holds the traffic part of
// the analysis document: warning, containers, captures, flows and IOCs.
// The phases show on prog.
func analyzeTraffic(opts *analyzeOptions, path string, prog *progress) (*bundle.Bundle, *analyze.Case, *analyze.Result, error) {
	iocs, err := opts.traffic.indicators()
	if err != nil {
		return nil, nil, nil, err
	}
	prog.phase("verifying the bundle")
	b, err := openForAnalysis(opts, path)
	if err != nil {
		return nil, nil, nil, err
	}
	prog.phase("reading the bundle")
	c, err := analyze.Open(b, analyze.Options{IOCs: iocs, Pcaps: opts.traffic.pcaps, Flow: flow.Options{MaxFlows: opts.traffic.maxFlows}})
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	prog.phase("reading the captures")
	t, err := c.Traffic()
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	if len(t.Captures) == 0 {
		b.Close()
		return nil, nil, nil, traffic.ErrNoCapture
	}
	prog.phase("matching the indicators")
	hits, err := c.IOCs()
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	res := &analyze.Result{Warning: c.Warning(), Containers: c.Host().Containers, Captures: t.Captures, Flows: t.Flows, IOCs: hits}
	return b, c, res, nil
}

// selectFlows keeps the flows of one container (by id, id prefix or name,
// also a container gone before the snapshot) that match any of iocs.
func selectFlows(res *analyze.Result, container string, iocs []indicator.Indicator) ([]*traffic.Flow, error) {
	id := ""
	if container != "" {
		ref := strings.TrimPrefix(container, "/")
		for _, c := range res.Containers {
			if c.ID == ref || c.Name == ref || (len(ref) >= 4 && strings.HasPrefix(c.ID, ref)) {
				id = c.ID
				break
			}
		}
		for i := range res.Flows {
			f := &res.Flows[i]
			if id == "" && f.Container != "" && (f.Container == ref || f.ContainerName == ref || (len(ref) >= 4 && strings.HasPrefix(f.Container, ref))) {
				id = f.Container
			}
		}
		if id == "" {
			return nil, usagef("--container %q: no such container in the bundle or its captures", container)
		}
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

// flowColumns are the columns of flows in TSV, CSV and JSON.
// The container's id is last: the columns before it keep the places they
// had before it was added (scripts read them by position).
var flowColumns = []column{{key: "first"}, {key: "last"}, {key: "container_name"}, {key: "rule"},
	{key: "confidence"}, {key: "member"}, {key: "interface"}, {key: "role"}, {key: "proto"},
	{key: "client"}, {key: "client_port", num: true}, {key: "server"}, {key: "server_port", num: true}, {key: "original"},
	{key: "packets_to_server", num: true}, {key: "packets_to_client", num: true},
	{key: "bytes_to_server", num: true}, {key: "bytes_to_client", num: true}, {key: "tcp_flags"}, {key: "names", text: true},
	{key: "first_frame", num: true}, {key: "last_frame", num: true}, {key: "reason", text: true}, {key: "container_id"}}

// flowTermColumns are the shorter columns of flows on a terminal.
// The confidence and the dates are in the TSV, CSV and JSON. The
// endpoints are cut where the terminal is narrow (the TSV has them whole).
var flowTermColumns = []column{{key: "first", label: "TIME", keep: true}, {key: "container_name", label: "CONTAINER"}, {key: "rule"},
	{key: "interface", label: "IFACE"}, {key: "client"}, {key: "server"},
	{key: "packets", label: "PKTS C>S/S>C", keep: true}, {key: "names", text: true}}

// flowNames are the names a flow was seen with: DNS, TLS SNI, HTTP Host.
func flowNames(f *traffic.Flow) string {
	names := append([]string{}, f.Names...)
	for _, n := range []string{f.SNI, f.HTTPHost} {
		if n != "" {
			names = append(names, n)
		}
	}
	return strings.Join(names, " ")
}

func flowRow(f *traffic.Flow) []string {
	orig := ""
	if o := f.Original; o != nil {
		orig = fmt.Sprintf("%s:%d>%s:%d", o.Src, o.SPort, o.Dst, o.DPort)
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	return []string{f.First.Format(time.RFC3339Nano), f.Last.Format(time.RFC3339Nano), f.ContainerName, f.Rule, f.Confidence,
		f.Member, f.Interface, f.Role, f.Proto, f.Client.String(), strconv.Itoa(int(f.ClientPort)), f.Server.String(),
		strconv.Itoa(int(f.ServerPort)), orig, u(f.PacketsToServer), u(f.PacketsToClient), u(f.BytesToServer),
		u(f.BytesToClient), f.TCPFlags, flowNames(f), u(f.FirstFrame), u(f.LastFrame), f.Reason, f.Container}
}

// flowsListing is the listing of flows, the terminal's shorter table with
// it.
func flowsListing(flows []*traffic.Flow, warning string) *listing {
	l := &listing{cols: flowColumns, name: "flows", warning: warning, term: &listing{cols: flowTermColumns}}
	for _, f := range flows {
		l.add(flowRow(f)...)
		who := f.ContainerName
		if who == "" {
			who = f.Container
		}
		l.term.add(f.First.UTC().Format("15:04:05"), who, f.Rule, f.Interface,
			fmt.Sprintf("%s:%d", f.Client, f.ClientPort), fmt.Sprintf("%s:%d/%s", f.Server, f.ServerPort, f.Proto),
			fmt.Sprintf("%d/%d", f.PacketsToServer, f.PacketsToClient), flowNames(f))
	}
	return l
}

func runFlows(opts *flowsOptions, path string, stdout, stderr io.Writer) error {
	out := newOutputs(opts.analyze.force)
	out.bundle(path)
	opts.analyze.traffic.inputs(out)
	if err := opts.output.check(out); err != nil {
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
	flows, err := selectFlows(res, opts.container, iocs)
	if err != nil {
		return err
	}
	prog.end()
	if res.Warning != "" {
		fmt.Fprintf(stderr, "dockcase: WARNING: %s\n", res.Warning)
	}
	unknown := 0
	for _, f := range flows {
		if f.Rule == traffic.RuleUnknown {
			unknown++
		}
	}
	if err := opts.output.print(flowsListing(flows, res.Warning), out, stdout); err != nil {
		return fmt.Errorf("write flows: %w", err)
	}
	if opts.output.table(stdout) {
		fmt.Fprintf(stdout, "%d flows\n", len(flows))
	}
	for _, c := range res.Captures {
		if l := c.Limit; l != nil {
			fmt.Fprintf(stderr, "dockcase: %s: the bound of %d flows was reached: %d least recently active flows (%d packets) are counted, not listed; raise --max-flows\n",
				report.TerminalText(c.Member), l.MaxFlows, l.Evicted, l.EvictedPackets)
		}
	}
	if unknown > 0 {
		msg := fmt.Sprintf("%d of the flows shown stay unattributed (\"host or unknown\")", unknown)
		fmt.Fprintf(stderr, "dockcase: %s\n", msg)
		return &gapsError{msg}
	}
	return nil
}

// csvSafe defuses cells a spreadsheet would run as a formula: names and
// reasons come from the evidence.
func csvSafe(row []string) []string {
	for i, c := range row {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) && !isNumber(c) {
			row[i] = "'" + c
		}
	}
	return row
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
