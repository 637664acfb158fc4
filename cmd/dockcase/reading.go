package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dockcase/dockcase/bundle"
	"github.com/spf13/cobra"
)

// readRecord is what a reading command learnt of its bundle, for its exit
// status: the verification result, and the verification error of a bundle
// read with --allow-unverified.
type readRecord struct {
	path       string
	res        *bundle.Result
	unverified error
}

// record keeps what verification said of the bundle at path; a command
// that reads a bundle calls it once the bundle is open.
func (o *trustOptions) record(path string, res *bundle.Result, unverified error) {
	if o.rec != nil {
		*o.rec = readRecord{path: path, res: res, unverified: unverified}
	}
}

// runReading runs a command that reads the bundle arg ("-": from stdin):
// it checks that arg is a bundle, runs run on its path, then gives the exit
// status every reading command shares, in the order 4 > 3 > 5 > 0:
//
//   - 4: the bundle failed verification, even when --allow-unverified let
//     the command read it;
//   - 3: the collection is incomplete (complete: NO in the manifest), or the
//     command found gaps of its own (unattributed flows, unknown answers);
//   - 5: the bundle verified, but no --fingerprint or --allowed-signers
//     named its signer: only the bundle's own signer.pub vouches for it;
//   - 0: verified, complete, trusted.
//
// Errors (1) and usage errors (2) are returned as they are.
func runReading(cmd *cobra.Command, trust *trustOptions, arg string, run func(path string) error) error {
	stderr := cmd.ErrOrStderr()
	path, done, err := bundleArg(arg, cmd.InOrStdin(), stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := checkBundleFile(path, trust.identity != ""); err != nil {
		return err
	}
	trust.rec = &readRecord{}
	defer func() { trust.rec = nil }()
	return readOutcome(trust.rec, run(path), stderr)
}

// readOutcome is the exit status of a reading command that returned err,
// given what it learnt of the bundle (see runReading).
func readOutcome(rec *readRecord, err error, stderr io.Writer) error {
	var ge *gapsError
	var te *untrustedError
	gaps, untrusted := errors.As(err, &ge), errors.As(err, &te)
	if (err != nil && !gaps && !untrusted) || rec.res == nil {
		return err
	}
	if rec.unverified != nil {
		return fmt.Errorf("%s: read because --allow-unverified was given, but it failed verification: %w", rec.path, rec.unverified)
	}
	if m := rec.res.Manifest; m != nil && !m.Complete {
		msg := fmt.Sprintf("%s: the collection is incomplete (complete: NO): the bundle lacks %s", rec.path, gapList(m.Gaps))
		fmt.Fprintf(stderr, "dockcase: %s\n", msg)
		return &gapsError{msg}
	}
	if gaps || untrusted { // a custody log's unsigned events are a 5 of the command's own
		return err
	}
	if !rec.res.Trusted {
		return untrustedf("%s: verified, but not trusted: signer %s is only vouched for by the bundle's own signer.pub", rec.path, rec.res.Fingerprint)
	}
	return nil
}

// gapList quotes a manifest's gaps (they come from the evidence).
func gapList(gaps []string) string {
	if len(gaps) == 0 {
		return "what an interrupted collection did not write"
	}
	q := make([]string, len(gaps))
	for i, g := range gaps {
		q[i] = fmt.Sprintf("%q", g)
	}
	return strings.Join(q, "; ")
}
