#!/usr/bin/env bash
# make demo: everything happens in a temp dir that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d -t brine-demo.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "brine demo in $tmp"
bin/brine-minion --help || true
