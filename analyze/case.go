package analyze

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/dockcase/dockcase/analyze/flow"
	"github.com/dockcase/dockcase/analyze/ioc"
	"github.com/dockcase/dockcase/analyze/layer"
	"github.com/dockcase/dockcase/analyze/model"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/analyze/timeline"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/analyze/triage"
	"github.com/dockcase/dockcase/bundle"
	"github.com/dockcase/dockcase/internal/indicator"
)

// Case is one analysis of one bundle: the host model, loaded once by Open,
// and the stages over it, each built at most once, on first use. Every
// command asks the Case for what it prints, so that the analysis document,
// the findings, the timeline, the flows and the paths all come from the
// same model and the same traffic.
//
// What each accessor reads: Host, Paths and ClockNote only the model;
// CaptureInputs lists the captures without reading them; Traffic reads
// every capture (once); Layers reads the committed layers (once); Findings
// and Timeline need both, since the flow and DNS rules and the traffic
// events run on the captures whenever the bundle (or --pcap) has any.
//
// A Case is not safe for concurrent use.
type Case struct {
	b    *bundle.Bundle
	opts Options
	h    *model.Host

	inputs     []flow.Input
	inputsErr  error
	inputsDone bool

	traffic    *traffic.Result
	trafficErr error
	iocs       []ioc.Hit
	iocsDone   bool

	layers        map[string]*layer.Layer
	layerProblems []string
	layersDone    bool

	set *indicator.Set

	findings []triage.Finding
	timeline []timeline.Event
	result   *Result
}

// Open loads the model of the host from a verified (or knowingly
// unverified) bundle. Members the bundle lacks do not make it fail:
// Host().Missing says what is unknown. The stages are built later, when
// asked for.
func Open(b *bundle.Bundle, opts Options) (*Case, error) {
	h, err := model.Load(b)
	if err != nil {
		return nil, err
	}
	return &Case{b: b, opts: opts, h: h}, nil
}

// Host is the model of the host.
func (c *Case) Host() *model.Host { return c.h }

// Options are the options the Case was opened with.
func (c *Case) Options() Options { return c.opts }

// Warning is the line every output of an unverified bundle starts with; ""
// for a verified one.
func (c *Case) Warning() string {
	if c.b.Err == nil {
		return ""
	}
	return fmt.Sprintf("UNVERIFIED: this bundle failed verification (%v); it was analysed only because --allow-unverified was given, and nothing in it can be relied on", c.b.Err)
}

// maxDomainDestinations bounds the addresses one domain indicator adds to
// the destinations: a name answered with hundreds of addresses (a CDN)
// would multiply the paths; the first few, in order seen, show the route.
const maxDomainDestinations = 4

