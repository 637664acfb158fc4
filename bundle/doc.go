// Package bundle writes, reads and verifies dockcase evidence bundles.
//
// This comment is the format specification, version 2. Version 1 differs
// only in the SHA-256 that manifest.json gives a member written in chunks
// (see Members); readers verify both.
//
// # Container
//
// A bundle is a POSIX (PAX) tar stream compressed with zstd, usually named
// NAME.tar.zst. Optionally the whole compressed stream is encrypted with age
// to one or more recipients (NAME.tar.zst.age). Standard tools read it:
//
//	tar --zstd -xf case.tar.zst
//	cd dockcase-web01-20261128T093000Z && sha256sum -c MANIFEST.sha256
//	ssh-keygen -Y check-novalidate -n dockcase -s MANIFEST.sha256.sig < MANIFEST.sha256
//
// The zstd stream is a sequence of frames of at most 8 MiB of input each,
// compressed in parallel; it ends with a zstd skippable frame (magic
// 0x184D2A5D, 32 bytes of content) holding the SHA-256 of the frames before
// it. Decoders pass over skippable frames; a reader checks the digest, since
// zstd leaves bits whose change does not alter what the stream decodes to.
// Unencrypted, the digest is the running SHA-256 of the file itself (which
// the custody log's first line carries), read before the trailer is
// written: it costs no pass of its own.
//
// The writer judges each 128 KiB block of a frame's input by the byte
// histogram of a 4 KiB sample: a block whose sample has more than 7.5 bits
// of entropy a byte (random or encrypted data, compressed files) is not
// compressed. Each run of consecutive blocks judged alike is one frame: a
// compressed frame, or a frame of raw blocks (zstd's Block_Type 0), which
// every decoder reads as it reads the others. A frame of raw blocks has the
// header byte 0xA0 (single segment, a 4-byte Frame_Content_Size, no content
// checksum) and blocks of at most 128 KiB.
//
// Every member lives under one top-level folder, the bundle's root, named
// dockcase-<host>-<UTC start time as 20060102T150405Z>, where <host> keeps
// only [A-Za-z0-9._-] of the host name. Members are regular files; a reader
// ignores directory entries and rejects every other type.
//
// # Members
//
// The first member is BUNDLE: the line "dockcase-bundle/v2" (or
// "dockcase-bundle/v1" in a bundle written before version 2), then one JSON
// object (the case metadata: case id, examiner, host name, collector version,
// start time in UTC). A reader that meets another major version stops with a
// *VersionError before reading further. manifest.json's format is the same
// line.
//
// Evidence members follow, in the order they were collected, with slash
// separated local paths (host/clock.json, docker/containers/<id>/inspect.json,
// capture/capture.pcapng …). The collector documents the layout of its
// members in package collect.
//
// Members added within version 1 may be absent from a bundle collected
// before them; a reader takes their absence as "not recorded", not as a gap.
// They are JSON documents:
//
//   - host/conntrack-sysctl.json, conntrack's clock, read right after
//     host/conntrack.json in the same network namespace: {"taken": RFC 3339
//     UTC time of the read, "netns_inode": number, "values": {setting name
//     (every /proc/sys/net/netfilter/nf_conntrack_*timeout*, and
//     nf_conntrack_acct and nf_conntrack_timestamp): integer}, "missing":
//     [why each expected setting could not be read]}. An entry's last packet
//     was about taken minus (its state's timeout minus its timeout_s).
//   - docker/stats.json, resource usage: {"samples": [{"moment": "snapshot"
//     (taken in the docker step) or "capture-end" (when the capture ended,
//     or the snapshot when none ran), "started": time, "containers": [{"id",
//     "name", "taken": time of the answer, "stats": the engine's answer to
//     GET /containers/{id}/stats?stream=false&one-shot=true verbatim, or
//     "error": why there is none}]}]}, one entry per container running at
//     the time. CPU is a rate between two samples' cpu_usage.total_usage.
//   - capture/docker-events.jsonl, the engine's events during the capture
//     (GET /events with since the collection's start, where
//     docker/events.jsonl ends, and no until, read as a stream until the
//     capture ended): one event a line, the engine's JSON verbatim, as in
//     docker/events.jsonl. The events of the first second may be in both
//     (the same timeNano, type, actor ID and action). The stream stops at
//     100000 events or 64 MiB; the member's note then says so, and says why
//     when the engine broke the stream.
//   - capture/containers/<id>/inspect.json, the engine's answer to
//     GET /containers/<id>/json verbatim, taken as the container's first
//     start event of the window arrived, for each container started during
//     the capture (at most 1000).
//   - capture/containers/<id>/netns.json, what the host said of that
//     container's network namespace right after the inspect: {"taken":
//     RFC 3339 UTC time, "pid": State.Pid of the inspect, "netns_inode":
//     inode of /proc/<pid>/ns/net, "links": [{"name", "ifindex", "iflink"
//     (a veth's: the ifindex of its host end), "kind", "mac", "addrs":
//     [CIDR], "link_netnsid"}] (none for a container in the host's network
//     namespace, whose links are the snapshot's), "error": why the
//     namespace or some of it could not be read (the process had exited,
//     its PID was another container's by then)}.
//   - capture/containers/index.json, every container the window's events
//     named: {"since", "ended": RFC 3339 UTC, "events": lines of
//     capture/docker-events.jsonl, "bounded": the stream stopped at its
//     bound, "error": why the stream failed, "containers": [{"id", "name",
//     "events": [its actions in order], "inspect", "netns": the members
//     written, "missed": why they are not (removed before the inspect,
//     exited, the capture ended first)}]}.
//   - capture/socket-samples.json, the socket tables through the capture
//     window (absent with --capture 0): every interval_ms (2000), or five
//     times the previous round's duration if longer, a round lists the network
//     namespaces again and reads each one's TCP sockets (v4 and v6, over
//     NETLINK_SOCK_DIAG in it; the /proc tcp tables where that fails) and udp,
//     udp6, raw and raw6 tables. {"interval_ms", "rounds", "started", "ended":
//     times, "namespaces": [{"inode", "host": true for the collector's own,
//     "pid": the process its tables were last read through, "containers": [ids
//     whose processes were in it, from their cgroups], "first", "last": the
//     rounds that listed it, "error": why the last of them could not read it
//     all}], "sockets": [{"netns_inode", "inode" (0 for a socket no process
//     holds: TIME_WAIT, not yet accepted), "proto", "local", "remote":
//     "address:port" ("[v6]:port"), "states": [in the order first seen],
//     "first", "last": the times of the first and last round that saw it,
//     "sightings": rounds that saw it, "owners": [{"pid", "tid" (a thread with
//     its own descriptor table), "fd", "comm", "cmdline": [argv, at most 4
//     KiB], "cmdline_truncated", "container": the id the process's cgroup
//     names, absent for the host's}]}], "errors": [{"time", "round",
//     "netns_inode" (absent: the whole round), "error", "repeated": later
//     rounds that failed the same way}], "untracked_sightings",
//     "errors_dropped": what was past the bounds of 262144 sockets and 1000
//     errors}. A socket is one namespace, inode and tuple; listening and
//     unconnected sockets are kept (a listener opened in the window is a
//     backdoor's mark). Its owners are looked up when it is first seen (and in
//     the next two rounds while none is found), among its namespace's
//     processes and then, once, the host's; where containers share a namespace
//     (container:<id>), the owner's container is the one that made the socket.
//   - docker/engine.json, the engine the docker/ members were read from, on
//     every engine: {"name": "docker" or "podman" (Podman's Docker-compatible
//     API, told by a component of GET /version named "Podman Engine"),
//     "version": the engine's own version, "api_version": the compatible API
//     version negotiated and used for every docker/ member, "engine_api_version":
//     Docker's API version or Podman's libpod API version, "platform": the
//     version answer's platform name, "components": [their names]}.
//   - podman/info.json, on Podman only: the engine's answer to GET
//     /libpod/info verbatim (host.networkBackend "netavark" or "cni",
//     host.cgroupManager, host.eventLogger, store).
//   - podman/networks.json, on Podman only: the engine's answer to GET
//     /libpod/networks/json verbatim: [{"name", "id", "driver",
//     "network_interface": the bridge's name (podman1, cni-podman1), which
//     the compatible docker/networks.json lacks, "subnets", "dns_enabled",
//     "internal", …}].
//
// Changed meanings within version 1: on Podman, docker/containers/<id>/top.json
// is not the engine's answer (Podman's top execs ps inside the container,
// the suspect's own binary) but the host's /proc as the processes step read
// it, in the same shape: {"Titles": ["UID", "PID", "PPID", "STIME" (RFC 3339
// UTC), "COMM", "CMD"], "Processes": [[one string per title]]}, one row per
// process whose cgroup is the container's; the member's source is
// {"kind": "file"} and its note says so. On Podman docker/events.jsonl is
// read with GET /events?since=…&stream=false (Podman ends a stream at its
// until and answers a past until with nothing) and the events after the
// collection's start dropped. On either engine, an events answer with no
// event for a window in which containers were created, started or stopped
// (by their inspect) is a gap of the docker step.
//
// Fields added to an existing member within version 1, absent before:
// preservation/commits.json's entries may have "image_names": the names the
// engine gave the committed image (its RepoTags), which may differ from
// "reference" (Podman qualifies it: docker.io/dockcase/<case>:<container>).
// capture/interfaces.json's interfaces may have the role "parent" (the
// parent of a macvlan/ipvlan network, captured even without an address;
// "network" its first network, "parent_of" all of them, as the interface
// block's description names them; an uplink that is a parent keeps the role
// uplink and has "parent_of"), and the document may have "overlays":
// [{"network", "id", "vxlan": [its vxlan devices], "unseen": what the
// capture cannot see of the network, "error"}].
//
// A member whose length is not known in advance (a docker save stream, a
// packet capture) is written as numbered chunks of at most 64 MiB each:
// images/web.tar.000, images/web.tar.001, … A member that turns out to fit
// into one chunk is written under its own name. Chunks let the writer stream
// without spooling anything to the collected host's disk while the tar header
// still carries each entry's exact size. The reader reassembles chunks into
// the logical member transparently.
//
// The SHA-256 that manifest.json gives a chunked member is, from version 2
// on, that of its chunk list: its chunks' lines in MANIFEST.sha256's format
// ("<64 hex>  <path>\n"), in order. Every byte of the member is then hashed
// once, by its chunk's SHA-256, and the list binds the chunks in order as
// a hash of the reassembled stream did: changing, dropping or reordering a
// chunk changes a chunk's hash or the list's. In the extracted bundle
//
//	grep -E '  capture/capture\.pcapng\.[0-9]{3,}$' MANIFEST.sha256 | sha256sum
//
// prints it for capture/capture.pcapng (ChunkListSHA256). In version 1 it
// is the SHA-256 of the reassembled stream. An unchunked member's SHA-256
// is that of its bytes in both.
//
// The last members, in this order:
//
//   - custody.jsonl: one JSON object a line per collection step (name, start
//     and end time in UTC, what was called, status or error, the members it
//     produced).
//   - manifest.json: the logical members (see Manifest): path, size, SHA-256
//     of the whole member (of its chunk list when chunked), time written, the step that produced it, its
//     source (API call, file or command with argv), and its chunks; whether
//     the collection is complete and what it could not get.
//   - MANIFEST.sha256: sha256sum's format ("<64 hex>  <path>\n"), paths
//     relative to the root, one line per physical tar member before it,
//     BUNDLE, chunks, custody.jsonl and manifest.json included.
//   - MANIFEST.sha256.sig: an SSH signature (the SSHSIG armored format of
//     ssh-keygen -Y sign) over MANIFEST.sha256 with namespace "dockcase" and
//     hash sha512.
//   - signer.pub: the signer's public key in authorized_keys format.
//
// # Verification
//
// A bundle is intact when the signature over MANIFEST.sha256 verifies with
// signer.pub (and, when the verifier names trusted signers, signer.pub is one
// of them), every physical member has the size and SHA-256 that
// MANIFEST.sha256 and manifest.json give, each chunked member's chunks are
// in order and their list has the SHA-256 manifest.json gives (in version 1:
// the reassembled stream has it), and no member is missing or extra. Reader verifies in one streaming pass: it hashes members as they
// pass and decides when the trailer arrives; nothing is handed to a caller
// for interpretation before the whole bundle has verified.
//
// # Chain of custody after collection
//
// Beside the bundle file, NAME.custody.jsonl holds one event a line (see
// CustodyEvent): collected, verified, copied, transferred, received,
// analysed …, who, when, where, a note. A line is the JSON object that
// encoding/json writes for CustodyEvent, fields in this order, no spaces,
// where and note left out when empty:
//
//	line   = "{" seq "," time "," action "," by ["," where] ["," note]
//	         "," bundle "," prev [sig] "}" LF
//	seq    = `"seq":` number         1 for the first line, then one more
//	time   = `"time":"` RFC 3339 UTC time, fraction as needed `"`
//	action = `"action":` string      by, where and note alike
//	bundle = `"bundle_sha256":"` 64 lowercase hex `"`
//	prev   = `"prev_sha256":"` 64 lowercase hex `"`
//	sig    = `,"sig":"` standard padded base64 `"`   (the comma included)
//
// where a string is as encoding/json writes it (<, > and & as \u003c,
// \u003e and \u0026, invalid UTF-8 as U+FFFD).
//
// prev_sha256 is the SHA-256 of the previous line's bytes without its
// newline, signature included; the first line carries the SHA-256 of the
// bundle file itself. Changing, removing, inserting or reordering a line
// breaks the chain at the line after it; stripping a signature changes the
// line and breaks the chain as well.
//
// A signed event's sig is the last field of its line: the base64 of an
// SSHSIG blob (the binary form of what ssh-keygen -Y sign armors), namespace
// "dockcase-custody" (CustodyNamespace, apart from the bundle's "dockcase"
// so that neither signature stands for the other), hash sha512. The signed
// message is the line with its sig (from the comma before "sig" to the quote
// that ends the base64; the closing brace stays) removed, its newline
// included: the unsigned line, byte for byte, which must also be exactly what
// the event encodes to. The message
// holds the event and its chain link (seq, bundle_sha256, prev_sha256), so a
// signed line cannot be moved to another place, log or bundle. The key is in
// the signature; it is trusted when the verifier's allowed_signers file holds
// it for the namespace "dockcase-custody" (a line without namespaces= allows
// every namespace, as for ssh-keygen) or --fingerprint names it. The
// collector signs the collected event with the key that signs the bundle;
// custody add and verify --by sign with --key or --agent, or write the event
// unsigned and say so. Logs written before events were signed hold only
// unsigned events; they read, and their events are reported unsigned.
//
// Event N of the log checks with standard tools, given an allowed_signers
// file naming the signer as lab@example (the same recipe is in the README and
// in this package's tests):
//
//	sed -n "${N}s/,\"sig\":\"[^\"]*\"}\$/}/p" case.tar.zst.custody.jsonl > event.msg
//	{ echo '-----BEGIN SSH SIGNATURE-----'
//	  sed -n "${N}s/.*,\"sig\":\"\([^\"]*\)\"}\$/\1/p" case.tar.zst.custody.jsonl | fold -w 70
//	  echo '-----END SSH SIGNATURE-----'; } > event.sig
//	ssh-keygen -Y verify -f allowed_signers -I lab@example -n dockcase-custody -s event.sig < event.msg
//
// and its chain link with sha256sum: line N-1 without its newline
// (sed -n "$((N-1))p" LOG | tr -d '\n' | sha256sum) is the prev_sha256 of
// line N.
//
// What the scheme does not do: a log cut after any line is an intact, shorter
// chain. The SHA-256 of the last line, the log's head, is printed by custody
// show; recorded in the case notes (or by the next holder), it detects that
// (custody show --head). A signature proves who signed an event, not that
// the signer told the truth; an unsigned event proves nothing about its
// author. A log is at most maxCustodyLogBytes, a sig field at most
// maxCustodySigBytes; namespaces= patterns other than an exact name or "*"
// are not matched.
//
// # Containment notes
//
// The contained and released events of dockcase contain and release (package
// collect/contain) carry in their note one JSON object, as encoding/json
// writes it, that opens with {"format":"dockcase-containment/v1". Each
// container contained or released gets two events: step "plan", recorded
// before anything is done, and step "done", recorded after. Fields, empty
// ones left out but for format, step, container, name and status:
//
//	format      "dockcase-containment/v1"
//	step        "plan" or "done"
//	container   the container's full id; name, its name then
//	reason      why (--reason)
//	status      the container's state before the step: running, paused …
//	networks    contained: every network the container was on before, each
//	            {network, network_id, aliases, ipv4, ipv6, mac, static_ipv4,
//	            static_ipv6, links, driver_opts}; static_* are the addresses
//	            asked for at connect, the others what the engine reported.
//	            released: the endpoints asked for again
//	pause       contained: pauses (plan) or paused (done); released: unpauses
//	            or unpaused; false when the container was not running
//	changed     network names left (contained) or joined (released): to be
//	            (plan), done (done)
//	undoes      released: the seq of the contained event it undoes
//	failed      what could not be done, in the engine's words
//	unrestored  released: each address, MAC or alias not given back as it was
//
// Release restores from the last contained event of the container: its done
// event, or its plan event when no done event follows (contain was stopped
// between the two), unless a released done event without failures undoes it
// already. The notes are evidence like any custody event: signed ones are
// what their signer recorded; an unsigned one proves nothing of its author.
//
// # Limits
//
// A reader treats a bundle as hostile: member names must be local paths
// under the root (no "..", no absolute paths), no duplicates, no member the
// manifest lacks, at most maxMembers members, manifests of at most
// maxManifestBytes, zstd windows of at most maxZstdWindowBytes. Each
// violation is a *FormatError naming the member.
package bundle
