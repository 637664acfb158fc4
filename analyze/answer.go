package analyze

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/ioc"
	"github.com/dockcase/dockcase/analyze/netpath"
	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/analyze/triage"
)

// Bounds of the headline answer: it is read first, on one screen.
const (
	// maxAnswerProcesses is how many processes holding a socket to the
	// indicator one contact names.
	maxAnswerProcesses = 3
	// maxAnswerFindings is how many of the container's findings one
	// contact names: the most severe.
	maxAnswerFindings = 3
	// maxAnswerCmdline bounds a command line in the answer (runes); the
	// process table has it whole.
	maxAnswerCmdline = 200
)

// IndicatorAnswer is the headline answer about one indicator: who talked
// to it, with which process, when, how much, by which path, and what else
// is wrong with that container; or, when nothing matched, that it was not
// seen and what evidence was missing.
type IndicatorAnswer struct {
	IOC  string `json:"ioc"`
	Kind string `json:"kind"`
	// Who has one entry per container that talked to the indicator (or
	// looked it up), first contact first, then the traffic no container
	// is named for ("host / unknown").
	Who []AnswerContact `json:"who"`
	// NotSeen says, for an indicator nothing matched, what was searched
	// and what evidence was missing.
	NotSeen string `json:"not_seen,omitempty"`
}

// AnswerContact is one container's (or the unattributed) contact with an
// indicator, as the headline says it.
type AnswerContact struct {
	// Container and ContainerName are empty for traffic attributed to the
	// host or to no one ("host / unknown"), and for the entries Who names:
	// a namespace group, the candidates of a reused address, a host
	// process.
	Container     string                 `json:"container,omitempty"`
	ContainerName string                 `json:"container_name,omitempty"`
	Who           string                 `json:"who,omitempty"`
	Group         []traffic.ContainerRef `json:"group,omitempty"`
	Candidates    []traffic.Candidate    `json:"candidates,omitempty"`
	// Rules are the attribution rules that named the container, Confidence
	// the highest confidence among its conversations.
	Rules      []string  `json:"rules"`
	Confidence string    `json:"confidence"`
	First      time.Time `json:"first"`
	Last       time.Time `json:"last"`
	// Dating says how First and Last were estimated when a conversation
	// was not captured ("socket ESTABLISHED at the snapshot …",
	// "conntrack estimate …"); empty when they are packet times.
	Dating string `json:"dating,omitempty"`
	// Conversations counts the conversations (contacts), each once however
	// many capture points saw it; Packets and Bytes sum each
	// conversation's counted point, both directions.
	Conversations int    `json:"conversations"`
	Packets       uint64 `json:"packets"`
	Bytes         uint64 `json:"bytes"`
	Lookups       int    `json:"dns_lookups"`
	// Path is the container's path towards the indicator on one line:
	// container → veth → bridge → NAT → uplink → remote.
	Path string `json:"path,omitempty"`
	// Processes hold the conversations' sockets, or a socket of the
	// container to the indicator.
	Processes []AnswerProcess `json:"processes,omitempty"`
	// Findings are the container's most severe findings, the IOC
	// contacts themselves left out.
	Findings []AnswerFinding `json:"findings,omitempty"`
}

// AnswerProcess is a process holding a socket to the indicator.
type AnswerProcess struct {
	PID int `json:"pid"`
	// Cmdline is the command line, secrets redacted, cut at
	// maxAnswerCmdline.
	Cmdline string `json:"cmdline"`
	// Socket is "tcp 198.19.134.3:57474 → 198.18.185.2:4444 ESTABLISHED".
	Socket string `json:"socket"`
}

// AnswerFinding names a finding of the container.
type AnswerFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
}

// Answer builds the headline answer from the document: one entry per
// indicator of res.IOCs, from its contacts, the containers' sockets and
// processes, the paths and the findings. A document read back from JSON
// without an answer (an older one) gets it here.
func Answer(res *Result) []IndicatorAnswer {
	out := make([]IndicatorAnswer, 0, len(res.IOCs))
	for _, hit := range res.IOCs {
		a := IndicatorAnswer{IOC: hit.IOC, Kind: hit.Kind, Who: []AnswerContact{}}
		for i := range hit.Contacts {
			a.Who = append(a.Who, answerContact(res, &hit.Contacts[i]))
		}
		if len(a.Who) == 0 {
			a.NotSeen = notSeen(res, hit)
		}
		out = append(out, a)
	}
	return out
}

