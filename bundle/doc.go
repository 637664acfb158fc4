// Package bundle writes, reads and verifies dockcase evidence bundles.
//
// This comment is the format specification, version 1.
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
//
// Every member lives under one top-level folder, the bundle's root, named
// dockcase-<host>-<UTC start time as 20060102T150405Z>, where <host> keeps
// only [A-Za-z0-9._-] of the host name. Members are regular files; a reader
// ignores directory entries and rejects every other type.
//
// # Members
//
// The first member is BUNDLE: the line "dockcase-bundle/v1", then one JSON
// object (the case metadata: case id, examiner, host name, collector version,
// start time in UTC). A reader that meets another major version stops with a
// *VersionError before reading further.
//
// Evidence members follow, in the order they were collected, with slash
// separated local paths (host/clock.json, docker/containers/<id>/inspect.json,
// capture/capture.pcapng …). The collector documents the layout of its
// members in package collect.
//
// A member whose length is not known in advance (a docker save stream, a
// packet capture) is written as numbered chunks of at most 64 MiB each:
// images/web.tar.000, images/web.tar.001, … A member that turns out to fit
// into one chunk is written under its own name. Chunks let the writer stream
// without spooling anything to the collected host's disk while the tar header
// still carries each entry's exact size. The reader reassembles chunks into
// the logical member transparently.
//
// The last members, in this order:
//
//   - custody.jsonl: one JSON object a line per collection step (name, start
//     and end time in UTC, what was called, status or error, the members it
//     produced).
//   - manifest.json: the logical members (see Manifest): path, size, SHA-256
//     of the whole member, time written, the step that produced it, its
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
// MANIFEST.sha256 and manifest.json give, each chunked member's reassembled
// stream has the SHA-256 manifest.json gives, and no member is missing or
// extra. Reader verifies in one streaming pass: it hashes members as they
// pass and decides when the trailer arrives; nothing is handed to a caller
// for interpretation before the whole bundle has verified.
//
// # Chain of custody after collection
//
// Beside the bundle file, NAME.custody.jsonl holds one JSON object a line
// per event (collected, verified, copied, transferred, analysed …: who,
// when, where, note). Each line carries in prev_sha256 the SHA-256 of the
// previous line's bytes (without its newline); the first line carries the
// SHA-256 of the bundle file itself. Changing, removing or reordering a line
// breaks the chain at that line.
//
// # Limits
//
// A reader treats a bundle as hostile: member names must be local paths
// under the root (no "..", no absolute paths), no duplicates, no member the
// manifest lacks, at most maxMembers members, manifests of at most
// maxManifestBytes, zstd windows of at most maxZstdWindowBytes. Each
// violation is a *FormatError naming the member.
package bundle
