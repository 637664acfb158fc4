package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/filekind"
	"github.com/dockcase/dockcase/internal/mapfault"
	"github.com/spf13/cobra"
)

// maxReportJSONBytes bounds the analysis document `dockcase report` reads:
// 1 GiB holds a million flows at about 1 KB each, far beyond what a page
// shows; a larger file is refused rather than exhausting memory.
const maxReportJSONBytes = 1 << 30

type reportOptions struct {
	outputs reportOutputs
	force   bool
}

func newReportCmd() *cobra.Command {
	opts := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report ANALYSIS.json",
		Short: "Render the HTML or Markdown report from a saved analysis",
		Long: `Report renders the reports of an analysis saved with "dockcase analyze
--json FILE", without the bundle: --html writes one self-contained HTML file
(no script, no external asset, nothing loaded from the network; it prints to
PDF), --md writes Markdown for tickets and wikis.

The saved document is not signed: it is only as trustworthy as the place it
was kept. An analysis of an unverified bundle says so at the top of every
report.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(opts, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	opts.outputs.addFlags(cmd.Flags())
	addForceFlag(cmd.Flags(), &opts.force)
	return cmd
}

func runReport(opts *reportOptions, path string, stdout, stderr io.Writer) error {
	if !opts.outputs.wanted() {
		return usagef("nothing to write: give --html FILE, --md FILE or both")
	}
	out := newOutputs(opts.force)
	out.input("the analysis", path)
	if err := opts.outputs.check(out); err != nil {
		return err
	}
	res, err := readAnalysis(path)
	if err != nil {
		return err
	}
	if res.Warning != "" {
		fmt.Fprintf(stderr, "dockcase: %s: %q\n", path, res.Warning)
	}
	return opts.outputs.write(res, out, stdout)
}

// readAnalysis reads a saved dockcase-analysis/v2 document; a v1 document
// is refused with the advice to analyse the bundle again.
func readAnalysis(path string) (*analyze.Result, error) {
	head, err := readHead(path, "an analysis")
	if err != nil {
		return nil, err
	}
	switch k := filekind.Sniff(head); k {
	case filekind.Zstd, filekind.Age:
		return nil, &inputError{msg: fmt.Sprintf("%s: this is %s, not a saved analysis", path, k),
			hint: fmt.Sprintf("dockcase analyze %s --json analysis.json saves one; or analyze --html/--md renders the report at once", path)}
	case filekind.Pcap, filekind.Pcapng, filekind.Gzip:
		return nil, &inputError{msg: fmt.Sprintf("%s: this is %s, not a saved analysis (dockcase analyze --json)", path, k)}
	}
	data, unmap, mapped, err := mapFile(path, maxReportJSONBytes)
	if err != nil {
		return nil, err
	}
	if !mapped {
		if data, err = readWhole(path, maxReportJSONBytes); err != nil {
			return nil, err
		}
		return decodeAnalysis(path, data)
	}
	defer unmap()
	return decodeMapped(path, data)
}

// decodeMapped decodes the mapped document data, turning a fault on its
// pages (the file shrank while mapped) into an error. Nothing of the
// result refers to data: the decoders copy what they keep.
func decodeMapped(path string, data []byte) (res *analyze.Result, err error) {
	if mapfault.Run(func() { res, err = decodeAnalysis(path, data) }) {
		return nil, fmt.Errorf("read analysis %s: the file changed while it was read", path)
	}
	return res, err
}

// decodeAnalysis decodes the document data of the file at path and checks
// its version.
func decodeAnalysis(path string, data []byte) (*analyze.Result, error) {
	// One reading of the document (analyze.DecodeResult): a probe of its
	// version first would read every byte once more. A v1 document is told
	// apart after the decoding, whether it failed or not.
	res, err := decodeWithoutGC(data)
	if err != nil || res.Version == "dockcase-analysis/v1" {
		var doc struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(data, &doc) == nil && doc.Version == "dockcase-analysis/v1" {
			// A v1 document's IOC answer counts per-point flows and knows no
			// contacts from sockets or conntrack: rendering it as v2 would
			// misstate who talked to an indicator.
			return nil, &inputError{msg: fmt.Sprintf("read analysis %s: a dockcase-analysis/v1 document, from an older dockcase: it must be re-analysed (this dockcase reads %s)", path, analyze.ResultVersion),
				hint: "dockcase analyze BUNDLE --json analysis.json writes the current version from the bundle"}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read analysis %s: %w", path, err)
	}
	if res.Version != analyze.ResultVersion {
		return nil, fmt.Errorf("read analysis %s: version %q, want %q (a file written by dockcase analyze --json)", path, res.Version, analyze.ResultVersion)
	}
	return res, nil
}

// decodeWithoutGC decodes data with the garbage collector held back: what
// the decoding allocates is the result, nearly all of it kept, and each
// collection while it grows marked all of it once more (a fifth of a
// report's CPU for a 100 MB document). A memory limit of a few times the
// document's size still lets the collector run, should a hostile document
// make garbage.
func decodeWithoutGC(data []byte) (*analyze.Result, error) {
	limit := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(limit)
	debug.SetMemoryLimit(min(limit, 4*int64(len(data))+256<<20))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	return analyze.DecodeResult(data)
}

// readWhole reads the file at path into one buffer of its size (a file
// that grows meanwhile is read to its end all the same), refusing one of
// more than limit bytes.
func readWhole(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := int64(512)
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		size = min(fi.Size(), limit) + 1 // +1: the read that finds the end
	}
	// Read into the buffer in place: bytes.Buffer.ReadFrom would double a
	// buffer of the file's size to have room for its last read.
	buf := make([]byte, 0, size)
	r := io.LimitReader(f, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // the file grew: let append size it
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read analysis %s: %w", path, err)
		}
	}
	if int64(len(buf)) > limit {
		return nil, fmt.Errorf("read analysis %s: larger than %d bytes", path, limit)
	}
	return buf, nil
}
