#!/usr/bin/env bash
# Bundle speed and memory against the standard pipeline (issue 2). Prints, for
# a 1 GiB incompressible and a 1 GiB text-like input, the wall time of the
# dockcase writer and verifier, the peer pipeline's, their ratio and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v zstd >/dev/null || { apt-get update -qq && apt-get install -y -qq zstd; }
bin=$(mktemp -d)/bundlebench
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./scripts/bench/bundlebench
"$bin" "$@"
