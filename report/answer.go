package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze"
	"github.com/dockcase/dockcase/analyze/triage"
)

// maxHeadlineFindings is how many findings the headline names when no
// indicator was given: the most severe.
const maxHeadlineFindings = 3

// answerOf is the document's headline answer; a document saved without one
// (an older dockcase) gets it built from its indicators.
func answerOf(res *analyze.Result) []analyze.IndicatorAnswer {
	if res.Answer != nil || len(res.IOCs) == 0 {
		return res.Answer
	}
	return analyze.Answer(res)
}

// headlineFindings are the most severe findings, for the headline of a
// case analysed without indicators.
func headlineFindings(res *analyze.Result) []triage.Finding {
	var out []triage.Finding
	for _, f := range res.Findings {
		if len(out) == maxHeadlineFindings || triage.SeverityRank(f.Severity) < triage.SeverityRank(triage.SeverityMedium) {
			break
		}
		out = append(out, f)
	}
	return out
}

// IntegrityLine says in one line what verification established: verified
// or not, the signer's fingerprint, trusted or not, complete or how many
// gaps. The details (hash, gaps, custody) come further down each report.
func IntegrityLine(b analyze.BundleInfo) string {
	var parts []string
	if b.Verified {
		parts = append(parts, "verified")
	} else {
		parts = append(parts, "NOT VERIFIED ("+b.VerificationError+")")
	}
	switch {
	case b.Signer == "":
		parts = append(parts, "unsigned")
	case b.Trusted:
		parts = append(parts, "signer "+b.Signer+" trusted")
	default:
		parts = append(parts, "signer "+b.Signer+" NOT trusted (compare with the case notes, then --fingerprint)")
	}
	switch {
	case b.Complete:
		parts = append(parts, "complete")
	case len(b.Gaps) == 1:
		parts = append(parts, "INCOMPLETE: 1 gap")
	default:
		parts = append(parts, fmt.Sprintf("INCOMPLETE: %d gaps", len(b.Gaps)))
	}
	return strings.Join(parts, " · ")
}

// answerWho names a contact: "dce-beacon-9cdee0 (655b0f8c71a9)", or
// "host / unknown" with the rules that left it there.
func answerWho(c analyze.AnswerContact) string {
	if c.Container == "" && c.Who != "" {
		return c.Who + " (" + strings.Join(c.Rules, ", ") + ")"
	}
	if c.Container == "" {
		return "host / unknown (" + strings.Join(c.Rules, ", ") + ")"
	}
	return c.ContainerName + " (" + shortID(c.Container) + ")"
}

// answerWhen is "2026-11-28T10:46:41Z … 2026-11-28T10:46:46Z".
func answerWhen(c analyze.AnswerContact) string {
	s := c.First.UTC().Format(time.RFC3339)
	if !c.Last.Equal(c.First) {
		s += " … " + c.Last.UTC().Format(time.RFC3339)
	}
	if c.Dating != "" {
		// The first clause only: the contacts carry every estimate whole.
		d, _, _ := strings.Cut(c.Dating, "; ")
		s += " (earliest estimated: " + d + ")"
	}
	return s
}

// answerHowMuch is "37 conversations, 192 packets, 23.4 KB; 12 DNS lookups".
func answerHowMuch(c analyze.AnswerContact) string {
	s := fmt.Sprintf("%d conversations, %d packets, %s", c.Conversations, c.Packets, humanBytes(c.Bytes))
	if c.Conversations == 1 {
		s = strings.Replace(s, "conversations", "conversation", 1)
	}
	if c.Lookups > 0 {
		s += fmt.Sprintf("; %d DNS lookups", c.Lookups)
	}
	return s
}

// answerRule is "veth, address-owner · confidence high".
func answerRule(c analyze.AnswerContact) string {
	return strings.Join(c.Rules, ", ") + " · confidence " + c.Confidence
}

func answerProcess(p analyze.AnswerProcess) string {
	return fmt.Sprintf("pid %d %s (%s)", p.PID, p.Cmdline, p.Socket)
}

func answerFinding(f analyze.AnswerFinding) string {
	return strings.ToUpper(f.Severity) + " " + f.Title + " [" + f.ID + "]"
}

func humanBytes(n uint64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// summaryAnswer prints the headline answer for the terminal.
func summaryAnswer(w io.Writer, res *analyze.Result) {
	t := TerminalText
	answers := answerOf(res)
	fmt.Fprintln(w, "ANSWER")
	if len(answers) == 0 {
		fs := headlineFindings(res)
		if len(fs) == 0 {
			fmt.Fprintln(w, "  no indicator given (--ioc), and no finding of medium severity or above")
		} else {
			fmt.Fprintln(w, "  no indicator given (--ioc); the most severe findings:")
		}
		for _, f := range fs {
			who := "host"
			if f.ContainerName != "" {
				who = f.ContainerName
			}
			fmt.Fprintf(w, "  - %s %s: %s [%s]\n", strings.ToUpper(f.Severity), t(who), t(f.Title), t(f.ID))
		}
	}
	for _, a := range answers {
		if len(a.Who) == 0 {
			fmt.Fprintf(w, "  %s (%s): %s\n", t(a.IOC), t(a.Kind), t(a.NotSeen))
			continue
		}
		fmt.Fprintf(w, "  %s (%s)\n", t(a.IOC), t(a.Kind))
		for _, c := range a.Who {
			fmt.Fprintf(w, "    who:       %s\n", t(answerWho(c)))
			for _, p := range c.Processes {
				fmt.Fprintf(w, "    process:   %s\n", t(answerProcess(p)))
			}
			fmt.Fprintf(w, "    when:      %s\n", answerWhen(c))
			fmt.Fprintf(w, "    how much:  %s\n", answerHowMuch(c))
			if c.Path != "" {
				fmt.Fprintf(w, "    path:      %s\n", t(c.Path))
			}
			fmt.Fprintf(w, "    rule:      %s\n", t(answerRule(c)))
			for i, f := range c.Findings {
				label := "findings:"
				if i > 0 {
					label = ""
				}
				fmt.Fprintf(w, "    %-10s %s\n", label, t(answerFinding(f)))
			}
		}
	}
	fmt.Fprintf(w, "integrity: %s\n", t(IntegrityLine(res.Bundle)))
}
