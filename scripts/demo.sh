#!/usr/bin/env bash
# PAN's main job on its embedded default: a single-member fabric manager with
# its durable store in ./data/m1, then a short guided tour with panctl.
# The manager keeps running afterwards; Ctrl-C stops it. Running the script
# again recovers the same cluster from ./data/m1.
set -euo pipefail
cd "$(dirname "$0")/.."

ADDR=${PAN_DEMO_ADDR:-127.0.0.1:7001}
DATA=${PAN_DEMO_DATA:-./data/m1}

echo "==> building PAN (release)"
cargo build --release --bins -p fabric-manager -p tui
BIN=./target/release
PANCTL="$BIN/panctl --manager $ADDR"

echo "==> starting fabric-manager (node 1, $ADDR, data in $DATA)"
"$BIN/fabric-manager" --node-id 1 --listen "$ADDR" --data-dir "$DATA" &
FM=$!
trap 'kill $FM 2>/dev/null; wait $FM 2>/dev/null' EXIT INT TERM

# Wait (bounded) until the manager answers.
for _ in $(seq 1 100); do
  if $PANCTL cluster status >/dev/null 2>&1; then break; fi
  if ! kill -0 $FM 2>/dev/null; then echo "fabric-manager exited; see the lines above" >&2; exit 1; fi
  sleep 0.1
done

step() { printf '\n$ panctl %s\n' "$*"; $PANCTL "$@"; }
# Create only what is not there yet, so the tour can run again on the same data.
has() { $PANCTL -o json "$1" list | grep -q "\"name\": *\"$2\""; }

step cluster status
has partition acme || step partition create acme --description "tenant ACME"
has pool compute || step pool create compute --min-cores 16 --min-memory-gib 64
for i in 1 2; do
  has blade "blade-$i" || {
    pw=$(mktemp); echo "demo-password-$i" >"$pw"
    step blade add "blade-$i" --bmc "http://127.0.0.1:840$i" --user admin --password-file "$pw" \
      --pool compute --model "PAN-Blade-1" --cores 32 --memory-gib 256
    rm -f "$pw"
  }
done
has volume web-1-boot || step volume create web-1-boot --partition acme --size 20G
has server web-1 || step server create web-1 --partition acme --nics 2 --boot-volume web-1-boot
has server web-2 || step server create web-2 --partition acme --nics 2
step server list
step blade list
step -o json server show web-1 --partition acme
step audit --limit 10

cat <<MSG

PAN is running: fabric-manager node 1 at $ADDR, state in $DATA.
Try:  $BIN/panctl --manager $ADDR server list
      $BIN/panctl --manager $ADDR events        (live state changes)
Press Ctrl-C to stop the manager.
MSG
wait $FM
