#!/usr/bin/env bash
# The main job, on the demo bundle in testdata/demo (collected by the real
# collector from the end-to-end scenario: a container on a user-defined
# network beaconing to a C2 through Docker's MASQUERADE rule): verify it
# against its signer, then analyse it offline — the host's container network,
# each container's routing path and where its traffic is visible. Writes
# demo-report.json (and, with the HTML report, demo-report.html) here.
# Needs only Go; no root, no Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=testdata/demo
go run ./cmd/dockcase verify --allowed-signers "$demo/allowed_signers" "$demo/demo.tar.zst"
# The scenario's C2 address: the IOC of the demo.
c2=$(awk '$1 == "C2" {print $2}' "$demo/scenario.txt")
beacon=$(awk '$1 == "beacon" {print $2}' "$demo/scenario.txt")
go run ./cmd/dockcase analyze --allowed-signers "$demo/allowed_signers" --to "$c2" --json demo-report.json "$demo/demo.tar.zst"
go run ./cmd/dockcase path --allowed-signers "$demo/allowed_signers" "$demo/demo.tar.zst" "$beacon" --to "$c2"
echo "demo: wrote demo-report.json"
