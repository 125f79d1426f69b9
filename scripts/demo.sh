#!/usr/bin/env bash
# The Folio demo: start a local network and walk through the copyright
# scenario, printing each command as a user would type it. The network keeps
# running afterwards. Run by `make demo`; NET sets the network directory.
set -euo pipefail
cd "$(dirname "$0")/.."
NET="${NET:-./folio-net}"
BIN=bin/folio

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
# quote prints its arguments as a shell would need them typed: as they are
# when they hold only safe characters, else in quotes ("Morning Song"), so
# every command the demo prints can be pasted into a shell as it is.
quote() {
  local out="" a
  for a in "$@"; do
    if [[ -n "$a" && "$a" =~ ^[A-Za-z0-9@%+=:,./_-]+$ ]]; then
      out+="$a "
    elif [[ "$a" =~ ^[A-Za-z0-9@%+=:,./_\ -]*$ ]]; then
      out+="\"$a\" "
    else
      out+="'${a//\'/\'\\\'\'}' "
    fi
  done
  printf '%s' "${out% }"
}
# The printed command names the network only when it is not the default.
netflag=()
if [[ "$NET" != "./folio-net" ]]; then netflag=(--network "$NET"); fi
run() { printf '$ %s\n' "$(quote "$BIN" "${netflag[@]}" "$@")"; "$BIN" --network "$NET" "$@"; }

step "Start the network: 2 organisations x 2 peers, 3 Raft orderers, 3 CAs, mutual TLS"
run network up --detach

tag="$(date +%s)"
work_a="SONG-$tag"
work_b="PHOTO-$tag"
# The files stay beside the network, so the printed commands still work
# when pasted later.
files="$NET/demo-files"
mkdir -p "$files"
printf 'A song recorded on %s\n' "$(date)" > "$files/song.mp3"
printf 'A photograph taken on %s\n' "$(date)" > "$files/photo.jpg"

step "Register two works as user1@Org1: both organisations endorse, the orderers order, every peer commits"
run work register --id "$work_a" --title "Morning Song" --author "Ann Writer" --type audio --file "$files/song.mp3" --as user1@Org1
run work register --id "$work_b" --title "Harbour at Dawn" --author "Ben Shooter" --type image --file "$files/photo.jpg" --as user1@Org1

step "Transfer $work_a to user1@Org2 (only the owner, or an admin of the owner's organisation, may)"
run work transfer --id "$work_a" --to user1@Org2 --as user1@Org1

step "Query it from the other organisation's peer, in another process: --linearizable waits until that peer has every block the orderers had cut (--min-height N waits for block N)"
run work get --id "$work_a" --peer peer0.org2 --as user1@Org2 --linearizable

step "Its history: every change, who made it, in which block"
run work history --id "$work_a"

step "Evidence: a bundle anyone can check offline with the organisations' root certificates"
run work prove --id "$work_a" --out "$NET/evidence-$work_a.json"
run evidence verify "$NET/evidence-$work_a.json"

step "The explorer: blocks, transactions, works and their provenance, the network, in a browser"
EXPLORER_ADDR=${EXPLORER_ADDR:-127.0.0.1:8080}
pidfile="$NET/explorer.pid"
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "the explorer of $NET is already running (pid $(cat "$pidfile"))"
else
  printf '$ %s &\n' "$(quote "$BIN" explorer --network "$NET" --addr "$EXPLORER_ADDR")"
  nohup "$BIN" explorer --network "$NET" --addr "$EXPLORER_ADDR" > "$NET/explorer.log" 2>&1 &
  echo $! > "$pidfile"
  # Wait (at most 20 s) for it to listen: its first stdout line says so.
  for _ in $(seq 1 100); do
    grep -q "explorer listening on" "$NET/explorer.log" 2>/dev/null && break
    kill -0 "$(cat "$pidfile")" 2>/dev/null || break
    sleep 0.2
  done
  if ! grep -q "explorer listening on" "$NET/explorer.log" 2>/dev/null; then
    echo "the explorer did not start (is $EXPLORER_ADDR in use? set EXPLORER_ADDR): see $NET/explorer.log" >&2
    tail -5 "$NET/explorer.log" >&2 || true
  fi
fi
grep -m1 "explorer listening on" "$NET/explorer.log" 2>/dev/null || true

cat <<EOT

The explorer is at http://$EXPLORER_ADDR (log: $NET/explorer.log; stop it with: kill \$(cat $pidfile)).
The network is still running in $NET. Continue with, for example:
  $(quote "$BIN" network status --network "$NET")
  $(quote "$BIN" work list --owner user1@Org1 --network "$NET")
  $(quote "$BIN" block tail --network "$NET")
  $(quote "$BIN" bench --workload register --concurrency 64 --duration 30s --network "$NET")
Stop it with:
  $(quote "$BIN" network down --network "$NET")
EOT
