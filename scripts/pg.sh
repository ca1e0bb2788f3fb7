#!/usr/bin/env bash
# Private PostgreSQL 15 cluster for tests and benchmarks: initdb into a folder, listen only on
# 127.0.0.1, trust authentication, stopped by its PID through pg_ctl.
#
#   scripts/pg.sh start   # init (first time) + start, wait until ready, print the env lines
#   scripts/pg.sh stop    # fast shutdown of that cluster
#   scripts/pg.sh env     # print `export DATABASE_URL=...` lines (eval "$(scripts/pg.sh env)")
#   scripts/pg.sh status
#
# Settings (environment):
#   VEHICLEOPS_PG_DIR   cluster folder (default: ${TMPDIR:-/tmp}/vehicleops-pg-$PORT)
#   VEHICLEOPS_PG_PORT  TCP port on 127.0.0.1 (default: 54329)
#   VEHICLEOPS_PG_BIN   server binaries (default: /usr/lib/postgresql/15/bin)
#   VEHICLEOPS_PG_PASSWORD  if set at the first start: TCP logins need this password for user
#                       `postgres` (scram-sha-256) instead of trust
# Installs Debian's postgresql-15 non-interactively when the binaries are missing. As root the
# server runs as the `postgres` system user (created if missing), because PostgreSQL refuses to
# run as root.
set -euo pipefail

PORT="${VEHICLEOPS_PG_PORT:-54329}"
DIR="${VEHICLEOPS_PG_DIR:-${TMPDIR:-/tmp}/vehicleops-pg-$PORT}"
BIN="${VEHICLEOPS_PG_BIN:-/usr/lib/postgresql/15/bin}"
DATA="$DIR/data"
LOG="$DIR/server.log"
PASSWORD="${VEHICLEOPS_PG_PASSWORD:-}"
URL="postgres://postgres${PASSWORD:+:$PASSWORD}@127.0.0.1:$PORT/postgres?sslmode=disable"

log() { echo "pg.sh: $*" >&2; }

install_if_missing() {
  [[ -x "$BIN/initdb" && -x "$BIN/pg_ctl" ]] && return 0
  if [[ $(id -u) -ne 0 ]]; then
    log "$BIN/initdb not found and not root: install postgresql-15 (apt-get install -y postgresql-15) or set VEHICLEOPS_PG_BIN"
    exit 1
  fi
  log "installing postgresql-15 from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql-15 >&2
  # The package starts the system cluster on 5432; we never use it.
}

# Runs a command as the cluster owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

print_env() {
  echo "export DATABASE_URL='$URL'"
  echo "export VEHICLEOPS_TEST_DATABASE_URL='$URL'"
  echo "export VEHICLEOPS_PG_DIR='$DIR'"
  echo "export VEHICLEOPS_PG_PORT='$PORT'"
}

is_running() {
  [[ -f "$DATA/postmaster.pid" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
  install_if_missing
  mkdir -p "$DIR"
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    chown postgres "$DIR"
    # The owner must be able to reach the folder through its parents (e.g. a mktemp -d 0700).
    chmod o+x "$(dirname "$DIR")" 2>/dev/null || true
  fi
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    log "initdb into $DATA"
    local auth=(-A trust)
    if [[ -n "$PASSWORD" ]]; then
      printf '%s\n' "$PASSWORD" >"$DIR/pwfile"
      [[ $(id -u) -eq 0 ]] && chown postgres "$DIR/pwfile"
      auth=(--auth-local=trust --auth-host=scram-sha-256 --pwfile="$DIR/pwfile")
    fi
    as_owner "$BIN/initdb" -D "$DATA" -U postgres "${auth[@]}" -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
      || { cat "$DIR/initdb.log" >&2; exit 1; }
    rm -f "$DIR/pwfile"
    cat >>"$DATA/postgresql.conf" <<CONF
# vehicleops private test cluster
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 300
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 128MB
max_wal_size = 2GB
checkpoint_timeout = 15min
max_locks_per_transaction = 256
logging_collector = off
CONF
  fi
  if is_running; then
    log "already running on 127.0.0.1:$PORT"
  else
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2 \
      || { tail -n 30 "$LOG" >&2; exit 1; }
  fi
  for _ in $(seq 1 120); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.5
  done
  "$BIN/pg_isready" -h 127.0.0.1 -p "$PORT" >&2
  print_env
}

stop() {
  if is_running; then
    # pg_ctl signals the postmaster PID recorded in postmaster.pid and waits for it to exit.
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >&2
  else
    log "not running ($DATA)"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) print_env ;;
  status) if is_running; then log "running on 127.0.0.1:$PORT ($DATA)"; else log "stopped ($DATA)"; exit 3; fi ;;
  destroy) stop; rm -rf "$DIR" ;;
  *) echo "usage: $0 start|stop|env|status|destroy" >&2; exit 2 ;;
esac
