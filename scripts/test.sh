#!/usr/bin/env bash
# The project's test command (README, .ci/run). On a fresh machine of this project's kind it
# installs and starts everything the tests need, builds the workspace once, runs every suite,
# and stops what it started — also when a step fails.
#
#   bash scripts/test.sh
#
# Build outputs are cached outside the clone (CARGO_TARGET_DIR, default
# ~/.cache/vehicleops/target) so a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vehicleops/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUST_BACKTRACE=1
# Package installs by the server scripts must never wait for an answer (CI has no stdin).
export DEBIAN_FRONTEND=noninteractive

STOPS=()
cleanup() {
  local rc=$?
  for ((i = ${#STOPS[@]} - 1; i >= 0; i--)); do eval "${STOPS[$i]}" >/dev/null 2>&1 || true; done
  exit $rc
}
trap cleanup EXIT INT TERM

step() { printf '\n==> %s\n' "$*"; }
started() { printf '    (%ss)\n' "$SECONDS"; }

step "toolchain"
cargo --version
rustup component add clippy rustfmt >/dev/null 2>&1 || true

step "servers: PostgreSQL 15 (private cluster), TimescaleDB (PGlite), Kafka (1 and 3 brokers), mosquitto"
# Each stop is registered before its start, so a start that fails half way is cleaned up too.
STOPS+=("scripts/pg.sh stop")
eval "$(scripts/pg.sh start)"
STOPS+=("scripts/timescale.sh stop")
eval "$(scripts/timescale.sh start)"
# The brokers start from empty storage on every run, in memory where the machine has a tmpfs: a
# broker that kept its storage loads every topic and group earlier runs left (thousands of
# partitions after a few runs, minutes of startup, slower metadata for every client), and each
# partition a test creates costs the broker several fsyncs, which a busy disk makes slow. Stops
# run last-registered-first, so the folder goes after the brokers have stopped.
KAFKA_STATE_PARENT=/dev/shm
[[ -d "$KAFKA_STATE_PARENT" && -w "$KAFKA_STATE_PARENT" ]] || KAFKA_STATE_PARENT="${TMPDIR:-/tmp}"
export VEHICLEOPS_KAFKA_STATE="$(mktemp -d "$KAFKA_STATE_PARENT/vehicleops-kafka-XXXX")"
STOPS+=("rm -rf '$VEHICLEOPS_KAFKA_STATE'")
STOPS+=("bash scripts/kafka.sh stop")
bash scripts/kafka.sh start
export VEHICLEOPS_TEST_KAFKA="$(bash scripts/kafka.sh bootstrap)"
STOPS+=("bash scripts/kafka.sh --brokers 3 stop")
bash scripts/kafka.sh --brokers 3 start
export VEHICLEOPS_TEST_KAFKA_CLUSTER="$(bash scripts/kafka.sh --brokers 3 bootstrap)"
STOPS+=("bash scripts/mosquitto.sh stop")
export VEHICLEOPS_TEST_MQTT="$(bash scripts/mosquitto.sh start 18830)"
started

# One feature set for every build, so each crate is compiled once.
FEATURES=(--features "vehicleops-store/postgres vehicleops-server/postgres vehicleops-server/kafka vehicleops-server/vda5050")
export VEHICLEOPS_SERVER_BIN="$CARGO_TARGET_DIR/debug/vehicleops-server"

step "format and lint"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked "${FEATURES[@]}" -- -D warnings
started

step "build every test once"
BUILD_JSON="$(mktemp -t vehicleops-tests-XXXX.json)"
STOPS+=("rm -f '$BUILD_JSON'")
cargo test --workspace --locked "${FEATURES[@]}" --no-run --message-format=json-render-diagnostics >"$BUILD_JSON"
started

# The suites below mostly wait on servers, browsers and JVMs rather than use the CPU, so they run
# in four lanes at once; each lane's output is printed in one piece when it ends. A lane stops at
# its first failing suite, the others run to their end, and the command fails if any lane did.
LANES=()
LANE_DIR="$(mktemp -d -t vehicleops-lanes-XXXX)"
STOPS+=("rm -rf '$LANE_DIR'")
kill_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}
lane() { # lane NAME FUNCTION: run FUNCTION in the background, its output in $LANE_DIR/NAME.log
  local name="$1" fn="$2"
  ( set -euo pipefail; SECONDS=0; "$fn" ) >"$LANE_DIR/$name.log" 2>&1 &
  LANES+=("$name:$!")
  STOPS+=("kill_tree $!")
}

rust_lane() {
  step "Rust test suites (the executables of that build, several at once; doc tests as one more job)"
  python3 scripts/rust-tests.py "$BUILD_JSON" --jobs "${VEHICLEOPS_TEST_JOBS:-6}" -- \
    cargo test --workspace --locked "${FEATURES[@]}" --doc
  started

  step "UniFFI binding: cdylib, Kotlin + Swift generation, kotlinc, Kotlin tests on the JVM against real servers"
  bash bindings/uniffi/scripts/test.sh
  started

  step "VDA 5050 interoperability: an AGV not written here (vda-5050-lib, VDA 5050 2.0) against the server"
  bash interop/vda5050/run.sh
  started
}

server_lane() {
  step "load harness smoke: Kafka → pipeline → PostgreSQL → WebSocket, nothing lost or duplicated"
  cargo run --locked -p vehicleops-benches --bin vehicleops-load "${FEATURES[@]}" -- --smoke --quiet
  started

  step "API fuzzing from the server's own OpenAPI document (schemathesis)"
  bash scripts/fuzz-api.sh
  started

  step "dashboard: typecheck, Vitest, end-to-end in Chromium against the real server"
  bash examples/dashboard/scripts/test.sh
  started
}

soak_lane() {
  step "soak: ${VEHICLEOPS_SOAK_SECONDS:-180} s of steady load (Kafka → server running its simulator at high load → PostgreSQL, WebSocket); memory, descriptors, threads and tasks must level off"
  cargo run --locked -p vehicleops-benches --bin vehicleops-load "${FEATURES[@]}" -- --soak \
    --duration "${VEHICLEOPS_SOAK_SECONDS:-180}" --warmup 5 --rate 300 --vehicles 100 --ws-clients 1 \
    --soak-sample-secs 3 --no-limits --quiet --port 28100
  started

  step "cargo fuzz: telemetry decoder, VDA 5050 messages, query parsers and windows, ${VEHICLEOPS_FUZZ_SECONDS:-10} s each (docs/fuzzing.md)"
  bash scripts/fuzz-rust.sh "${VEHICLEOPS_FUZZ_SECONDS:-10}"
  started
}

bindings_lane() {
  step "Node binding: npm ci, napi build, tsc, node --test"
  bash bindings/node/scripts/test.sh
  started

  step "Python binding: maturin wheel, fresh virtualenv, pytest"
  bash bindings/python/scripts/test.sh
  started
}

step "test suites in four lanes: Rust + UniFFI + VDA 5050 interop | load harness, API fuzzing, dashboard | Node + Python | soak + cargo fuzz"
lane rust rust_lane
lane server server_lane
lane bindings bindings_lane
lane soak soak_lane
FAILED_LANES=()
for entry in "${LANES[@]}"; do
  name="${entry%%:*}"
  if wait "${entry##*:}"; then status=passed; else status=FAILED; FAILED_LANES+=("$name"); fi
  printf '\n==> lane %s %s (%ss); its output:\n' "$name" "$status" "$SECONDS"
  cat "$LANE_DIR/$name.log"
done
if ((${#FAILED_LANES[@]})); then
  printf '\n==> FAILED lanes: %s\n' "${FAILED_LANES[*]}"
  exit 1
fi

step "all suites passed"
