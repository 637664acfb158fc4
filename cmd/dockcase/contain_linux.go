//go:build linux && !portable

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/collect/contain"
	"github.com/dockcase/dockcase/collect/docker"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
)

// containmentOptions are the flags contain and release share.
type containmentOptions struct {
	trustOptions
	sign       signOptions
	bundle     string
	by         string
	dryRun     bool
	dockerHost string
}

func (o *containmentOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.bundle, "bundle", "", "the case's bundle `FILE` (required): its custody log records what is done")
	f.StringVar(&o.by, "by", "", "who acts, for the custody log (`NAME`, required)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the plan; change nothing, record nothing")
	f.StringVar(&o.dockerHost, "docker-host", "", "Docker API address (default DOCKER_HOST or unix:///var/run/docker.sock)")
	o.trustOptions.addFlags(f)
	o.sign.addFlags(f)
}

type containOptions struct {
	containmentOptions
	reason     string
	pause      bool
	disconnect bool
}

const containmentHelp = `
Both commands refuse to run without the case's bundle (--bundle): it must
verify as "dockcase verify" checks it (a tampered bundle is refused, exit 4;
with --fingerprint or --allowed-signers its signer must be the one named,
without them the bundle's own signer.pub vouches and a warning says so), its
custody log (BUNDLE.custody.jsonl) must be intact, and each CONTAINER must be
one the bundle lists (docker/containers.json), by full id, name or a unique
id prefix of 4 or more: the responder acts on the container the evidence is
about. A name that now belongs to a container with another id is refused.
Every container is checked before anything is done to any of them. The
bundle is read twice, verified and then for its container list, and nothing
of it is written to this host's disk.

Each container gets two custody events, signed with --key FILE or --agent
(unsigned without either, and a warning says so): one recorded before acting
(step "plan": what is about to be done, and the container's networks with
their aliases, IPv4 and IPv6 addresses and MAC), one after (step "done": what
was done and what failed). A container whose plan cannot be recorded is not
touched. The note format is in the bundle package's documentation.

Exit codes of contain and release: 0 all done (or nothing to do); 1 error,
nothing done (a refusal, an unreachable engine, a custody log that cannot be
written); 2 usage; 3 partly done: something failed (a network that could not
be left or joined, a pause refused, an address or alias release could not
restore) and is recorded; 4 the bundle or its custody log failed
verification.`

