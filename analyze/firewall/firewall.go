package firewall

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Limits on iptables-save text. The input is evidence from a possibly
// compromised host, so every dimension is bounded; the figures are far above
// what Docker or Kubernetes hosts produce.
const (
	// maxIPTablesSaveBytes bounds the whole dump: 64 MiB holds about 400k rules
	// of 160 B, four times a large kube-proxy host.
	maxIPTablesSaveBytes = 64 << 20
	// maxIPTablesLineBytes bounds one line: a rule with a 256-byte comment,
	// a long multiport list and ipset names stays under 4 KiB; 64 KiB leaves room
	// for hand-written rules without letting one line hold the whole budget.
	maxIPTablesLineBytes = 64 << 10
	// maxRulesetRules bounds the rules kept from one dump or one nft document.
	maxRulesetRules = 500_000
	// maxRulesetChains bounds the chains (and nft maps) kept.
	maxRulesetChains = 100_000
	// maxRuleTokens bounds the tokens of one rule line: 1024 options is ten
	// times the longest rule iptables itself accepts in practice.
	maxRuleTokens = 1024
	// maxRulesetProblems bounds the malformed-line reports kept, so that a dump
	// of garbage does not turn into a report of the same size.
	maxRulesetProblems = 1000
)

// Ruleset is a parsed firewall dump: the tables, chains and rules of one
// iptables-save or nft -j document, in the order the kernel evaluates them.
type Ruleset struct {
	// Source is "iptables-save" or "nft-json".
	Source string `json:"source"`
	// Family is "ipv4" or "ipv6" when every address in an iptables-save dump
	// agrees, empty otherwise. nft tables carry their own family.
	Family string   `json:"family,omitempty"`
	Tables []*Table `json:"tables"`
	// Problems lists the lines or JSON items that could not be parsed; the
	// rest of the dump is still modelled.
	Problems []RuleLineError `json:"problems,omitempty"`
	// Truncated says the dump hit one of the limits and was cut.
	Truncated bool `json:"truncated,omitempty"`
	// IPSets holds the members of ipsets that rules match with -m set, when
	// they are known: iptables-save does not include them. See
	// InferDockerIPSets.
	IPSets map[string][]netip.Prefix `json:"ipsets,omitempty"`
}

// Table is one netfilter table: iptables' filter, nat, raw, mangle, or an
// nftables table such as "ip docker-bridges".
type Table struct {
	// Family is the nft family (ip, ip6, inet, …); empty for iptables-save.
	Family string   `json:"family,omitempty"`
	Name   string   `json:"name"`
	Line   int      `json:"line,omitempty"`
	Path   string   `json:"path,omitempty"`
	Chains []*Chain `json:"chains"`
	// Maps holds nft maps and sets, used by verdict-map rules.
	Maps []*NftMap `json:"maps,omitempty"`

	chainIndex map[string]*Chain
	mapIndex   map[string]*NftMap
}

// Chain is one chain with its rules in evaluation order.
type Chain struct {
	Name string `json:"name"`
	// Policy is the verdict at the end of a base chain (ACCEPT or DROP);
	// empty for a user-defined chain, whose end returns to the caller.
	Policy   string          `json:"policy,omitempty"`
	Counters *PacketCounters `json:"counters,omitempty"`
	// Hook and Priority place a base chain in the packet path. For
	// iptables-save they are derived from the table and chain name.
	Hook     string `json:"hook,omitempty"`
	Priority int    `json:"priority"`
	// Type is the nft chain type (filter, nat, route).
	Type  string  `json:"type,omitempty"`
	Line  int     `json:"line,omitempty"`
	Path  string  `json:"path,omitempty"`
	Rules []*Rule `json:"rules"`

	table *Table
}

// PacketCounters are the packet and byte counters of a rule or policy.
type PacketCounters struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// Rule is one rule: its place in the dump, its raw text and what it matches.
type Rule struct {
	Table  string `json:"table"`
	Chain  string `json:"chain"`
	Family string `json:"family,omitempty"`
	// Line is the 1-based line in the iptables-save text.
	Line int `json:"line,omitempty"`
	// Position is the 1-based index of the rule in its chain, as
	// `iptables -L --line-numbers` shows it.
	Position int `json:"position"`
	// Handle and Path locate an nft rule in the JSON document.
	Handle   int64           `json:"handle,omitempty"`
	Path     string          `json:"path,omitempty"`
	Raw      string          `json:"raw"`
	Counters *PacketCounters `json:"counters,omitempty"`
	Matches  []Match         `json:"matches,omitempty"`
	// Modules lists the -m extensions the rule loads, in order.
	Modules []string    `json:"modules,omitempty"`
	Target  *RuleTarget `json:"target,omitempty"`
	Comment string      `json:"comment,omitempty"`
	// Unknown keeps the tokens (or nft expressions) that the model does not
	// interpret; a rule with unknown parts is reported as uncertain when it is
	// evaluated.
	Unknown []string `json:"unknown,omitempty"`
}

// Match kinds. Values hold the operands as text; Prefixes and Ports hold
// them parsed for the kinds that take addresses or ports.
const (
	MatchSource        = "saddr"
	MatchDest          = "daddr"
	MatchInIface       = "iif"
	MatchOutIface      = "oif"
	MatchProto         = "proto"
	MatchDPort         = "dport"
	MatchSPort         = "sport"
	MatchSrcType       = "src-type"
	MatchDstType       = "dst-type"
	MatchCTState       = "ctstate"
	MatchCTOrigDstPort = "ctorigdstport"
	MatchCTOrigDst     = "ctorigdst"
	MatchSet           = "set"
	MatchPhysdevIn     = "physdev-in"
	MatchPhysdevOut    = "physdev-out"
	MatchPhysdevFlag   = "physdev-flag"
	// MatchMark is the packet's mark: "-m mark --mark value[/mask]", nft
	// "meta mark & mask == value"; Values holds "value/mask".
	MatchMark = "mark"
	// MatchComment is a comment match, which holds for every packet (nft
	// shows iptables-nft's comments as an xt match without their text).
	MatchComment = "comment"
	// MatchOther is an understood-but-not-evaluated condition (a -m module
	// option, an nft expression): it makes the rule uncertain.
	MatchOther = "other"
)

// Match is one condition of a rule.
type Match struct {
	Kind   string `json:"kind"`
	Negate bool   `json:"negate,omitempty"`
	// Module is the -m extension the option belongs to, when there is one.
	Module   string         `json:"module,omitempty"`
	Values   []string       `json:"values,omitempty"`
	Prefixes []netip.Prefix `json:"prefixes,omitempty"`
	Ports    []PortSpan     `json:"ports,omitempty"`
	// Raw is the option as written, e.g. "! -o br-1a2b" or an nft JSON
	// expression.
	Raw string `json:"raw,omitempty"`

	// wildcard says a trailing '+' (iptables) or '*' (nft) in an interface
	// name matches every name with that prefix.
	wildcard string
}

// PortSpan is an inclusive port range; a single port has From == To.
type PortSpan struct {
	From uint16 `json:"from"`
	To   uint16 `json:"to"`
}

// RuleTarget is what a rule does when it matches: a verdict, a jump or goto
// to a chain, a NAT action, or an nft verdict map.
type RuleTarget struct {
	// Name is the -j target (ACCEPT, DROP, DOCKER, DNAT, …) or, for nft, the
	// verdict or statement name in upper case; "VMAP" for a verdict map.
	Name string `json:"name"`
	// Goto is true for -g and nft goto: the chain's end does not return here.
	Goto          bool     `json:"goto,omitempty"`
	ToDestination string   `json:"to_destination,omitempty"`
	ToSource      string   `json:"to_source,omitempty"`
	ToPorts       string   `json:"to_ports,omitempty"`
	RejectWith    string   `json:"reject_with,omitempty"`
	Args          []string `json:"args,omitempty"`
	// Map and MapKey describe an nft verdict map: the key (iif or oif) is
	// looked up in the table's map of that name.
	Map    string `json:"map,omitempty"`
	MapKey string `json:"map_key,omitempty"`
}

