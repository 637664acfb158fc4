// Package analyze is the orchestrator of the offline analysis of one
// Docker host's evidence bundle: Open loads the host model once
// (analyze/model, the only reader of the bundle) and the Case builds each
// stage over it at most once, on first use, so that every command (analyze,
// flows, extract, path, findings, timeline) reads the same model and the
// same traffic:
//
//	model     the host: containers, networks, namespaces, firewall, leases
//	netpath   each container's path to an address, hop by hop; visibility
//	flow      the captures' flows and DNS names (internal/pcapng, internal/packet)
//	traffic   each flow attributed to a container, with its rule and evidence
//	ioc       who talked to each indicator of compromise
//	triage    the findings and their rule catalogue
//	timeline  the case timeline, CSV and Timesketch
//
// Result is the analysis document (dockcase-analysis/v2) built from them,
// specified in docs/analysis-v2.md with its JSON Schema next to it.
//
// Data flows one way: collect writes the bundle, analyze reads it; no
// package here imports collect. Promises: every fact cites its evidence (the
// member, its SHA-256 from the signed manifest, and a JSON pointer or a
// line); a member the bundle lacks never makes the analysis fail: it is
// listed in Result.Missing and every answer that needed it says "unknown
// because …". Everything read from the bundle is bounded by a named limit,
// because the host that wrote it may have been compromised. Output is
// deterministic: sorted, with no clock of the analysis run.
package analyze
