#!/usr/bin/env bash
# Installs what the dashboard's tests need (Debian's Chromium when missing, the npm packages
# from package-lock.json), then runs the unit tests and the end-to-end tests against a real
# reference server in demo mode.
#
#   VEHICLEOPS_SERVER_BIN=target/debug/vehicleops-server examples/dashboard/scripts/test.sh
#   VEHICLEOPS_URL=http://127.0.0.1:8000 examples/dashboard/scripts/test.sh   (server already up,
#                                              serving examples/dashboard/dist)
#   SKIP_E2E=1 examples/dashboard/scripts/test.sh                           (unit tests only)
#
# Without either variable the server is built with cargo (debug) from this repository.
set -euo pipefail
cd "$(dirname "$0")/.."
DASHBOARD_DIR=$(pwd)
REPO_ROOT=$(cd ../.. && pwd)

if [[ "${SKIP_E2E:-0}" != 1 ]] && ! command -v "${CHROMIUM_PATH:-/usr/bin/chromium}" >/dev/null 2>&1; then
  echo "== installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== typecheck"
npx tsc -b

echo "== unit tests (vitest)"
npx vitest run

if [[ "${SKIP_E2E:-0}" == 1 ]]; then
  exit 0
fi

echo "== build"
npx vite build --logLevel warn

if [[ -z "${VEHICLEOPS_URL:-}" && -z "${VEHICLEOPS_SERVER_BIN:-}" ]]; then
  echo "== building the reference server (debug)"
  (cd "$REPO_ROOT" && cargo build -q -p vehicleops-server --bin vehicleops-server)
  VEHICLEOPS_SERVER_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/vehicleops-server"
  export VEHICLEOPS_SERVER_BIN
fi

echo "== end-to-end tests (chromium, real server in demo mode)"
node e2e/run.mjs
