package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
)

func newCustodyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "custody",
		Short: "Record and check a bundle's chain of custody",
		Long: `The chain of custody of a bundle lives beside it in BUNDLE.custody.jsonl:
one event a line, each chained to the previous line by its SHA-256 and the
first to the bundle's own SHA-256. Each event is signed with an SSH key
(namespace "dockcase-custody"): the collector's for the collected event,
--key or --agent for the others.`,
	}
	cmd.AddCommand(newCustodyAddCmd(), newCustodyShowCmd())
	return cmd
}

type custodyAddOptions struct {
	signOptions
	action, by, where, note string
}

func newCustodyAddCmd() *cobra.Command {
	opts := &custodyAddOptions{}
	cmd := &cobra.Command{
		Use:   "add BUNDLE --action ACTION --by NAME [--key FILE | --agent] [--note TEXT]",
		Short: "Append a signed event to the custody log",
		Long: `Add checks the bundle's custody chain and appends an event (collected,
verified, copied, transferred, received, analysed, or another word), signed
with --key FILE (an OpenSSH private key; its passphrase is asked on the
terminal) or --agent (the first key of the SSH agent). Without either the
event is appended unsigned, and a warning says so. A broken chain is not
extended.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCustodyAdd(opts, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.action, "action", "", "what happened (`ACTION`: transferred, copied, …)")
	cmd.Flags().StringVar(&opts.by, "by", "", "who did it")
	cmd.Flags().StringVar(&opts.where, "where", "", "where (default: this host's name)")
	cmd.Flags().StringVar(&opts.note, "note", "", "free text")
	opts.signOptions.addFlags(cmd.Flags())
	return cmd
}

func runCustodyAdd(opts *custodyAddOptions, path string, stdout, stderr io.Writer) error {
	if opts.action == "" || opts.by == "" {
		return usagef("custody add needs --action and --by")
	}
	if opts.where == "" {
		opts.where, _ = os.Hostname()
	}
	signer, closeSigner, err := opts.signer()
	if err != nil {
		return err
	}
	defer closeSigner()
	ev, err := bundle.AppendCustody(path, bundle.CustodyEvent{Action: opts.action, By: opts.by, Where: opts.where, Note: opts.note}, signer)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "custody event %d (%s by %s) %s, recorded in %s\n", ev.Seq, ev.Action, ev.By, signedBy(signer), bundle.CustodyPath(path))
	warnUnsigned(stderr, ev, signer, path)
	return nil
}

// signedBy says how an event just recorded is signed.
func signedBy(signer ssh.Signer) string {
	if signer == nil {
		return "UNSIGNED"
	}
	return "signed by " + ssh.FingerprintSHA256(signer.PublicKey())
}

// warnUnsigned tells that an event was recorded without a signature.
func warnUnsigned(stderr io.Writer, ev bundle.CustodyEvent, signer ssh.Signer, path string) {
	if signer == nil {
		fmt.Fprintf(stderr, "dockcase: warning: custody event %d is unsigned: anyone who can write %s could have written it; sign with --key FILE or --agent\n", ev.Seq, bundle.CustodyPath(path))
	}
}

type custodyShowOptions struct {
	trust trustOptions
	head  string
}

func newCustodyShowCmd() *cobra.Command {
	opts := &custodyShowOptions{}
	cmd := &cobra.Command{
		Use:   "show BUNDLE [--allowed-signers FILE | --fingerprint SHA256:…] [--head SHA256]",
		Short: "Print the custody log and check its chain and signatures",
		Long: `Show prints every custody event of a bundle, checks the chain and each
event's signature, and says of each event whether it is signed, by which key
fingerprint, and whether --allowed-signers (keys allowed for the namespace
"dockcase-custody") or --fingerprint names that key. A broken link or a
signature that does not verify names its line (exit 4); unsigned events, or
events signed by a key no trust anchor names, are listed (exit 5).

The last line printed gives the log's head, the SHA-256 of its last line:
record it in the case notes. Removing the last events leaves a shorter chain
that is intact; --head SHA256 fails unless an event of the log has that hash.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCustodyShow(opts, args[0], cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.trust.allowedSigners, "allowed-signers", "", "trust the custody signers in `FILE` (ssh-keygen allowed_signers format)")
	cmd.Flags().StringVar(&opts.trust.fingerprint, "fingerprint", "", "trust the custody signer with this SHA256:… `fingerprint`")
	cmd.Flags().StringVar(&opts.head, "head", "", "fail unless an event's line has this `SHA256` (a head recorded earlier)")
	return cmd
}

func runCustodyShow(opts *custodyShowOptions, path string, stdout io.Writer) error {
	trust, err := opts.trust.custodyTrust()
	if err != nil {
		return err
	}
	sum, err := bundle.FileSHA256(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "bundle sha256: %s\n", sum)
	recs, err := checkCustodyLog(path, sum, trust, opts.head, stdout, "")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no custody log: %w", err)
	}
	if err != nil {
		return err
	}
	return custodyTrusted(path, recs)
}

