package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/progress"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

type verifyOptions struct {
	trustOptions
	sign   signOptions
	by     string
	note   string
	output outputFlags
	force  bool
}

func newVerifyCmd() *cobra.Command {
	opts := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify BUNDLE",
		Short: "Check a bundle's signature and every member's hash",
		Long: `Verify checks the SSH signature over MANIFEST.sha256, then every member's
size and SHA-256, and that no member is missing or extra. Without
--allowed-signers or --fingerprint the bundle's own signer.pub is used, the
signer is reported as not yet trusted and the exit status is 5: a bundle
re-signed with another key verifies the same way. With the fingerprint from
the case notes (or an allowed_signers file) it is 0. An incomplete bundle
(complete: NO) exits 3.

When the bundle has a custody log (BUNDLE.custody.jsonl), its chain and each
event's signature are checked as "custody show" does, against the same
--allowed-signers (keys allowed for the namespace "dockcase-custody") or
--fingerprint; unsigned events, and events signed by a key neither names,
are listed and give exit 5.

With --by, a "verified" event is added to the custody log when the bundle
verified, signed with --key FILE or --agent (unsigned without either).

On a terminal the verdict is a few lines, the custody events under it;
piped, it is one tab-separated line under its header (bundle, root, members,
bytes, signer, trusted, complete, gaps, custody_log, custody_events,
custody_head, custody_unsigned, custody_untrusted), and --json prints the same
keys as one object. "custody show" lists the events themselves.
` + listingHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "-" && opts.by != "" {
				return usagef("--by records a custody event beside a bundle file: not with - (stdin)")
			}
			return runReading(cmd, &opts.trustOptions, args[0], func(path string) error {
				return runVerify(opts, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&opts.by, "by", "", "record a verified event in the custody log, done by `NAME`")
	cmd.Flags().StringVar(&opts.note, "note", "", "note for the custody event")
	opts.sign.addFlags(cmd.Flags())
	opts.output.addFlags(cmd.Flags(), "the verdict", true)
	addForceFlag(cmd.Flags(), &opts.force)
	return cmd
}

func runVerify(opts *verifyOptions, path string, stdout, stderr io.Writer) error {
	vo, err := opts.verifyOptions()
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
	res, err := verifyFile(path, vo)
	prog.End()
	if err != nil {
		for _, p := range res.Problems[min(1, len(res.Problems)):] {
			fmt.Fprintf(stderr, "dockcase: %s: %v\n", path, p)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	opts.record(path, res, nil)
	table := opts.output.table(stdout)
	if table {
		fmt.Fprintf(stdout, "verified: %s\n", path)
		fmt.Fprintf(stdout, "  bundle:   %s\n", res.Root)
		fmt.Fprintf(stdout, "  members:  %d (%d bytes)\n", res.Physical, res.Bytes)
		fmt.Fprintf(stdout, "  signer:   %s\n", signerLine(res))
		if res.Manifest.Complete {
			fmt.Fprintf(stdout, "  complete: yes\n")
		} else {
			fmt.Fprintf(stdout, "  complete: NO: %s\n", report.TerminalText(strings.Join(res.Manifest.Gaps, "; ")))
		}
	}
	chk, err := verifyCustody(opts, path, res, table, stdout, stderr)
	if !table {
		l := verifyListing(path, res, chk)
		if perr := opts.output.print(l, out, stdout); perr != nil {
			return fmt.Errorf("write verdict: %w", perr)
		}
	}
	return err
}

// verifyColumns are the columns of verify's one line.
var verifyColumns = []listing.Column{{Key: "bundle"}, {Key: "root"}, {Key: "members", Num: true}, {Key: "bytes", Num: true},
	{Key: "signer"}, {Key: "trusted"}, {Key: "complete"}, {Key: "gaps", Text: true}, {Key: "custody_log"},
	{Key: "custody_events", Num: true}, {Key: "custody_head"}, {Key: "custody_unsigned"}, {Key: "custody_untrusted", Text: true}}

// verifyListing is verify's verdict as one row; --json prints it as one
// object.
func verifyListing(path string, res *bundle.Result, chk *bundle.CustodyLog) *listing.Table {
	yes := map[bool]string{true: "yes", false: "no"}
	row := []string{path, res.Root, strconv.Itoa(res.Physical), strconv.FormatInt(res.Bytes, 10), res.Fingerprint,
		yes[res.Trusted], yes[res.Manifest.Complete], strings.Join(res.Manifest.Gaps, "; "), "", "", "", "", ""}
	if chk != nil {
		row[8], row[9], row[10] = chk.Path, strconv.Itoa(len(chk.Records)), chk.Head()
		row[11], row[12] = strings.Join(chk.Unsigned, ","), strings.Join(chk.Untrusted, ",")
	}
	l := &listing.Table{Cols: verifyColumns}
	l.Add(row...)
	l.Value = l.Objects()[0]
	return l
}

// verifyCustody records the verified event when --by asks for it, then
// checks the custody log, if the bundle has one (nil when it has none).
// On a terminal (table) it prints the event and the log's check under the
// verdict; else it says them on stderr.
func verifyCustody(opts *verifyOptions, path string, res *bundle.Result, table bool, stdout, stderr io.Writer) (*bundle.CustodyLog, error) {
	say := func(format string, a ...any) {
		if table {
			fmt.Fprintf(stdout, "  custody:  "+format+"\n", a...)
		} else {
			fmt.Fprintf(stderr, "dockcase: custody: "+format+"\n", a...)
		}
	}
	trust, err := opts.custodyTrust()
	if err != nil {
		return nil, err
	}
	sum, err := bundleSHA256(res, path)
	if err != nil {
		return nil, err
	}
	if opts.by != "" {
		signer, closeSigner, err := opts.sign.signer()
		if err != nil {
			return nil, err
		}
		defer closeSigner()
		host, _ := os.Hostname()
		ev, err := bundle.AppendCustodyFor(bundle.CustodyPath(path), sum, bundle.CustodyEvent{Action: bundle.ActionVerified, By: opts.by, Where: host, Note: opts.note}, signer)
		if err != nil {
			return nil, err
		}
		say("event %d %s, recorded in %s", ev.Seq, signedBy(signer), bundle.CustodyPath(path))
		warnUnsigned(stderr, ev, signer, path)
	}
	if _, err := os.Stat(bundle.CustodyPath(path)); errors.Is(err, fs.ErrNotExist) {
		say("no log (%s)", bundle.CustodyPath(path))
		return nil, nil
	}
	if table {
		say("%s", bundle.CustodyPath(path))
	}
	chk, err := bundle.VerifyCustodyLog(path, sum, trust, "")
	if table {
		for _, r := range chk.Records {
			fmt.Fprintf(stdout, "    %d %s %s by %q: %s\n", r.Seq, r.Time.UTC().Format(time.RFC3339), report.TerminalText(r.Action), r.By, custodySigner(r))
		}
	}
	if err != nil {
		return chk, err
	}
	for _, line := range custodyVerdict(chk) {
		if table {
			fmt.Fprintf(stdout, "    %s\n", line)
		} else {
			fmt.Fprintf(stderr, "dockcase: custody: %s\n", line)
		}
	}
	return chk, custodyTrusted(path, chk.Records)
}

// bundleSHA256 is the bundle file's SHA-256 as its verification read it,
// else (verification stopped before the end) as a second read gives it.
func bundleSHA256(res *bundle.Result, path string) (string, error) {
	if res != nil && res.FileSHA256 != "" {
		return res.FileSHA256, nil
	}
	return bundle.FileSHA256(path)
}

func verifyFile(path string, vo bundle.VerifyOptions) (*bundle.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return &bundle.Result{}, err
	}
	defer f.Close()
	return bundle.Verify(f, vo)
}
