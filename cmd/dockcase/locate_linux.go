//go:build linux && !portable

package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/locatelist"
	"github.com/dockcase/dockcase/collect/locate"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

type locateOptions struct {
	watch      time.Duration
	output     outputFlags
	force      bool
	dockerHost string
	noPackets  bool
}

func newLocateCmd() *cobra.Command {
	opts := &locateOptions{}
	cmd := &cobra.Command{
		Use:   "locate ADDRESS|CIDR|DOMAIN",
		Short: "Find the containers talking to an address, live (as root)",
		Long: `Locate finds which containers of this host talk to an address, a prefix or
a domain, from what the kernel holds now: the conntrack table (NAT reversed to
the container's own address and port; a connection that ended but is still
tracked, e.g. in TIME_WAIT, is found too) and the socket tables of every
network namespace, each socket with the process that holds it. A domain is
resolved the way this host resolves it, and the addresses used are printed.

  sudo dockcase locate 198.51.100.7
  sudo dockcase locate 198.51.100.0/24 --json
  sudo dockcase locate evil.example --watch 60s

With --watch it then follows the kernel's conntrack events and the packets
on Docker's bridges, the containers' veths and the uplinks (filtered in the
kernel for the target's addresses; a flow seen on an uplink after masquerade
is traced back to its container through conntrack), and prints each new
contact as it happens, with the sources that saw it (conntrack-event,
packet); a container that keeps reconnecting is printed once per remote
address and port. For a domain, the DNS answers seen on the bridges and
veths that name it add their addresses to the watch (said on stderr).
--no-packets watches conntrack events only.

Output: one line per contact. Without --watch, the listing convention below;
--json prints an array of contacts. With --watch, contacts are printed as
they are seen: tab-separated lines under a header (also on a terminal, whose
width a stream cannot know), JSON lines with --json, CSV with --csv, always
on stdout. Locate changes nothing on the host. It exits 0 when it could read the whole host,
whether a container was found or not: when none was, stdout lists no
container and stderr says "no container in contact with …". It exits 1 on an
error and 3 when part of the host could not be read (an answer of none is
then not to be relied on).
` + listingHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLocate(cmd.Context(), opts, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opts.watch, "watch", 0, "then watch for new contacts this `long` (e.g. 60s)")
	opts.output.addFlags(f, "the contacts", true)
	addForceFlag(f, &opts.force)
	f.BoolVar(&opts.noPackets, "no-packets", false, "with --watch, follow conntrack events only, not packets")
	f.StringVar(&opts.dockerHost, "docker-host", "", "Docker API address (default DOCKER_HOST or unix:///var/run/docker.sock)")
	return cmd
}

func runLocate(ctx context.Context, opts *locateOptions, arg string, stdout, stderr io.Writer) error {
	if opts.watch < 0 {
		return usagef("--watch %s: must be positive", opts.watch)
	}
	t, err := locate.ParseTarget(arg)
	if err != nil {
		return &usageError{err}
	}
	if t.Domain != "" {
		t, err = locate.ResolveTarget(ctx, t, nil)
		if err != nil {
			return err
		}
		addrs := make([]string, len(t.Prefixes))
		for i, p := range t.Prefixes {
			addrs[i] = p.Addr().String()
		}
		fmt.Fprintf(stderr, "dockcase: %s resolves here to %s\n", t.Domain, strings.Join(addrs, ", "))
	}
	out := newOutputs(opts.force)
	if opts.watch > 0 && (opts.output.json != "" && opts.output.json != "-" || opts.output.csv != "" && opts.output.csv != "-") {
		return usagef("--watch prints contacts as they are seen, on stdout: --json and --csv take no FILE with it (redirect stdout)")
	}
	if err := opts.output.check(out); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "dockcase: not root: other users' sockets and processes cannot be read")
	}
	lopts := locate.Options{DockerHost: opts.dockerHost, Log: stderr}
	if opts.noPackets {
		lopts.Sources = []locate.FlowSource{locate.ConntrackEvents()}
	}
	var contacts []locate.Contact
	var gaps []error
	if opts.watch > 0 {
		wctx, cancel := context.WithTimeout(ctx, opts.watch)
		defer cancel()
		fmt.Fprintf(stderr, "dockcase: watching for %s (Ctrl-C stops)\n", opts.watch)
		enc := json.NewEncoder(stdout)
		cw := csv.NewWriter(stdout)
		switch {
		case opts.output.csv != "":
			cw.Write(strings.Split(locatelist.Header(), "\t"))
			cw.Flush()
		case opts.output.json == "":
			fmt.Fprintln(stdout, locatelist.Header())
		}
		gaps = locate.Watch(wctx, t, lopts, func(c locate.Contact) {
			contacts = append(contacts, c)
			var err error
			switch {
			case opts.output.json != "":
				err = enc.Encode(c)
			case opts.output.csv != "":
				cw.Write(listing.CSVSafe(locatelist.Row(c)))
				cw.Flush()
				err = cw.Error()
			default:
				_, err = fmt.Fprintln(stdout, locatelist.Line(c))
			}
			if err != nil {
				// Nobody reads any more (a closed pipe): stop watching.
				cancel()
			}
		})
	} else {
		contacts, gaps = locate.Run(ctx, t, lopts)
		if err := opts.output.print(locatelist.Contacts(contacts), out, stdout); err != nil {
			return err
		}
	}

	var names []string
	for _, c := range contacts {
		if c.ContainerName != "" && !slices.Contains(names, c.ContainerName) {
			names = append(names, c.ContainerName)
		} else if c.ContainerName == "" && c.ContainerID != "" && !slices.Contains(names, c.ContainerID[:min(12, len(c.ContainerID))]) {
			names = append(names, c.ContainerID[:min(12, len(c.ContainerID))])
		}
	}
	for _, g := range gaps {
		line, _, _ := strings.Cut(g.Error(), "\n")
		fmt.Fprintf(stderr, "dockcase: could not read: %s\n", report.TerminalText(line))
	}
	if len(names) > 0 {
		fmt.Fprintf(stderr, "dockcase: %d container(s) in contact with %s: %s\n", len(names), report.TerminalText(t.Input), report.TerminalText(strings.Join(names, ", ")))
		fmt.Fprintf(stderr, "dockcase: next, preserve the evidence:\n  sudo dockcase collect --case <id> --containers %s --capture 120s --out case.tar.zst\n",
			report.TerminalText(strings.Join(names, ",")))
	} else {
		fmt.Fprintln(stderr, "dockcase: next, preserve the evidence:\n  sudo dockcase collect --case <id> --capture 120s --out case.tar.zst")
	}
	switch {
	case len(gaps) > 0:
		return &gapsError{msg: "locate could not read all of the host"}
	case len(names) == 0:
		fmt.Fprintf(stderr, "dockcase: %s\n", locateNone(t, contacts))
	}
	return nil
}

func locateNone(t locate.Target, contacts []locate.Contact) string {
	if len(contacts) > 0 {
		return fmt.Sprintf("no container in contact with %s (%d contact(s) of the host or of unknown origin)", report.TerminalText(t.Input), len(contacts))
	}
	return fmt.Sprintf("no container in contact with %s", report.TerminalText(t.Input))
}
