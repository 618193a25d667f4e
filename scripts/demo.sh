#!/usr/bin/env bash
# PAN's main job on its embedded default: a single-member fabric manager
# (state in ./data/m1) and a simulated rack of 16 blades (hwsim: one Redfish
# BMC per blade on 127.0.0.1:8401-8416, each booted blade running the real
# blade agent). The tour enrols the rack by discovery, registers a golden
# image, defines a tenant partition with a network, a boot volume cloned
# from the image and a server, and starts the server on a blade: the
# volume's export granted to the identity's host NQN, the NVMe/TCP boot
# override, power-on over Redfish, the firmware booting from the volume, the
# agent applying the identity's MACs and attaching the volume.
# The storage target lives in $DATA/san (qcow2 volumes made with qemu-img,
# exports in the nvmet configfs layout under $DATA/san/nvmet).
# Then the blade running the server loses power (an hwsim fault) and the
# server comes back on a spare with the same identity; the failover's phase
# timings are shown. Everything keeps running afterwards; Ctrl-C stops the
# server and exits.
# Running the script again recovers the manager's state from ./data/m1.
set -euo pipefail
cd "$(dirname "$0")/.."

ADDR=${PAN_DEMO_ADDR:-127.0.0.1:7001}
DATA=${PAN_DEMO_DATA:-./data/m1}
BLADES=${PAN_DEMO_BLADES:-16}
BMC_BASE=${PAN_DEMO_BMC_BASE:-8400}
CONTROL=${PAN_DEMO_CONTROL:-127.0.0.1:8399}

echo "==> building PAN (release)"
cargo build --release --bins -p fabric-manager -p tui -p hwsim
BIN=./target/release
PANCTL="$BIN/panctl --manager $ADDR"
mkdir -p "$(dirname "$DATA")"

echo "==> starting fabric-manager (node 1, $ADDR, data in $DATA)"
"$BIN/fabric-manager" --node-id 1 --listen "$ADDR" --data-dir "$DATA" --poll-ms 1000 &
FM=$!
HW=
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$HW" ] && kill -0 "$HW" 2>/dev/null; then
    echo; echo "==> stopping web-1 and the rack"
    for s in web-1 web-2 web-3; do $PANCTL server stop "$s" --partition acme --timeout 20 >/dev/null 2>&1 || true; done
    kill "$HW" 2>/dev/null; wait "$HW" 2>/dev/null || true
  fi
  kill "$FM" 2>/dev/null; wait "$FM" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Wait (bounded) until the manager answers. On the first start it writes the
# first fabric-admin token to $DATA/admin.token (mode 0600); every panctl call
# below uses it.
PANCTL="$PANCTL --token-file $DATA/admin.token"
for _ in $(seq 1 100); do
  if [ -s "$DATA/admin.token" ] && $PANCTL cluster status >/dev/null 2>&1; then break; fi
  if ! kill -0 $FM 2>/dev/null; then echo "fabric-manager exited; see the lines above" >&2; exit 1; fi
  sleep 0.1
done

echo "==> starting hwsim: $BLADES blades, BMCs on 127.0.0.1:$((BMC_BASE + 1))-$((BMC_BASE + BLADES))"
# The rack gets the fabric's agent key, as a provisioning system would: each
# blade's agent presents its own blade's token; the manager refuses others.
exec 3< <("$BIN/hwsim" --blades "$BLADES" --bmc-listen "127.0.0.1:$BMC_BASE" --manager "$ADDR" \
  --agent-key-file "$DATA/agent.key" \
  --control-listen "$CONTROL" --ground-truth "$(dirname "$DATA")/hwsim-ground-truth.jsonl" \
  --boot-delay-ms 500 --nvmet-root "$DATA/san/nvmet" --fake-nvme "$BIN/hwsim-fake-nvme"; echo "hwsim exited")
