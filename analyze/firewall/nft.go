package firewall

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Limits on `nft -j list ruleset` documents, which are evidence from a
// possibly compromised host.
const (
	// maxNftJSONBytes bounds the document: JSON is about five times the size
	// of the iptables-save text of the same rules, so 256 MiB matches the
	// iptables-save budget with room to spare.
	maxNftJSONBytes = 256 << 20
	// maxNftExprDepth bounds how deeply expressions nest; nft itself prints
	// at most a handful of levels (match → payload → set → prefix).
	maxNftExprDepth = 32
	// maxNftMapElems bounds the elements kept for one map or set; Docker
	// keeps one per bridge network.
	maxNftMapElems = 100_000
	// maxNftRawExprBytes bounds the JSON text of one unknown expression kept
	// verbatim in a rule.
	maxNftRawExprBytes = 4 << 10
)

// NftMap is an nft set or map. Docker's nftables backend uses verdict maps
// keyed by interface name to jump to per-network chains.
type NftMap struct {
	Name string `json:"name"`
	// Type is the key type (ifname, ipv4_addr, …); Data is the value type of
	// a map ("verdict"), empty for a set.
	Type  string       `json:"type,omitempty"`
	Data  string       `json:"data,omitempty"`
	Path  string       `json:"path,omitempty"`
	Elems []NftMapElem `json:"elems,omitempty"`
}

// NftMapElem is one element: its key, and for a verdict map the verdict.
type NftMapElem struct {
	Key     string      `json:"key"`
	Verdict *RuleTarget `json:"verdict,omitempty"`
}

// ParseNftJSON parses the output of `nft -j list ruleset`. Rules are
// translated into the same Match and RuleTarget model as iptables-save where
// the expression has an equivalent; other expressions are kept as raw JSON in
// Rule.Unknown. As with ParseIPTablesSave, items that cannot be parsed are
// recorded in Ruleset.Problems and returned as a *RulesetError alongside the
// partial Ruleset.
func ParseNftJSON(r io.Reader) (*Ruleset, error) {
	rs := &Ruleset{Source: "nft-json", Tables: []*Table{}}
	data, err := io.ReadAll(io.LimitReader(r, maxNftJSONBytes+1))
	if err != nil {
		return rs, fmt.Errorf("read nft json: %w", err)
	}
	if len(data) > maxNftJSONBytes {
		rs.Truncated = true
		return rs, fmt.Errorf("parse nft json: input over %d bytes: %w", maxNftJSONBytes, ErrRulesetTooLarge)
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return rs, fmt.Errorf("parse nft json: %w", err)
	}
	p := &nftParser{rs: rs}
	for i, item := range doc.Nftables {
		path := fmt.Sprintf("nftables[%d]", i)
		if err := p.item(path, item); err != nil {
			rs.Truncated = true
			return rs, fmt.Errorf("parse nft json: %s: %w", path, err)
		}
	}
	return rs, rs.err()
}

type nftParser struct {
	rs    *Ruleset
	rules int
}

func (p *nftParser) problem(path, msg string) {
	if len(p.rs.Problems) < maxRulesetProblems {
		p.rs.Problems = append(p.rs.Problems, RuleLineError{Path: path, Msg: msg})
	}
}

type nftChainJSON struct {
	Family string          `json:"family"`
	Table  string          `json:"table"`
	Name   string          `json:"name"`
	Handle int64           `json:"handle"`
	Type   string          `json:"type"`
	Hook   string          `json:"hook"`
	Prio   json.RawMessage `json:"prio"`
	Policy string          `json:"policy"`
}

type nftRuleJSON struct {
	Family  string            `json:"family"`
	Table   string            `json:"table"`
	Chain   string            `json:"chain"`
	Handle  int64             `json:"handle"`
	Comment string            `json:"comment"`
	Expr    []json.RawMessage `json:"expr"`
}

