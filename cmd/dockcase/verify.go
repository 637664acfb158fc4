package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/dockcase/dockcase/bundle"
	"github.com/spf13/cobra"
)

type verifyOptions struct {
	trustOptions
	sign signOptions
	by   string
	note string
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
verified, signed with --key FILE or --agent (unsigned without either).`,
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
	return cmd
}

func runVerify(opts *verifyOptions, path string, stdout, stderr io.Writer) error {
	vo, err := opts.verifyOptions()
	if err != nil {
		return err
	}
	res, err := verifyFile(path, vo)
	if err != nil {
		for _, p := range res.Problems[min(1, len(res.Problems)):] {
			fmt.Fprintf(stderr, "dockcase: %s: %v\n", path, p)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	opts.record(path, res, nil)
	fmt.Fprintf(stdout, "verified: %s\n", path)
	fmt.Fprintf(stdout, "  bundle:   %s\n", res.Root)
	fmt.Fprintf(stdout, "  members:  %d (%d bytes)\n", res.Physical, res.Bytes)
	fmt.Fprintf(stdout, "  signer:   %s\n", signerLine(res))
	if res.Manifest.Complete {
		fmt.Fprintf(stdout, "  complete: yes\n")
	} else {
		fmt.Fprintf(stdout, "  complete: NO: %s\n", strings.Join(res.Manifest.Gaps, "; "))
	}
	return verifyCustody(opts, path, stdout, stderr)
}

// verifyCustody records the verified event when --by asks for it, then
// checks the custody log, if the bundle has one.
func verifyCustody(opts *verifyOptions, path string, stdout, stderr io.Writer) error {
	trust, err := opts.custodyTrust()
	if err != nil {
		return err
	}
	if opts.by != "" {
		signer, closeSigner, err := opts.sign.signer()
		if err != nil {
			return err
		}
		defer closeSigner()
		host, _ := os.Hostname()
		ev, err := bundle.AppendCustody(path, bundle.CustodyEvent{Action: bundle.ActionVerified, By: opts.by, Where: host, Note: opts.note}, signer)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  custody:  event %d %s, recorded in %s\n", ev.Seq, signedBy(signer), bundle.CustodyPath(path))
		warnUnsigned(stderr, ev, signer, path)
	}
	sum, err := bundle.FileSHA256(path)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bundle.CustodyPath(path)); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stdout, "  custody:  no log (%s)\n", bundle.CustodyPath(path))
		return nil
	}
	fmt.Fprintf(stdout, "  custody:  %s\n", bundle.CustodyPath(path))
	recs, err := checkCustodyLog(path, sum, trust, "", stdout, "    ")
	if err != nil {
		return err
	}
	return custodyTrusted(path, recs)
}

func verifyFile(path string, vo bundle.VerifyOptions) (*bundle.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return &bundle.Result{}, err
	}
	defer f.Close()
	return bundle.Verify(f, vo)
}