// RuleLineError reports one line (iptables-save) or JSON item (nft) that
// could not be parsed.
type RuleLineError struct {
	Line int    `json:"line,omitempty"`
	Path string `json:"path,omitempty"`
	Msg  string `json:"msg"`
}

func (e *RuleLineError) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("%s: %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// RulesetError is returned with a partial Ruleset when some lines could not
// be parsed; errors.As gives the first problem and the count.
type RulesetError struct {
	First RuleLineError
	Count int
}

func (e *RulesetError) Error() string {
	if e.Count == 1 {
		return fmt.Sprintf("parse ruleset: %s", e.First.Error())
	}
	return fmt.Sprintf("parse ruleset: %s (and %d more problems)", e.First.Error(), e.Count-1)
}

// ErrRulesetTooLarge is returned (wrapped) when a dump exceeds a limit; the
// Ruleset returned with it holds what was read before the limit.
var ErrRulesetTooLarge = errors.New("ruleset exceeds limit")

// ParseIPTablesSave parses the output of iptables-save or ip6tables-save,
// with or without -c. Lines that cannot be parsed are recorded in
// Ruleset.Problems and the rest is still modelled; in that case the returned
// error is a *RulesetError and the Ruleset is non-nil. Options the parser does
// not know are kept in Rule.Unknown, not reported as errors.
func ParseIPTablesSave(r io.Reader) (*Ruleset, error) {
	rs := &Ruleset{Source: "iptables-save", Tables: []*Table{}}
	p := &saveParser{rs: rs}
	lr := io.LimitReader(r, maxIPTablesSaveBytes+1)
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64<<10), maxIPTablesLineBytes)
	read := 0
	for sc.Scan() {
		p.line++
		line := sc.Bytes()
		read += len(line) + 1
		if read > maxIPTablesSaveBytes {
			rs.Truncated = true
			return rs, fmt.Errorf("parse iptables-save: input over %d bytes: %w", maxIPTablesSaveBytes, ErrRulesetTooLarge)
		}
		if err := p.parseLine(string(line)); err != nil {
			rs.Truncated = true
			return rs, fmt.Errorf("parse iptables-save: line %d: %w", p.line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			rs.Truncated = true
			return rs, fmt.Errorf("parse iptables-save: line %d longer than %d bytes: %w", p.line+1, maxIPTablesLineBytes, ErrRulesetTooLarge)
		}
		return rs, fmt.Errorf("read iptables-save: %w", err)
	}
	if p.table != nil {
		p.problem(p.line, fmt.Sprintf("table %q has no COMMIT", p.table.Name))
	}
	rs.Family = inferFamily(rs)
	return rs, rs.err()
}

// err turns the recorded problems into the error the parsers return.
func (rs *Ruleset) err() error {
	if len(rs.Problems) == 0 {
		return nil
	}
	return &RulesetError{First: rs.Problems[0], Count: len(rs.Problems)}
}

type saveParser struct {
	rs    *Ruleset
	line  int
	table *Table
	rules int
}

func (p *saveParser) problem(line int, msg string) {
	if len(p.rs.Problems) < maxRulesetProblems {
		p.rs.Problems = append(p.rs.Problems, RuleLineError{Line: line, Msg: msg})
	}
}

// parseLine handles one line. It returns an error only for a limit, which
// stops the parse; malformed lines are recorded as problems.
func (p *saveParser) parseLine(line string) error {
	s := strings.TrimRight(line, "\r")
	t := strings.TrimSpace(s)
	switch {
	case t == "" || strings.HasPrefix(t, "#"):
		return nil
	case strings.HasPrefix(t, "*"):
		name := strings.TrimSpace(t[1:])
		if name == "" || strings.ContainsAny(name, " \t") {
			p.problem(p.line, fmt.Sprintf("bad table line %q", t))
			return nil
		}
		if p.table != nil {
			p.problem(p.line, fmt.Sprintf("table %q starts before COMMIT of %q", name, p.table.Name))
		}
		p.table = &Table{Name: name, Line: p.line, Chains: []*Chain{}}
		p.rs.Tables = append(p.rs.Tables, p.table)
		return nil
	case t == "COMMIT":
		if p.table == nil {
			p.problem(p.line, "COMMIT outside a table")
		}
		p.table = nil
		return nil
	case strings.HasPrefix(t, ":"):
		return p.parseChainLine(t)
	}
	return p.parseRuleLine(t)
}

// parseChainLine parses ":NAME POLICY [pkts:bytes]".
func (p *saveParser) parseChainLine(t string) error {
	if p.table == nil {
		p.problem(p.line, "chain outside a table")
		return nil
	}
	f := strings.Fields(t[1:])
	if len(f) < 2 || len(f) > 3 {
		p.problem(p.line, fmt.Sprintf("bad chain line %q", t))
		return nil
	}
	if p.rs.chainCount() >= maxRulesetChains {
		return fmt.Errorf("more than %d chains: %w", maxRulesetChains, ErrRulesetTooLarge)
	}
	c := &Chain{Name: f[0], Line: p.line, Rules: []*Rule{}}
	if f[1] != "-" {
		c.Policy = f[1]
	}
	if len(f) == 3 {
		ctr, ok := parseCounters(f[2])
		if !ok {
			p.problem(p.line, fmt.Sprintf("bad counters %q", f[2]))
		} else {
			c.Counters = ctr
		}
	}
	c.Hook, c.Priority = iptablesHook(p.table.Name, c.Name)
	if c.Hook != "" && p.table.Name == "nat" {
		c.Type = "nat"
	} else if c.Hook != "" {
		c.Type = "filter"
	}
	if p.table.chain(c.Name) != nil {
		p.problem(p.line, fmt.Sprintf("chain %q declared twice", c.Name))
		return nil
	}
	p.table.addChain(c)
	return nil
}

func (rs *Ruleset) chainCount() int {
	n := 0
	for _, t := range rs.Tables {
		n += len(t.Chains) + len(t.Maps)
	}
	return n
}

func (t *Table) addChain(c *Chain) {
	if t.chainIndex == nil {
		t.chainIndex = make(map[string]*Chain)
	}
	c.table = t
	t.Chains = append(t.Chains, c)
	t.chainIndex[c.Name] = c
}

func (t *Table) chain(name string) *Chain {
	if t.chainIndex == nil {
		t.chainIndex = make(map[string]*Chain, len(t.Chains))
		for _, c := range t.Chains {
			c.table = t
			t.chainIndex[c.Name] = c
		}
	}
	return t.chainIndex[name]
}

// Chain returns the named chain of the table, or nil.
func (t *Table) Chain(name string) *Chain { return t.chain(name) }

// Table returns the first table with that name (and, when family is not
// empty, that nft family), or nil.
func (rs *Ruleset) Table(family, name string) *Table {
	for _, t := range rs.Tables {
		if t.Name == name && (family == "" || t.Family == family) {
			return t
		}
	}
	return nil
}

// parseCounters parses "[pkts:bytes]".
func parseCounters(s string) (*PacketCounters, bool) {
	if len(s) < 5 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, false
	}
	a, b, ok := strings.Cut(s[1:len(s)-1], ":")
	if !ok {
		return nil, false
	}
	pk, err1 := strconv.ParseUint(a, 10, 64)
	by, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return nil, false
	}
	return &PacketCounters{Packets: pk, Bytes: by}, true
}

