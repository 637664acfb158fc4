#!/usr/bin/env bash
# Regenerates testdata/demo: brings up the end-to-end scenario on a real
# dockerd (a C2 in a network namespace on 198.18.0.0/15, a beaconing container
# on a user-defined network, …), collects it with the real collector into
# testdata/demo/demo.tar.zst, and writes the signer's allowed_signers and a
# scenario.txt describing what is in it. Golden files that depend on it are
# refreshed with: go test ./... -update
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/ensure-docker.sh
go test -count=1 -run '^TestGenerateTestdata$' -v ./collect -args -gen-testdata "$PWD/testdata/demo" | grep -v '^=== ' | tail -20
ls -la testdata/demo
