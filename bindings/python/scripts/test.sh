#!/usr/bin/env bash
# Builds the `vehicleops` wheel, installs it into a fresh virtual environment and runs the
# binding's pytest suite against the installed package.
#
#   bash bindings/python/scripts/test.sh            # debug build (fast to compile)
#   VEHICLEOPS_PY_RELEASE=1 bash bindings/python/scripts/test.sh
#
# Needs python3 (3.9+, with venv) and cargo; maturin, pytest, pytest-asyncio and pyarrow (reads exports back) come from PyPI.
# Build outputs go to CARGO_TARGET_DIR when it is set (shared with the workspace build).
set -euo pipefail
cd "$(dirname "$0")/.."

WORK="$(mktemp -d -t vehicleops-py-XXXX)"
trap 'rm -rf "$WORK"' EXIT
VENV="$WORK/venv"

echo "==> fresh virtualenv in $VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "maturin>=1.9.4,<2" "pytest>=8" "pytest-asyncio>=0.23" "pytest-timeout>=2" "pyarrow>=14"

echo "==> build the wheel"
PROFILE=()
if [[ -n "${VEHICLEOPS_PY_RELEASE:-}" ]]; then PROFILE=(--release); fi
"$VENV/bin/maturin" build --locked "${PROFILE[@]}" --interpreter "$VENV/bin/python" --out "$WORK/wheels"

echo "==> install it"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$WORK"/wheels/vehicleops-*.whl

echo "==> pytest"
"$VENV/bin/pytest" -q -p no:cacheprovider tests "$@"

echo "==> load harness smoke (loss and duplicate check only)"
"$VENV/bin/python" scripts/bench_load.py --smoke
if [[ -n "${VEHICLEOPS_TEST_DATABASE_URL:-}" && -n "${VEHICLEOPS_TEST_KAFKA:-}" ]]; then
  "$VENV/bin/python" scripts/bench_load.py --smoke \
    --database-url "$VEHICLEOPS_TEST_DATABASE_URL" --kafka "$VEHICLEOPS_TEST_KAFKA"
fi