type nftSetJSON struct {
	Family string            `json:"family"`
	Table  string            `json:"table"`
	Name   string            `json:"name"`
	Type   json.RawMessage   `json:"type"`
	Map    json.RawMessage   `json:"map"`
	Elem   []json.RawMessage `json:"elem"`
}

// item handles one element of the top-level "nftables" array. It returns an
// error only for a limit.
func (p *nftParser) item(path string, item map[string]json.RawMessage) error {
	if len(item) != 1 {
		p.problem(path, fmt.Sprintf("item has %d keys, want 1", len(item)))
		return nil
	}
	for kind, raw := range item {
		switch kind {
		case "metainfo":
		case "table":
			var t struct {
				Family string `json:"family"`
				Name   string `json:"name"`
			}
			if err := json.Unmarshal(raw, &t); err != nil || t.Name == "" {
				p.problem(path, "bad table")
				return nil
			}
			if p.rs.Table(t.Family, t.Name) != nil {
				p.problem(path, fmt.Sprintf("table %s %q listed twice", t.Family, t.Name))
				return nil
			}
			p.rs.Tables = append(p.rs.Tables, &Table{Family: t.Family, Name: t.Name, Path: path, Chains: []*Chain{}})
		case "chain":
			var c nftChainJSON
			if err := json.Unmarshal(raw, &c); err != nil || c.Name == "" {
				p.problem(path, "bad chain")
				return nil
			}
			if p.rs.chainCount() >= maxRulesetChains {
				return fmt.Errorf("more than %d chains: %w", maxRulesetChains, ErrRulesetTooLarge)
			}
			t := p.table(path, c.Family, c.Table)
			if t.chain(c.Name) != nil {
				p.problem(path, fmt.Sprintf("chain %q listed twice", c.Name))
				return nil
			}
			ch := &Chain{Name: c.Name, Hook: c.Hook, Type: c.Type, Path: path, Rules: []*Rule{}}
			if c.Hook != "" {
				ch.Policy = strings.ToUpper(c.Policy)
				if ch.Policy == "" {
					ch.Policy = "ACCEPT"
				}
				prio, err := nftPriority(c.Prio)
				if err != nil {
					p.problem(path, err.Error())
				}
				ch.Priority = prio
			}
			t.addChain(ch)
		case "rule":
			var r nftRuleJSON
			if err := json.Unmarshal(raw, &r); err != nil || r.Chain == "" {
				p.problem(path, "bad rule")
				return nil
			}
			if p.rules >= maxRulesetRules {
				return fmt.Errorf("more than %d rules: %w", maxRulesetRules, ErrRulesetTooLarge)
			}
			p.rules++
			t := p.table(path, r.Family, r.Table)
			c := t.chain(r.Chain)
			if c == nil {
				p.problem(path, fmt.Sprintf("rule for unlisted chain %q", r.Chain))
				if p.rs.chainCount() >= maxRulesetChains {
					return fmt.Errorf("more than %d chains: %w", maxRulesetChains, ErrRulesetTooLarge)
				}
				c = &Chain{Name: r.Chain, Rules: []*Rule{}}
				t.addChain(c)
			}
			if len(r.Expr) > maxRuleTokens {
				p.problem(path, fmt.Sprintf("rule has %d expressions, limit %d", len(r.Expr), maxRuleTokens))
				return nil
			}
			rule := &Rule{Table: t.Name, Family: t.Family, Chain: c.Name, Position: len(c.Rules) + 1, Handle: r.Handle, Path: path, Comment: r.Comment}
			for j, e := range r.Expr {
				if err := p.expr(rule, e); err != nil {
					p.problem(fmt.Sprintf("%s.rule.expr[%d]", path, j), err.Error())
					rule.Unknown = append(rule.Unknown, nftClip(e))
				}
			}
			rule.Raw = nftRender(rule)
			c.Rules = append(c.Rules, rule)
		case "set", "map":
			var s nftSetJSON
			if err := json.Unmarshal(raw, &s); err != nil || s.Name == "" {
				p.problem(path, "bad "+kind)
				return nil
			}
			if p.rs.chainCount() >= maxRulesetChains {
				return fmt.Errorf("more than %d maps: %w", maxRulesetChains, ErrRulesetTooLarge)
			}
			t := p.table(path, s.Family, s.Table)
			m := &NftMap{Name: s.Name, Type: nftTypeName(s.Type), Data: nftTypeName(s.Map), Path: path}
			if len(s.Elem) > maxNftMapElems {
				p.problem(path, fmt.Sprintf("%s %q has %d elements, keeping %d", kind, s.Name, len(s.Elem), maxNftMapElems))
				s.Elem = s.Elem[:maxNftMapElems]
			}
			for _, e := range s.Elem {
				el, err := nftElem(e)
				if err != nil {
					p.problem(path, fmt.Sprintf("%s %q: %v", kind, s.Name, err))
					continue
				}
				m.Elems = append(m.Elems, el)
			}
			if t.mapIndex == nil {
				t.mapIndex = make(map[string]*NftMap)
			}
			t.Maps = append(t.Maps, m)
			t.mapIndex[m.Name] = m
		default:
			// Elements, counters, quotas, flowtables, ct objects: not part of
			// the packet path this model follows.
		}
	}
	return nil
}