func newContainCmd() *cobra.Command {
	opts := &containOptions{}
	cmd := &cobra.Command{
		Use:   "contain --bundle CASE.tar.zst --reason TEXT --by NAME [--pause] [--disconnect] CONTAINER...",
		Short: "Pause and disconnect containers of the case, recorded in its custody log (as root)",
		Long: `Contain pauses containers (every process frozen, memory kept for a later
look) and disconnects them from every network, after the evidence is
preserved and analysed, and records it in the case's custody log as
"contained" events: who (--by), what (the networks with their aliases,
addresses and MAC, so that "dockcase release" can restore them), when, why
(--reason). It prints exactly what changed.

--pause only pauses, --disconnect only disconnects; with neither, both: the
usual containment. Pausing comes first, so that the processes cannot react
to losing the network. A container on the host network, or sharing another
container's network namespace (network mode container:X), cannot be
disconnected: that is a failure, said and recorded (exit 3), and the
container of that namespace is the one to contain.

  sudo dockcase contain --bundle case.tar.zst --by alice --key ~/.ssh/ir \
      --reason "beacons to 198.51.100.7, finding F-3" web-1
` + containmentHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runContain(cmd.Context(), opts, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().StringVar(&opts.reason, "reason", "", "why, for the custody log (`TEXT`, required)")
	cmd.Flags().BoolVar(&opts.pause, "pause", false, "pause (the default, with --disconnect, when neither is given)")
	cmd.Flags().BoolVar(&opts.disconnect, "disconnect", false, "disconnect from every network (the default, with --pause, when neither is given)")
	return cmd
}

type releaseOptions struct {
	containmentOptions
	reason string
}

func newReleaseCmd() *cobra.Command {
	opts := &releaseOptions{}
	cmd := &cobra.Command{
		Use:   "release --bundle CASE.tar.zst --by NAME CONTAINER...",
		Short: "Undo a containment: reconnect and unpause, recorded in the custody log (as root)",
		Long: `Release undoes the last containment of each container that the custody log
records (a "contained" event, read from its note, signed when contain had
--key or --agent, and from no other file): it reconnects the container to exactly the networks it left, asking
the engine for the same static IPv4 and IPv6 addresses, MAC and aliases,
then unpauses it if the containment paused it. An address the engine had
chosen (no --ip when the container was connected) is left to the engine
again, as it was: it may choose another. Where the engine refuses a setting
(the default bridge takes no static address or alias; another container may
hold the address now), release connects without it and says what it could
not restore; it then inspects the container and reports every address, MAC
or alias that differs from what it had. A network the container is on
already is left alone; a container paused by someone else stays paused.
It prints exactly what changed and records "released" events.

  sudo dockcase release --bundle case.tar.zst --by alice --key ~/.ssh/ir web-1
` + containmentHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRelease(cmd.Context(), opts, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().StringVar(&opts.reason, "reason", "", "why, for the custody log (`TEXT`)")
	return cmd
}

// containmentCase is what contain and release learnt before acting.
type containmentCase struct {
	path    string
	signer  ssh.Signer
	where   string
	engine  *docker.Client
	records []bundle.CustodyRecord
	targets []docker.ContainerState
	close   func()
}

// openCase checks the flags, the bundle, its custody log and every
// container named, and connects to the engine; nothing is changed.
func (o *containmentOptions) openCase(ctx context.Context, args []string, stderr io.Writer) (*containmentCase, error) {
	if o.bundle == "" {
		return nil, usagef("--bundle is required: the case's bundle, whose custody log records what is done")
	}
	if o.by == "" {
		return nil, usagef("--by is required: who acts, for the custody log")
	}
	if o.bundle == "-" {
		return nil, usagef("--bundle - (stdin): containment is recorded beside a bundle file")
	}
	c := &containmentCase{path: o.bundle}
	c.where, _ = os.Hostname()
	listed, err := o.bundleContainers(stderr)
	if err != nil {
		return nil, err
	}
	trust, err := o.custodyTrust()
	if err != nil {
		return nil, err
	}
	if c.records, err = contain.CustodyRecords(o.bundle, trust); err != nil {
		return nil, err
	}
	type match struct {
		arg    string
		ref    docker.ContainerRef
		byName bool
	}
	var matches []match
	var refused []string
	for _, arg := range args {
		ref, byName, err := contain.Listed(listed, arg)
		if err != nil {
			refused = append(refused, err.Error())
			continue
		}
		matches = append(matches, match{arg, ref, byName})
	}
	if err := refusal(refused, stderr); err != nil {
		return nil, err
	}
	closeSigner := func() {}
	if !o.dryRun {
		if c.signer, closeSigner, err = o.sign.signer(); err != nil {
			return nil, err
		}
	}
	if c.engine, err = docker.Dial(ctx, o.dockerHost); err != nil {
		closeSigner()
		return nil, err
	}
	c.close = func() { c.engine.Close(); closeSigner() }
	ok := false
	defer func() {
		if !ok {
			c.close()
		}
	}()
	seen := map[string]bool{}
	for _, m := range matches {
		st, err := contain.Resolve(ctx, c.engine, m.ref, m.arg, m.byName)
		switch {
		case err != nil:
			refused = append(refused, err.Error())
		case !seen[st.ID]:
			seen[st.ID] = true
			c.targets = append(c.targets, st)
		}
	}
	if err := refusal(refused, stderr); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// refusal prints every refusal but the first, and returns the first: the
// command then stops before changing anything.
func refusal(refused []string, stderr io.Writer) error {
	if len(refused) == 0 {
		return nil
	}
	for _, r := range refused[1:] {
		fmt.Fprintf(stderr, "dockcase: %s\n", r)
	}
	return fmt.Errorf("%s: nothing was done", refused[0])
}

// bundleContainers verifies the bundle and returns its container list.
func (o *containmentOptions) bundleContainers(stderr io.Writer) ([]docker.ContainerRef, error) {
	if err := checkBundleFile(o.bundle, o.identity != ""); err != nil {
		return nil, err
	}
	vo, err := o.verifyOptions()
	if err != nil {
		return nil, err
	}
	res, err := verifyFile(o.bundle, vo)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.bundle, err)
	}
	if !res.Trusted {
		fmt.Fprintf(stderr, "dockcase: warning: %s verified, but its signer %s is only vouched for by its own signer.pub: give --fingerprint from the case notes\n", o.bundle, res.Fingerprint)
	}
	return contain.BundleContainers(o.bundle, vo, res)
}

// recorder appends the custody events of containment, signed when a key was
// given, and says so on stderr when not.
func (c *containmentCase) recorder(by string, stderr io.Writer) contain.Recorder {
	warned := false
	return func(action string, n contain.Note) (int, error) {
		ev, err := bundle.AppendCustody(c.path, bundle.CustodyEvent{Action: action, By: by, Where: c.where, Note: n.Encode()}, c.signer)
		if err != nil {
			return 0, err
		}
		if !warned {
			warnUnsigned(stderr, ev, c.signer, c.path)
			warned = true
		}
		return ev.Seq, nil
	}
}

func runContain(ctx context.Context, opts *containOptions, args []string, stdout, stderr io.Writer) error {
	if strings.TrimSpace(opts.reason) == "" {
		return usagef("--reason is required: why the containers are contained, for the custody log")
	}
	pause, disconnect := opts.pause, opts.disconnect
	if !pause && !disconnect {
		pause, disconnect = true, true
	}
	c, err := opts.openCase(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer c.close()
	var plans []contain.Plan
	for _, st := range c.targets {
		plans = append(plans, contain.PlanContain(st, pause, disconnect))
	}
	return c.carryOut(ctx, plans, opts.dryRun, opts.by, opts.reason, stdout, stderr, contain.PrintContainPlan, contain.Contain, contain.PrintContained)
}

func runRelease(ctx context.Context, opts *releaseOptions, args []string, stdout, stderr io.Writer) error {
	c, err := opts.openCase(ctx, args, stderr)
	if err != nil {
		return err
	}
	defer c.close()
	var plans []contain.Plan
	var refused []string
	for _, st := range c.targets {
		last, err := contain.Last(c.records, st.ID)
		if err != nil {
			refused = append(refused, err.Error())
			continue
		}
		if last.Fingerprint == "" {
			fmt.Fprintf(stderr, "dockcase: warning: the containment of %s (custody event %d) is unsigned: what it says the networks were rests on the log file alone\n", st.Name, last.Seq)
		}
		plans = append(plans, contain.PlanRelease(st, last))
	}
	if err := refusal(refused, stderr); err != nil {
		return err
	}
	return c.carryOut(ctx, plans, opts.dryRun, opts.by, opts.reason, stdout, stderr, contain.PrintReleasePlan, contain.Release, contain.PrintReleased)
}

// carryOut prints the plans of a dry run, which changes and records
// nothing; otherwise it carries out each plan with act, recorded, and
// prints what was done, stopping at the first failure.
func (c *containmentCase) carryOut(ctx context.Context, plans []contain.Plan, dryRun bool, by, reason string, stdout, stderr io.Writer,
	printPlan func(io.Writer, contain.Plan),
	act func(context.Context, contain.Engine, contain.Plan, string, contain.Recorder) (contain.Result, error),
	printDone func(io.Writer, contain.Result, string)) error {
	if dryRun {
		for _, p := range plans {
			printPlan(stdout, p)
		}
		fmt.Fprintln(stdout, "dry run: nothing was changed or recorded")
		return nil
	}
	rec := c.recorder(by, stderr)
	var results []contain.Result
	for _, p := range plans {
		if p.Empty() {
			printPlan(stdout, p)
			continue
		}
		res, err := act(ctx, c.engine, p, reason, rec)
		printDone(stdout, res, signedBy(c.signer))
		if err != nil {
			return containmentOutcome(append(results, res), err, stderr)
		}
		results = append(results, res)
	}
	return containmentOutcome(results, nil, stderr)
}

// containmentOutcome is the exit status: 0 all done, 3 partly done, 1 when
// something failed and nothing changed, or when recording failed.
func containmentOutcome(results []contain.Result, recErr error, stderr io.Writer) error {
	failed, did := 0, false
	for _, r := range results {
		if !r.OK() {
			failed++
		}
		did = did || r.Did()
	}
	switch {
	case recErr != nil && did:
		fmt.Fprintf(stderr, "dockcase: %v\n", recErr)
		return &gapsError{"partly done: the custody log could not be written; what was done is printed above"}
	case recErr != nil:
		return recErr
	case failed > 0 && did:
		msg := fmt.Sprintf("partly done: %d of %d container(s) with failures or settings not restored, printed above and recorded in the custody log", failed, len(results))
		fmt.Fprintf(stderr, "dockcase: %s\n", msg)
		return &gapsError{msg}
	case failed > 0:
		return fmt.Errorf("nothing changed: %d container(s) failed, printed above and recorded in the custody log", failed)
	}
	return nil
}
