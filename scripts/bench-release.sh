#!/usr/bin/env bash
# The fairness experiment of the timed release (docs/release.md): naive
# plaintext at T vs ciphertext ahead + key at T vs ciphertext too late vs
# trusted-edge decryption, 100 clients per run on tc-shaped links from
# 56 kbit/s to 100 Mbit/s, a 10 MB work. About 30 minutes.
#
# Needs Linux, root (network namespaces, tc) and iproute2; installs
# iproute2 with apt-get when it is missing. Extra arguments go to
# `folio release bench` (e.g. --clients 20 --size 2000000 for a short run).
# Results: $OUT/result.json, histogram.txt, histogram.svg (OUT defaults to
# tmp/bench-release/ in the repository, which git ignores).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-tmp/bench-release}"
if [ "$(uname -s)" != Linux ]; then
  echo "bench-release: skipped: the experiment needs Linux network namespaces and tc (this is $(uname -s))" >&2
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "bench-release: skipped: creating network namespaces and tc qdiscs needs root; run it as root (sudo make bench-release)" >&2
  exit 0
fi
if ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
  echo "bench-release: installing iproute2 (ip, tc)" >&2
  apt-get update -qq && apt-get install -y -qq iproute2 >/dev/null
fi
if ! ip netns add folio-bench-probe 2>/dev/null; then
  echo "bench-release: skipped: this machine does not let root create network namespaces (a container without CAP_SYS_ADMIN?)" >&2
  exit 0
fi
ip netns del folio-bench-probe
make -s build
rm -rf "$out/net"
exec ./bin/folio release bench --out "$out" "$@"