// table returns the table a chain, rule or map names, creating it (and
// recording a problem) when the document did not list it first.
func (p *nftParser) table(path, family, name string) *Table {
	if t := p.rs.Table(family, name); t != nil {
		return t
	}
	p.problem(path, fmt.Sprintf("item for unlisted table %s %q", family, name))
	t := &Table{Family: family, Name: name, Chains: []*Chain{}}
	p.rs.Tables = append(p.rs.Tables, t)
	return t
}

// nftPriority reads a chain priority: a number, or for older nft a
// standard name.
func nftPriority(raw json.RawMessage) (int, error) {
	if len(raw) == 0 {
		return 0, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return n, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		named := map[string]int{"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
		if v, ok := named[s]; ok {
			return v, nil
		}
	}
	return 0, fmt.Errorf("bad chain priority %s", nftClip(raw))
}

func nftTypeName(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var l []string
	if json.Unmarshal(raw, &l) == nil {
		return strings.Join(l, " . ")
	}
	return nftClip(raw)
}

// nftElem reads one set or map element: a key, or [key, verdict].
func nftElem(raw json.RawMessage) (NftMapElem, error) {
	var pair []json.RawMessage
	if json.Unmarshal(raw, &pair) == nil {
		if len(pair) != 2 {
			return NftMapElem{}, fmt.Errorf("map element has %d parts", len(pair))
		}
		key, err := nftKeyString(pair[0], 0)
		if err != nil {
			return NftMapElem{}, err
		}
		v, err := nftVerdict(pair[1])
		if err != nil {
			// A data map (not a verdict map): keep the key only.
			return NftMapElem{Key: key}, nil
		}
		return NftMapElem{Key: key, Verdict: v}, nil
	}
	key, err := nftKeyString(raw, 0)
	if err != nil {
		return NftMapElem{}, err
	}
	return NftMapElem{Key: key}, nil
}

// nftKeyString renders an element key (string, number, prefix, range,
// or {"elem": {"val": …}}) as text.
func nftKeyString(raw json.RawMessage, depth int) (string, error) {
	if depth > maxNftExprDepth {
		return "", errors.New("element nests too deeply")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if e, ok := obj["elem"]; ok {
			var el struct {
				Val json.RawMessage `json:"val"`
			}
			if json.Unmarshal(e, &el) == nil && el.Val != nil {
				return nftKeyString(el.Val, depth+1)
			}
		}
		if pf, ok := obj["prefix"]; ok {
			var x struct {
				Addr string `json:"addr"`
				Len  int    `json:"len"`
			}
			if json.Unmarshal(pf, &x) == nil {
				return fmt.Sprintf("%s/%d", x.Addr, x.Len), nil
			}
		}
		if rg, ok := obj["range"]; ok {
			var parts []json.RawMessage
			if json.Unmarshal(rg, &parts) == nil && len(parts) == 2 {
				a, err1 := nftKeyString(parts[0], depth+1)
				b, err2 := nftKeyString(parts[1], depth+1)
				if err1 == nil && err2 == nil {
					return a + "-" + b, nil
				}
			}
		}
	}
	return "", fmt.Errorf("unsupported element key %s", nftClip(raw))
}

// nftVerdict reads a verdict object: {"accept":null}, {"jump":{"target":…}}.
func nftVerdict(raw json.RawMessage) (*RuleTarget, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || len(obj) != 1 {
		return nil, errors.New("not a verdict")
	}
	for k, v := range obj {
		switch k {
		case "accept", "drop", "return", "continue", "queue":
			return &RuleTarget{Name: strings.ToUpper(k)}, nil
		case "jump", "goto":
			var t struct {
				Target string `json:"target"`
			}
			if err := json.Unmarshal(v, &t); err != nil || t.Target == "" {
				return nil, fmt.Errorf("bad %s", k)
			}
			return &RuleTarget{Name: t.Target, Goto: k == "goto"}, nil
		}
	}
	return nil, errors.New("not a verdict")
}

func nftClip(raw json.RawMessage) string {
	if len(raw) > maxNftRawExprBytes {
		return string(raw[:maxNftRawExprBytes]) + "…"
	}
	return string(raw)
}

// expr translates one rule expression into the rule. An error means the
// expression was malformed (not merely unknown).
func (p *nftParser) expr(rule *Rule, raw json.RawMessage) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("expression is not an object")
	}
	if len(obj) != 1 {
		return fmt.Errorf("expression has %d keys, want 1", len(obj))
	}
	for k, v := range obj {
		switch k {
		case "match":
			return nftMatch(rule, v, raw)
		case "counter":
			var c struct {
				Packets uint64 `json:"packets"`
				Bytes   uint64 `json:"bytes"`
			}
			if err := json.Unmarshal(v, &c); err != nil {
				// A named counter reference is a string; it carries no numbers.
				return nil
			}
			rule.Counters = &PacketCounters{Packets: c.Packets, Bytes: c.Bytes}
		case "accept", "drop", "return", "continue", "jump", "goto", "queue":
			t, err := nftVerdict(raw)
			if err != nil {
				return err
			}
			rule.Target = t
		case "reject":
			rule.Target = &RuleTarget{Name: "REJECT", Args: []string{nftClip(v)}}
		case "masquerade":
			rule.Target = &RuleTarget{Name: "MASQUERADE"}
		case "snat", "dnat":
			var n struct {
				Addr json.RawMessage `json:"addr"`
				Port json.RawMessage `json:"port"`
			}
			if err := json.Unmarshal(v, &n); err != nil {
				return fmt.Errorf("bad %s", k)
			}
			to := ""
			if n.Addr != nil {
				a, err := nftKeyString(n.Addr, 0)
				if err != nil {
					return fmt.Errorf("bad %s address", k)
				}
				to = a
			}
			if n.Port != nil {
				port, err := nftKeyString(n.Port, 0)
				if err != nil {
					return fmt.Errorf("bad %s port", k)
				}
				if strings.Contains(to, ":") {
					to = "[" + to + "]"
				}
				to += ":" + port
			}
			rule.Target = &RuleTarget{Name: strings.ToUpper(k)}
			if k == "dnat" {
				rule.Target.ToDestination = to
			} else {
				rule.Target.ToSource = to
			}
		case "vmap":
			var vm struct {
				Key  json.RawMessage `json:"key"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(v, &vm); err != nil {
				return errors.New("bad vmap")
			}
			var name string
			if json.Unmarshal(vm.Data, &name) != nil || !strings.HasPrefix(name, "@") {
				// An anonymous verdict map: not modelled.
				rule.Unknown = append(rule.Unknown, nftClip(raw))
				rule.Matches = append(rule.Matches, Match{Kind: MatchOther, Raw: nftClip(raw)})
				return nil
			}
			key := nftMetaKey(vm.Key)
			rule.Target = &RuleTarget{Name: "VMAP", Map: strings.TrimPrefix(name, "@"), MapKey: key}
		case "xt":
			// iptables-nft compat expression: the name is all nft shows.
			var x struct {
				Type string `json:"type"`
				Name string `json:"name"`
			}
			_ = json.Unmarshal(v, &x)
			switch {
			case x.Type == "target":
				rule.Target = &RuleTarget{Name: x.Name, Args: []string{"(xt target: arguments not shown by nft)"}}
			case x.Name == "comment":
				// A comment holds for every packet; nft does not show its text.
				rule.Matches = append(rule.Matches, Match{Kind: MatchComment, Module: x.Name, Raw: nftClip(raw)})
				rule.Modules = append(rule.Modules, x.Name)
			default:
				rule.Matches = append(rule.Matches, Match{Kind: MatchOther, Module: x.Name, Raw: nftClip(raw)})
				rule.Modules = append(rule.Modules, x.Name)
			}
		case "log", "limit", "mangle", "notrack", "flow", "quota", "meter", "set", "ct helper", "objref":
			// Non-terminal statements that do not affect the verdict.
			rule.Unknown = append(rule.Unknown, nftClip(raw))
		default:
			rule.Unknown = append(rule.Unknown, nftClip(raw))
			rule.Matches = append(rule.Matches, Match{Kind: MatchOther, Raw: nftClip(raw)})
		}
	}
	return nil
}

// nftMetaKey maps the left side of a match or vmap to a Match kind, or ""
// for one the model does not evaluate.
func nftMetaKey(raw json.RawMessage) string {
	var left map[string]json.RawMessage
	if json.Unmarshal(raw, &left) != nil {
		return ""
	}
	if m, ok := left["meta"]; ok {
		var x struct {
			Key string `json:"key"`
		}
		_ = json.Unmarshal(m, &x)
		switch x.Key {
		case "iifname":
			return MatchInIface
		case "oifname":
			return MatchOutIface
		case "l4proto":
			return MatchProto
		}
	}
	if pl, ok := left["payload"]; ok {
		var x struct {
			Protocol string `json:"protocol"`
			Field    string `json:"field"`
		}
		_ = json.Unmarshal(pl, &x)
		switch {
		case (x.Protocol == "ip" || x.Protocol == "ip6") && x.Field == "saddr":
			return MatchSource
		case (x.Protocol == "ip" || x.Protocol == "ip6") && x.Field == "daddr":
			return MatchDest
		case x.Protocol == "ip" && x.Field == "protocol", x.Protocol == "ip6" && x.Field == "nexthdr":
			return MatchProto
		case x.Field == "dport" && nftL4(x.Protocol):
			return MatchDPort
		case x.Field == "sport" && nftL4(x.Protocol):
			return MatchSPort
		}
	}
	if ct, ok := left["ct"]; ok {
		var x struct {
			Key string `json:"key"`
			Dir string `json:"dir"`
		}
		_ = json.Unmarshal(ct, &x)
		switch {
		case x.Key == "state":
			return MatchCTState
		case x.Key == "proto-dst" && x.Dir == "original":
			return MatchCTOrigDstPort
		case (x.Key == "daddr" || x.Key == "ip daddr") && x.Dir == "original":
			return MatchCTOrigDst
		}
	}
	if fib, ok := left["fib"]; ok {
		var x struct {
			Result string   `json:"result"`
			Flags  []string `json:"flags"`
		}
		_ = json.Unmarshal(fib, &x)
		if x.Result == "type" && len(x.Flags) == 1 {
			switch x.Flags[0] {
			case "daddr":
				return MatchDstType
			case "saddr":
				return MatchSrcType
			}
		}
	}
	return ""
}

func nftL4(proto string) bool {
	switch proto {
	case "tcp", "udp", "sctp", "dccp", "udplite", "th":
		return true
	}
	return false
}

// nftMatch translates {"op", "left", "right"}.
func nftMatch(rule *Rule, v, raw json.RawMessage) error {
	var m struct {
		Op    string          `json:"op"`
		Left  json.RawMessage `json:"left"`
		Right json.RawMessage `json:"right"`
	}
	if err := json.Unmarshal(v, &m); err != nil || m.Left == nil || m.Right == nil {
		return errors.New("bad match")
	}
	if mark, ok := nftMarkMatch(m.Left, m.Right); ok && (m.Op == "==" || m.Op == "!=") {
		rule.Matches = append(rule.Matches, Match{Kind: MatchMark, Negate: m.Op == "!=", Values: []string{mark}, Raw: nftClip(raw)})
		return nil
	}
	kind := nftMetaKey(m.Left)
	neg := m.Op == "!="
	if kind == "" || (m.Op != "==" && m.Op != "!=" && m.Op != "in") {
		rule.Matches = append(rule.Matches, Match{Kind: MatchOther, Raw: nftClip(raw)})
		rule.Unknown = append(rule.Unknown, nftClip(raw))
		return nil
	}
	vals, err := nftRightValues(m.Right)
	if err != nil {
		return err
	}
	out := Match{Kind: kind, Negate: neg, Values: vals, Raw: nftClip(raw)}
	switch kind {
	case MatchSource, MatchDest, MatchCTOrigDst:
		for _, s := range vals {
			if lo, hi, isRange := strings.Cut(s, "-"); isRange {
				_, err1 := netip.ParseAddr(lo)
				_, err2 := netip.ParseAddr(hi)
				if err1 == nil && err2 == nil {
					// Address ranges are not in Docker's rules; the match
					// is kept but not evaluated.
					out.Kind = MatchOther
					continue
				}
			}
			pfx, err := parsePrefix(s)
			if err != nil {
				return fmt.Errorf("bad address %q", s)
			}
			out.Prefixes = append(out.Prefixes, pfx)
		}
	case MatchDPort, MatchSPort, MatchCTOrigDstPort:
		ports, err := parsePorts(strings.Join(vals, ","), "-")
		if err != nil {
			return err
		}
		out.Ports = ports
		// "tcp dport 80" also says the protocol is tcp.
		var left struct {
			Payload struct {
				Protocol string `json:"protocol"`
			} `json:"payload"`
		}
		if json.Unmarshal(m.Left, &left) == nil && left.Payload.Protocol != "" && left.Payload.Protocol != "th" {
			rule.Matches = append(rule.Matches, Match{Kind: MatchProto, Values: []string{left.Payload.Protocol}})
		}
	case MatchCTState, MatchDstType, MatchSrcType:
		for i := range out.Values {
			out.Values[i] = strings.ToUpper(out.Values[i])
		}
	case MatchInIface, MatchOutIface:
		for _, s := range vals {
			if strings.HasSuffix(s, "*") && !strings.HasSuffix(s, `\*`) {
				out.wildcard = "*"
			}
		}
	}
	rule.Matches = append(rule.Matches, out)
	return nil
}

// nftMarkMatch reads "meta mark == value" and "meta mark & mask == value"
// (iptables-nft's translation of -m mark --mark value/mask) as
// "value/mask".
func nftMarkMatch(left, right json.RawMessage) (string, bool) {
	var value uint32
	if json.Unmarshal(right, &value) != nil {
		return "", false
	}
	isMark := func(raw json.RawMessage) bool {
		var x struct {
			Meta *struct {
				Key string `json:"key"`
			} `json:"meta"`
		}
		return json.Unmarshal(raw, &x) == nil && x.Meta != nil && x.Meta.Key == "mark"
	}
	if isMark(left) {
		return fmt.Sprintf("%#x", value), true
	}
	var and struct {
		And []json.RawMessage `json:"&"`
	}
	var mask uint32
	if json.Unmarshal(left, &and) != nil || len(and.And) != 2 || !isMark(and.And[0]) || json.Unmarshal(and.And[1], &mask) != nil {
		return "", false
	}
	return fmt.Sprintf("%#x/%#x", value, mask), true
}

// nftRightValues flattens the right side of a match: a scalar, a list
// (flags), a {"set": […]}, a {"prefix"}, or a {"range"}.
func nftRightValues(raw json.RawMessage) ([]string, error) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		var out []string
		for _, e := range list {
			s, err := nftKeyString(e, 1)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if set, ok := obj["set"]; ok {
			return nftRightValues(set)
		}
	}
	s, err := nftKeyString(raw, 0)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// nftRender writes a rule in nft's own syntax, close to what
// `nft list ruleset` prints, so that reports can quote it.
func nftRender(r *Rule) string {
	var b bytes.Buffer
	word := func(s string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	for _, m := range r.Matches {
		op := ""
		if m.Negate {
			op = "!= "
		}
		vals := m.Values
		val := strings.Join(vals, ", ")
		if len(vals) > 1 {
			val = "{ " + val + " }"
		}
		switch m.Kind {
		case MatchInIface:
			word("iifname " + op + strconv.Quote(val))
		case MatchOutIface:
			word("oifname " + op + strconv.Quote(val))
		case MatchSource, MatchDest:
			fam := "ip"
			if len(m.Prefixes) > 0 && m.Prefixes[0].Addr().Is6() {
				fam = "ip6"
			}
			field := "saddr"
			if m.Kind == MatchDest {
				field = "daddr"
			}
			word(fam + " " + field + " " + op + val)
		case MatchProto:
			// Printed with the port match that implies it.
			if !ruleHasPortMatch(r) {
				word("meta l4proto " + op + val)
			}
		case MatchDPort, MatchSPort:
			proto := "th"
			for _, pm := range r.Matches {
				if pm.Kind == MatchProto && len(pm.Values) == 1 {
					proto = pm.Values[0]
				}
			}
			word(proto + " " + m.Kind + " " + op + val)
		case MatchCTState:
			word("ct state " + op + strings.ToLower(strings.Join(vals, ",")))
		case MatchDstType:
			word("fib daddr type " + op + strings.ToLower(val))
		case MatchSrcType:
			word("fib saddr type " + op + strings.ToLower(val))
		case MatchCTOrigDstPort:
			word("ct original proto-dst " + op + val)
		default:
			word(m.Raw)
		}
	}
	if r.Counters != nil {
		word("counter")
	}
	printed := make(map[string]bool)
	for _, m := range r.Matches {
		if m.Kind == MatchOther {
			printed[m.Raw] = true
		}
	}
	for _, u := range r.Unknown {
		if !printed[u] {
			word(u)
		}
	}
	if t := r.Target; t != nil {
		switch t.Name {
		case "ACCEPT", "DROP", "RETURN", "CONTINUE", "QUEUE", "MASQUERADE":
			word(strings.ToLower(t.Name))
		case "REJECT":
			word("reject")
		case "DNAT":
			word("dnat to " + t.ToDestination)
		case "SNAT":
			word("snat to " + t.ToSource)
		case "VMAP":
			key := map[string]string{MatchInIface: "iifname", MatchOutIface: "oifname"}[t.MapKey]
			if key == "" {
				key = "(key)"
			}
			word(key + " vmap @" + t.Map)
		default:
			if t.Goto {
				word("goto " + t.Name)
			} else {
				word("jump " + t.Name)
			}
		}
	}
	if r.Comment != "" {
		word("comment " + strconv.Quote(r.Comment))
	}
	return b.String()
}

func ruleHasPortMatch(r *Rule) bool {
	for _, m := range r.Matches {
		if m.Kind == MatchDPort || m.Kind == MatchSPort {
			return true
		}
	}
	return false
}

// sortedHookChains returns the base chains on a hook, in priority order,
// for the tables that see a packet of the given family.
func (rs *Ruleset) sortedHookChains(hook string, v6 bool) []*Chain {
	var out []*Chain
	for _, t := range rs.Tables {
		switch t.Family {
		case "", "inet":
		case "ip":
			if v6 {
				continue
			}
		case "ip6":
			if !v6 {
				continue
			}
		default:
			continue
		}
		for _, c := range t.Chains {
			c.table = t
			if c.Hook == hook {
				out = append(out, c)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Priority < out[j].Priority })
	return out
}

// mapNamed finds an nft map in a table.
func (t *Table) mapNamed(name string) *NftMap {
	if t.mapIndex == nil {
		t.mapIndex = make(map[string]*NftMap, len(t.Maps))
		for _, m := range t.Maps {
			t.mapIndex[m.Name] = m
		}
	}
	return t.mapIndex[name]
}

// prefixContains is netip.Prefix.Contains after unmapping, so that an
// IPv4-mapped probe address matches an IPv4 rule.
func prefixContains(p netip.Prefix, a netip.Addr) bool {
	return p.Contains(a.Unmap())
}

// netavarkTable is the table netavark's nftables firewall driver writes
// (netavark ≥1.9 with firewall_driver=nftables; earlier ones write
// iptables rules, which iptables-save shows).
const netavarkTable = "netavark"

// Netavark returns netavark's own nftables tables of an nft document in a
// Ruleset of their own, or nil when there are none. They hold Podman's NAT
// and forwarding on such a host, and iptables-save does not show them.
func (rs *Ruleset) Netavark() *Ruleset {
	var tables []*Table
	for _, t := range rs.Tables {
		if t.Name == netavarkTable && (t.Family == "inet" || t.Family == "ip" || t.Family == "ip6") {
			tables = append(tables, t)
		}
	}
	if len(tables) == 0 {
		return nil
	}
	return &Ruleset{Source: rs.Source, Tables: tables}
}

// Merge returns one Ruleset of the tables of every non-nil ruleset given,
// in order, as the kernel holds them side by side: iptables' tables and
// native nftables tables each see the packet at their hooks, in priority
// order. Rules keep their references (iptables-save line, nft JSON path);
// Source joins the sources with "+". A single ruleset is returned as is.
func Merge(sets ...*Ruleset) *Ruleset {
	var nonNil []*Ruleset
	for _, s := range sets {
		if s != nil {
			nonNil = append(nonNil, s)
		}
	}
	switch len(nonNil) {
	case 0:
		return nil
	case 1:
		return nonNil[0]
	}
	out := &Ruleset{Tables: []*Table{}}
	var sources []string
	for _, s := range nonNil {
		sources = append(sources, s.Source)
		out.Tables = append(out.Tables, s.Tables...)
		out.Problems = append(out.Problems, s.Problems...)
		out.Truncated = out.Truncated || s.Truncated
		if out.Family == "" {
			out.Family = s.Family
		} else if s.Family != "" && s.Family != out.Family {
			out.Family = ""
		}
		for name, members := range s.IPSets {
			if out.IPSets == nil {
				out.IPSets = make(map[string][]netip.Prefix)
			}
			out.IPSets[name] = append(out.IPSets[name], members...)
		}
	}
	out.Source = strings.Join(sources, "+")
	return out
}
