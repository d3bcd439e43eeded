#!/usr/bin/env bash
# make bench: prints every figure docs/PERFORMANCE.md records.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run=NONE -bench=. -benchmem ./...
