// Package model is the offline model of one Docker host, built from an
// evidence bundle, and the only reader of the bundle's members.
//
// Load (or LoadSource, for members held in memory) decodes each member
// once into a Host: containers, networks, network namespaces with their
// links, routes, policy rules and sockets, the host's processes,
// conntrack, the engine's events, the clock, and the firewall
// (iptables-save -c, ip6tables-save -c and nft -j, parsed by package
// firewall). From inspect and the engine's events it builds the address
// leases: which container held which address when (Owner). Streams too
// large to hold, such as the captures, are opened through the Host (Open),
// never through the bundle.
//
// Promises: every fact cites its evidence (the member, its SHA-256 from the
// signed manifest, and a JSON pointer or a line); a member the bundle lacks
// never makes Load fail: it is listed in Host.Missing, with what is unknown
// because of it. Everything read is bounded by a named limit, because the
// host that wrote the bundle may have been compromised.
package model