// iptablesHook places an iptables built-in chain in the netfilter hooks
// with the priority the kernel gives its table (NF_IP_PRI_*).
func iptablesHook(table, chain string) (string, int) {
	prio := map[string]int{"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}
	p, ok := prio[table]
	if !ok {
		return "", 0
	}
	switch chain {
	case "PREROUTING":
		if table == "filter" || table == "security" {
			return "", 0
		}
		return "prerouting", p
	case "INPUT":
		if table == "raw" {
			return "", 0
		}
		if table == "nat" {
			return "input", 100
		}
		return "input", p
	case "FORWARD":
		if table == "raw" || table == "nat" {
			return "", 0
		}
		return "forward", p
	case "OUTPUT":
		return "output", p
	case "POSTROUTING":
		if table == "mangle" {
			return "postrouting", p
		}
		if table == "nat" {
			return "postrouting", 100
		}
	}
	return "", 0
}

// parseRuleLine parses "[pkts:bytes] -A CHAIN options…".
func (p *saveParser) parseRuleLine(t string) error {
	if p.table == nil {
		p.problem(p.line, "rule outside a table")
		return nil
	}
	toks, err := tokenize(t)
	if err != nil {
		p.problem(p.line, err.Error())
		return nil
	}
	if len(toks) > maxRuleTokens {
		p.problem(p.line, fmt.Sprintf("rule has %d tokens, limit %d", len(toks), maxRuleTokens))
		return nil
	}
	var ctr *PacketCounters
	if len(toks) > 0 && strings.HasPrefix(toks[0], "[") {
		c, ok := parseCounters(toks[0])
		if !ok {
			p.problem(p.line, fmt.Sprintf("bad counters %q", toks[0]))
			return nil
		}
		ctr = c
		toks = toks[1:]
	}
	if len(toks) < 2 || (toks[0] != "-A" && toks[0] != "--append") {
		p.problem(p.line, fmt.Sprintf("expected -A CHAIN, got %q", shorten(t)))
		return nil
	}
	c := p.table.chain(toks[1])
	if c == nil {
		p.problem(p.line, fmt.Sprintf("rule for undeclared chain %q", toks[1]))
		if p.rs.chainCount() >= maxRulesetChains {
			return fmt.Errorf("more than %d chains: %w", maxRulesetChains, ErrRulesetTooLarge)
		}
		c = &Chain{Name: toks[1], Rules: []*Rule{}}
		p.table.addChain(c)
	}
	if p.rules >= maxRulesetRules {
		return fmt.Errorf("more than %d rules: %w", maxRulesetRules, ErrRulesetTooLarge)
	}
	p.rules++
	raw := t
	if ctr != nil {
		// Raw is the rule as iptables -S would print it; counters live apart.
		raw = strings.TrimSpace(t[strings.Index(t, "]")+1:])
	}
	rule := &Rule{Table: p.table.Name, Chain: c.Name, Line: p.line, Position: len(c.Rules) + 1, Raw: raw, Counters: ctr}
	for _, msg := range parseRuleOptions(rule, toks[2:]) {
		p.problem(p.line, msg)
	}
	c.Rules = append(c.Rules, rule)
	return nil
}

func shorten(s string) string {
	const maxQuoted = 80 // bytes of evidence repeated in an error message
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "…"
	}
	return s
}

