#!/usr/bin/env bash
# Builds the UniFFI binding, generates its Kotlin and Swift sources, compiles the Kotlin sources
# with the Kotlin tests, and runs them on the JVM against real reference servers that it starts
# (a demo-mode one, and a VDA 5050-mode one on a private mosquitto); stops everything on exit.
#
#   bash bindings/uniffi/scripts/test.sh
#
# Honours CARGO_TARGET_DIR, and VEHICLEOPS_SERVER_BIN (a server built with `--features vda5050`,
# as the project's test command builds it) to skip building the server. The Kotlin compiler,
# kotlinx-coroutines and JNA come from Maven Central into ~/.cache/vehicleops/maven (checked
# against Maven Central's .sha1 files). Swift is only generated: there is no Swift compiler here.
#
# Ports: mosquitto on VEHICLEOPS_UNIFFI_MQTT_PORT (18850); the servers and the test's broker
# relay on the first free ports from 18080.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vehicleops/target}"
MQTT_PORT="${VEHICLEOPS_UNIFFI_MQTT_PORT:-18850}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vehicleops-uniffi.XXXXXX")"
# A broker state directory of our own, so `stop` ends only the broker this script started.
export VEHICLEOPS_MOSQUITTO_DIR="$WORK/mosquitto"

PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash "$ROOT/scripts/mosquitto.sh" stop >/dev/null 2>&1 || true
  if [ "$rc" -ne 0 ]; then
    for log in "$WORK"/*.log; do [ -f "$log" ] && { echo "--- $log (last 30 lines)"; tail -n 30 "$log"; }; done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

step() { printf '\n--> %s\n' "$*"; }

# The first port from $1 on that nothing listens on (each caller starts above the last pick).
free_port() {
  local port="$1"
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}

step "build the cdylib and uniffi-bindgen"
cargo build --locked -p vehicleops-uniffi -p uniffi-bindgen
LIB="$CARGO_TARGET_DIR/debug/libvehicleops_uniffi.so"
SERVER="${VEHICLEOPS_SERVER_BIN:-}"
if [ -z "$SERVER" ] || [ ! -x "$SERVER" ]; then
  step "build the reference server with --features vda5050"
  cargo build --locked -p vehicleops-server --features vda5050
  SERVER="$CARGO_TARGET_DIR/debug/vehicleops-server"
fi

# shellcheck source=kotlin.sh
source bindings/uniffi/scripts/kotlin.sh
kotlin_build "$LIB" "$CARGO_TARGET_DIR/debug/uniffi-bindgen" "$WORK"

step "servers: mosquitto on $MQTT_PORT, a demo server and a VDA 5050 server"
bash scripts/mosquitto.sh start "$MQTT_PORT" >/dev/null
DEMO_PORT="$(free_port 18080)"
VDA_PORT="$(free_port "$((DEMO_PORT + 1))")"
PROXY_PORT="$(free_port "$((VDA_PORT + 1))")"
INTERFACE="uniffi$$"
SECRET="uniffi-test-secret-key-of-32-bytes!!"
common=(--app-env demo --app-host 127.0.0.1 --secret-key "$SECRET" --dashboard-dir /nonexistent-dashboard)
"$SERVER" "${common[@]}" --app-port "$DEMO_PORT" --simulator true --simulator-vehicles 5 \
  --simulator-interval-ms 200 --simulator-scenario normal >"$WORK/demo-server.log" 2>&1 &
PIDS+=($!)
"$SERVER" "${common[@]}" --app-port "$VDA_PORT" --bus vda5050 --simulator false \
  --mqtt-host 127.0.0.1 --mqtt-port "$MQTT_PORT" --mqtt-client-id "$INTERFACE-server" \
  --vda5050-interface "$INTERFACE" --vda5050-manufacturer kotlin --vda5050-vehicles KT-1,KT-2 \
  --vda5050-origin-lat 4.711 --vda5050-origin-lon -74.0721 >"$WORK/vda-server.log" 2>&1 &
PIDS+=($!)
for port in "$DEMO_PORT" "$VDA_PORT"; do
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server on $port not ready" >&2; exit 1; }
done

step "Kotlin tests on the JVM"
VEHICLEOPS_DEMO_URL="http://127.0.0.1:$DEMO_PORT" \
VEHICLEOPS_VDA_URL="http://127.0.0.1:$VDA_PORT" \
VEHICLEOPS_VDA_INTERFACE="$INTERFACE" \
VEHICLEOPS_MQTT_PORT="$MQTT_PORT" \
VEHICLEOPS_PROXY_PORT="$PROXY_PORT" \
  java -Djna.library.path="$(dirname "$LIB")" -cp "$KOTLIN_JAR:$KOTLIN_RUNTIME_CP" io.vehicleops.test.BindingTestKt
