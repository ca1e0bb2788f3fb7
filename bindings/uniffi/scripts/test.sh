#!/usr/bin/env bash
# Builds the UniFFI binding, generates its Kotlin and Swift sources, compiles the Kotlin sources
# with the Kotlin tests, and runs them on the JVM against real reference servers that it starts
# (a demo-mode one, and a VDA 5050-mode one on a private mosquitto); stops everything on exit.
# The mosquitto has three listeners sharing one topic space: anonymous plain TCP (the server's),
# plain TCP with a password file, and TLS with a password file and a certificate from a CA that
# openssl makes here, so the agents that log in (or speak TLS) reach the same server.
#
#   bash bindings/uniffi/scripts/test.sh
#
# Honours CARGO_TARGET_DIR, and VEHICLEOPS_SERVER_BIN (a server built with `--features vda5050`,
# as the project's test command builds it) to skip building the server. The Kotlin compiler,
# kotlinx-coroutines and JNA come from Maven Central into ~/.cache/vehicleops/maven (checked
# against Maven Central's .sha1 files). Swift is only generated: there is no Swift compiler here.
#
# Ports: mosquitto's anonymous listener on VEHICLEOPS_UNIFFI_MQTT_PORT (18850), its password
# and TLS listeners on the first free ports above it; the servers and the test's broker relay on
# the first free ports from 18080. Needs mosquitto (with mosquitto_passwd) and openssl; installs
# them from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vehicleops/target}"
MQTT_PORT="${VEHICLEOPS_UNIFFI_MQTT_PORT:-18850}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vehicleops-uniffi.XXXXXX")"

PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$rc" -ne 0 ]; then
    for log in "$WORK"/*.log; do [ -f "$log" ] && { echo "--- $log (last 30 lines)"; tail -n 30 "$log"; }; done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT INT TERM

step() { printf '\n--> %s\n' "$*"; }

# The first port from $1 on that nothing listens on (each caller starts above the last pick).
free_port() {
  local port="$1"
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    port=$((port + 1))
  done
  echo "$port"
}

step "build the cdylib and uniffi-bindgen"
cargo build --locked -p vehicleops-uniffi -p uniffi-bindgen
LIB="$CARGO_TARGET_DIR/debug/libvehicleops_uniffi.so"
SERVER="${VEHICLEOPS_SERVER_BIN:-}"
if [ -z "$SERVER" ] || [ ! -x "$SERVER" ]; then
  step "build the reference server with --features vda5050"
  cargo build --locked -p vehicleops-server --features vda5050
  SERVER="$CARGO_TARGET_DIR/debug/vehicleops-server"
fi

# shellcheck source=kotlin.sh
source bindings/uniffi/scripts/kotlin.sh
kotlin_build "$LIB" "$CARGO_TARGET_DIR/debug/uniffi-bindgen" "$WORK"

# Whether a TCP port on loopback accepts connections.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

MOSQUITTO="$(command -v mosquitto || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true)"
if [ -z "$MOSQUITTO" ] || ! command -v mosquitto_passwd >/dev/null || ! command -v openssl >/dev/null; then
  echo "installing mosquitto and openssl" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends mosquitto openssl >&2 \
    || { apt-get update >&2 && apt-get install -y --no-install-recommends mosquitto openssl >&2; }
  MOSQUITTO="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
fi

step "a CA and a broker certificate for 127.0.0.1 (openssl, P-256), a password file"
# mosquitto started as root reads its files as the `mosquitto` user: the directory and the
# throwaway key and password file are readable by others ($WORK only traversable).
BROKER="$WORK/broker"
MQTT_USER=agv
MQTT_PASSWORD="s3cret-$$"
mkdir -p "$BROKER"
chmod 711 "$WORK"
chmod 755 "$BROKER"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -days 2 -subj "/CN=VehicleOps UniFFI test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -keyout "$BROKER/ca.key" -out "$BROKER/ca.pem" 2>"$WORK/openssl.log"
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' \
  >"$BROKER/server.ext"
openssl req "${ec[@]}" -subj /CN=127.0.0.1 -keyout "$BROKER/server.key" -out "$BROKER/server.csr" \
  2>>"$WORK/openssl.log"
openssl x509 -req -in "$BROKER/server.csr" -CA "$BROKER/ca.pem" -CAkey "$BROKER/ca.key" \
  -CAcreateserial -days 2 -extfile "$BROKER/server.ext" -out "$BROKER/server.pem" 2>>"$WORK/openssl.log"
mosquitto_passwd -b -c "$BROKER/passwd" "$MQTT_USER" "$MQTT_PASSWORD"
chmod 644 "$BROKER/server.key" "$BROKER/passwd"

MQTT_AUTH_PORT="$(free_port "$((MQTT_PORT + 1))")"
MQTT_TLS_PORT="$(free_port "$((MQTT_AUTH_PORT + 1))")"
step "servers: mosquitto on $MQTT_PORT (anonymous), $MQTT_AUTH_PORT (password), $MQTT_TLS_PORT (TLS + password); a demo server and a VDA 5050 server"
listening "$MQTT_PORT" && { echo "port $MQTT_PORT is taken (VEHICLEOPS_UNIFFI_MQTT_PORT)" >&2; exit 1; }
cat >"$BROKER/mosquitto.conf" <<CONF
# Generated by bindings/uniffi/scripts/test.sh: a throwaway broker for the Kotlin tests.
per_listener_settings true
persistence false
log_dest stdout
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
listener $MQTT_AUTH_PORT 127.0.0.1
allow_anonymous false
password_file $BROKER/passwd
listener $MQTT_TLS_PORT 127.0.0.1
allow_anonymous false
password_file $BROKER/passwd
cafile $BROKER/ca.pem
certfile $BROKER/server.pem
keyfile $BROKER/server.key
CONF
"$MOSQUITTO" -c "$BROKER/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  listening "$MQTT_PORT" && listening "$MQTT_AUTH_PORT" && listening "$MQTT_TLS_PORT" && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "mosquitto exited" >&2; exit 1; }
  sleep 0.05
done
listening "$MQTT_TLS_PORT" || { echo "mosquitto did not open its ports" >&2; exit 1; }
DEMO_PORT="$(free_port 18080)"
VDA_PORT="$(free_port "$((DEMO_PORT + 1))")"
PROXY_PORT="$(free_port "$((VDA_PORT + 1))")"
INTERFACE="uniffi$$"
SECRET="uniffi-test-secret-key-of-32-bytes!!"
common=(--app-env demo --app-host 127.0.0.1 --secret-key "$SECRET" --dashboard-dir /nonexistent-dashboard)
"$SERVER" "${common[@]}" --app-port "$DEMO_PORT" --simulator true --simulator-vehicles 5 \
  --simulator-interval-ms 200 --simulator-scenario normal >"$WORK/demo-server.log" 2>&1 &
PIDS+=($!)
"$SERVER" "${common[@]}" --app-port "$VDA_PORT" --bus vda5050 --simulator false \
  --mqtt-host 127.0.0.1 --mqtt-port "$MQTT_PORT" --mqtt-client-id "$INTERFACE-server" \
  --vda5050-interface "$INTERFACE" --vda5050-manufacturer kotlin --vda5050-vehicles KT-1,KT-2,KT-3,KT-4 \
  --vda5050-origin-lat 4.711 --vda5050-origin-lon -74.0721 >"$WORK/vda-server.log" 2>&1 &
PIDS+=($!)
for port in "$DEMO_PORT" "$VDA_PORT"; do
  for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null || { echo "server on $port not ready" >&2; exit 1; }
done

step "Kotlin tests on the JVM"
VEHICLEOPS_DEMO_URL="http://127.0.0.1:$DEMO_PORT" \
VEHICLEOPS_VDA_URL="http://127.0.0.1:$VDA_PORT" \
VEHICLEOPS_VDA_INTERFACE="$INTERFACE" \
VEHICLEOPS_MQTT_PORT="$MQTT_PORT" \
VEHICLEOPS_MQTT_AUTH_PORT="$MQTT_AUTH_PORT" \
VEHICLEOPS_MQTT_TLS_PORT="$MQTT_TLS_PORT" \
VEHICLEOPS_MQTT_CA="$BROKER/ca.pem" \
VEHICLEOPS_MQTT_USER="$MQTT_USER" \
VEHICLEOPS_MQTT_PASSWORD="$MQTT_PASSWORD" \
VEHICLEOPS_PROXY_PORT="$PROXY_PORT" \
  java -Djna.library.path="$(dirname "$LIB")" -cp "$KOTLIN_JAR:$KOTLIN_RUNTIME_CP" io.vehicleops.test.BindingTestKt