// tokenize splits a rule line the way iptables-restore does: on blanks,
// with double-quoted strings in which backslash escapes '"' and '\'.
func tokenize(s string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	inTok, inQuote, esc := false, false, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case esc:
			cur.WriteByte(ch)
			esc = false
		case inQuote && ch == '\\':
			esc = true
		case ch == '"':
			inQuote = !inQuote
			inTok = true
		case !inQuote && (ch == ' ' || ch == '\t'):
			if inTok {
				toks = append(toks, cur.String())
				cur.Reset()
				inTok = false
			}
		default:
			cur.WriteByte(ch)
			inTok = true
		}
		if len(toks) > maxRuleTokens {
			return nil, fmt.Errorf("rule has more than %d tokens", maxRuleTokens)
		}
	}
	if inQuote {
		return nil, errors.New("unterminated quote")
	}
	if inTok {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

// optionArgs lists the options whose argument count the parser knows, so
// that an option it does not interpret is skipped with exactly its arguments.
var optionArgs = map[string]int{
	"-s": 1, "--source": 1, "-d": 1, "--destination": 1,
	"-i": 1, "--in-interface": 1, "-o": 1, "--out-interface": 1,
	"-p": 1, "--protocol": 1, "-m": 1, "--match": 1,
	"-j": 1, "--jump": 1, "-g": 1, "--goto": 1, "-f": 0, "--fragment": 0,
	"--dport": 1, "--destination-port": 1, "--sport": 1, "--source-port": 1,
	"--dports": 1, "--destination-ports": 1, "--sports": 1, "--source-ports": 1, "--ports": 1,
	"--src-type": 1, "--dst-type": 1, "--limit-iface-in": 0, "--limit-iface-out": 0,
	"--ctstate": 1, "--state": 1, "--ctorigdstport": 1, "--ctorigdst": 1,
	"--comment": 1, "--match-set": 2, "--mark": 1,
	"--physdev-in": 1, "--physdev-out": 1, "--physdev-is-in": 0, "--physdev-is-out": 0, "--physdev-is-bridged": 0,
}

// parseRuleOptions fills rule from the tokens after "-A CHAIN" and returns
// the problems found.
func parseRuleOptions(rule *Rule, toks []string) []string {
	var problems []string
	module := ""
	neg := false
	for i := 0; i < len(toks); i++ {
		tok := toks[i]
		if tok == "!" {
			neg = true
			continue
		}
		if rule.Target != nil {
			// Everything after -j/-g belongs to the target.
			targetOption(rule.Target, toks[i:])
			break
		}
		n, known := optionArgs[tok]
		if !known {
			// Unknown option: keep it and its arguments (tokens up to the next
			// option) verbatim.
			j := i + 1
			for j < len(toks) && !strings.HasPrefix(toks[j], "-") && toks[j] != "!" {
				j++
			}
			raw := strings.Join(toks[i:j], " ")
			if neg {
				raw = "! " + raw
			}
			rule.Unknown = append(rule.Unknown, raw)
			if module != "" || strings.HasPrefix(tok, "-") {
				rule.Matches = append(rule.Matches, Match{Kind: MatchOther, Negate: neg, Module: module, Values: toks[i+1 : j], Raw: raw})
			}
			i = j - 1
			neg = false
			continue
		}
		if i+n > len(toks)-1 {
			problems = append(problems, fmt.Sprintf("option %s needs %d argument(s)", tok, n))
			break
		}
		args := toks[i+1 : i+1+n]
		raw := strings.Join(toks[i:i+1+n], " ")
		if neg {
			raw = "! " + raw
		}
		m := Match{Negate: neg, Module: module, Raw: raw}
		neg = false
		i += n
		switch tok {
		case "-s", "--source", "-d", "--destination":
			m.Kind = MatchSource
			if tok == "-d" || tok == "--destination" {
				m.Kind = MatchDest
			}
			m.Module = ""
			for _, a := range strings.Split(args[0], ",") {
				pfx, err := parsePrefix(a)
				if err != nil {
					problems = append(problems, fmt.Sprintf("bad address %q", a))
					continue
				}
				m.Prefixes = append(m.Prefixes, pfx)
			}
			m.Values = []string{args[0]}
		case "-i", "--in-interface", "-o", "--out-interface":
			m.Kind = MatchInIface
			if tok == "-o" || tok == "--out-interface" {
				m.Kind = MatchOutIface
			}
			m.Module = ""
			m.Values = []string{args[0]}
			if strings.HasSuffix(args[0], "+") {
				m.wildcard = "+"
			}
		case "-p", "--protocol":
			m.Kind, m.Module, m.Values = MatchProto, "", []string{strings.ToLower(args[0])}
		case "-m", "--match":
			module = args[0]
			rule.Modules = append(rule.Modules, module)
			continue
		case "-j", "--jump", "-g", "--goto":
			rule.Target = &RuleTarget{Name: args[0], Goto: tok == "-g" || tok == "--goto"}
			continue
		case "-f", "--fragment":
			m.Kind = MatchOther
		case "--dport", "--destination-port", "--sport", "--source-port",
			"--dports", "--destination-ports", "--sports", "--source-ports", "--ports":
			// multiport --ports matches either side; it is evaluated as
			// dport, which is what every Docker use of it means.
			m.Kind = MatchDPort
			switch tok {
			case "--sport", "--source-port", "--sports", "--source-ports":
				m.Kind = MatchSPort
			}
			m.Values = []string{args[0]}
			ports, err := parsePorts(args[0], ":")
			if err != nil {
				problems = append(problems, err.Error())
			}
			m.Ports = ports
		case "--src-type", "--dst-type":
			m.Kind = MatchSrcType
			if tok == "--dst-type" {
				m.Kind = MatchDstType
			}
			m.Values = strings.Split(strings.ToUpper(args[0]), ",")
		case "--limit-iface-in", "--limit-iface-out":
			m.Kind, m.Values = MatchOther, []string{tok}
		case "--ctstate", "--state":
			m.Kind, m.Values = MatchCTState, strings.Split(strings.ToUpper(args[0]), ",")
		case "--ctorigdstport":
			m.Kind, m.Values = MatchCTOrigDstPort, []string{args[0]}
			ports, err := parsePorts(args[0], ":")
			if err != nil {
				problems = append(problems, err.Error())
			}
			m.Ports = ports
		case "--ctorigdst":
			m.Kind, m.Values = MatchCTOrigDst, []string{args[0]}
			if pfx, err := parsePrefix(args[0]); err == nil {
				m.Prefixes = []netip.Prefix{pfx}
			} else {
				problems = append(problems, fmt.Sprintf("bad address %q", args[0]))
			}
		case "--comment":
			rule.Comment = args[0]
			continue
		case "--match-set":
			m.Kind, m.Values = MatchSet, []string{args[0], args[1]}
		case "--mark":
			m.Kind, m.Values = MatchMark, []string{args[0]}
			if module != "mark" {
				// connmark's --mark tests the connection's mark, which the
				// model does not know.
				m.Kind = MatchOther
				rule.Unknown = append(rule.Unknown, raw)
			}
		case "--physdev-in", "--physdev-out":
			m.Kind, m.Values = MatchPhysdevIn, []string{args[0]}
			if tok == "--physdev-out" {
				m.Kind = MatchPhysdevOut
			}
		case "--physdev-is-in", "--physdev-is-out", "--physdev-is-bridged":
			m.Kind, m.Values = MatchPhysdevFlag, []string{strings.TrimPrefix(tok, "--physdev-")}
		}
		rule.Matches = append(rule.Matches, m)
	}
	return problems
}

// targetOption records the target's options.
func targetOption(t *RuleTarget, toks []string) {
	t.Args = append(t.Args, toks...)
	for i := 0; i+1 < len(toks); i++ {
		switch toks[i] {
		case "--to-destination":
			t.ToDestination = toks[i+1]
		case "--to-source":
			t.ToSource = toks[i+1]
		case "--to-ports":
			t.ToPorts = toks[i+1]
		case "--reject-with":
			t.RejectWith = toks[i+1]
		}
	}
}

// parsePrefix parses "a.b.c.d/n", "a.b.c.d" or an IPv6 equivalent. An
// iptables netmask in dotted form ("/255.255.0.0") is converted.
func parsePrefix(s string) (netip.Prefix, error) {
	if addr, mask, ok := strings.Cut(s, "/"); ok {
		if strings.Contains(mask, ".") {
			a, err := netip.ParseAddr(addr)
			if err != nil {
				return netip.Prefix{}, err
			}
			m, err := netip.ParseAddr(mask)
			if err != nil || !m.Is4() {
				return netip.Prefix{}, fmt.Errorf("bad netmask %q", mask)
			}
			b := m.As4()
			bits := 0
			for _, x := range b {
				for x&0x80 != 0 {
					bits++
					x <<= 1
				}
			}
			return a.Prefix(bits)
		}
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parsePorts parses a comma-separated list of ports and ranges; sep is ':'
// for iptables and '-' for nft.
func parsePorts(s, sep string) ([]PortSpan, error) {
	var out []PortSpan
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, sep)
		from, err := strconv.ParseUint(a, 10, 16)
		if err != nil {
			return out, fmt.Errorf("bad port %q", part)
		}
		to := from
		if isRange {
			if to, err = strconv.ParseUint(b, 10, 16); err != nil || to < from {
				return out, fmt.Errorf("bad port range %q", part)
			}
		}
		out = append(out, PortSpan{From: uint16(from), To: uint16(to)})
	}
	return out, nil
}

// inferFamily says which IP family an iptables-save dump is from, by the
// addresses it mentions.
func inferFamily(rs *Ruleset) string {
	v4, v6 := false, false
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				for _, m := range r.Matches {
					for _, p := range m.Prefixes {
						if p.Addr().Is4() {
							v4 = true
						} else {
							v6 = true
						}
					}
				}
			}
		}
	}
	switch {
	case v4 && !v6:
		return "ipv4"
	case v6 && !v4:
		return "ipv6"
	}
	return ""
}

// RuleRef cites one rule or policy as evidence: where it is in the dump, its
// text and its counters.
type RuleRef struct {
	Table  string `json:"table"`
	Family string `json:"family,omitempty"`
	Chain  string `json:"chain"`
	// Line is the iptables-save line; Path the nft JSON item.
	Line     int             `json:"line,omitempty"`
	Path     string          `json:"path,omitempty"`
	Position int             `json:"position,omitempty"`
	Handle   int64           `json:"handle,omitempty"`
	Raw      string          `json:"raw"`
	Counters *PacketCounters `json:"counters,omitempty"`
	// Policy is set when the reference is a chain's policy, not a rule.
	Policy string `json:"policy,omitempty"`
}

// Ref returns the evidence reference of the rule.
func (r *Rule) Ref() RuleRef {
	return RuleRef{Table: r.Table, Family: r.Family, Chain: r.Chain, Line: r.Line, Path: r.Path,
		Position: r.Position, Handle: r.Handle, Raw: r.Raw, Counters: r.Counters}
}

// policyRef cites a base chain's policy.
func (c *Chain) policyRef() RuleRef {
	ref := RuleRef{Chain: c.Name, Line: c.Line, Path: c.Path, Policy: c.Policy, Counters: c.Counters}
	if c.table != nil {
		ref.Table, ref.Family = c.table.Name, c.table.Family
	}
	ref.Raw = fmt.Sprintf(":%s %s", c.Name, c.Policy)
	if c.Path != "" {
		ref.Raw = fmt.Sprintf("chain %s { type %s hook %s priority %d; policy %s; }", c.Name, c.Type, c.Hook, c.Priority, strings.ToLower(c.Policy))
	}
	return ref
}

