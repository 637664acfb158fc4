#!/usr/bin/env bash
# The whole test suite: what README.md calls "the test command" and what
# .ci/run runs. Installs missing tools, makes sure a Docker engine and the
# Podman services run (under CI=true a missing engine fails the run instead
# of skipping the end-to-end tests), vets, builds the static collector,
# cross-builds the offline commands for macOS and Windows and tests them
# without the Linux-only files, runs every test, then each fuzz target
# briefly.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-8s}

./scripts/setup.sh
if ! ./scripts/ensure-docker.sh; then
  if [ "${CI:-}" = true ]; then
    echo "test: the Docker engine could not be started; the end-to-end tests are mandatory under CI" >&2
    exit 1
  fi
  echo "test: no Docker engine: the end-to-end tests will skip" >&2
fi
# The Podman end-to-end tests run on rootful Podman services of their own,
# one per network backend (netavark, CNI).
if ! ./scripts/ensure-podman.sh netavark cni; then
  if [ "${CI:-}" = true ]; then
    echo "test: the Podman services could not be started; the Podman end-to-end tests are mandatory under CI" >&2
    exit 1
  fi
  echo "test: no Podman service: the Podman end-to-end tests will skip" >&2
fi

echo "== go vet"
go vet ./...

echo "== static build (CGO_ENABLED=0)"
bin=$(mktemp -d)/dockcase
CGO_ENABLED=0 go build -trimpath -o "$bin" ./cmd/dockcase
if ldd "$bin" >/dev/null 2>&1; then
  echo "test: $bin is dynamically linked" >&2
  exit 1
fi
echo "static binary: $(du -h "$bin" | cut -f1)"
rm -rf "$(dirname "$bin")"

# The offline commands run on the analyst's Mac or Windows machine: collect
# and locate there are usage errors that say they run on the Linux host.
echo "== cross builds (CGO_ENABLED=0)"
for target in darwin/amd64 darwin/arm64 windows/amd64; do
  CGO_ENABLED=0 GOOS=${target%/*} GOARCH=${target#*/} go build -trimpath -o /dev/null ./cmd/dockcase
  echo "built $target"
done

# The same offline packages' tests in a build without the Linux-only files
# (the portable tag stands in for another GOOS on this machine). -short: the
# end-to-end tests on the real engine among them run once, in the full run
# below.
echo "== go test -short -tags portable (offline packages)"
go test -count=1 -short -tags portable $(go list ./... | grep -v /collect)

echo "== go test"
go test -count=1 -timeout 20m ./...

echo "== fuzz ($fuzztime each)"
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "-- $pkg $target"
    crashers="$dir/testdata/fuzz/$target"
    for attempt in 1 2; do
      before=$(ls "$crashers" 2>/dev/null | wc -l || true)
      if out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel 1 "$pkg" 2>&1); then
        break
      fi
      # Go 1.26's fuzz coordinator can report its own -fuzztime deadline as
      # a failure (go.dev/issue/75804, fixed in Go 1.27): that failure
      # writes no crashing input. Anything else, or a new input, fails.
      after=$(ls "$crashers" 2>/dev/null | wc -l || true)
      if [ "$after" = "$before" ] && grep -q '^    context deadline exceeded$' <<<"$out"; then
        echo "fuzz: $target hit the fuzztime deadline race of go.dev/issue/75804 (no crashing input written); attempt $attempt"
        if [ "$attempt" = 2 ]; then
          out="fuzz: $target ran its time twice without a crashing input; counted as passed"
        fi
        continue
      fi
      printf '%s\n' "$out"
      echo "test: fuzz target $target failed; a crashing input, if any, is under $crashers" >&2
      exit 1
    done
    printf '%s\n' "$out" | tail -1
  done
done
