#!/usr/bin/env bash
# VehicleOps's VDA 5050 master control against an independent AGV implementation: the npm
# package vda-5050-lib (AgvController + VirtualAgvAdapter, VDA 5050 2.0.0). Starts a private
# mosquitto and the reference server in VDA 5050 mode on free ports, runs test.mjs with
# `node --test`, prints a summary, stops everything; non-zero on failure.
#
#   bash interop/vda5050/run.sh
#
# Honours VEHICLEOPS_SERVER_BIN (a server built with `--features vda5050`; else it is built
# here into CARGO_TARGET_DIR, default ~/.cache/vehicleops/target) and
# VEHICLEOPS_INTEROP_MQTT_PORT (first port tried for the broker, 18870). Needs node >= 20 and
# npm (`npm ci` from package-lock.json when node_modules is missing or stale); mosquitto is
# installed from Debian by scripts/mosquitto.sh if missing.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vehicleops/target}"
T0=$(date +%s%N)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vehicleops-interop-vda5050.XXXXXX")"
export VEHICLEOPS_MOSQUITTO_DIR="$WORK/mosquitto"
SERVER_PID=""

cleanup() {
  local rc=$?
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  bash scripts/mosquitto.sh stop >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ]; then
    for log in "$WORK/server.log" "$VEHICLEOPS_MOSQUITTO_DIR/mosquitto.log"; do
      [ -f "$log" ] && { echo "--- $log (last 40 lines)"; tail -n 40 "$log"; }
    done
    local kept
    kept="$(mktemp -d "${TMPDIR:-/tmp}/vehicleops-interop-vda5050-failed.XXXXXX")"
    cp "$WORK"/*.log "$WORK"/*.jsonl "$kept"/ 2>/dev/null || true
    echo "--- kept: $kept (server.log, test.log, broker.jsonl: every message on the broker)"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

step() { printf '\n--> %s\n' "$*"; }
# Seconds since $1 (a `date +%s%N`), one decimal.
since() { local ms=$(( ($(date +%s%N) - $1) / 1000000 )); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local port="$1"
  while listening "$port"; do port=$((port + 1)); done
  echo "$port"
}

command -v node >/dev/null || { echo "node (>= 20) is required" >&2; exit 1; }
if [ ! -f "$HERE/node_modules/.package-lock.json" ] \
  || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
  step "npm ci (vda-5050-lib)"
  (cd "$HERE" && npm ci --no-audit --no-fund)
fi

SERVER="${VEHICLEOPS_SERVER_BIN:-}"
if [ -z "$SERVER" ] || [ ! -x "$SERVER" ]; then
  step "build the reference server with --features vda5050"
  cargo build --locked -p vehicleops-server --features vda5050
  SERVER="$CARGO_TARGET_DIR/debug/vehicleops-server"
fi
# A private copy: other builds may overwrite the target directory's binary meanwhile.
cp "$SERVER" "$WORK/vehicleops-server"
SERVER="$WORK/vehicleops-server"

MQTT_PORT="$(free_port "${VEHICLEOPS_INTEROP_MQTT_PORT:-18870}")"
step "mosquitto on 127.0.0.1:$MQTT_PORT"
bash scripts/mosquitto.sh start "$MQTT_PORT" >/dev/null

API_PORT="$(free_port 18180)"
INTERFACE="interop$$"
MANUFACTURER="vdalib"
SERIAL="LIB-AGV-1"
ORIGIN_LAT="4.711"
ORIGIN_LON="-74.0721"
step "vehicleops-server --bus vda5050 on 127.0.0.1:$API_PORT (interface $INTERFACE, $MANUFACTURER/$SERIAL)"
"$SERVER" --app-env demo --app-host 127.0.0.1 --app-port "$API_PORT" \
  --secret-key "interop-vda5050-secret-key-of-32-bytes" --dashboard-dir /nonexistent-dashboard \
  --bus vda5050 --simulator false \
  --mqtt-host 127.0.0.1 --mqtt-port "$MQTT_PORT" --mqtt-client-id "$INTERFACE-server" \
  --vda5050-interface "$INTERFACE" --vda5050-manufacturer "$MANUFACTURER" \
  --vda5050-vehicles "$SERIAL" \
  --vda5050-origin-lat "$ORIGIN_LAT" --vda5050-origin-lon "$ORIGIN_LON" \
  >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
  listening "$API_PORT" && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server exited" >&2; exit 1; }
  sleep 0.05
done
listening "$API_PORT" || { echo "the server did not open port $API_PORT" >&2; exit 1; }

step "node --test test.mjs (vda-5050-lib $(node -p "require('$HERE/node_modules/vda-5050-lib/package.json').version"), VDA 5050 2.0.0)"
T1=$(date +%s%N)
set +e
VEHICLEOPS_URL="http://127.0.0.1:$API_PORT" VDA_MQTT_URL="mqtt://127.0.0.1:$MQTT_PORT" \
  VDA_INTERFACE="$INTERFACE" VDA_MANUFACTURER="$MANUFACTURER" VDA_SERIAL="$SERIAL" \
  VDA_ORIGIN_LAT="$ORIGIN_LAT" VDA_ORIGIN_LON="$ORIGIN_LON" VDA_BROKER_LOG="$WORK/broker.jsonl" \
  node --test --test-reporter=spec "$HERE/test.mjs" 2>&1 | tee "$WORK/test.log"
RC=${PIPESTATUS[0]}
set -e
TEST_S="$(since "$T1")"

PASS=$(grep -cE '^✔ ' "$WORK/test.log" || true)
FAIL=$(grep -cE '^✖ ' "$WORK/test.log" || true)
echo
echo "=== VDA 5050 interop (vda-5050-lib AGV, 2.0.0) vs vehicleops-server: $PASS passed, $FAIL failed;" \
  "tests ${TEST_S}s, total $(since "$T0")s"
if [ "$RC" -ne 0 ]; then
  echo "=== FAILED (node --test exit $RC)"
  exit "$RC"
fi
echo "=== OK"
