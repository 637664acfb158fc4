#!/usr/bin/env bash
# Collector speed and memory (issue 3), printed, measured in one run:
#  - preservation of a 512 MiB committed image vs docker save | zstd -T0 -3 | sha256sum
#  - the host snapshot with 50 running containers: time and peak RSS
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/ensure-docker.sh
go test -v -count=1 -timeout 30m -run '^TestBenchCollect$' ./collect -args -bench-collect | grep -E '^(image save|host snapshot)|FAIL|_test.go'
