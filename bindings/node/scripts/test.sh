#!/usr/bin/env bash
# Builds the Node package and runs its tests: npm ci, napi build (debug: on a 2-core machine a
# debug build of the native layer is minutes faster than release and the suite runs in seconds
# either way), tsc, node --test.
#
#   bash bindings/node/scripts/test.sh
#
# Needs Node >= 20, npm and a Rust toolchain. Respects CARGO_TARGET_DIR (default: the
# workspace's target/).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> node $(node --version), npm $(npm --version)"
echo "==> npm ci"
npm ci --no-audit --no-fund
echo "==> native build (napi build, debug) and TypeScript"
npm run build
echo "==> node --test"
npm test
echo "==> load harness smoke (loss and duplicate check only)"
node bench/load.mjs --smoke
if [[ -n "${VEHICLEOPS_TEST_DATABASE_URL:-}" && -n "${VEHICLEOPS_TEST_KAFKA:-}" ]]; then
  node bench/load.mjs --smoke --database-url "$VEHICLEOPS_TEST_DATABASE_URL" --kafka "$VEHICLEOPS_TEST_KAFKA"
fi
