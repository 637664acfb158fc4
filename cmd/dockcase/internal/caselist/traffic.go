// Package caselist builds the listings of what the analysis of a case
// found: the conversations and flows, the findings, the timeline and the
// paths, each in the listing convention (terminal table, TSV, --json,
// --csv) and most with the shorter table a terminal shows.
package caselist

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dockcase/dockcase/analyze/traffic"
	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
)

// contactColumns are the columns of flows (one row per conversation) in
// TSV, CSV and JSON. container_name and container_id name the one
// container; who says it in words for a group, candidates or a host
// process too.
var contactColumns = []listing.Column{{Key: "first"}, {Key: "last"}, {Key: "container_name"}, {Key: "who", Text: true},
	{Key: "process", Text: true}, {Key: "proto"}, {Key: "local"}, {Key: "remote"},
	{Key: "packets_to_remote", Num: true}, {Key: "packets_from_remote", Num: true},
	{Key: "bytes_to_remote", Num: true}, {Key: "bytes_from_remote", Num: true}, {Key: "counted_at"},
	{Key: "rules"}, {Key: "confidence"}, {Key: "exact"}, {Key: "dating", Text: true}, {Key: "names", Text: true},
	{Key: "points"}, {Key: "sources"}, {Key: "reason", Text: true}, {Key: "container_id"}}

// contactTermColumns are the shorter columns on a terminal: who and the
// remote end whole (they are the answer), the rule that decided first; the
// counting point, the confidence and the dating are in the TSV, CSV and
// JSON. A time estimated (no packet dates it) is marked "~".
var contactTermColumns = []listing.Column{{Key: "first", Label: "TIME", Keep: true}, {Key: "who", Label: "WHO", Keep: true},
	{Key: "local"}, {Key: "remote", Keep: true}, {Key: "packets", Label: "PKTS >/<", Keep: true},
	{Key: "rule"}, {Key: "process", Text: true}, {Key: "names", Text: true}}