read -r -t 30 ready <&3 || { echo "hwsim did not start" >&2; exit 1; }
echo "$ready"
case "$ready" in "hwsim ready"*) ;; *) echo "hwsim did not start: $ready" >&2; exit 1 ;; esac
HW=$(pgrep -n -f "hwsim --blades $BLADES --bmc-listen 127.0.0.1:$BMC_BASE" || true)

step() { printf '\n$ panctl %s\n' "$*"; $PANCTL "$@"; }
# Create only what is not there yet, so the tour can run again on the same data.
has() { $PANCTL -o json "$1" list | grep -q "\"name\": *\"$2\""; }

PW=$(mktemp); echo "password" >"$PW"
step cluster status
has pool compute || step pool create compute --min-cores 8 --min-memory-gib 32
step blade discover --bmc-range "127.0.0.1:$((BMC_BASE + 1))-$((BMC_BASE + BLADES))" --scheme http \
  --user admin --password-file "$PW" --pool compute || true
rm -f "$PW"
step blade list
has image debian-12 || step image add debian-12 --size 20G
has partition acme || step partition create acme --description "tenant ACME"
has network front || step network create front --partition acme
has volume web-1-boot || step volume create web-1-boot --partition acme --image debian-12
has server web-1 || step server create web-1 --partition acme --network front --nics 2 --boot-volume web-1-boot
# A server left placed by an earlier run (its rack is gone) is stopped first.
state=$($PANCTL -o json server show web-1 --partition acme | grep -o '"state": *"[a-z_]*"' | grep -o '[a-z_]*"$' | tr -d '"')
case "$state" in defined|failed) ;; *) step server stop web-1 --partition acme ;; esac
step server start web-1 --partition acme
# Two more servers (network boot, no volume), so the failover has company.
for s in web-2 web-3; do
  has server "$s" || step server create "$s" --partition acme --network front
  state=$($PANCTL -o json server show "$s" --partition acme | grep -o '"state": *"[a-z_]*"' | grep -o '[a-z_]*"$' | tr -d '"')
  case "$state" in defined|failed) step server start "$s" --partition acme ;; esac
done
step server list
step server show web-1 --partition acme
step volume list
step coverage

# N+1 failover: the blade running web-1 loses power. The manager notices the
# agent's silence, fences the blade (power off, fabric ports, storage access,
# each read back), and boots the same identity on a spare.
json_field() { grep -o "\"$1\": *\"[^\"]*\"" | head -1 | sed 's/.*: *"\(.*\)"/\1/'; }
BLADE=$($PANCTL -o json server show web-1 --partition acme | json_field blade)
printf '\n$ hwsim fault kill %s   (the blade running web-1 loses power)\n' "$BLADE"
"$BIN/hwsim" fault kill "$BLADE" --control "$CONTROL"
for _ in $(seq 1 600); do
  NOW=$($PANCTL -o json server show web-1 --partition acme)
  if echo "$NOW" | grep -q '"state": *"running"' && [ "$(echo "$NOW" | json_field blade)" != "$BLADE" ]; then break; fi
  sleep 0.1
done
step server show web-1 --partition acme
step failover history
step blade list
echo; echo "\$ hwsim ground-truth   (what the simulated hardware saw, last 6 records)"
"$BIN/hwsim" ground-truth --control "$CONTROL" | tail -n 6
step audit --limit 8

cat <<MSG

PAN is running: fabric-manager node 1 at $ADDR (state in $DATA) and a
simulated rack of $BLADES blades (control API $CONTROL).
Try:  export PAN_TOKEN=\$(cat $DATA/admin.token)    (the first fabric-admin token)
      $BIN/panctl --manager $ADDR server list
      $BIN/panctl --manager $ADDR blade list
      $BIN/panctl --manager $ADDR events            (live state changes)
      $BIN/hwsim status --control $CONTROL           (the rack as the hardware sees it)
Press Ctrl-C to stop.
MSG
wait $FM
