#!/usr/bin/env bash
# Ingest throughput of the vehicle agent from Rust and from Kotlin in the same run, against a
# private mosquitto (port VEHICLEOPS_UNIFFI_MQTT_PORT, default 18850), release build:
#
#   bash bindings/uniffi/scripts/bench.sh [SAMPLES] [BATCH]     # defaults 100000 1000
#
# Runs the Rust example `agent_ingest`, then the Kotlin `AgentBench` twice: with the same batch
# size, and with one `publish` call per sample (batch 1), to show the cost of crossing the
# language boundary per call.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vehicleops/target}"
SAMPLES="${1:-100000}"
BATCH="${2:-1000}"
MQTT_PORT="${VEHICLEOPS_UNIFFI_MQTT_PORT:-18850}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vehicleops-uniffi-bench.XXXXXX")"
export VEHICLEOPS_MOSQUITTO_DIR="$WORK/mosquitto"
cleanup() {
  local rc=$?
  bash scripts/mosquitto.sh stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM
step() { printf '\n--> %s\n' "$*"; }

step "release build of the cdylib, the Rust example and uniffi-bindgen"
cargo build --release --locked -p vehicleops-uniffi --lib --example agent_ingest
cargo build --locked -p vehicleops-uniffi -p uniffi-bindgen  # as test.sh builds it: one cached build
# shellcheck source=kotlin.sh
source bindings/uniffi/scripts/kotlin.sh
LIB="$CARGO_TARGET_DIR/release/libvehicleops_uniffi.so"
kotlin_build "$LIB" "$CARGO_TARGET_DIR/debug/uniffi-bindgen" "$WORK"

bash scripts/mosquitto.sh start "$MQTT_PORT" >/dev/null
step "ingest through the agent: $SAMPLES samples"
"$CARGO_TARGET_DIR/release/examples/agent_ingest" "127.0.0.1:$MQTT_PORT" "$SAMPLES" "$BATCH"
for batch in "$BATCH" 1; do
  java -Djna.library.path="$(dirname "$LIB")" -cp "$KOTLIN_JAR:$KOTLIN_RUNTIME_CP" \
    io.vehicleops.test.AgentBench "$MQTT_PORT" "$SAMPLES" "$batch"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
