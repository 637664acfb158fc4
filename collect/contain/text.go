package contain

// What contain and release print: the plan of a dry run, then what was done
// to each container, as "dockcase contain" and "dockcase release" show it.

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/dockcase/dockcase/collect/docker"
)

// PrintContainPlan prints what contain is about to do to one container.
func PrintContainPlan(w io.Writer, p Plan) {
	st := p.Before
	fmt.Fprintf(w, "plan: contain %s (%s, %s)\n", st.Name, docker.ShortID(st.ID), st.Status)
	if p.Pause {
		fmt.Fprintf(w, "  pause\n")
	}
	for _, ep := range p.Networks {
		fmt.Fprintf(w, "  disconnect from %s\n", endpointLine(ep))
	}
	printPlanNotes(w, p)
}

// PrintReleasePlan prints what release is about to do to one container.
func PrintReleasePlan(w io.Writer, p Plan) {
	st := p.Before
	fmt.Fprintf(w, "plan: release %s (%s, %s), undoing custody event %d\n", st.Name, docker.ShortID(st.ID), st.Status, p.Undoes.Seq)
	for _, ep := range p.Networks {
		fmt.Fprintf(w, "  reconnect to %s\n", endpointLine(ep))
	}
	if p.Pause {
		fmt.Fprintf(w, "  unpause\n")
	}
	printPlanNotes(w, p)
}

func printPlanNotes(w io.Writer, p Plan) {
	for _, s := range p.Impossible {
		fmt.Fprintf(w, "  CANNOT: %s\n", s)
	}
	for _, s := range p.Notes {
		fmt.Fprintf(w, "  unchanged: %s\n", s)
	}
	if p.Empty() {
		fmt.Fprintf(w, "  nothing to do\n")
	}
}

// PrintContained prints what contain did to one container; signedBy says
// how its custody events are signed.
func PrintContained(w io.Writer, r Result, signedBy string) {
	st := r.Plan.Before
	fmt.Fprintf(w, "contained %s (%s):\n", st.Name, st.ID)
	if r.Paused {
		fmt.Fprintf(w, "  paused (was %s)\n", st.Status)
	}
	for _, ep := range r.Plan.Networks {
		if slices.Contains(r.Changed, ep.Network) {
			fmt.Fprintf(w, "  disconnected from %s\n", endpointLine(ep))
		}
	}
	printOutcome(w, r, signedBy)
}

// PrintReleased prints what release did to one container; signedBy says
// how its custody events are signed.
func PrintReleased(w io.Writer, r Result, signedBy string) {
	st := r.Plan.Before
	fmt.Fprintf(w, "released %s (%s), undoing custody event %d:\n", st.Name, st.ID, r.Plan.Undoes.Seq)
	for _, ep := range r.Plan.Networks {
		if slices.Contains(r.Changed, ep.Network) {
			fmt.Fprintf(w, "  reconnected to %s\n", endpointLine(ep))
		}
	}
	if r.Paused {
		fmt.Fprintf(w, "  unpaused\n")
	}
	for _, s := range r.Unrestored {
		fmt.Fprintf(w, "  NOT RESTORED: %s\n", s)
	}
	printOutcome(w, r, signedBy)
}

func printOutcome(w io.Writer, r Result, signedBy string) {
	for _, s := range r.Failed {
		fmt.Fprintf(w, "  FAILED: %s\n", s)
	}
	for _, s := range r.Plan.Notes {
		fmt.Fprintf(w, "  unchanged: %s\n", s)
	}
	if !r.Did() {
		fmt.Fprintf(w, "  nothing changed\n")
	}
	switch {
	case r.DoneSeq > 0:
		fmt.Fprintf(w, "  custody: events %d (plan) and %d (done), %s\n", r.PlanSeq, r.DoneSeq, signedBy)
	case r.PlanSeq > 0:
		fmt.Fprintf(w, "  custody: event %d (plan) only: the done event could not be recorded\n", r.PlanSeq)
	}
}

// endpointLine names a network with what release restores of it; the names
// and aliases come from the engine and the container's owner: quoted.
func endpointLine(ep docker.Endpoint) string {
	var parts []string
	for _, a := range []struct{ k, v string }{{"ipv4", ep.IPv4}, {"ipv6", ep.IPv6}, {"mac", ep.MAC}} {
		if a.v != "" {
			parts = append(parts, a.k+" "+a.v)
		}
	}
	if len(ep.Aliases) > 0 {
		q := make([]string, len(ep.Aliases))
		for i, a := range ep.Aliases {
			q[i] = fmt.Sprintf("%q", a)
		}
		parts = append(parts, "aliases "+strings.Join(q, " "))
	}
	s := fmt.Sprintf("%q", ep.Network)
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}