// NATRule is a source-NAT rule (MASQUERADE or SNAT) with the conditions that
// decide which traffic it rewrites.
type NATRule struct {
	Ref  RuleRef `json:"ref"`
	Kind string  `json:"kind"`
	// Source is the source subnet ("172.18.0.0/16"); empty means any.
	Source        string `json:"source,omitempty"`
	SourceNegated bool   `json:"source_negated,omitempty"`
	Dest          string `json:"dest,omitempty"`
	DestNegated   bool   `json:"dest_negated,omitempty"`
	// OutIface with OutNegated is Docker's "! -o br-…": traffic leaving by
	// any interface except the network's own bridge.
	OutIface   string `json:"out_iface,omitempty"`
	OutNegated bool   `json:"out_negated,omitempty"`
	Proto      string `json:"proto,omitempty"`
	// ToSource is SNAT's address; empty for MASQUERADE, which takes the
	// address of the outgoing interface.
	ToSource string `json:"to_source,omitempty"`
}

// DNATRule is a destination-NAT rule, which for Docker is a published port.
type DNATRule struct {
	Ref   RuleRef `json:"ref"`
	Proto string  `json:"proto,omitempty"`
	// HostIP is the address the port is published on; empty means every
	// local address (0.0.0.0 / ::).
	HostIP        string `json:"host_ip,omitempty"`
	HostIPNegated bool   `json:"host_ip_negated,omitempty"`
	HostPort      uint16 `json:"host_port,omitempty"`
	HostPortEnd   uint16 `json:"host_port_end,omitempty"`
	// InIface with InNegated is Docker's "! -i br-…": the rule does not
	// apply to traffic from the container's own bridge (that is hairpin NAT).
	InIface       string `json:"in_iface,omitempty"`
	InNegated     bool   `json:"in_negated,omitempty"`
	ContainerIP   string `json:"container_ip,omitempty"`
	ContainerPort uint16 `json:"container_port,omitempty"`
	ToDestination string `json:"to_destination"`
}

// rules calls fn for every rule in dump order.
func (rs *Ruleset) rules(fn func(*Table, *Chain, *Rule)) {
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			for _, r := range c.Rules {
				fn(t, c, r)
			}
		}
	}
}

func firstMatch(r *Rule, kind string) (Match, bool) {
	for _, m := range r.Matches {
		if m.Kind == kind {
			return m, true
		}
	}
	return Match{}, false
}

// Masquerades returns the MASQUERADE and SNAT rules, in dump order.
func (rs *Ruleset) Masquerades() []NATRule {
	var out []NATRule
	rs.rules(func(t *Table, c *Chain, r *Rule) {
		if r.Target == nil || (r.Target.Name != "MASQUERADE" && r.Target.Name != "SNAT") {
			return
		}
		n := NATRule{Ref: r.Ref(), Kind: r.Target.Name, ToSource: r.Target.ToSource}
		if m, ok := firstMatch(r, MatchSource); ok {
			n.Source, n.SourceNegated = matchText(m), m.Negate
		}
		if m, ok := firstMatch(r, MatchDest); ok {
			n.Dest, n.DestNegated = matchText(m), m.Negate
		}
		if m, ok := firstMatch(r, MatchOutIface); ok {
			n.OutIface, n.OutNegated = strings.Join(m.Values, ","), m.Negate
		}
		if m, ok := firstMatch(r, MatchProto); ok {
			n.Proto = strings.Join(m.Values, ",")
		}
		out = append(out, n)
	})
	return out
}

// matchText renders an address match as CIDR text, the way Docker
// configured it ("172.18.0.0/16", "192.0.2.2/32").
func matchText(m Match) string {
	if len(m.Prefixes) > 0 {
		parts := make([]string, len(m.Prefixes))
		for i, p := range m.Prefixes {
			parts[i] = p.String()
		}
		return strings.Join(parts, ",")
	}
	return strings.Join(m.Values, ",")
}

// PublishedPorts returns the DNAT rules, in dump order. For Docker these are
// the published ports (iptables: nat DOCKER chain; nftables:
// nat-prerouting-and-output).
func (rs *Ruleset) PublishedPorts() []DNATRule {
	var out []DNATRule
	rs.rules(func(t *Table, c *Chain, r *Rule) {
		if r.Target == nil || r.Target.Name != "DNAT" {
			return
		}
		d := DNATRule{Ref: r.Ref(), ToDestination: r.Target.ToDestination}
		if m, ok := firstMatch(r, MatchProto); ok {
			d.Proto = strings.Join(m.Values, ",")
		}
		if m, ok := firstMatch(r, MatchDest); ok {
			if len(m.Prefixes) == 1 && m.Prefixes[0].IsSingleIP() {
				d.HostIP = m.Prefixes[0].Addr().String()
			} else {
				d.HostIP = matchText(m)
			}
			d.HostIPNegated = m.Negate
		}
		if m, ok := firstMatch(r, MatchDPort); ok && len(m.Ports) > 0 {
			d.HostPort = m.Ports[0].From
			if m.Ports[0].To != m.Ports[0].From {
				d.HostPortEnd = m.Ports[0].To
			}
		}
		if m, ok := firstMatch(r, MatchInIface); ok {
			d.InIface, d.InNegated = strings.Join(m.Values, ","), m.Negate
		}
		if ap, err := netip.ParseAddrPort(r.Target.ToDestination); err == nil {
			d.ContainerIP, d.ContainerPort = ap.Addr().String(), ap.Port()
		} else if a, err := netip.ParseAddr(r.Target.ToDestination); err == nil {
			d.ContainerIP = a.String()
		} else if host, port, ok := strings.Cut(r.Target.ToDestination, ":"); ok {
			// "ip:port-port" ranges: keep the first port.
			if a, err := netip.ParseAddr(host); err == nil {
				d.ContainerIP = a.String()
			}
			first, _, _ := strings.Cut(port, "-")
			if n, err := strconv.ParseUint(first, 10, 16); err == nil {
				d.ContainerPort = uint16(n)
			}
		}
		out = append(out, d)
	})
	return out
}

// Docker's chains and what each does in the forward path, cited in verdict
// traces so that a reader need not know the layout by heart.
var dockerChainRoles = map[string]string{
	"DOCKER-USER":              "user rules, evaluated before Docker's own; Docker leaves it empty (or a lone RETURN)",
	"DOCKER-FORWARD":           "Docker ≥28.0.1 entry chain: conntrack, isolation/internal, per-bridge port filtering, then accept from bridges",
	"DOCKER-CT":                "Docker ≥28.0.1: accept established/related traffic towards a bridge",
	"DOCKER-BRIDGE":            "Docker ≥28.0.1: send traffic towards a bridge to the DOCKER chain",
	"DOCKER-INTERNAL":          "Docker ≥28: drop traffic entering or leaving an --internal network",
	"DOCKER":                   "per-container accept of published ports; since Docker 27 ends with a drop of everything else into the bridge",
	"DOCKER-ISOLATION-STAGE-1": "network isolation: traffic from a bridge to another interface goes to stage 2",
	"DOCKER-ISOLATION-STAGE-2": "network isolation: drop traffic that arrived from one Docker bridge and leaves by another",
	"DOCKER-INGRESS":           "swarm ingress routing mesh",
	"filter-FORWARD":           "Docker nftables: dispatch by out- and in-interface to per-network chains",
	"raw-PREROUTING":           "Docker ≥28: drop packets addressed directly to a container from outside its bridge",
}

// DockerLayout names the Docker rule layouts the analyzer recognises.
const (
	LayoutLegacy        = "legacy"         // Docker ≤26: per-bridge rules in FORWARD, DOCKER holds only accepts
	LayoutBridgeDrop    = "bridge-drop"    // Docker 27: DOCKER chain ends with a drop per bridge
	LayoutIPSet         = "ipset"          // Docker 28.0.0: FORWARD matches the docker-ext-bridges ipset
	LayoutDockerForward = "docker-forward" // Docker ≥28.0.1: DOCKER-FORWARD, DOCKER-CT, DOCKER-BRIDGE
	LayoutNftables      = "nftables"       // Docker ≥29 with firewall-backend=nftables: table docker-bridges
	LayoutNone          = "none"           // no Docker rules
)

