// Package analyze rebuilds, offline, the container network of one Docker
// host from an evidence bundle and answers questions about it.
//
// Load turns a verified bundle into a Host: containers, networks, network
// namespaces, the host's links, routes and policy rules, conntrack, the
// firewall (iptables-save -c, ip6tables-save -c and nft -j), processes and
// sockets. Data flows one way: collect writes the bundle, analyze reads it;
// this package decodes the members into its own types and never imports
// collect.
//
// On a Host:
//
//   - Path explains, hop by hop, how a container's traffic reaches an
//     address: container interface, host veth, bridge, the route the host
//     chooses, the forward verdict, the NAT rule that rewrites the source,
//     and the interface the packet leaves by with its final source address.
//   - Visibility says, for each container and each host interface, whether a
//     capture there would show that container's traffic, and under which
//     source address.
//   - Owner says which container held an address at a given time, from the
//     inspect data and the engine's events.
//
// Analyze puts it together into the dockcase-analysis/v1 document (Result),
// specified in docs/analysis-v1.md with its JSON Schema next to it.
//
// Promises: every fact cites its evidence (the member, its SHA-256 from the
// signed manifest, and a JSON pointer or a line); a member the bundle lacks
// never makes Load fail: it is listed in Host.Missing and every answer that
// needed it says "unknown because …". Everything read from the bundle is
// bounded by a named limit, because the host that wrote it may have been
// compromised. Output is deterministic: sorted, with no clock of the analysis
// run.
package analyze