func answerContact(res *Result, c *ioc.Contact) AnswerContact {
	a := AnswerContact{Container: c.Container, ContainerName: c.ContainerName, Who: c.Who, Group: c.Group, Candidates: c.Candidates,
		Rules: append([]string{}, c.Rules...), Confidence: c.Confidence, First: c.First.UTC(), Last: c.Last.UTC(), Dating: c.Dating,
		Conversations: c.Conversations, Packets: c.PacketsToIOC + c.PacketsFrom, Bytes: c.BytesToIOC + c.BytesFrom, Lookups: c.Lookups}
	if a.Confidence == "" {
		a.Confidence = traffic.ConfidenceNone
	}
	if c.Path != nil {
		a.Path = PathLine(c.Path)
	}
	a.Processes = conversationProcesses(res, c)
	if c.Container == "" {
		return a
	}
	for _, p := range contactProcesses(res, c) {
		if len(a.Processes) < maxAnswerProcesses && !slices.ContainsFunc(a.Processes, func(q AnswerProcess) bool { return q.PID == p.PID }) {
			a.Processes = append(a.Processes, p)
		}
	}
	for _, f := range res.Findings {
		if f.Container != c.Container || f.ID == "ioc-contact" {
			continue
		}
		if len(a.Findings) == maxAnswerFindings {
			break
		}
		a.Findings = append(a.Findings, AnswerFinding{ID: f.ID, Severity: f.Severity, Title: f.Title})
	}
	return a
}

// conversationProcesses are the processes holding the sockets of the
// contact's conversations, with the socket each holds.
func conversationProcesses(res *Result, c *ioc.Contact) []AnswerProcess {
	var out []AnswerProcess
	for _, p := range c.Processes {
		if len(out) == maxAnswerProcesses {
			break
		}
		ap := AnswerProcess{PID: p.PID, Cmdline: processLine(p.Cmdline, p.Comm)}
		// The socket shown is the process's most telling one: established
		// before closing, TCP before UDP.
		best := -1
		for i := range res.Contacts {
			k := &res.Contacts[i]
			if k.Process == nil || k.Process.PID != p.PID || !(slices.Contains(c.Remotes, k.Remote.Addr()) || slices.Contains(c.Remotes, k.Local.Addr())) {
				continue
			}
			state := socketState(k)
			score := 0
			if state == "ESTABLISHED" {
				score += 2
			}
			if k.Proto == "tcp" {
				score++
			}
			if score > best {
				best = score
				ap.Socket = strings.TrimSpace(fmt.Sprintf("%s %s → %s %s", k.Proto, k.Local, k.Remote, state))
			}
		}
		out = append(out, ap)
	}
	return out
}

// socketState is the state of the contact's socket, "" without one.
func socketState(k *traffic.Contact) string {
	for _, s := range k.Sources {
		if s.Kind == traffic.SourceSocket {
			return s.State
		}
	}
	return ""
}

// processLine is a process's command line as the answer shows it: secrets
// redacted, cut at maxAnswerCmdline; the comm in brackets without one.
func processLine(cmdline []string, comm string) string {
	cmd := strings.Join(cmdline, " ")
	if cmd == "" {
		cmd = "[" + comm + "]"
	}
	return cutRunes(triage.RedactSecrets(cmd), maxAnswerCmdline)
}

