// Package flow turns captures into flows: a bounded table of bidirectional
// flows per capture member (Table, fed one pcapng.Record at a time by Add),
// the DNS responses and the TLS server names and HTTP Hosts seen in them,
// the concurrent reading of several captures into one Set (ReadAll), and
// the extraction of chosen flows' packets into a new pcapng file (Extract).
//
// Captures are attacker-controlled: every table, log and parser here is
// bounded by a named limit, and a bound reached is reported in
// Capture.Problems, never silently. The per-packet path (Add, and the
// decoding goroutine of Read) does not allocate for a packet of a known flow.
package flow
