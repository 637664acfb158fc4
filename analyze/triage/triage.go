// Package triage holds the triage findings and their rule catalogue: risky
// configuration, suspicious processes, files, traffic and image history,
// each finding citing its evidence. Run runs every rule over the host
// model and what the other stages give it (Input); a rule that panics
// becomes an "internal-rule-panic" finding and the other rules still run.
package triage

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/layer"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/internal/indicator"
)

// Severities of a finding, lowest first.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

var severityRanks = map[string]int{SeverityInfo: 0, SeverityLow: 1, SeverityMedium: 2, SeverityHigh: 3, SeverityCritical: 4}

// SeverityRank orders severities: info 0 … critical 4; -1 for an unknown
// name.
func SeverityRank(s string) int {
	if r, ok := severityRanks[s]; ok {
		return r
	}
	return -1
}

// ParseSeverity checks a severity name given by a user.
func ParseSeverity(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if SeverityRank(s) < 0 {
		return "", fmt.Errorf("severity %q: want info, low, medium, high or critical", s)
	}
	return s, nil
}

// Finding is one triage finding: what was found, in which container,
// why it matters and where the evidence is. Evidence text that came from
// the host (command lines, file names) is attacker-controlled; secrets are
// redacted before they reach a finding.
type Finding struct {
	// ID names the rule; it is stable across versions (privileged-container,
	// reverse-shell-process, …). Internal findings are "internal-rule-panic".
	ID       string `json:"id"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	// Container is the container's id; empty for a host-wide finding.
	Container     string           `json:"container,omitempty"`
	ContainerName string           `json:"container_name,omitempty"`
	Why           string           `json:"why"`
	Evidence      []model.Evidence `json:"evidence"`
	// File describes the file a file rule is about.
	File *layer.File `json:"file,omitempty"`
	// Indicator is the IOC an ioc-contact finding (or a beacon to an
	// indicator) is about, as the indicator list names it.
	Indicator string `json:"indicator,omitempty"`
	// Count is how many observations a traffic finding groups: captured
	// flows (one per capture point that saw the flow), conntrack entries,
	// DNS lookups. It is 0 for a finding about a state (a setting, a
	// process, a file). Evidence holds the first few of them
	// (maxGroupEvidence); First and Last span all of them.
	Count int       `json:"count,omitempty"`
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`

	// group is the part of the grouping key beyond rule, container and
	// indicator (a port, say); "" for findings that are not grouped.
	group string
}

// maxGroupEvidence bounds the evidence of a grouped finding: the first
// five observations show what was seen; Count and First/Last cover the
// rest.
const maxGroupEvidence = 5

// Options are the user's choices for a run.
type Options struct {
	// MinSeverity drops findings below it; "" keeps all.
	MinSeverity string
	// BadHashes are SHA-256 digests (lowercase hex) of known-bad files.
	BadHashes map[string]bool
}

// Input is what the rules get from the other stages.
type Input struct {
	// IOCs are the indicators to flag contact with; nil flags none.
	IOCs *indicator.Set
	// Flows and DNS are the traffic the network rules look at (from the
	// captures, when the bundle has them).
	Flows []FlowSummary
	DNS   []DNSName
	// Layers are the committed layers when the caller has read them
	// already (CommittedLayers), with the problems it returned; nil reads
	// them from the bundle.
	Layers        map[string]*layer.Layer
	LayerProblems []string
}

// FlowSummary is the part of a conversation the network rules need: who
// talked to whom and when each connection began. Estimated says no packet
// dates it (a socket or conntrack entry: Dating says how it was dated);
// the beaconing rule leaves such times out.
type FlowSummary struct {
	Container  string           `json:"container,omitempty"`
	Proto      string           `json:"proto"`
	Remote     netip.Addr       `json:"remote"`
	RemotePort uint16           `json:"remote_port"`
	First      time.Time        `json:"first"`
	Last       time.Time        `json:"last"`
	Packets    int64            `json:"packets,omitempty"`
	Bytes      int64            `json:"bytes,omitempty"`
	Estimated  bool             `json:"estimated,omitempty"`
	Dating     string           `json:"dating,omitempty"`
	Evidence   []model.Evidence `json:"evidence,omitempty"`
}