// checkCustodyLog checks the bundle's custody log and prints its events: as
// a table when indent is empty, else one line each under indent. The error
// is a *bundle.CustodyError for a broken chain or a bad signature.
func checkCustodyLog(path, sum string, trust bundle.Trust, head string, stdout io.Writer, indent string) ([]bundle.CustodyRecord, error) {
	logPath := bundle.CustodyPath(path)
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, cerr := bundle.VerifyCustody(f, sum, trust)
	if indent == "" {
		var rows [][]string
		for _, r := range recs {
			rows = append(rows, []string{fmt.Sprint(r.Seq), r.Time.UTC().Format(time.RFC3339), r.Action, r.By, r.Where, r.Note, custodySigner(r)})
		}
		if err := report.Table(stdout, []string{"#", "time (UTC)", "action", "by", "where", "note", "signature"}, rows); err != nil {
			return recs, err
		}
	} else {
		for _, r := range recs {
			fmt.Fprintf(stdout, "%s%d %s %s by %q: %s\n", indent, r.Seq, r.Time.UTC().Format(time.RFC3339), r.Action, r.By, custodySigner(r))
		}
	}
	if cerr != nil {
		return recs, fmt.Errorf("%s: %w", logPath, cerr)
	}
	if head != "" && !hasHead(recs, head) {
		return recs, fmt.Errorf("%s: %w", logPath, &bundle.CustodyError{Line: len(recs), Reason: fmt.Sprintf("no event has the recorded head %s: events were removed from the end", head)})
	}
	var unsigned, untrusted []string
	for _, r := range recs {
		switch {
		case !r.Signed():
			unsigned = append(unsigned, fmt.Sprint(r.Seq))
		case !r.Trusted:
			untrusted = append(untrusted, fmt.Sprintf("%d (%s)", r.Seq, r.Fingerprint))
		}
	}
	head = ""
	if len(recs) > 0 {
		head = ", head " + recs[len(recs)-1].LineSHA256
	}
	fmt.Fprintf(stdout, "%schain intact: %d event(s)%s\n", indent, len(recs), head)
	if len(unsigned) > 0 {
		fmt.Fprintf(stdout, "%sunsigned: event %s: anyone who could write the log could have written them\n", indent, strings.Join(unsigned, ", "))
	}
	if len(untrusted) > 0 {
		fmt.Fprintf(stdout, "%ssigned by a key no --allowed-signers or --fingerprint names: event %s\n", indent, strings.Join(untrusted, ", "))
	}
	return recs, nil
}

// custodyTrusted returns an untrusted error unless every event is signed by
// a trusted key.
func custodyTrusted(path string, recs []bundle.CustodyRecord) error {
	n := 0
	for _, r := range recs {
		if !r.Trusted {
			n++
		}
	}
	if n > 0 {
		return untrustedf("%s: %d of %d custody event(s) unsigned or signed by a key not trusted", bundle.CustodyPath(path), n, len(recs))
	}
	return nil
}

func hasHead(recs []bundle.CustodyRecord, head string) bool {
	for _, r := range recs {
		if r.LineSHA256 == head {
			return true
		}
	}
	return false
}

// custodySigner says who signed an event and whether that key is trusted.
func custodySigner(r bundle.CustodyRecord) string {
	switch {
	case !r.Signed():
		return "UNSIGNED"
	case r.Trusted:
		return r.Fingerprint + " (trusted)"
	}
	return r.Fingerprint + " (NOT TRUSTED)"
}
