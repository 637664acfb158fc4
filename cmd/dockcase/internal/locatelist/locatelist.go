// Package locatelist is how dockcase locate lists the contacts it finds
// on the live host: the table, TSV, CSV and JSON of the listing convention,
// and the lines a watch prints as contacts are seen.
package locatelist

import (
	"strconv"
	"strings"

	"github.com/dockcase/dockcase/cmd/dockcase/internal/listing"
	"github.com/dockcase/dockcase/collect/locate"
)

// columns are the columns of locate; Row gives the cells in their order.
// The keys are the JSON's (container_id, container_name, pid…) where a
// contact's JSON has the same field.
var columns = []listing.Column{{Key: "time", Keep: true}, {Key: "container_name", Label: "CONTAINER"}, {Key: "container_id", Label: "ID"},
	{Key: "network"}, {Key: "local", Label: "CONTAINER ADDR"}, {Key: "remote"}, {Key: "proto"}, {Key: "state"},
	{Key: "pid", Num: true, Keep: true}, {Key: "command", Text: true}, {Key: "sources"}, {Key: "note", Text: true}}

// termColumns are the table on a terminal: the container and its
// address whole (they are the answer), the id and network left to the
// piped and JSON forms.
var termColumns = []listing.Column{{Key: "time", Keep: true}, {Key: "container_name", Label: "CONTAINER", Keep: true},
	{Key: "local", Label: "CONTAINER ADDR", Keep: true}, {Key: "remote"}, {Key: "state"}, {Key: "pid", Num: true, Keep: true},
	{Key: "command", Text: true}, {Key: "sources"}, {Key: "note", Text: true}}

// Row is a contact's cells, in the order of the columns.
func Row(c locate.Contact) []string {
	name := c.ContainerName
	switch {
	case name == "" && c.ContainerID == "" && c.Network == locate.NetworkHost:
		name = "(host)"
	case name == "" && c.ContainerID == "":
		name = "(unknown)"
	}
	id := c.ContainerID
	if len(id) > 12 {
		id = id[:12]
	}
	pid := ""
	if c.PID != 0 {
		pid = strconv.Itoa(c.PID)
	}
	return []string{
		c.Time.UTC().Format("15:04:05"), name, id, c.Network, c.Local.String(), c.Remote.String(),
		c.Proto, c.State, pid, strings.Join(c.Cmdline, " "), strings.Join(c.Sources, ","), c.Note,
	}
}

// Header is the TSV header of a watch.
func Header() string {
	keys := make([]string, len(columns))
	for i, c := range columns {
		keys[i] = c.Key
	}
	return strings.Join(keys, "\t")
}

// Line is a contact as one tab-separated line; every cell is escaped by
// listing.TSVCell, so a command line cannot add columns or lines.
func Line(c locate.Contact) string {
	row := Row(c)
	for i, cell := range row {
		row[i] = listing.TSVCell(cell)
	}
	return strings.Join(row, "\t")
}

// Contacts is the listing of what locate found; --json prints the
// contacts themselves.
func Contacts(contacts []locate.Contact) *listing.Table {
	l := &listing.Table{Cols: columns, Value: contacts, Term: &listing.Table{Cols: termColumns}}
	if contacts == nil {
		l.Value = []locate.Contact{}
	}
	for _, c := range contacts {
		r := Row(c)
		l.Add(r...)
		// time, container, its address, remote/proto, state, pid,
		// command, sources, note
		l.Term.Add(r[0], r[1], r[4], r[5]+"/"+r[6], r[7], r[8], r[9], r[10], r[11])
	}
	return l
}