// contactWho names who a conversation is attributed to: the container, the
// group sharing its network namespace, the candidates of a reused address,
// a host process, or what is known ("host", "unknown").
func contactWho(k *traffic.Contact) string {
	names := func(n int, at func(int) (string, string)) []string {
		out := make([]string, n)
		for i := range out {
			id, name := at(i)
			out[i] = cmp.Or(name, shortID(id))
		}
		return out
	}
	switch {
	case k.Container != "":
		return cmp.Or(k.ContainerName, shortID(k.Container))
	case len(k.Group) > 0:
		return "group " + strings.Join(names(len(k.Group), func(i int) (string, string) { return k.Group[i].ID, k.Group[i].Name }), "+")
	case len(k.Candidates) > 0:
		return "candidates " + strings.Join(names(len(k.Candidates), func(i int) (string, string) { return k.Candidates[i].ID, k.Candidates[i].Name }), " or ")
	case k.Process != nil:
		return fmt.Sprintf("host process %s[%d]", k.Process.Comm, k.Process.PID)
	case slices.Contains(k.Rules, traffic.RuleHost):
		return "host"
	}
	return "unknown"
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// contactProcess is the process holding the conversation's socket: its
// name, pid and command line.
func contactProcess(k *traffic.Contact) string {
	p := k.Process
	if p == nil {
		return ""
	}
	s := fmt.Sprintf("%s[%d]", p.Comm, p.PID)
	if len(p.Cmdline) > 0 {
		s += " " + strings.Join(p.Cmdline, " ")
	}
	return s
}

// contactPoints are the capture points that saw the conversation, and its
// other sources by kind.
func contactPoints(k *traffic.Contact) (points, sources string) {
	var ps, ks []string
	for _, s := range k.Sources {
		if s.Interface != "" && !slices.Contains(ps, s.Interface) {
			ps = append(ps, s.Interface)
		}
		if !slices.Contains(ks, s.Kind) {
			ks = append(ks, s.Kind)
		}
	}
	return strings.Join(ps, " "), strings.Join(ks, " ")
}

func contactNames(k *traffic.Contact) string {
	names := append([]string{}, k.Names...)
	for _, n := range []string{k.SNI, k.HTTPHost} {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return strings.Join(names, " ")
}

// Contacts is the listing of conversations, one row each, the
// terminal's shorter table with it.
func Contacts(contacts []*traffic.Contact, warning string) *listing.Table {
	l := &listing.Table{Cols: contactColumns, Name: "contacts", Warning: warning, Term: &listing.Table{Cols: contactTermColumns}}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	for _, k := range contacts {
		points, sources := contactPoints(k)
		who := contactWho(k)
		var pk, by [2]string
		if k.CountedAt != "" {
			pk = [2]string{u(k.PacketsToRemote), u(k.PacketsFromRemote)}
			by = [2]string{u(k.BytesToRemote), u(k.BytesFromRemote)}
		}
		l.Add(k.First.Format(time.RFC3339Nano), k.Last.Format(time.RFC3339Nano), k.ContainerName, who, contactProcess(k), k.Proto,
			k.Local.String(), k.Remote.String(), pk[0], pk[1], by[0], by[1], k.CountedAt, strings.Join(k.Rules, " "), k.Confidence,
			strconv.FormatBool(k.Exact), k.Dating, contactNames(k), points, sources, k.Reason, k.Container)
		pkts := "-"
		if k.CountedAt != "" {
			pkts = fmt.Sprintf("%d/%d", k.PacketsToRemote, k.PacketsFromRemote)
		}
		proc := ""
		if k.Process != nil {
			proc = fmt.Sprintf("%s[%d]", k.Process.Comm, k.Process.PID)
		}
		first := k.First.UTC().Format("15:04:05")
		if !k.Exact {
			first = "~" + first
		}
		rule := traffic.RuleUnknown
		if len(k.Rules) > 0 {
			rule = k.Rules[0]
		}
		l.Term.Add(first, who, k.Local.String(), k.Remote.String()+"/"+k.Proto, pkts, rule, proc, contactNames(k))
	}
	return l
}

// flowColumns are the columns of flows --points in TSV, CSV and JSON.
// The container's id is last: the columns before it keep the places they
// had before it was added (scripts read them by position).
var flowColumns = []listing.Column{{Key: "first"}, {Key: "last"}, {Key: "container_name"}, {Key: "rule"},
	{Key: "confidence"}, {Key: "member"}, {Key: "interface"}, {Key: "role"}, {Key: "proto"},
	{Key: "client"}, {Key: "client_port", Num: true}, {Key: "server"}, {Key: "server_port", Num: true}, {Key: "original"},
	{Key: "packets_to_server", Num: true}, {Key: "packets_to_client", Num: true},
	{Key: "bytes_to_server", Num: true}, {Key: "bytes_to_client", Num: true}, {Key: "tcp_flags"}, {Key: "names", Text: true},
	{Key: "first_frame", Num: true}, {Key: "last_frame", Num: true}, {Key: "reason", Text: true}, {Key: "container_id"}}

// flowTermColumns are the shorter columns of flows on a terminal.
// The confidence and the dates are in the TSV, CSV and JSON. The
// endpoints are cut where the terminal is narrow (the TSV has them whole).
var flowTermColumns = []listing.Column{{Key: "first", Label: "TIME", Keep: true}, {Key: "container_name", Label: "CONTAINER"}, {Key: "rule"},
	{Key: "interface", Label: "IFACE"}, {Key: "client"}, {Key: "server"},
	{Key: "packets", Label: "PKTS C>S/S>C", Keep: true}, {Key: "names", Text: true}}

// flowNames are the names a flow was seen with: DNS, TLS SNI, HTTP Host.
func flowNames(f *traffic.Flow) string {
	names := append([]string{}, f.Names...)
	for _, n := range []string{f.SNI, f.HTTPHost} {
		if n != "" {
			names = append(names, n)
		}
	}
	return strings.Join(names, " ")
}

func flowRow(f *traffic.Flow) []string {
	orig := ""
	if o := f.Original; o != nil {
		orig = fmt.Sprintf("%s:%d>%s:%d", o.Src, o.SPort, o.Dst, o.DPort)
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	return []string{f.First.Format(time.RFC3339Nano), f.Last.Format(time.RFC3339Nano), f.ContainerName, f.Rule, f.Confidence,
		f.Member, f.Interface, f.Role, f.Proto, f.Client.String(), strconv.Itoa(int(f.ClientPort)), f.Server.String(),
		strconv.Itoa(int(f.ServerPort)), orig, u(f.PacketsToServer), u(f.PacketsToClient), u(f.BytesToServer),
		u(f.BytesToClient), f.TCPFlags, flowNames(f), u(f.FirstFrame), u(f.LastFrame), f.Reason, f.Container}
}

// Flows is the listing of flows --points (one row per flow and
// capture point), the terminal's shorter table with it.
func Flows(flows []*traffic.Flow, warning string) *listing.Table {
	l := &listing.Table{Cols: flowColumns, Name: "flows", Warning: warning, Term: &listing.Table{Cols: flowTermColumns}}
	for _, f := range flows {
		l.Add(flowRow(f)...)
		who := f.ContainerName
		if who == "" {
			who = f.Container
		}
		l.Term.Add(f.First.UTC().Format("15:04:05"), who, f.Rule, f.Interface,
			fmt.Sprintf("%s:%d", f.Client, f.ClientPort), fmt.Sprintf("%s:%d/%s", f.Server, f.ServerPort, f.Proto),
			fmt.Sprintf("%d/%d", f.PacketsToServer, f.PacketsToClient), flowNames(f))
	}
	return l
}