// ForwardPolicy summarises the forward path: the policy of each base chain
// that sees forwarded packets, the Docker layout, and the rules that isolate
// networks or block direct access.
type ForwardPolicy struct {
	Layout string `json:"layout"`
	// Policy is DROP when any forward base chain drops by default.
	Policy     string           `json:"policy"`
	BaseChains []RuleRef        `json:"base_chains"`
	Chains     []DockerChainUse `json:"chains,omitempty"`
	// Isolation lists the rules that drop traffic between networks.
	Isolation []RuleRef `json:"isolation,omitempty"`
	// DirectAccessDrops lists the raw-PREROUTING drops of packets addressed
	// directly to a container's IP from outside its bridge (Docker ≥28).
	DirectAccessDrops []RuleRef `json:"direct_access_drops,omitempty"`
}

// DockerChainUse is one Docker chain present in the dump with its role.
type DockerChainUse struct {
	Table string `json:"table"`
	Chain string `json:"chain"`
	Rules int    `json:"rules"`
	Role  string `json:"role"`
}

// Forward describes the forward path of the ruleset.
func (rs *Ruleset) Forward() ForwardPolicy {
	fp := ForwardPolicy{Layout: rs.Layout(), Policy: "ACCEPT"}
	for _, v6 := range []bool{false, true} {
		for _, c := range rs.sortedHookChains("forward", v6) {
			dup := false
			for _, b := range fp.BaseChains {
				if b.Table == c.table.Name && b.Family == c.table.Family && b.Chain == c.Name {
					dup = true
				}
			}
			if dup {
				continue
			}
			fp.BaseChains = append(fp.BaseChains, c.policyRef())
			if c.Policy == "DROP" {
				fp.Policy = "DROP"
			}
		}
	}
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			role, ok := dockerChainRoles[c.Name]
			if !ok && t.Name == "docker-bridges" {
				role, ok = nftChainRole(c.Name)
			}
			if ok && (t.Name == "filter" || t.Name == "raw" || t.Name == "docker-bridges") {
				fp.Chains = append(fp.Chains, DockerChainUse{Table: t.Name, Chain: c.Name, Rules: len(c.Rules), Role: role})
			}
			for _, r := range c.Rules {
				if r.Target == nil || r.Target.Name != "DROP" {
					continue
				}
				switch {
				case c.Hook == "prerouting" && (t.Name == "raw" || c.Priority <= -300) && hasMatch(r, MatchDest):
					fp.DirectAccessDrops = append(fp.DirectAccessDrops, r.Ref())
				case strings.HasPrefix(c.Name, "DOCKER-ISOLATION") || c.Name == "DOCKER-INTERNAL" ||
					(c.Name == "DOCKER" && t.Name == "filter" && !hasMatch(r, MatchDPort)):
					fp.Isolation = append(fp.Isolation, r.Ref())
				case strings.HasPrefix(c.Name, "filter-forward-in__") || strings.HasPrefix(c.Name, "filter-forward-out__"):
					fp.Isolation = append(fp.Isolation, r.Ref())
				}
			}
		}
	}
	return fp
}

func nftChainRole(name string) (string, bool) {
	switch {
	case strings.HasPrefix(name, "filter-forward-in__"):
		return "Docker nftables: traffic into network " + strings.TrimPrefix(name, "filter-forward-in__") + ": established, ICC, published ports, then drop", true
	case strings.HasPrefix(name, "filter-forward-out__"):
		return "Docker nftables: traffic out of network " + strings.TrimPrefix(name, "filter-forward-out__") + ": accepted unless internal", true
	case strings.HasPrefix(name, "nat-postrouting-out__"):
		return "Docker nftables: masquerade of network " + strings.TrimPrefix(name, "nat-postrouting-out__"), true
	case name == "nat-prerouting-and-output":
		return "Docker nftables: DNAT of published ports", true
	}
	return "", false
}

func hasMatch(r *Rule, kind string) bool {
	_, ok := firstMatch(r, kind)
	return ok
}

// Layout says which Docker rule layout the ruleset has, by the chains and
// rules that distinguish them.
func (rs *Ruleset) Layout() string {
	if t := rs.Table("", "docker-bridges"); t != nil {
		return LayoutNftables
	}
	f := rs.Table("", "filter")
	if f == nil {
		return LayoutNone
	}
	if f.chain("DOCKER-FORWARD") != nil {
		return LayoutDockerForward
	}
	if fw := f.chain("FORWARD"); fw != nil {
		for _, r := range fw.Rules {
			if m, ok := firstMatch(r, MatchSet); ok && len(m.Values) > 0 && strings.HasPrefix(m.Values[0], "docker-ext-bridges") {
				return LayoutIPSet
			}
		}
	}
	d := f.chain("DOCKER")
	if d == nil {
		return LayoutNone
	}
	for _, r := range d.Rules {
		if r.Target != nil && r.Target.Name == "DROP" && !hasMatch(r, MatchDPort) {
			return LayoutBridgeDrop
		}
	}
	return LayoutLegacy
}

// Probe is a packet to follow through the ruleset: the question "what
// happens to this packet" asked of the dump.
type Probe struct {
	// In and Out are the interfaces the packet enters and leaves by. Out is
	// the interface after routing (and after DNAT, for a published port).
	In  string     `json:"in"`
	Out string     `json:"out"`
	Src netip.Addr `json:"src"`
	// Dst is the destination as the packet arrives.
	Dst   netip.Addr `json:"dst"`
	Proto string     `json:"proto"`
	SPort uint16     `json:"sport,omitempty"`
	DPort uint16     `json:"dport,omitempty"`
	// CTState is the conntrack state: NEW unless set.
	CTState string `json:"ctstate"`
	// DstLocal says Dst is an address of the host itself, which is what
	// "-m addrtype --dst-type LOCAL" and "fib daddr type local" test; Docker's
	// DNAT of published ports hangs on it.
	DstLocal bool `json:"dst_local,omitempty"`
	// NoMark says the packet enters without a mark, as every packet does
	// that crossed from another network namespace (a container's veth):
	// the walk then knows the mark until a rule sets one it cannot follow.
	NoMark bool `json:"no_mark,omitempty"`
}

// Verdict is the outcome of following a Probe: accept or drop, the rule
// or policy that decided, and every rule that acted on the way.
type Verdict struct {
	Probe Probe `json:"probe"`
	// Verdict is "accept", "drop" or "reject".
	Verdict   string      `json:"verdict"`
	DecidedBy *RuleRef    `json:"decided_by,omitempty"`
	Steps     []TraceStep `json:"steps"`
	// NATDest is the destination after DNAT, when a DNAT rule matched.
	NATDest string `json:"nat_dest,omitempty"`
	// Uncertain lists rules whose conditions the model cannot evaluate (an
	// ipset, a physdev match, an unknown option); they were taken as not
	// matching.
	Uncertain []RuleRef `json:"uncertain,omitempty"`
	// Truncated says the walk hit its step or depth limit (a rule loop).
	Truncated bool `json:"truncated,omitempty"`
}

// TraceStep is one rule that matched (or one policy applied) while
// following a Probe.
type TraceStep struct {
	Ref RuleRef `json:"ref"`
	// Action is what happened: "jump DOCKER-USER", "return", "accept",
	// "drop", "dnat 172.18.0.2:80", "policy DROP", …
	Action string `json:"action"`
	// Note explains Docker's chains on entry.
	Note string `json:"note,omitempty"`
}

// Limits on walking the chains: the kernel refuses loops, but a dump need not
// come from a kernel.
const (
	maxVerdictJumpDepth = 64      // nested jumps; the kernel allows fewer in practice
	maxVerdictSteps     = 200_000 // rules examined in one walk
)

