//go:build linux && !portable

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/outfile"
	"github.com/dockcase/dockcase/collect"
	"github.com/dockcase/dockcase/collect/capture"
	"github.com/dockcase/dockcase/internal/pcapfilter"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// collectorBuilt says whether this build holds the live commands, collect
// and locate: only a Linux build does.
const collectorBuilt = true

type collectOptions struct {
	caseID        string
	examiner      string
	out           string
	containers    []string
	noImages      bool
	eventsSince   time.Duration
	logsMax       string
	dockerHost    string
	key           string
	agent         bool
	recipients    []string
	recipientFile string
	pause         bool
	isolate       bool
	stepTimeout   time.Duration
	capture       time.Duration
	captureIfaces []string
	captureFilter string
	captureMax    string
	snaplen       int
}

func newCollectCmd() *cobra.Command {
	opts := &collectOptions{}
	cmd := &cobra.Command{
		Use:   "collect --case ID --out FILE|-",
		Short: "Snapshot this Docker host into a signed evidence bundle (as root)",
		Long: `Collect snapshots this host, most volatile first: clock, conntrack,
processes, every network namespace (links, addresses, routes, neighbours,
sockets with their owning processes), firewall rules, Docker's view over its
API (inspect, top, diff, logs, events, networks, volumes, images), then commits
and saves the running containers' images. While the snapshot runs it captures
packets on the Docker bridges, container veths, uplinks and the parents of
macvlan/ipvlan networks for a minute (--capture; --capture 0 captures nothing). It writes one signed bundle, to a
file or to stdout (--out -) so that nothing need be written on this disk:

  sudo dockcase collect --case IR-7 --out - | ssh lab 'cat > case.tar.zst'

Collection changes nothing on the host except the commit images (docker
commit pauses each container while it commits); --pause and --isolate contain
the selected containers after preservation. A step that fails is recorded and
the collection goes on; the bundle then says what is missing (exit 3).
SIGINT stops the running step and the bundle is still signed, marked
incomplete.

The signing key is --key FILE (OpenSSH Ed25519, passphrase asked when it is
encrypted), --agent, or by default an ephemeral key made in memory and
discarded: note the fingerprint printed at the end in the case notes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCollect(cmd.Context(), opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.caseID, "case", "", "case `ID` (required)")
	f.StringVar(&opts.examiner, "examiner", "", "who collects")
	f.StringVarP(&opts.out, "out", "o", "", "bundle `FILE`, or - for stdout (required)")
	f.StringSliceVar(&opts.containers, "containers", nil, "limit logs, diff, top, preservation and containment to these `NAMES` (default all)")
	f.BoolVar(&opts.noImages, "no-images", false, "do not commit and save container images")
	f.DurationVar(&opts.eventsSince, "events-since", collect.DefaultEventsSince, "Docker events from this long ago")
	f.StringVar(&opts.logsMax, "logs-max", "10MiB", "keep at most this much of each container's log (its end)")
	f.StringVar(&opts.dockerHost, "docker-host", "", "Docker API address (default DOCKER_HOST or unix:///var/run/docker.sock)")
	f.StringVar(&opts.key, "key", "", "sign with this OpenSSH private key `FILE`")
	f.BoolVar(&opts.agent, "agent", false, "sign with the first key of the SSH agent")
	f.StringSliceVar(&opts.recipients, "recipient", nil, "encrypt the bundle to this age `RECIPIENT` (age1…)")
	f.StringVar(&opts.recipientFile, "recipient-file", "", "encrypt to the age recipients in `FILE`")
	f.BoolVar(&opts.pause, "pause", false, "after preservation, pause the selected containers")
	f.BoolVar(&opts.isolate, "isolate", false, "after preservation, disconnect the selected containers from every network")
	f.DurationVar(&opts.stepTimeout, "step-timeout", collect.DefaultStepTimeout, "time limit of each step")
	f.DurationVar(&opts.capture, "capture", collect.DefaultCapture, "capture packets for this long while the snapshot runs; 0 captures nothing")
	f.StringSliceVar(&opts.captureIfaces, "capture-ifaces", []string{"auto"}, "capture on these `IFACES`, or auto: Docker bridges, container veths, uplinks")
	f.StringVar(&opts.captureFilter, "capture-filter", "", "tcpdump filter `EXPR` (host, net, port, portrange, proto, and/or/not)")
	f.StringVar(&opts.captureMax, "capture-max-bytes", "2GiB", "stop the capture when the pcapng reaches this size")
	f.IntVar(&opts.snaplen, "snaplen", capture.DefaultSnaplen, "keep at most this many `BYTES` of each packet")
	return cmd
}

func runCollect(ctx context.Context, opts *collectOptions, stdout, stderr io.Writer) error {
	if opts.caseID == "" {
		return usagef("--case is required")
	}
	if opts.out == "" {
		return usagef("--out is required: a file name, or - for stdout")
	}
	if opts.key != "" && opts.agent {
		return usagef("give --key or --agent, not both")
	}
	logsMax, err := parseBytes(opts.logsMax)
	if err != nil {
		return usagef("--logs-max: %v", err)
	}
	captureMax, err := parseBytes(opts.captureMax)
	if err != nil {
		return usagef("--capture-max-bytes: %v", err)
	}
	if opts.snaplen <= 0 || opts.snaplen > capture.DefaultSnaplen {
		return usagef("--snaplen %d: want 1 to %d", opts.snaplen, capture.DefaultSnaplen)
	}
	if err := capture.CheckFilter(opts.captureFilter); err != nil {
		return usagef("--capture-filter: %v", err)
	}
	captureFilter := opts.captureFilter
	if sshConn := os.Getenv("SSH_CONNECTION"); opts.out == "-" && opts.capture > 0 && sshConn != "" {
		// The bundle leaves over this SSH connection: do not capture it.
		exclude, err := pcapfilter.SSHConnection(sshConn)
		if err != nil {
			return usagef("cannot exclude the SSH connection carrying the bundle: %v", err)
		}
		captureFilter = pcapfilter.Combine(captureFilter, exclude)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("collect must run as root to read every process and network namespace: %w", os.ErrPermission)
	}
	recipients, err := parseRecipients(opts.recipients, opts.recipientFile)
	if err != nil {
		return err
	}
	signer, closeSigner, err := chooseSigner(opts)
	if err != nil {
		return err
	}
	defer closeSigner()

	out, file, err := openOutput(opts.out, stdout)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	meta := bundle.Meta{CaseID: opts.caseID, Examiner: opts.examiner, Host: host, Collector: versionString(), Started: time.Now().UTC()}
	bw := bufio.NewWriterSize(out, 1<<20)
	w, err := bundle.NewWriter(bw, meta, bundle.Options{Recipients: recipients})
	if err != nil {
		file.Fail()
		return err
	}
	gaps := collect.Run(ctx, w, collect.Options{
		CaseID:      opts.caseID,
		Containers:  opts.containers,
		NoImages:    opts.noImages,
		EventsSince: opts.eventsSince,
		LogsMax:     logsMax,
		DockerHost:  opts.dockerHost,
		Pause:       opts.pause,
		Isolate:     opts.isolate,
		StepTimeout: opts.stepTimeout,
		Progress:    stderr,
		ProgressTTY: isTerminal(stderr),

		Capture:         opts.capture,
		CaptureIfaces:   opts.captureIfaces,
		CaptureFilter:   captureFilter,
		CaptureMaxBytes: captureMax,
		Snaplen:         opts.snaplen,
	})
	sum, err := w.Close(signer)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = file.Finish()
	}
	if err != nil {
		file.Fail()
		return fmt.Errorf("the bundle could not be finished, nothing usable was written: %w", err)
	}
	fmt.Fprintf(stderr, "dockcase: bundle %s: %d members, %d bytes\n", sum.Root, sum.Members, sum.Size)
	fmt.Fprintf(stderr, "dockcase: signer fingerprint  %s\n", sum.Fingerprint)
	fmt.Fprintf(stderr, "dockcase: bundle sha256       %s\n", sum.SHA256)
	if p := file.Path(); p != "" {
		if err := writeSidecars(p, sum, opts, host, signer); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "dockcase: wrote %s, %s.sha256 and %s\n", p, p, bundle.CustodyPath(p))
	} else {
		fmt.Fprintln(stderr, "dockcase: record the fingerprint and sha256 above in the case notes; on the lab side run: dockcase custody add BUNDLE --action received --by NAME")
	}
	if len(gaps) > 0 {
		fmt.Fprintf(stderr, "dockcase: the bundle is INCOMPLETE (%d gap(s)):\n", len(gaps))
		for _, g := range gaps {
			fmt.Fprintf(stderr, "dockcase:   %s\n", firstLine(g))
		}
		return &gapsError{msg: "collection finished with gaps"}
	}
	return nil
}

// isTerminal says whether w is a terminal: progress that counts down is for
// a person watching, not for a log file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// openOutput is the bundle's destination: the file name, or stdout for
// "-" (file is nil then).
func openOutput(name string, stdout io.Writer) (w io.Writer, file *outfile.BundleFile, err error) {
	if name == "-" {
		if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return nil, nil, usagef("--out - writes a binary bundle: redirect or pipe stdout")
		}
		return stdout, nil, nil
	}
	file, err = outfile.CreateBundle(name)
	if err != nil {
		return nil, nil, err
	}
	return file, file, nil
}

// writeSidecars writes BUNDLE.sha256 and the custody log's collected event,
// signed by the key that signed the bundle.
func writeSidecars(path string, sum bundle.Summary, opts *collectOptions, host string, signer ssh.Signer) error {
	by := opts.examiner
	if by == "" {
		by = "dockcase collect"
	}
	return outfile.WriteSidecars(path, sum, bundle.CustodyEvent{
		Action: bundle.ActionCollected, By: by, Where: host,
		Note: fmt.Sprintf("case %s, signer %s", opts.caseID, sum.Fingerprint),
	}, signer)
}

// chooseSigner is the key of --key or --agent (as a custody event's), else
// an ephemeral one made in memory and never stored.
func chooseSigner(opts *collectOptions) (ssh.Signer, func(), error) {
	chosen := signOptions{key: opts.key, agent: opts.agent}
	s, closeSigner, err := chosen.signer()
	if err != nil || s != nil {
		return s, closeSigner, err
	}
	s, err = bundle.EphemeralSigner()
	return s, func() {}, err
}

func parseRecipients(list []string, file string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, r := range list {
		rec, err := age.ParseX25519Recipient(r)
		if err != nil {
			return nil, usagef("--recipient %q: %v", r, err)
		}
		out = append(out, rec)
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		recs, err := age.ParseRecipients(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// parseBytes reads sizes like 10MiB, 512KiB, 2GiB or a plain byte count.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 10MiB)", s)
	}
	return n * mult, nil
}
