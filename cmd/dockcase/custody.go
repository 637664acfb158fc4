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
	trust  trustOptions
	head   string
	output outputFlags
	force  bool
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
record it in the case notes (piped, it is the last event's line_sha256, and
the verdict lines go to stderr). Removing the last events leaves a shorter
chain that is intact; --head SHA256 fails unless an event of the log has
that hash.
` + listingHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCustodyShow(opts, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&opts.trust.allowedSigners, "allowed-signers", "", "trust the custody signers in `FILE` (ssh-keygen allowed_signers format)")
	cmd.Flags().StringVar(&opts.trust.fingerprint, "fingerprint", "", "trust the custody signer with this SHA256:… `fingerprint`")
	cmd.Flags().StringVar(&opts.head, "head", "", "fail unless an event's line has this `SHA256` (a head recorded earlier)")
	opts.output.addFlags(cmd.Flags(), "the events and the verdict", true)
	addForceFlag(cmd.Flags(), &opts.force)
	return cmd
}

// custodyDoc is the JSON of custody show.
type custodyDoc struct {
	BundleSHA256 string        `json:"bundle_sha256"`
	Log          string        `json:"custody_log"`
	Events       []listing.Row `json:"events"`
	// Intact is false when the chain or a signature failed (Error says
	// where) or the recorded --head was not found.
	Intact    bool     `json:"chain_intact"`
	Error     string   `json:"error,omitempty"`
	Head      string   `json:"head,omitempty"`
	Unsigned  []string `json:"unsigned"`
	Untrusted []string `json:"untrusted"`
}

func runCustodyShow(opts *custodyShowOptions, path string, stdout, stderr io.Writer) error {
	trust, err := opts.trust.custodyTrust()
	if err != nil {
		return err
	}
	out := newOutputs(opts.force)
	out.Bundle(path)
	if err := opts.output.check(out); err != nil {
		return err
	}
	sum, err := bundle.FileSHA256(path)
	if err != nil {
		return err
	}
	chk, err := bundle.VerifyCustodyLog(path, sum, trust, opts.head)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no custody log: %w", err)
	}
	l := custodyListing(chk.Records)
	if opts.output.table(stdout) {
		fmt.Fprintf(stdout, "bundle sha256: %s\n", sum)
		if perr := l.Term.WriteTable(stdout, listing.TerminalWidth(stdout)); perr != nil {
			return perr
		}
		if err == nil {
			for _, line := range custodyVerdict(chk) {
				fmt.Fprintln(stdout, line)
			}
		}
	} else {
		doc := custodyDoc{BundleSHA256: sum, Log: chk.Path, Events: l.Objects(), Intact: err == nil,
			Unsigned: chk.Unsigned, Untrusted: chk.Untrusted}
		if err != nil {
			doc.Error = err.Error()
		} else {
			doc.Head = chk.Head()
		}
		l.Value = doc
		if perr := opts.output.print(l, out, stdout); perr != nil {
			return fmt.Errorf("write custody log: %w", perr)
		}
		if err == nil {
			for _, line := range custodyVerdict(chk) {
				fmt.Fprintf(stderr, "dockcase: %s\n", line)
			}
		}
	}
	if err != nil {
		return err
	}
	return custodyTrusted(path, chk.Records)
}

// custodyVerdict is what the check says of an intact chain, one line
// each.
func custodyVerdict(c *bundle.CustodyLog) []string {
	head := ""
	if h := c.Head(); h != "" {
		head = ", head " + h
	}
	out := []string{fmt.Sprintf("chain intact: %d event(s)%s", len(c.Records), head)}
	if len(c.Unsigned) > 0 {
		out = append(out, fmt.Sprintf("unsigned: event %s: anyone who could write the log could have written them", strings.Join(c.Unsigned, ", ")))
	}
	if len(c.Untrusted) > 0 {
		out = append(out, fmt.Sprintf("signed by a key no --allowed-signers or --fingerprint names: event %s", strings.Join(c.Untrusted, ", ")))
	}
	return out
}

// custodyColumns are the columns of custody show.
var custodyColumns = []listing.Column{{Key: "seq", Num: true}, {Key: "time"}, {Key: "action"}, {Key: "by"}, {Key: "where"},
	{Key: "note", Text: true}, {Key: "signed"}, {Key: "fingerprint"}, {Key: "trusted"}, {Key: "line_sha256"}}

// custodyListing is the listing of custody events.
func custodyListing(recs []bundle.CustodyRecord) *listing.Table {
	l := &listing.Table{Cols: custodyColumns, Name: "events", Term: &listing.Table{Cols: []listing.Column{{Key: "seq", Label: "#", Num: true, Keep: true},
		{Key: "time", Label: "TIME (UTC)", Keep: true}, {Key: "action"}, {Key: "by"}, {Key: "where"}, {Key: "note", Text: true}, {Key: "signature"}}}}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	for _, r := range recs {
		t := r.Time.UTC().Format(time.RFC3339)
		l.Add(strconv.Itoa(r.Seq), t, r.Action, r.By, r.Where, r.Note, yes(r.Signed()), r.Fingerprint, yes(r.Trusted), r.LineSHA256)
		l.Term.Add(strconv.Itoa(r.Seq), t, r.Action, r.By, r.Where, r.Note, custodySigner(r))
	}
	return l
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
