#!/usr/bin/env bash
# Fuzzes the reference server's REST API from its own OpenAPI document with schemathesis and
# fails on any server error (5xx) or on responses that do not match the documented schemas.
# Dates and integer query parameters are also drawn from their boundaries
# (scripts/fuzz_api_hooks.py).
#
#   scripts/fuzz-api.sh            # build, start a demo server on 127.0.0.1, fuzz, stop it
#
# Environment:
#   FUZZ_MAX_EXAMPLES  examples per operation (default 40)
#   FUZZ_PORT          port for the server (default 18765)
#   FUZZ_VENV          virtualenv with schemathesis (default ${TMPDIR:-/tmp}/vehicleops-fuzz-venv)
#   CARGO_TARGET_DIR   as usual
#   VEHICLEOPS_SERVER_BIN  a server binary to use instead of building one
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${FUZZ_PORT:-18765}"
EXAMPLES="${FUZZ_MAX_EXAMPLES:-40}"
VENV="${FUZZ_VENV:-${TMPDIR:-/tmp}/vehicleops-fuzz-venv}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BASE="http://127.0.0.1:$PORT"

log() { echo "fuzz-api: $*" >&2; }

if [[ ! -x "$VENV/bin/schemathesis" ]]; then
  log "installing schemathesis into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet "schemathesis>=4,<5"
fi

SERVER_BIN="${VEHICLEOPS_SERVER_BIN:-}"
if [[ -z "$SERVER_BIN" ]]; then
  log "building the server"
  cargo build --quiet -p vehicleops-server --manifest-path "$ROOT/Cargo.toml"
  SERVER_BIN="$TARGET/debug/vehicleops-server"
fi

LOG="$(mktemp)"
APP_ENV=demo APP_HOST=127.0.0.1 APP_PORT="$PORT" \
  SECRET_KEY="fuzzing-secret-key-at-least-32-bytes-long" \
  VEHICLEOPS_SIMULATOR_VEHICLES=5 VEHICLEOPS_LOG=warn \
  VEHICLEOPS_LOGIN_MAX_FAILURES=1000000 \
  "$SERVER_BIN" >"$LOG" 2>&1 &
SERVER_PID=$!
cleanup() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  rm -f "$LOG"
  [[ -n "${WORK:-}" ]] && rm -rf "$WORK"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG" >&2; log "the server exited"; exit 1; }
  sleep 0.2
done

TOKEN="$(curl -fsS -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"admin@vehicleops.io","password":"Admin123!"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

log "fuzzing $BASE/openapi.json ($EXAMPLES examples per operation)"
status=0
# schemathesis keeps a cache folder in the working directory: not in the repository.
WORK="$(mktemp -d)"
cd "$WORK"
SCHEMATHESIS_HOOKS="$ROOT/scripts/fuzz_api_hooks.py" \
"$VENV/bin/schemathesis" run "$BASE/openapi.json" \
  --url "$BASE" \
  --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$EXAMPLES" \
  --seed 1 \
  --no-color || status=$?

if grep -q '"level":"ERROR"\|ERROR' "$LOG"; then
  log "the server logged errors:"
  grep 'ERROR' "$LOG" | head -20 >&2
  status=1
fi
exit "$status"
