package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

func newInspectCmd() *cobra.Command {
	opts := &trustOptions{}
	cmd := &cobra.Command{
		Use:   "inspect BUNDLE",
		Short: "Show what a bundle holds, without analysing it",
		Long: `Inspect verifies a bundle and lists its case metadata, the collection steps
from its custody log and its members with their sizes and sources.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReading(cmd, opts, args[0], func(path string) error {
				return runInspect(opts, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.addFlags(cmd.Flags())
	return cmd
}

func runInspect(opts *trustOptions, path string, stdout, stderr io.Writer) error {
	vo, err := opts.verifyOptions()
	if err != nil {
		return err
	}
	res, verr := verifyFile(path, vo)
	if res.Manifest == nil {
		return fmt.Errorf("%s: %w", path, verr)
	}
	if verr != nil {
		fmt.Fprintf(stdout, "WARNING: %s did NOT verify: %v\n\n", path, verr)
	} else {
		opts.record(path, res, nil)
	}
	m := res.Meta
	t := report.TerminalText
	fmt.Fprintf(stdout, "bundle:    %s\n", res.Root)
	fmt.Fprintf(stdout, "case:      %s\n", t(m.CaseID))
	fmt.Fprintf(stdout, "examiner:  %s\n", t(m.Examiner))
	fmt.Fprintf(stdout, "host:      %s\n", t(m.Host))
	fmt.Fprintf(stdout, "collector: %s\n", t(m.Collector))
	fmt.Fprintf(stdout, "window:    %s … %s\n", m.Started.UTC().Format(time.RFC3339), res.Manifest.Finished.UTC().Format(time.RFC3339))
	if verr == nil {
		fmt.Fprintf(stdout, "signer:    %s\n", signerLine(res))
	}
	if res.Manifest.Complete {
		fmt.Fprintln(stdout, "complete:  yes")
	} else {
		fmt.Fprintln(stdout, "complete:  NO")
		for _, g := range res.Manifest.Gaps {
			fmt.Fprintf(stdout, "  missing: %s\n", t(g))
		}
	}
	fmt.Fprintln(stdout)
	var steps [][]string
	for _, s := range res.Steps {
		steps = append(steps, []string{s.Name, s.Status, s.Ended.Sub(s.Started).Round(time.Millisecond).String(), strconv.Itoa(len(s.Members)), s.Error})
	}
	if err := report.Table(stdout, []string{"step", "status", "took", "members", "error"}, steps); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	var rows [][]string
	for _, mem := range res.Manifest.Members {
		src := mem.Source.Kind
		if mem.Source.Ref != "" {
			src += " " + mem.Source.Ref
		}
		if len(mem.Chunks) > 0 {
			src += fmt.Sprintf(" (%d chunks)", len(mem.Chunks))
		}
		rows = append(rows, []string{mem.Path, strconv.FormatInt(mem.Size, 10), mem.Step, src})
	}
	if err := report.Table(stdout, []string{"member", "bytes", "step", "source"}, rows); err != nil {
		return err
	}
	if verr != nil {
		return fmt.Errorf("%s: %w", path, verr)
	}
	return nil
}
