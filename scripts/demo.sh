#!/usr/bin/env bash
# The main job until the demo bundle in testdata/ and `dockcase analyze` exist:
# build the static collector, collect this host into a signed bundle (without
# images, to stay quick), verify it against the fingerprint it printed, and
# show what it holds. Needs root; starts dockerd when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/ensure-docker.sh || echo "demo: no Docker engine: the bundle will say so" >&2
out=${1:-$(mktemp -d)/demo.tar.zst}
CGO_ENABLED=0 go build -trimpath -o "$(dirname "$out")/dockcase" ./cmd/dockcase
dc="$(dirname "$out")/dockcase"
set +e
"$dc" collect --case DEMO --examiner "$(id -un)" --no-images --out "$out" 2> >(tee "$out.log" >&2)
code=$?
set -e
[ -f "$out" ] || exit "$code"
fp=$(sed -n 's/.*signer fingerprint *\(SHA256:[^ ]*\).*/\1/p' "$out.log")
"$dc" verify --fingerprint "$fp" "$out"
"$dc" inspect "$out"
echo "demo: bundle at $out (collect exit code $code)"
