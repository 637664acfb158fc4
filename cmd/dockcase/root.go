package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/outfile"
	"github.com/spf13/cobra"
)

// Exit codes, the same for every command.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitGaps      = 3 // finished, but with gaps: partial collection, unattributed evidence
	exitIntegrity = 4 // a bundle or custody chain failed verification
	exitUntrusted = 5 // verified, but the signer is not one the user named
)

const exitCodesHelp = `
Exit codes:
  0  ok (a bundle verified, complete, and signed by a trusted key)
  1  error (an unreadable input, named with what it is)
  2  usage error
  3  finished with gaps: the bundle is incomplete (complete: NO), or
     evidence stays unattributed or unknown
  4  integrity check failed (bundle, signature or custody chain), or
     the BUNDLE argument is not a dockcase bundle (it says what it is)
  5  verified, but not trusted: no --fingerprint or --allowed-signers
     named the signer (of the bundle or of a custody event)
  When several apply, the first of 4, 3, 5 is the status.`

// gapsError is returned by a command that finished but could not do all of
// its work; its message has been printed already.
type gapsError struct{ msg string }

func (e *gapsError) Error() string { return e.msg }

type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// untrustedError is returned by a command whose checks all passed but whose
// signer (of the bundle, or of a custody event) no trust anchor named: the
// result cannot be relied on until the responder compares the fingerprint
// with the case notes.
type untrustedError struct{ err error }

func (e *untrustedError) Error() string { return e.err.Error() }
func (e *untrustedError) Unwrap() error { return e.err }

func untrustedf(format string, a ...any) error { return &untrustedError{fmt.Errorf(format, a...)} }

// exitCode maps an error to the process exit code: the one place that does.
func exitCode(err error) int {
	var ue *usageError
	var re *outfile.RefusedError
	var ge *gapsError
	var te *untrustedError
	var ce *bundle.CustodyError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), errors.As(err, &re):
		return exitUsage
	case bundle.IsIntegrity(err), errors.As(err, &ce):
		return exitIntegrity
	case errors.As(err, &ge):
		return exitGaps
	case errors.As(err, &te):
		return exitUntrusted
	}
	return exitError
}

// Main runs dockcase with args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = context.WithValue(ctx, rawArgsKey{}, args)
	cmd := newRootCmd()
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	ran, err := cmd.ExecuteContextC(ctx)
	if err != nil {
		var ge *gapsError
		if !errors.As(err, &ge) {
			fmt.Fprintf(stderr, "dockcase: %v\n", err)
		}
		name := "dockcase"
		if ran != nil {
			name = ran.CommandPath()
		}
		for _, h := range hints(err, name) {
			fmt.Fprintf(stderr, "hint: %s\n", h)
		}
	}
	return exitCode(err)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "dockcase",
		Short: "Collect and analyse evidence from Docker hosts",
		Long: `dockcase answers "which container talked to this address" on a Docker host.

"dockcase collect" snapshots a live host (as root) into a signed evidence
bundle; "dockcase analyze" reads the bundle offline, on a lab workstation.` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{err}
	})
	root.AddCommand(
		newVersionCmd(),
		newCollectCmd(),
		newVerifyCmd(),
		newInspectCmd(),
		newCustodyCmd(),
		newAnalyzeCmd(),
		newFlowsCmd(),
		newExtractCmd(),
		newPathCmd(),
		newLocateCmd(),
		newContainCmd(),
		newReleaseCmd(),
		newFindingsCmd(),
		newTimelineCmd(),
		newReportCmd(),
	)
	for _, c := range root.Commands() {
		c.Long = strings.TrimSpace(c.Long) + "\n" + exitCodesHelp
		if c.Args == nil {
			c.Args = cobra.NoArgs
		}
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors, recursively.
func wrapArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return &usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		if sub.Long != "" && !strings.Contains(sub.Long, "Exit codes:") {
			sub.Long = strings.TrimSpace(sub.Long) + "\n" + exitCodesHelp
		}
		wrapArgs(sub)
	}
}

// hints suggests fixes for the common mistakes; command is the command
// that ran, as typed ("dockcase analyze").
func hints(err error, command string) []string {
	var out []string
	var se *bundle.SignatureError
	var ue *usageError
	var re *outfile.RefusedError
	var ie *inputError
	var te *untrustedError
	switch {
	case errors.As(err, &ie):
		if ie.hint != "" {
			out = append(out, ie.hint)
		}
	case errors.As(err, &ue), errors.As(err, &re):
		out = append(out, command+" --help shows its usage")
	case errors.As(err, &te):
		out = append(out, "compare the signer fingerprint with the one in the case notes; trust it with --fingerprint or --allowed-signers (then the exit status is 0)")
	case errors.As(err, &se) && strings.Contains(se.Reason, "not a trusted signer"):
		out = append(out, "compare the signer fingerprint with the one in the case notes; trust it with --fingerprint or --allowed-signers")
	case errors.Is(err, os.ErrPermission):
		out = append(out, "collection needs root: run it with sudo")
	}
	return out
}
