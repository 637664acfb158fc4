package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/report"
	"github.com/spf13/cobra"
)

func newCustodyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "custody",
		Short: "Record and check a bundle's chain of custody",
		Long: `The chain of custody of a bundle lives beside it in BUNDLE.custody.jsonl:
one event a line, each chained to the previous line by its SHA-256 and the
first to the bundle's own SHA-256.`,
	}
	cmd.AddCommand(newCustodyAddCmd(), newCustodyShowCmd())
	return cmd
}

type custodyAddOptions struct {
	action, by, where, note string
}

func newCustodyAddCmd() *cobra.Command {
	opts := &custodyAddOptions{}
	cmd := &cobra.Command{
		Use:   "add BUNDLE --action ACTION --by NAME [--note TEXT]",
		Short: "Append an event to the custody log",
		Long: `Add checks the bundle's custody chain and appends an event (collected,
verified, copied, transferred, received, analysed, or another word). A
broken chain is not extended.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCustodyAdd(opts, args[0], cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&opts.action, "action", "", "what happened (`ACTION`: transferred, copied, …)")
	cmd.Flags().StringVar(&opts.by, "by", "", "who did it")
	cmd.Flags().StringVar(&opts.where, "where", "", "where (default: this host's name)")
	cmd.Flags().StringVar(&opts.note, "note", "", "free text")
	return cmd
}

func runCustodyAdd(opts *custodyAddOptions, path string, stdout io.Writer) error {
	if opts.action == "" || opts.by == "" {
		return usagef("custody add needs --action and --by")
	}
	if opts.where == "" {
		opts.where, _ = os.Hostname()
	}
	ev, err := bundle.AppendCustody(path, bundle.CustodyEvent{Action: opts.action, By: opts.by, Where: opts.where, Note: opts.note})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "custody event %d (%s by %s) recorded in %s\n", ev.Seq, ev.Action, ev.By, bundle.CustodyPath(path))
	return nil
}

func newCustodyShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show BUNDLE",
		Short: "Print the custody log and check its chain",
		Long: `Show prints every custody event of a bundle and checks the chain, naming
the first broken link.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCustodyShow(args[0], cmd.OutOrStdout())
		},
	}
}

func runCustodyShow(path string, stdout io.Writer) error {
	sum, err := bundle.FileSHA256(path)
	if err != nil {
		return err
	}
	f, err := os.Open(bundle.CustodyPath(path))
	if err != nil {
		return fmt.Errorf("no custody log: %w", err)
	}
	defer f.Close()
	events, cerr := bundle.CheckCustody(f, sum)
	var rows [][]string
	for _, ev := range events {
		rows = append(rows, []string{fmt.Sprint(ev.Seq), ev.Time.UTC().Format(time.RFC3339), ev.Action, ev.By, ev.Where, ev.Note})
	}
	fmt.Fprintf(stdout, "bundle sha256: %s\n", sum)
	if err := report.Table(stdout, []string{"#", "time (UTC)", "action", "by", "where", "note"}, rows); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("%s: %w", bundle.CustodyPath(path), cerr)
	}
	fmt.Fprintf(stdout, "chain intact: %d event(s)\n", len(events))
	return nil
}
