#!/usr/bin/env bash
# The Folio demo: start a local network and walk through the copyright
# scenario, printing each command as a user would type it. The network keeps
# running afterwards. Run by `make demo`; NET sets the network directory.
set -euo pipefail
cd "$(dirname "$0")/.."
NET="${NET:-./folio-net}"
BIN=bin/folio

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ folio %s\n' "$*"; "$BIN" --network "$NET" "$@"; }

step "Start the network: 2 organisations x 2 peers, 3 Raft orderers, 3 CAs, mutual TLS"
run network up --detach

tag="$(date +%s)"
work_a="SONG-$tag"
work_b="PHOTO-$tag"
files="$(mktemp -d)"
trap 'rm -rf "$files"' EXIT
printf 'A song recorded on %s\n' "$(date)" > "$files/song.mp3"
printf 'A photograph taken on %s\n' "$(date)" > "$files/photo.jpg"

step "Register two works as user1@Org1: both organisations endorse, the orderers order, every peer commits"
run work register --id "$work_a" --title "Morning Song" --author "Ann Writer" --type audio --file "$files/song.mp3" --as user1@Org1
run work register --id "$work_b" --title "Harbour at Dawn" --author "Ben Shooter" --type image --file "$files/photo.jpg" --as user1@Org1

step "Transfer $work_a to user1@Org2 (only the owner, or an admin of the owner's organisation, may)"
run work transfer --id "$work_a" --to user1@Org2 --as user1@Org1

step "Query it from the other organisation's peer"
run work get --id "$work_a" --peer peer0.org2 --as user1@Org2

step "Its history: every change, who made it, in which block"
run work history --id "$work_a"

step "Evidence: a bundle anyone can check offline with the organisations' root certificates"
run work prove --id "$work_a" --out "$NET/evidence-$work_a.json"
run evidence verify "$NET/evidence-$work_a.json"

cat <<EOT

The network is still running in $NET. Continue with, for example:
  $BIN network status --network $NET
  $BIN work list --owner user1@Org1 --network $NET
  $BIN block tail --network $NET
  $BIN bench --workload register --concurrency 64 --duration 30s --network $NET
Stop it with:
  $BIN network down --network $NET
EOT
