package analyze

import (
	"errors"
	"net/netip"
	"sort"
	"time"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/ioc"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/internal/indicator"
)

// ResultVersion is the version of the analysis document.
const ResultVersion = "dockcase-analysis/v2"

// DefaultDestination is the documentation address (RFC 5737) used as the
// representative outside address when neither --to nor a default route
// gives one.
var DefaultDestination = netpath.Documentation

// Options tune Analyze.
type Options struct {
	// To are the outside addresses to explain each container's path
	// towards; empty means the gateway of the host's default route, else
	// DefaultDestination.
	To []netip.Addr
	// BundleSHA256 is the SHA-256 of the bundle file, when the caller has it.
	BundleSHA256 string
	// IOCs are the indicators to match against the captures.
	IOCs []indicator.Indicator
	// Pcaps are captures from outside the host (--pcap), read after the
	// bundle's own.
	Pcaps []string
	// Flow tunes the flow tables (bound on live flows).
	Flow flow.Options
	// MinSeverity and BadHashes tune the triage findings (--min-severity,
	// --hash-file).
	MinSeverity string
	BadHashes   map[string]bool
}

// Result is the dockcase-analysis/v2 document. Warning is set, and is the
// first key of the JSON, when the bundle did not verify and the user chose
// to analyse it anyway.
//
// v2 adds the contacts (one per conversation, fused from the captures, the
// sockets and conntrack) and answers the indicators from them: an IOC
// contact counts conversations, not per-point flows, and names groups,
// candidates and processes (docs/analysis-v2.md). Extension points for
// later analyses are the omitempty slices at the end; a reader of v2
// ignores keys it does not know.
type Result struct {
	Warning     string                  `json:"warning,omitempty"`
	Version     string                  `json:"version"`
	Bundle      BundleInfo              `json:"bundle"`
	Host        HostInfo                `json:"host"`
	Containers  []*model.Container      `json:"containers"`
	Networks    []*model.Network        `json:"networks"`
	Interfaces  []netpath.HostInterface `json:"interfaces"`
	Paths       []*netpath.Path         `json:"paths"`
	Visibility  []netpath.VisibilityRow `json:"visibility"`
	IPOwnership []model.Lease           `json:"ip_ownership"`
	Missing     []string                `json:"missing"`
	// Members is the evidence index: every member of the bundle and its hash.
	Members []BundleMember `json:"members"`
	// Processes are the containers' processes, Sockets their TCP, UDP and
	// raw sockets, FileChanges the files they added, changed or deleted.
	Processes   []model.HostProcess `json:"processes"`
	Sockets     []model.HostSocket  `json:"sockets"`
	FileChanges []FileChange        `json:"file_changes"`

	// Captures, Flows, DNS and IOCs are what the bundle's captures (and
	// --pcap files) show, each flow attributed to a container (issue 6).
	Captures []traffic.CaptureSummary `json:"captures,omitempty"`
	Flows    []traffic.Flow           `json:"flows,omitempty"`
	DNS      []traffic.DNSQuery       `json:"dns,omitempty"`
	// Contacts are the conversations, one each, fused from the flows of
	// every capture point, the sockets of every namespace and the conntrack
	// snapshot: there without a capture too.
	Contacts []traffic.Contact `json:"contacts,omitempty"`
	IOCs     []ioc.Hit         `json:"iocs,omitempty"`
	// Answer is the headline answer, one entry per indicator of IOCs: who
	// talked to it, with which process, when, how much, by which path, and
	// the container's worst findings (Answer builds it).
	Answer []IndicatorAnswer `json:"answer,omitempty"`
	// TrafficProblems are reasons the attribution is incomplete beyond one
	// capture's own problems (the conntrack events overflowed, say).
	TrafficProblems []string         `json:"traffic_problems,omitempty"`
	Findings        []triage.Finding `json:"findings,omitempty"`
	Timeline        []timeline.Event `json:"timeline,omitempty"`
}

