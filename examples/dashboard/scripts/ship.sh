#!/usr/bin/env bash
# Builds the dashboard and copies it into reference-server/dashboard/, the built copy the server
# serves by default (so running the server needs no Node).
#
#   bash examples/dashboard/scripts/ship.sh
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund
npx vite build
rm -rf ../../reference-server/dashboard
cp -r dist ../../reference-server/dashboard
echo "shipped $(du -sh ../../reference-server/dashboard | cut -f1) to reference-server/dashboard/"