// DNSName is one name a container looked up.
type DNSName struct {
	Container string           `json:"container,omitempty"`
	Name      string           `json:"name"`
	Time      time.Time        `json:"time"`
	Answers   []string         `json:"answers,omitempty"`
	Evidence  []model.Evidence `json:"evidence,omitempty"`
}

// maxHashFileBytes bounds a --hash-file: 64 MiB is about 1M digests.
const maxHashFileBytes = 64 << 20

// ParseHashList reads SHA-256 digests, one a line: sha256sum output
// ("<hex>  <name>") or bare digests; blank lines and # comments are
// skipped. A line that has no 64-hex-digit first field is an error naming
// the line.
func ParseHashList(r io.Reader) (map[string]bool, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxHashFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read hash list: %w", err)
	}
	if len(data) > maxHashFileBytes {
		return nil, fmt.Errorf("hash list: larger than %d bytes", maxHashFileBytes)
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)[0]
		f = strings.TrimPrefix(strings.ToLower(f), `\`) // sha256sum escapes names with a leading backslash
		f = strings.TrimPrefix(f, "sha256:")
		if len(f) != 64 {
			return nil, fmt.Errorf("hash list line %d: %q is not a SHA-256", n, truncateText(f, 80))
		}
		if _, err := hex.DecodeString(f); err != nil {
			return nil, fmt.Errorf("hash list line %d: %q is not a SHA-256", n, truncateText(f, 80))
		}
		out[f] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("hash list line %d: %w", n+1, err)
	}
	return out, nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// state is what the rules of one run share: the model, the source, the
// input and options, and the members decoded once for several rules.
type state struct {
	h    *model.Host
	src  model.Source
	in   Input
	opts Options

	inspected map[string]bool         // container ids whose inspect problems are reported
	layers    map[string]*layer.Layer // container id → top layer of its commit
	layersOK  bool
	// problems are members that could not be read; they become info
	// findings, so a reader knows what the rules did not see.
	problems []string
}

func (t *state) ev(member, pointer string) model.Evidence {
	return model.Evidence{Member: member, SHA256: t.src.SHA256(member), Pointer: pointer}
}

func (t *state) problem(format string, a ...any) {
	t.problems = append(t.problems, fmt.Sprintf(format, a...))
}

// finding fills the container fields of a finding.
func (t *state) finding(c *model.Container, id, sev, title, why string, ev ...model.Evidence) Finding {
	f := Finding{ID: id, Severity: sev, Title: title, Why: why, Evidence: ev}
	if c != nil {
		f.Container, f.ContainerName = c.ID, c.Name
	}
	if f.Evidence == nil {
		f.Evidence = []model.Evidence{}
	}
	return f
}

// rule is one rule of the catalogue: a name (for internal findings) and
// its check.
type rule struct {
	name  string
	check func(t *state) []Finding
}

// catalogue is the rules Run runs, in order.
var catalogue = []rule{
	{"configuration", (*state).configRules},
	{"secrets-in-environment", (*state).envRules},
	{"processes", (*state).processRules},
	{"files", (*state).fileRules},
	{"network-conntrack", (*state).conntrackRules},
	{"network-flows", (*state).flowRules},
	{"dns", (*state).dnsRules},
	{"image-history", (*state).imageHistoryRules},
	{"resource-usage", (*state).usageRules},
}

// Run runs the triage rules over the model and the other stages' input. A
// rule that panics becomes an "internal" finding naming the rule, and the
// other rules still run. Findings are sorted by severity (highest first),
// then container and id.
func Run(h *model.Host, in Input, opts Options) []Finding {
	return run(h, in, opts, catalogue)
}

func run(h *model.Host, in Input, opts Options, rules []rule) []Finding {
	t := &state{h: h, src: h.Source(), in: in, opts: opts}
	if in.Layers != nil {
		t.layers, t.layersOK = in.Layers, true
		t.problems = append(t.problems, in.LayerProblems...)
	}
	var out []Finding
	for _, r := range rules {
		out = append(out, t.runRule(r)...)
	}
	out = groupFindings(out)
	for _, p := range t.problems {
		out = append(out, Finding{ID: "rule-input-missing", Severity: SeverityInfo, Title: "A rule could not read its input",
			Why: p + ": the rules that need it did not run on it, so absence of findings there proves nothing", Evidence: []model.Evidence{}})
	}
	minRank := SeverityRank(opts.MinSeverity)
	kept := out[:0]
	for _, f := range out {
		if SeverityRank(f.Severity) >= minRank || f.ID == "internal-rule-panic" {
			kept = append(kept, f)
		}
	}
	sortFindings(kept)
	if kept == nil {
		kept = []Finding{}
	}
	return kept
}

// runRule runs one rule and turns a panic into an internal finding.
func (t *state) runRule(r rule) (out []Finding) {
	defer func() {
		if p := recover(); p != nil {
			stack := string(debug.Stack())
			if len(stack) > 2000 {
				stack = stack[:2000]
			}
			out = []Finding{{ID: "internal-rule-panic", Severity: SeverityInfo,
				Title:    fmt.Sprintf("Rule %q failed: %v", r.name, p),
				Why:      "the rule crashed on this bundle (a bug in dockcase, or input it did not expect); its checks did not run, the other rules did. Please report it with the stack trace.",
				Evidence: []model.Evidence{{Member: "(internal)", Text: stack}}}}
		}
	}()
	return r.check(t)
}

// groupFindings merges the traffic findings (Count > 0) of one rule, one
// container, one indicator and one group key into one finding: the count
// summed, first and last spanning them all, the highest severity, the
// evidence of the earliest few. Other findings pass unchanged.
func groupFindings(fs []Finding) []Finding {
	type key struct{ id, container, indicator, group string }
	members := map[key][]Finding{}
	var order []key
	var out []Finding
	for _, f := range fs {
		if f.Count == 0 {
			out = append(out, f)
			continue
		}
		k := key{f.ID, f.Container, f.Indicator, f.group}
		if _, seen := members[k]; !seen {
			order = append(order, k)
		}
		members[k] = append(members[k], f)
	}
	for _, k := range order {
		ms := members[k]
		// Earliest first; observations without a time (conntrack
		// entries) after the timed ones, in the order the rules gave them.
		sort.SliceStable(ms, func(i, j int) bool {
			a, b := ms[i].First, ms[j].First
			if a.IsZero() || b.IsZero() {
				return !a.IsZero() && b.IsZero()
			}
			return a.Before(b)
		})
		g := ms[0]
		g.Count, g.Evidence = 0, []model.Evidence{}
		for _, m := range ms {
			g.Count += m.Count
			if SeverityRank(m.Severity) > SeverityRank(g.Severity) {
				g.Severity = m.Severity
			}
			if !m.First.IsZero() && (g.First.IsZero() || m.First.Before(g.First)) {
				g.First = m.First
			}
			if m.Last.After(g.Last) {
				g.Last = m.Last
			}
			for _, e := range m.Evidence {
				if len(g.Evidence) < maxGroupEvidence {
					g.Evidence = append(g.Evidence, e)
				}
			}
		}
		out = append(out, g)
	}
	return out
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if ra, rb := SeverityRank(a.Severity), SeverityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if a.ContainerName != b.ContainerName {
			return a.ContainerName < b.ContainerName
		}
		if a.Container != b.Container {
			return a.Container < b.Container
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if a.Title != b.Title {
			return a.Title < b.Title
		}
		return evidenceKey(a.Evidence) < evidenceKey(b.Evidence)
	})
}

func evidenceKey(ev []model.Evidence) string {
	if len(ev) == 0 {
		return ""
	}
	return fmt.Sprintf("%s#%s#%08d", ev[0].Member, ev[0].Pointer, ev[0].Line)
}

// containerByID returns the model's container for an id, or nil.
func (t *state) containerByID(id string) *model.Container {
	if id == "" {
		return nil
	}
	for _, c := range t.h.Containers {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// readMember reads a member the rules need, noting a problem when it is
// there but unreadable; absent members are not a problem (the model
// already lists them as missing).
func (t *state) readMember(member string, max int64) ([]byte, bool) {
	data, err := t.src.ReadMember(member, max)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, os.ErrNotExist) {
			t.problem("%s: %v", member, err)
		}
		return nil, false
	}
	return data, true
}
