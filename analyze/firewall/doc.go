// Package firewall models a host's packet filter offline, from the
// evidence the collector took: iptables-save -c and ip6tables-save -c text
// (ParseIPTablesSave) and nft -j JSON (ParseNftJSON), both into one Ruleset
// of tables, chains and rules with their counters.
//
// On a Ruleset, Evaluate and ForwardVerdict walk the chains a packet
// traverses and say what decides it, step by step, each step citing the rule
// by its line (iptables) or JSON pointer (nft); SourceNAT follows the same
// walk through the nat chains and their jumps to the rule that
// rewrites a packet's source; Masquerades and PublishedPorts list Docker's
// NAT; Layout names which of Docker's firewall layouts the host uses.
//
// The input is evidence from a possibly compromised host: every dimension of
// it is bounded, and what cannot be evaluated is reported as uncertain,
// never guessed.
package firewall
