//go:build linux && !portable

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/collect/locate"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

type locateOptions struct {
	watch      time.Duration
	json       bool
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

Output: one line per contact, a table on a terminal, tab-separated lines
otherwise, JSON with --json (an array; JSON lines with --watch). Locate
changes nothing on the host. It exits 0 when it could read the whole host,
whether a container was found or not: when none was, stdout lists no
container and stderr says "no container in contact with …". It exits 1 on an
error and 3 when part of the host could not be read (an answer of none is
then not to be relied on).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLocate(cmd.Context(), opts, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opts.watch, "watch", 0, "then watch for new contacts this `long` (e.g. 60s)")
	f.BoolVar(&opts.json, "json", false, "print JSON")
	f.BoolVar(&opts.noPackets, "no-packets", false, "with --watch, follow conntrack events only, not packets")
	f.StringVar(&opts.dockerHost, "docker-host", "", "Docker API address (default DOCKER_HOST or unix:///var/run/docker.sock)")
	return cmd
}

// locateHeader is the table header; locateRow gives the cells in its order.
var locateHeader = []string{"TIME", "CONTAINER", "ID", "NETWORK", "CONTAINER ADDR", "REMOTE", "PROTO", "STATE", "PID", "COMMAND", "SOURCE", "NOTE"}

func locateRow(c locate.Contact) []string {
	name := c.ContainerName
	switch {
	case name == "" && c.ContainerID == "" && c.Network == locate.NetworkHost:
		name = "(host)"
	case name == "" && c.ContainerID == "":
		name = "(unknown)"
	}
	id := c.ContainerID
	if len(id) > 12 {
		id = id[:12]
	}
	pid := ""
	if c.PID != 0 {
		pid = strconv.Itoa(c.PID)
	}
	return []string{
		c.Time.UTC().Format("15:04:05"), name, id, c.Network, c.Local.String(), c.Remote.String(),
		c.Proto, c.State, pid, strings.Join(c.Cmdline, " "), strings.Join(c.Sources, ","), c.Note,
	}
}

// locateLine is a contact as one tab-separated line; every cell goes
// through report.TerminalText, which also escapes tabs and newlines, so a
// command line cannot add columns or lines.
func locateLine(c locate.Contact) string {
	row := locateRow(c)
	for i, cell := range row {
		if cell == "" {
			cell = "-"
		}
		row[i] = report.TerminalText(cell)
	}
	return strings.Join(row, "\t")
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
	if os.Geteuid() != 0 {
		fmt.Fprintln(stderr, "dockcase: not root: other users' sockets and processes cannot be read")
	}
	lopts := locate.Options{DockerHost: opts.dockerHost, Log: stderr}
	if opts.noPackets {
		lopts.Sources = []locate.FlowSource{locate.ConntrackEvents()}
	}
	tty := false
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}

	var contacts []locate.Contact
	var gaps []error
	if opts.watch > 0 {
		wctx, cancel := context.WithTimeout(ctx, opts.watch)
		defer cancel()
		fmt.Fprintf(stderr, "dockcase: watching for %s (Ctrl-C stops)\n", opts.watch)
		if !opts.json {
			fmt.Fprintln(stdout, strings.Join(locateHeader, "\t"))
		}
		enc := json.NewEncoder(stdout)
		gaps = locate.Watch(wctx, t, lopts, func(c locate.Contact) {
			contacts = append(contacts, c)
			var err error
			if opts.json {
				err = enc.Encode(c)
			} else {
				_, err = fmt.Fprintln(stdout, locateLine(c))
			}
			if err != nil {
				// Nobody reads any more (a closed pipe): stop watching.
				cancel()
			}
		})
	} else {
		contacts, gaps = locate.Run(ctx, t, lopts)
		switch {
		case opts.json:
			if contacts == nil {
				contacts = []locate.Contact{}
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(contacts); err != nil {
				return err
			}
		case tty && len(contacts) > 0:
			rows := make([][]string, len(contacts))
			for i, c := range contacts {
				rows[i] = locateRow(c)
			}
			if err := report.Table(stdout, locateHeader, rows); err != nil {
				return err
			}
		default:
			for _, c := range contacts {
				fmt.Fprintln(stdout, locateLine(c))
			}
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
