#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a while and copies the inputs
# the fuzzer found interesting from Go's cache into the package's
# testdata/fuzz/<Target>/, so the corpus is kept in git and replayed by
# every `go test` run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-30s}"
cache="$(go env GOCACHE)/fuzz"
module="$(go list -m)"
for pkg in $(go list ./...); do
  dir="$(go list -f '{{.Dir}}' "$pkg")"
  for target in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)' "$dir"/*_test.go 2>/dev/null | awk '{print $2}'); do
    echo "== $pkg $target ($fuzztime)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
    src="$cache/$pkg/$target"
    if [ -d "$src" ]; then
      mkdir -p "$dir/testdata/fuzz/$target"
      # Keep at most 50 entries per target, the smallest first.
      ls -S -r "$src" | head -50 | while read -r f; do cp -n "$src/$f" "$dir/testdata/fuzz/$target/"; done
    fi
  done
done
echo "corpus kept under */testdata/fuzz; review and commit it"