// ForwardVerdict follows a new connection's first packet that arrives on in
// and is routed out by out: raw and mangle PREROUTING (Docker's direct-access
// drops), nat PREROUTING (DNAT when dst is local — here it is taken as not
// local), then every forward base chain. dport 0 means "any port" and
// matches no port condition.
func (rs *Ruleset) ForwardVerdict(in, out string, src, dst netip.Addr, proto string, dport uint16) Verdict {
	return rs.Evaluate(Probe{In: in, Out: out, Src: src, Dst: dst, Proto: proto, DPort: dport, CTState: "NEW"})
}

// Evaluate follows p through the prerouting and forward hooks.
func (rs *Ruleset) Evaluate(p Probe) Verdict {
	if p.CTState == "" {
		p.CTState = "NEW"
	}
	w := &walker{rs: rs, v: Verdict{Probe: p, Verdict: "accept", Steps: []TraceStep{}}, pkt: p, markKnown: p.NoMark}
	v6 := p.Dst.Unmap().Is6() || p.Src.Unmap().Is6()
	for _, hook := range []string{"prerouting", "forward"} {
		for _, c := range rs.sortedHookChains(hook, v6) {
			if c.Type == "nat" && w.pkt.CTState != "NEW" {
				continue
			}
			verdict, decided := w.base(c)
			if verdict == "drop" || verdict == "reject" {
				w.v.Verdict = verdict
				w.v.DecidedBy = decided
				return w.v
			}
			if decided != nil && hook == "forward" {
				w.v.DecidedBy = decided
			}
		}
	}
	return w.v
}

type walker struct {
	rs    *Ruleset
	v     Verdict
	pkt   Probe
	steps int
	// inNat says the walk is under a nat base chain, where DNAT and SNAT
	// statements end the chain.
	inNat bool
	// nat is the MASQUERADE or SNAT rule that matched, in a SourceNAT walk.
	nat *Rule
	// anyProto says an empty Probe.Proto means "any protocol", for which a
	// protocol condition neither matches nor is negated into a match (as
	// for ports); otherwise an empty protocol matches only "-p all".
	anyProto bool
	// markKnown says mark is the packet's mark: a packet that crossed from a
	// container's namespace has none (the kernel clears it between
	// namespaces) until a rule on the walk sets one. Unknown, a mark
	// condition is uncertain.
	markKnown bool
	mark      uint32
}

func (w *walker) step(ref RuleRef, action, note string) {
	w.v.Steps = append(w.v.Steps, TraceStep{Ref: ref, Action: action, Note: note})
}

// base walks a base chain; it returns the verdict ("accept", "drop",
// "reject") and what decided it.
func (w *walker) base(c *Chain) (string, *RuleRef) {
	w.inNat = c.Type == "nat"
	verdict, ref, ended := w.chain(c, 0)
	if !ended {
		return verdict, ref
	}
	pol := strings.ToLower(c.Policy)
	if pol == "" {
		pol = "accept"
	}
	pr := c.policyRef()
	w.step(pr, "policy "+c.Policy, "")
	return pol, &pr
}

// chain walks one chain. ended is true when the chain ran out or returned,
// so the caller continues.
func (w *walker) chain(c *Chain, depth int) (verdict string, ref *RuleRef, ended bool) {
	if depth > maxVerdictJumpDepth {
		w.v.Truncated = true
		return "", nil, true
	}
	for _, r := range c.Rules {
		w.steps++
		if w.steps > maxVerdictSteps {
			w.v.Truncated = true
			return "", nil, true
		}
		match, uncertain := w.matches(r)
		if uncertain {
			w.v.Uncertain = append(w.v.Uncertain, r.Ref())
		}
		if (match || uncertain) && w.markKnown {
			w.setMark(r, uncertain)
		}
		if !match || r.Target == nil {
			continue
		}
		t := r.Target
		ref := r.Ref()
		switch t.Name {
		case "ACCEPT":
			w.step(ref, "accept", "")
			return "accept", &ref, false
		case "DROP":
			w.step(ref, "drop", "")
			return "drop", &ref, false
		case "REJECT":
			w.step(ref, "reject", "")
			return "reject", &ref, false
		case "RETURN":
			w.step(ref, "return", "")
			return "", nil, true
		case "CONTINUE", "LOG", "MARK", "CONNMARK", "NOTRACK", "CT", "TRACE", "NFLOG", "TCPMSS", "CHECKSUM":
			w.step(ref, strings.ToLower(t.Name), "")
			continue
		case "DNAT":
			if w.inNat {
				w.step(ref, "dnat "+t.ToDestination, "")
				w.applyDNAT(t.ToDestination)
				return "accept", &ref, false
			}
			continue
		case "MASQUERADE", "SNAT", "REDIRECT":
			if w.inNat {
				w.step(ref, strings.ToLower(t.Name), "")
				if t.Name != "REDIRECT" {
					w.nat = r
				}
				return "accept", &ref, false
			}
			continue
		case "VMAP":
			target := w.vmapLookup(c, t)
			if target == nil {
				continue
			}
			note := ""
			if next := c.table.chain(target.Name); next != nil {
				note = chainNote(next)
			}
			w.step(ref, fmt.Sprintf("vmap @%s → %s", t.Map, targetText(target)), note)
			t = target
			switch t.Name {
			case "ACCEPT":
				return "accept", &ref, false
			case "DROP":
				return "drop", &ref, false
			case "RETURN":
				return "", nil, true
			case "CONTINUE":
				continue
			}
		}
		// A jump or goto to a user chain.
		var next *Chain
		if c.table != nil {
			next = c.table.chain(t.Name)
		}
		if next == nil {
			// An extension target the model does not know (e.g. an xt target
			// from iptables-nft); it is taken as non-terminal.
			w.step(ref, "target "+t.Name+" (not modelled)", "")
			w.v.Uncertain = append(w.v.Uncertain, ref)
			continue
		}
		if r.Target.Name != "VMAP" {
			verb := "jump "
			if t.Goto {
				verb = "goto "
			}
			w.step(ref, verb+t.Name, chainNote(next))
		}
		verdict, vref, ended := w.chain(next, depth+1)
		if !ended {
			return verdict, vref, false
		}
		if t.Goto {
			// A goto's chain returning means the calling chain returns too.
			return "", nil, true
		}
	}
	return "", nil, true
}

func chainNote(c *Chain) string {
	if role, ok := dockerChainRoles[c.Name]; ok {
		return role
	}
	role, _ := nftChainRole(c.Name)
	return role
}

func targetText(t *RuleTarget) string {
	switch t.Name {
	case "ACCEPT", "DROP", "RETURN", "CONTINUE":
		return strings.ToLower(t.Name)
	}
	if t.Goto {
		return "goto " + t.Name
	}
	return "jump " + t.Name
}

// vmapLookup finds the verdict for the probe in a verdict map.
func (w *walker) vmapLookup(c *Chain, t *RuleTarget) *RuleTarget {
	if c.table == nil {
		return nil
	}
	m := c.table.mapNamed(t.Map)
	if m == nil {
		return nil
	}
	var key string
	switch t.MapKey {
	case MatchInIface:
		key = w.pkt.In
	case MatchOutIface:
		key = w.pkt.Out
	default:
		return nil
	}
	for _, e := range m.Elems {
		if e.Verdict != nil && ifaceMatch(e.Key, "*", key) {
			return e.Verdict
		}
	}
	return nil
}

