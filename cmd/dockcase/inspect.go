package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/progress"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

// inspectOptions are the flags of inspect.
type inspectOptions struct {
	trustOptions
	output outputFlags
	force  bool
}

func newInspectCmd() *cobra.Command {
	opts := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect BUNDLE",
		Short: "Show what a bundle holds, without analysing it",
		Long: `Inspect verifies a bundle and lists its case metadata, the collection steps
from its custody log and its members with their sizes and sources.

On a terminal: the metadata, the steps and the members. Piped, and with
--csv: the members, one a line (member, bytes, step, source, chunks). --json
prints one object: the metadata's keys (case_id, host, …, complete, gaps),
"steps" and "members".
` + listingHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReading(cmd, &opts.trustOptions, args[0], func(path string) error {
				return runInspect(opts, path, cmd.OutOrStdout(), cmd.ErrOrStderr())
			})
		},
	}
	opts.addFlags(cmd.Flags())
	opts.output.addFlags(cmd.Flags(), "the metadata, steps and members", true)
	addForceFlag(cmd.Flags(), &opts.force)
	return cmd
}

// inspectDoc is the JSON of inspect.
type inspectDoc struct {
	Warning   string        `json:"warning,omitempty"`
	Bundle    string        `json:"bundle"`
	Root      string        `json:"root"`
	CaseID    string        `json:"case_id"`
	Examiner  string        `json:"examiner"`
	Host      string        `json:"host"`
	Collector string        `json:"collector"`
	Started   time.Time     `json:"started"`
	Finished  time.Time     `json:"finished"`
	Signer    string        `json:"signer,omitempty"`
	Trusted   bool          `json:"trusted"`
	Complete  bool          `json:"complete"`
	Gaps      []string      `json:"gaps"`
	Steps     []listing.Row `json:"steps"`
	Members   []listing.Row `json:"members"`
}

// stepColumns and memberColumns are inspect's two lists.
var (
	stepColumns = []listing.Column{{Key: "step", Keep: true}, {Key: "status", Keep: true}, {Key: "took_ms", Label: "TOOK", Num: true, Keep: true},
		{Key: "members", Num: true, Keep: true}, {Key: "error", Text: true}}
	memberColumns = []listing.Column{{Key: "member", Text: true}, {Key: "bytes", Num: true, Keep: true}, {Key: "step"},
		{Key: "source", Text: true}, {Key: "chunks", Num: true}}
)

func runInspect(opts *inspectOptions, path string, stdout, stderr io.Writer) error {
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
	res, verr := verifyFile(path, vo)
	prog.End()
	if res.Manifest == nil {
		return fmt.Errorf("%s: %w", path, verr)
	}
	if verr == nil {
		opts.record(path, res, nil)
	}
	m := res.Meta
	steps := &listing.Table{Cols: stepColumns}
	for _, s := range res.Steps {
		took := s.Ended.Sub(s.Started)
		steps.Add(s.Name, s.Status, strconv.FormatInt(took.Milliseconds(), 10), strconv.Itoa(len(s.Members)), s.Error)
	}
	members := &listing.Table{Cols: memberColumns, Name: "members"}
	for _, mem := range res.Manifest.Members {
		src := mem.Source.Kind
		if mem.Source.Ref != "" {
			src += " " + mem.Source.Ref
		}
		chunks := ""
		if len(mem.Chunks) > 0 {
			chunks = strconv.Itoa(len(mem.Chunks))
		}
		members.Add(mem.Path, strconv.FormatInt(mem.Size, 10), mem.Step, src, chunks)
	}
	if !opts.output.table(stdout) {
		doc := inspectDoc{Bundle: path, Root: res.Root, CaseID: m.CaseID, Examiner: m.Examiner, Host: m.Host, Collector: m.Collector,
			Started: m.Started.UTC(), Finished: res.Manifest.Finished.UTC(), Complete: res.Manifest.Complete,
			Gaps: append([]string{}, res.Manifest.Gaps...), Steps: steps.Objects(), Members: members.Objects()}
		if verr != nil {
			doc.Warning = fmt.Sprintf("%s did NOT verify: %v", path, verr)
			fmt.Fprintf(stderr, "dockcase: WARNING: %s\n", report.TerminalText(doc.Warning))
		} else {
			doc.Signer, doc.Trusted = res.Fingerprint, res.Trusted
		}
		members.Warning, members.Value = doc.Warning, doc
		if err := opts.output.print(members, out, stdout); err != nil {
			return fmt.Errorf("write inspect: %w", err)
		}
	} else {
		if verr != nil {
			fmt.Fprintf(stdout, "WARNING: %s did NOT verify: %v\n\n", path, verr)
		}
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
		// The terminal shows the step's time as a duration.
		for _, r := range steps.Rows {
			ms, _ := strconv.ParseInt(r[2], 10, 64)
			r[2] = (time.Duration(ms) * time.Millisecond).String()
		}
		steps.Cols = slices.Clone(stepColumns)
		steps.Cols[2].Num = false
		width := listing.TerminalWidth(stdout)
		if err := steps.WriteTable(stdout, width); err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		if err := members.WriteTable(stdout, width); err != nil {
			return err
		}
	}
	if verr != nil {
		return fmt.Errorf("%s: %w", path, verr)
	}
	return nil
}