// BundleInfo is what verification established about the bundle.
type BundleInfo struct {
	Path      string    `json:"path"`
	SHA256    string    `json:"sha256,omitempty"`
	Root      string    `json:"root"`
	Case      string    `json:"case"`
	Examiner  string    `json:"examiner,omitempty"`
	Host      string    `json:"host"`
	Collector string    `json:"collector"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	// Signer is the signing key's fingerprint; Trusted says whether it is
	// one the user named (--allowed-signers, --fingerprint).
	Signer            string   `json:"signer,omitempty"`
	Trusted           bool     `json:"trusted"`
	Verified          bool     `json:"verified"`
	VerificationError string   `json:"verification_error,omitempty"`
	Complete          bool     `json:"complete"`
	Gaps              []string `json:"gaps"`
}

// HostInfo summarises the host's network.
type HostInfo struct {
	Hostname string `json:"hostname,omitempty"`
	// FirewallLayout is the Docker rule layout of the IPv4 ruleset
	// (legacy, bridge-drop, ipset, docker-forward, nftables, none).
	FirewallLayout string `json:"firewall_layout,omitempty"`
	ForwardPolicy  string `json:"forward_policy,omitempty"`
	// Destinations are the outside addresses the paths and the visibility
	// matrix are about.
	Destinations []netip.Addr `json:"destinations"`
	Namespaces   int          `json:"namespaces"`
	Conntrack    int          `json:"conntrack_entries"`
	Processes    int          `json:"processes"`
}

// BundleMember is one member of the bundle, for the evidence index.
type BundleMember struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Step   string `json:"step,omitempty"`
	// Source is where the collector got it: "api GET /containers/…/json",
	// "command /usr/sbin/xtables-nft-multi", "file /proc", …
	Source string `json:"source,omitempty"`
	Chunks int    `json:"chunks,omitempty"`
	Note   string `json:"note,omitempty"`
}

// bundleMembers lists the manifest's members by path.
func bundleMembers(b *bundle.Bundle) []BundleMember {
	out := []BundleMember{}
	for _, m := range b.Members() {
		src := m.Source.Kind
		if m.Source.Ref != "" {
			src += " " + m.Source.Ref
		}
		out = append(out, BundleMember{Path: m.Path, Size: m.Size, SHA256: m.SHA256, Step: m.Step, Source: src, Chunks: len(m.Chunks), Note: m.Note})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Analyze builds the host model from a verified (or knowingly unverified)
// bundle and produces the analysis document: Open and Result.
func Analyze(b *bundle.Bundle, opts Options) (*Result, error) {
	c, err := Open(b, opts)
	if err != nil {
		return nil, err
	}
	return c.Result()
}

// dnsNames turns the per-container DNS log into the findings' and the
// timeline's input.
func dnsNames(qs []traffic.DNSQuery) []triage.DNSName {
	out := make([]triage.DNSName, 0, len(qs))
	for _, q := range qs {
		out = append(out, triage.DNSName{Container: q.Container, Name: q.QName, Time: q.Time, Answers: q.Answers, Evidence: []model.Evidence{q.Evidence}})
	}
	return out
}

// hostResult produces the analysis document of the host (without the bundle
// section, which Analyze fills).
func hostResult(h *model.Host, opts Options) *Result {
	res := &Result{Version: ResultVersion, Containers: h.Containers, Networks: h.Networks, Interfaces: netpath.Interfaces(h),
		Paths: []*netpath.Path{}, Visibility: []netpath.VisibilityRow{}, IPOwnership: h.Leases(), Missing: append([]string{}, h.Missing...), Members: []BundleMember{},
		Processes: h.ContainerProcesses(), Sockets: h.ContainerSockets(), FileChanges: []FileChange{}}
	if res.Containers == nil {
		res.Containers = []*model.Container{}
	}
	if res.Networks == nil {
		res.Networks = []*model.Network{}
	}
	if res.Interfaces == nil {
		res.Interfaces = []netpath.HostInterface{}
	}
	if res.IPOwnership == nil {
		res.IPOwnership = []model.Lease{}
	}
	dsts := opts.To
	if len(dsts) == 0 {
		dsts = []netip.Addr{netpath.DefaultDestination(h)}
	}
	res.Host = HostInfo{Hostname: h.Hostname, Destinations: dsts, Namespaces: len(h.Namespaces), Conntrack: len(h.Conntrack), Processes: len(h.Processes)}
	if h.Firewall4 != nil {
		res.Host.FirewallLayout = h.Firewall4.Layout()
		res.Host.ForwardPolicy = h.Firewall4.Forward().Policy
	}
	for _, dst := range dsts {
		for _, c := range h.Containers {
			if p, err := netpath.Egress(h, c.ID, dst); err == nil {
				res.Paths = append(res.Paths, p)
			}
		}
		res.Visibility = append(res.Visibility, netpath.Visibility(h, dst)...)
	}
	for _, c := range h.Containers {
		if !c.Running() {
			continue
		}
		for _, pb := range c.Ports {
			if p, err := netpath.Inbound(h, c.ID, pb); err == nil {
				res.Paths = append(res.Paths, p)
			}
		}
	}
	sort.SliceStable(res.Paths, func(i, j int) bool {
		a, b := res.Paths[i], res.Paths[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.ContainerName != b.ContainerName {
			return a.ContainerName < b.ContainerName
		}
		return a.Dst.Less(b.Dst)
	})
	return res
}

// Unknown reports whether the result leaves answers unknown because the
// bundle lacks members or parts of them: the exit status 3 case. A gap of
// the collection that the model did not need (say, the owner of one socket)
// does not count; it is still shown under bundle.gaps.
func (r *Result) Unknown() bool {
	return len(r.Missing) > 0
}

// Unattributed returns how many captured flows stay "host or unknown" for
// want of evidence: with any, the analysis finished with gaps (exit 3).
func (r *Result) Unattributed() int {
	n := 0
	for i := range r.Flows {
		if r.Flows[i].Rule == traffic.RuleUnknown {
			n++
		}
	}
	return n
}

// ErrUnknownAnswers marks an analysis that finished with answers left
// unknown by gaps in the bundle.
var ErrUnknownAnswers = errors.New("some answers are unknown because the bundle has gaps")
