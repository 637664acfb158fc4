package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/layer"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/caselist"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/progress"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

// findingsOptions are the flags of findings.
type findingsOptions struct {
	trust           trustOptions
	allowUnverified bool
	minSeverity     string
	hashFile        string
	traffic         trafficOptions
	output          outputFlags
	force           bool
}

// findingsVersion is the version of the findings JSON document.
const findingsVersion = "dockcase-findings/v1"

// findingsDoc is the JSON document of dockcase findings --json.
type findingsDoc struct {
	Warning  string           `json:"warning,omitempty"`
	Version  string           `json:"version"`
	Bundle   string           `json:"bundle"`
	Findings []triage.Finding `json:"findings"`
	// Files are the committed layers' files: every file each container
	// added or changed, with size, mode, mtime and SHA-256.
	Files []*layer.Layer `json:"files"`
}

func newFindingsCmd() *cobra.Command {
	opts := &findingsOptions{}
	cmd := &cobra.Command{
		Use:   "findings BUNDLE",
		Short: "Triage a bundle: risky configuration, suspicious processes, files and traffic",
		Long: `Findings verifies a bundle, then runs the triage rules over it, offline:
container configuration (privileged, capabilities, the Docker socket, host
namespaces and paths, seccomp/AppArmor, published ports, secrets in the
environment, shown redacted), processes (reverse shells, miners, programs run
from /tmp, deleted executables, processes entered from outside), files (docker
diff and the committed image's top layer: executables in /tmp, webshells,
cron and systemd persistence, authorized_keys, ld.so.preload, SUID bits,
--hash-file matches), traffic in the conntrack snapshot and the captures
(IOCs, DNS lookups of IOC domains, mining-pool ports, repeated contact) and
image build history. --ioc and --ioc-file are read as analyze reads them.

Each finding names its evidence: the bundle member, its SHA-256 and a JSON
pointer, line or layer entry. A rule that fails shows as an "internal-rule-panic"
finding; the other rules still run.

On a terminal the table is followed by each finding's details; piped, the
tab-separated lines have one finding a line (why and evidence included).
--json prints the ` + findingsVersion + ` document: the findings and the
committed layers' files.
` + listingHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReading(cmd, &opts.trust, args[0], func(path string) error {
				return runFindings(opts, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.trust.addFlags(cmd.Flags())
	cmd.Flags().BoolVar(&opts.allowUnverified, "allow-unverified", false, "triage a bundle that failed verification (every output says so)")
	cmd.Flags().StringVar(&opts.minSeverity, "min-severity", "info", "show findings of this `severity` and above: info, low, medium, high, critical")
	cmd.Flags().StringVar(&opts.hashFile, "hash-file", "", "flag files whose SHA-256 is in `FILE` (sha256sum output or one digest a line)")
	opts.traffic.addFlags(cmd.Flags())
	opts.output.addFlags(cmd.Flags(), "the findings ("+findingsVersion+")", true)
	addForceFlag(cmd.Flags(), &opts.force)
	return cmd
}

func runFindings(opts *findingsOptions, path string, stdout, stderr io.Writer) error {
	minSev, err := triage.ParseSeverity(opts.minSeverity)
	if err != nil {
		return usagef("--min-severity: %v", err)
	}
	iocs, err := opts.traffic.indicators()
	if err != nil {
		return err
	}
	out := newOutputs(opts.force)
	out.Bundle(path)
	opts.traffic.inputs(out)
	out.Input("--hash-file", opts.hashFile)
	if err := opts.output.check(out); err != nil {
		return err
	}
	badHashes, err := readHashFile(opts.hashFile)
	if err != nil {
		return err
	}
	prog := progress.Start(stderr)
	defer prog.End()
	prog.Phase("verifying the bundle")
	b, err := openForAnalysis(&analyzeOptions{trust: opts.trust, allowUnverified: opts.allowUnverified}, path)
	if err != nil {
		return err
	}
	defer b.Close()
	c, err := analyze.Open(b, analyze.Options{MinSeverity: minSev, BadHashes: badHashes, IOCs: iocs, Pcaps: opts.traffic.pcaps,
		Flow: flow.Options{MaxFlows: opts.traffic.maxFlows}})
	if err != nil {
		return err
	}
	prog.Phase("running the rules")
	fs, err := c.Findings()
	if err != nil {
		return err
	}
	prog.End()
	doc := findingsDoc{Version: findingsVersion, Bundle: path, Findings: fs, Files: c.ChangedFiles()}
	if b.Err != nil {
		doc.Warning = unverifiedWarning(b.Err)
	}
	l := caselist.Findings(doc.Findings, doc.Warning)
	l.Value = doc
	if opts.output.table(stdout) {
		return printFindings(stdout, doc, l)
	}
	if doc.Warning != "" {
		fmt.Fprintf(stderr, "dockcase: %s\n", report.TerminalText(doc.Warning))
	}
	if err := opts.output.print(l, out, stdout); err != nil {
		return fmt.Errorf("write findings: %w", err)
	}
	return nil
}

// unverifiedWarning is the first line of every output of a bundle that
// failed verification.
func unverifiedWarning(err error) string {
	return fmt.Sprintf("UNVERIFIED: this bundle failed verification (%v); it was read only because --allow-unverified was given, and nothing in it can be relied on", err)
}

// printFindings writes the findings on a terminal: the table, then each
// finding's details.
func printFindings(w io.Writer, doc findingsDoc, l *listing.Table) error {
	if doc.Warning != "" {
		fmt.Fprintln(w, report.TerminalText(doc.Warning))
	}
	if len(doc.Findings) == 0 {
		_, err := fmt.Fprintln(w, "No findings.")
		return err
	}
	if err := l.Term.WriteTable(w, listing.TerminalWidth(w)); err != nil {
		return err
	}
	for i, f := range doc.Findings {
		fmt.Fprintf(w, "\n[%d] %s %s: %s\n", i+1, strings.ToUpper(f.Severity), report.TerminalText(f.ID), report.TerminalText(f.Title))
		if f.Container != "" {
			fmt.Fprintf(w, "    container: %s (%s)\n", report.TerminalText(f.ContainerName), report.TerminalText(f.Container))
		}
		fmt.Fprintf(w, "    why: %s\n", report.TerminalText(f.Why))
		if seen := report.FindingSeen(f); seen != "" {
			fmt.Fprintf(w, "    seen: %s\n", seen)
		}
		if f.File != nil {
			fmt.Fprintf(w, "    file: %s  size %d  mode %s  mtime %s  sha256 %s\n", report.TerminalText(f.File.Path), f.File.Size,
				f.File.ModeText, f.File.ModTime.Format("2006-01-02T15:04:05Z07:00"), orNone(f.File.SHA256))
		}
		for _, e := range f.Evidence {
			fmt.Fprintf(w, "    evidence: %s\n", report.TerminalText(caselist.EvidenceLine(e)))
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// readHashFile reads --hash-file: nil when no file was given.
func readHashFile(path string) (map[string]bool, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--hash-file: %w", err)
	}
	defer f.Close()
	hashes, err := triage.ParseHashList(f)
	if err != nil {
		return nil, &usageError{fmt.Errorf("--hash-file %s: %w", path, err)}
	}
	return hashes, nil
}