func (w *walker) applyDNAT(to string) {
	w.v.NATDest = to
	if ap, err := netip.ParseAddrPort(to); err == nil {
		w.pkt.Dst, w.pkt.DPort = ap.Addr(), ap.Port()
		w.pkt.DstLocal = false
		return
	}
	if a, err := netip.ParseAddr(to); err == nil {
		w.pkt.Dst = a
		w.pkt.DstLocal = false
	}
}

// ifaceMatch matches an interface name against a rule's name, where a
// trailing wildcard character (iptables '+', nft '*') matches any suffix.
func ifaceMatch(pattern, wildcard, name string) bool {
	if wildcard != "" && strings.HasSuffix(pattern, wildcard) {
		return strings.HasPrefix(name, strings.TrimSuffix(pattern, wildcard))
	}
	return pattern == name
}

// protoNumbers maps protocol names to numbers so that "-p 6" and "-p tcp"
// compare equal.
var protoNumbers = map[string]string{"tcp": "6", "udp": "17", "icmp": "1", "sctp": "132", "icmpv6": "58", "ipv6-icmp": "58", "udplite": "136", "dccp": "33", "gre": "47", "esp": "50", "ah": "51"}

func protoEqual(a, b string) bool {
	if a == b {
		return true
	}
	if n, ok := protoNumbers[a]; ok {
		a = n
	}
	if n, ok := protoNumbers[b]; ok {
		b = n
	}
	return a == b
}

// matches reports whether every condition of r holds for the probe, and
// whether some condition could not be evaluated (it is then taken as not
// holding).
func (w *walker) matches(r *Rule) (match, uncertain bool) {
	p := w.pkt
	for _, m := range r.Matches {
		var ok bool
		switch m.Kind {
		case MatchSource, MatchDest, MatchCTOrigDst:
			a := p.Src
			if m.Kind != MatchSource {
				a = p.Dst
			}
			if !a.IsValid() {
				return false, true
			}
			for _, pfx := range m.Prefixes {
				if prefixContains(pfx, a) {
					ok = true
				}
			}
		case MatchInIface, MatchOutIface:
			name := p.In
			if m.Kind == MatchOutIface {
				name = p.Out
			}
			for _, v := range m.Values {
				if ifaceMatch(v, m.wildcard, name) {
					ok = true
				}
			}
		case MatchProto:
			if p.Proto == "" && w.anyProto {
				return false, false
			}
			for _, v := range m.Values {
				if v == "all" || v == "0" || protoEqual(v, strings.ToLower(p.Proto)) {
					ok = true
				}
			}
		case MatchDPort, MatchSPort, MatchCTOrigDstPort:
			port := p.DPort
			if m.Kind == MatchSPort {
				port = p.SPort
			}
			if port == 0 {
				// "Any port": a port condition neither matches nor is
				// negated into a match.
				return false, false
			}
			for _, s := range m.Ports {
				if port >= s.From && port <= s.To {
					ok = true
				}
			}
		case MatchCTState:
			for _, v := range m.Values {
				if v == strings.ToUpper(p.CTState) {
					ok = true
				}
			}
		case MatchDstType, MatchSrcType:
			if m.Kind == MatchSrcType {
				return false, true
			}
			if !onlyValue(m.Values, "LOCAL") {
				// Only LOCAL is known (from the probe); other address types
				// need the host's addresses.
				return false, true
			}
			ok = p.DstLocal
		case MatchComment:
			ok = true
		case MatchMark:
			value, mask, err := parseMark(m.Values)
			if err != nil || !w.markKnown {
				return false, true
			}
			ok = w.mark&mask == value
		case MatchSet:
			members, known := w.rs.IPSets[m.Values[0]]
			if !known || len(m.Values) < 2 {
				return false, true
			}
			// Only the first dimension of a set is modelled; Docker's sets
			// are single-dimension hash:net sets.
			a := p.Dst
			if dir, _, _ := strings.Cut(m.Values[1], ","); dir == "src" {
				a = p.Src
			}
			for _, pfx := range members {
				if prefixContains(pfx, a) {
					ok = true
				}
			}
		default:
			return false, true
		}
		if ok == m.Negate {
			return false, false
		}
	}
	if len(r.Unknown) > 0 && r.Path == "" {
		// iptables options the parser does not interpret.
		return false, true
	}
	return true, false
}

// setMark follows a rule that may change the packet's mark: iptables' MARK
// with --set-xmark or --set-mark sets it; any other MARK or CONNMARK, an nft
// "meta mark set", or such a rule whose conditions were not evaluated leaves
// it unknown.
func (w *walker) setMark(r *Rule, uncertain bool) {
	setsMark := r.Target != nil && (r.Target.Name == "MARK" || r.Target.Name == "CONNMARK")
	for _, u := range r.Unknown {
		if strings.Contains(u, `"mangle"`) && strings.Contains(u, `"mark"`) {
			setsMark = true
		}
	}
	if !setsMark {
		return
	}
	if uncertain || r.Target == nil || r.Target.Name != "MARK" {
		w.markKnown = false
		return
	}
	args := r.Target.Args
	for i := 0; i+1 < len(args); i++ {
		if args[i] != "--set-xmark" && args[i] != "--set-mark" {
			continue
		}
		value, mask, err := parseMark(args[i+1 : i+2])
		if err != nil {
			break
		}
		if args[i] == "--set-xmark" {
			w.mark = w.mark&^mask ^ value
		} else {
			w.mark = w.mark&^mask | value
		}
		return
	}
	w.markKnown = false
}

// parseMark reads "value[/mask]" in hex or decimal; the mask defaults to
// every bit.
func parseMark(vals []string) (value, mask uint32, err error) {
	if len(vals) != 1 {
		return 0, 0, fmt.Errorf("mark has %d values", len(vals))
	}
	v, m, hasMask := strings.Cut(vals[0], "/")
	x, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("bad mark %q", vals[0])
	}
	y := uint64(0xffffffff)
	if hasMask {
		if y, err = strconv.ParseUint(m, 0, 32); err != nil {
			return 0, 0, fmt.Errorf("bad mark mask %q", vals[0])
		}
	}
	return uint32(x) & uint32(y), uint32(y), nil
}

func onlyValue(vals []string, want string) bool {
	for _, v := range vals {
		if v != want {
			return false
		}
	}
	return true
}

// Docker 28.0.0's ipsets of the subnets of its non-internal bridge networks.
const (
	dockerExtBridgesV4 = "docker-ext-bridges-v4"
	dockerExtBridgesV6 = "docker-ext-bridges-v6"
)

// InferDockerIPSets fills IPSets with the members of Docker 28.0.0's
// docker-ext-bridges-v4/-v6 sets when the dump uses them and their members are
// not otherwise known. Docker adds the subnet of every bridge network that is
// not --internal; the masquerade rules name the same subnets, so they stand
// in for the set. A network with NAT disabled (gateway mode "routed") is in
// the set without a masquerade rule and is missed. It returns the sets it
// inferred.
func (rs *Ruleset) InferDockerIPSets() []string {
	if rs.Layout() != LayoutIPSet {
		return nil
	}
	var inferred []string
	for _, name := range []string{dockerExtBridgesV4, dockerExtBridgesV6} {
		if _, known := rs.IPSets[name]; known {
			continue
		}
		var members []netip.Prefix
		for _, n := range rs.Masquerades() {
			if n.Kind != "MASQUERADE" || n.SourceNegated || !n.OutNegated {
				continue
			}
			pfx, err := netip.ParsePrefix(n.Source)
			if err != nil || pfx.Addr().Is4() != (name == dockerExtBridgesV4) {
				continue
			}
			members = append(members, pfx)
		}
		if len(members) == 0 {
			continue
		}
		if rs.IPSets == nil {
			rs.IPSets = make(map[string][]netip.Prefix)
		}
		rs.IPSets[name] = members
		inferred = append(inferred, name)
	}
	return inferred
}