// Destinations are the outside addresses the paths and the visibility
// matrix are about: the options' To; else, with indicators, the
// indicators' addresses (an address as given, a CIDR's first host, a
// domain's addresses from the DNS answers in the captures), so that the
// path shown is the one the traffic to them took; else (or when no
// indicator gives an address) the gateway of the host's default route,
// else DefaultDestination. A domain indicator makes it read the captures.
func (c *Case) Destinations() []netip.Addr {
	if len(c.opts.To) > 0 {
		return c.opts.To
	}
	var out []netip.Addr
	add := func(a netip.Addr) {
		if a.IsValid() && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	for _, i := range c.opts.IOCs {
		switch i.Kind {
		case indicator.Domain:
			t, err := c.Traffic()
			if err != nil || t == nil {
				continue
			}
			var addrs []netip.Addr
			for j := range t.DNS {
				q := &t.DNS[j]
				if !i.MatchName(q.QName) || q.Response() == nil {
					continue
				}
				for _, a := range q.Response().Answers {
					if a.Addr.IsValid() && len(addrs) < maxDomainDestinations && !slices.Contains(addrs, a.Addr.Unmap()) {
						addrs = append(addrs, a.Addr.Unmap())
					}
				}
			}
			for _, a := range addrs {
				add(a)
			}
		default:
			add(firstHost(i.Prefix))
		}
	}
	if len(out) > 0 {
		return out
	}
	return []netip.Addr{netpath.DefaultDestination(c.h)}
}

// firstHost is the address of a full-length prefix, or the first host
// address of a network (10.0.0.0/8 → 10.0.0.1).
func firstHost(p netip.Prefix) netip.Addr {
	if !p.IsValid() {
		return netip.Addr{}
	}
	a := p.Masked().Addr()
	if p.Bits() >= a.BitLen()-1 {
		return p.Addr()
	}
	if n := a.Next(); n.IsValid() && p.Contains(n) {
		return n
	}
	return a
}

// Path explains the path of a container's traffic towards dst.
func (c *Case) Path(container string, dst netip.Addr) (*netpath.Path, error) {
	return netpath.Egress(c.h, container, dst)
}

// ClockNote says when the host clock was not synchronised at collection
// ("" otherwise).
func (c *Case) ClockNote() string { return timeline.ClockNote(c.h) }

// CaptureInputs lists the bundle's captures and the --pcap files, for
// reading flows or extracting packets. The captures are opened through the
// model's source when read.
func (c *Case) CaptureInputs() ([]flow.Input, error) {
	if !c.inputsDone {
		c.inputsDone = true
		c.inputs, c.inputsErr = traffic.Inputs(c.h, c.opts.Pcaps)
	}
	return c.inputs, c.inputsErr
}

// Traffic reads every capture once, attributes its flows and DNS answers,
// and fuses them with the sockets and conntrack into contacts (there
// without a capture too). The error is for a --pcap file that cannot be opened at all.
func (c *Case) Traffic() (*traffic.Result, error) {
	if c.traffic != nil || c.trafficErr != nil {
		return c.traffic, c.trafficErr
	}
	inputs, err := c.CaptureInputs()
	if err != nil {
		c.trafficErr = err
		return nil, err
	}
	c.traffic = traffic.Attribute(c.h, inputs, traffic.Options{Flow: c.opts.Flow})
	return c.traffic, nil
}

// IOCs answers, once, who talked to each of the options' indicators; an
// indicator nothing matched is reported unseen.
func (c *Case) IOCs() ([]ioc.Hit, error) {
	if !c.iocsDone {
		t, err := c.Traffic()
		if err != nil {
			return nil, err
		}
		c.iocs, c.iocsDone = ioc.Match(c.h, t, c.opts.IOCs), true
	}
	return c.iocs, nil
}

// Layers are the committed top layers, by container id, read once, with
// the problems met reading them.
func (c *Case) Layers() (map[string]*layer.Layer, []string) {
	if !c.layersDone {
		c.layersDone = true
		c.layers, c.layerProblems = triage.CommittedLayers(c.h)
	}
	return c.layers, c.layerProblems
}

// ChangedFiles are the files the committed layers add, change or delete.
func (c *Case) ChangedFiles() []*layer.Layer {
	l, _ := c.Layers()
	return triage.ChangedFiles(l)
}

// Findings runs the triage rules once, over the model, the committed
// layers and the traffic.
func (c *Case) Findings() ([]triage.Finding, error) {
	if c.findings != nil {
		return c.findings, nil
	}
	t, err := c.Traffic()
	if err != nil {
		return nil, err
	}
	layers, problems := c.Layers()
	c.findings = triage.Run(c.h, triage.Input{IOCs: c.indicators(), Flows: flowSummaries(t), DNS: dnsNames(t.DNS), Layers: layers, LayerProblems: problems},
		triage.Options{MinSeverity: c.opts.MinSeverity, BadHashes: c.opts.BadHashes})
	return c.findings, nil
}

// Timeline builds the case timeline once: the model's events, the
// committed layers' files, the traffic, the custody sidecar, tagged with
// the findings.
func (c *Case) Timeline() ([]timeline.Event, error) {
	if c.timeline != nil {
		return c.timeline, nil
	}
	fs, err := c.Findings()
	if err != nil {
		return nil, err
	}
	t, _ := c.Traffic() // Findings has read it
	layers, _ := c.Layers()
	c.timeline = timeline.Build(c.h, timeline.Input{Flows: flowSummaries(t), DNS: dnsNames(t.DNS), IOCs: c.indicators(),
		BundleSHA256: c.opts.BundleSHA256, Layers: layers, Findings: fs})
	return c.timeline, nil
}

// indicators is the options' IOC list as the set findings and the
// timeline match against, built once.
func (c *Case) indicators() *indicator.Set {
	if c.set == nil {
		c.set = indicator.NewSet(c.opts.IOCs)
	}
	return c.set
}

// Result is the analysis document (dockcase-analysis/v2), built once from
// the stages.
func (c *Case) Result() (*Result, error) {
	if c.result != nil {
		return c.result, nil
	}
	b, h, opts := c.b, c.h, c.opts
	opts.To = c.Destinations()
	res := hostResult(h, opts)
	bi := BundleInfo{Path: b.Path, SHA256: opts.BundleSHA256, Root: b.Root, Case: b.Meta.CaseID, Examiner: b.Meta.Examiner,
		Host: b.Meta.Host, Collector: b.Meta.Collector, Started: b.Meta.Started.UTC(), Signer: b.Fingerprint,
		Trusted: b.Trusted && b.Err == nil, Verified: b.Err == nil, Gaps: []string{}}
	if b.Manifest != nil {
		bi.Finished = b.Manifest.Finished.UTC()
		bi.Complete = b.Manifest.Complete
		bi.Gaps = append(bi.Gaps, b.Manifest.Gaps...)
	}
	if b.Err != nil {
		bi.VerificationError = b.Err.Error()
		res.Warning = c.Warning()
	}
	res.Bundle = bi
	res.Members = bundleMembers(b)
	t, err := c.Traffic()
	if err != nil {
		return nil, err
	}
	res.Captures, res.Flows, res.DNS, res.Contacts = t.Captures, t.Flows, t.DNS, t.Contacts
	if res.IOCs, err = c.IOCs(); err != nil {
		return nil, err
	}
	res.TrafficProblems = t.Problems
	layers, _ := c.Layers()
	res.FileChanges = fileChanges(h, layers)
	if res.Findings, err = c.Findings(); err != nil {
		return nil, err
	}
	if res.Timeline, err = c.Timeline(); err != nil {
		return nil, err
	}
	if len(res.IOCs) > 0 {
		res.Answer = Answer(res)
	}
	c.result = res
	return res, nil
}

// flowSummaries converts the conversations (contacts) to the summaries the
// triage rules and the timeline take (triage.Input.Flows,
// timeline.Input.Flows): one per conversation attributed to one container
// (a group's to the namespace's owner), however many capture points saw
// it, the remote side as seen before NAT; the counters of its counting
// point. A conversation of candidates or of the host names no container
// and is left out, as an unattributed flow was.
func flowSummaries(t *traffic.Result) []triage.FlowSummary {
	out := make([]triage.FlowSummary, 0, len(t.Contacts))
	for i := range t.Contacts {
		k := &t.Contacts[i]
		id := k.Container
		if id == "" && len(k.Group) > 0 {
			id = k.Group[0].ID
		}
		if id == "" {
			continue
		}
		// The frames of the counting point, else the first source's
		// evidence, else what decided.
		var ev *model.Evidence
		for j := range k.Sources {
			s := &k.Sources[j]
			if s.Evidence != nil && (ev == nil || (k.CountedAt != "" && s.Interface == k.CountedAt)) {
				ev = s.Evidence
				if k.CountedAt == "" || s.Interface == k.CountedAt {
					break
				}
			}
		}
		if ev == nil && len(k.Evidence) > 0 {
			ev = k.Evidence[0]
		}
		fs := triage.FlowSummary{Container: id, Proto: k.Proto, Remote: k.Remote.Addr(), RemotePort: k.Remote.Port(),
			First: k.First, Last: k.Last, Packets: int64(k.PacketsToRemote + k.PacketsFromRemote),
			Bytes: int64(k.BytesToRemote + k.BytesFromRemote), Estimated: !k.Exact, Dating: k.Dating}
		if ev != nil {
			fs.Evidence = []model.Evidence{*ev}
		}
		out = append(out, fs)
	}
	return out
}