// contactProcesses are the processes holding a socket of the container
// to one of the contact's remote addresses, established sockets first.
func contactProcesses(res *Result, c *ioc.Contact) []AnswerProcess {
	remotes := map[string]bool{}
	for _, r := range c.Remotes {
		remotes[r.Unmap().String()] = true
	}
	var out []AnswerProcess
	for _, established := range []bool{true, false} {
		for _, s := range res.Sockets {
			if s.Container != c.Container || (s.State == "ESTABLISHED") != established {
				continue
			}
			ra, err := netip.ParseAddr(s.RemoteIP)
			if err != nil || !remotes[ra.Unmap().String()] {
				continue
			}
			for _, pid := range s.PIDs {
				if len(out) == maxAnswerProcesses || slices.ContainsFunc(out, func(p AnswerProcess) bool { return p.PID == pid }) {
					continue
				}
				p := AnswerProcess{PID: pid, Socket: fmt.Sprintf("%s %s → %s %s", s.Proto,
					netip.AddrPortFrom(addrOrZero(s.LocalIP), s.LocalPort), netip.AddrPortFrom(ra, s.RemotePort), s.State)}
				for _, hp := range res.Processes {
					if hp.PID == pid {
						p.Cmdline = processLine(hp.Cmdline, hp.Comm)
					}
				}
				out = append(out, p)
			}
		}
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func addrOrZero(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.IPv4Unspecified()
	}
	return a
}

func cutRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// notSeen says why an indicator has no contact: what was searched, and
// what evidence was missing.
func notSeen(res *Result, hit ioc.Hit) string {
	if len(res.Captures) == 0 {
		return fmt.Sprintf("not seen: the bundle holds no capture (collect with --capture, or give --pcap); %d %s from the sockets and the conntrack snapshot searched", len(res.Contacts), plural(len(res.Contacts), "conversation"))
	}
	s := fmt.Sprintf("not seen: %d %s (from %d flows of %d %s, the sockets and the conntrack snapshot) and %d DNS lookups searched", len(res.Contacts), plural(len(res.Contacts), "conversation"),
		len(res.Flows), len(res.Captures), plural(len(res.Captures), "capture"), len(res.DNS))
	var problems int
	for _, c := range res.Captures {
		problems += len(c.Problems)
		if c.Error != "" {
			problems++
		}
	}
	if problems > 0 {
		s += fmt.Sprintf("; %d capture problems (a capture cut short or unreadable) may hide it", problems)
	}
	if hit.Kind == "domain" {
		s += "; a domain is seen only through DNS answers, TLS SNI and HTTP Host in the captures"
	}
	return s
}

// PathLine renders a path on one line the way the headline says it:
// container (address) → veth → bridge → NAT rule → uplink as source →
// destination.
func PathLine(p *netpath.Path) string {
	name := p.ContainerName
	var chain []string
	for _, h := range p.Hops {
		switch h.Kind {
		case netpath.HopContainerIf:
			if h.Addr.IsValid() {
				name += " (" + h.Addr.String() + ")"
			}
		case netpath.HopVeth, netpath.HopBridge, netpath.HopParent:
			chain = append(chain, h.Iface)
		case netpath.HopNAT, netpath.HopDNAT:
			chain = append(chain, natLabel(h))
		case netpath.HopOut, netpath.HopUplink:
			s := h.Iface
			if h.Src.IsValid() && h.Kind == netpath.HopOut {
				s += " as " + h.Src.String()
			}
			chain = append(chain, s)
		case netpath.HopHostStack:
			chain = append(chain, "host network stack")
		}
	}
	chain = append([]string{name}, chain...)
	if p.Dst.IsValid() {
		chain = append(chain, p.Dst.String())
	}
	return strings.Join(chain, " → ")
}

// natLabel names a NAT hop by its rule's target and where the rule is:
// "MASQUERADE (iptables-save.txt:39)".
func natLabel(h netpath.Hop) string {
	label := "NAT"
	if len(h.Evidence) == 0 {
		return label
	}
	e := h.Evidence[0]
	for _, target := range []string{"MASQUERADE", "SNAT", "DNAT", "masquerade", "snat", "dnat"} {
		if strings.Contains(e.Text, target) {
			label = strings.ToUpper(target)
			break
		}
	}
	where := path.Base(e.Member)
	if e.Line > 0 {
		where += ":" + strconv.Itoa(e.Line)
	}
	return label + " (" + where + ")"
}
