#!/usr/bin/env bash
# Ingest benchmark of the Python binding: builds a release wheel into a fresh virtualenv and
# runs bench_ingest.py (Python batch publish vs. the same engine fed from Rust, same run).
#
#   bash bindings/python/scripts/bench.sh [--readings 200000] [--batch 5000] [--db file]
set -euo pipefail
cd "$(dirname "$0")/.."

WORK="$(mktemp -d -t vehicleops-py-bench-XXXX)"
trap 'rm -rf "$WORK"' EXIT
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin>=1.9.4,<2"
"$WORK/venv/bin/maturin" build --locked --release --interpreter "$WORK/venv/bin/python" --out "$WORK/wheels"
"$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$WORK"/wheels/vehicleops-*.whl
"$WORK/venv/bin/python" scripts/bench_ingest.py "$@"
