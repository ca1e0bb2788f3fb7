#!/usr/bin/env bash
# Runs Apache Kafka (KRaft mode) on 127.0.0.1 for development, tests and benchmarks.
#
#   scripts/kafka.sh [--brokers 1|3] start      fetch jars if needed, format storage, start, wait
#   scripts/kafka.sh [--brokers 1|3] stop       stop the brokers this script started (by PID)
#   scripts/kafka.sh [--brokers 1|3] status     print each node's PID and state
#   scripts/kafka.sh [--brokers 1|3] bootstrap  print the bootstrap servers
#   scripts/kafka.sh [--brokers 1|3] pid NODE   print the PID of node NODE (1-based)
#   scripts/kafka.sh fetch                      only fetch the jars
#
# `--port-base N` moves the client ports to N, N+1, N+2 and the controller ports to N+100…
# (tests use it, together with VEHICLEOPS_KAFKA_STATE, to run a private broker they can stop).
#
# One broker listens on 127.0.0.1:9092 (controller 9093). Three brokers (replication factor 3,
# min.insync.replicas=2) listen on 127.0.0.1:19092-19094 (controllers 19192-19194), so both
# set-ups can run side by side. Every node is broker and controller at once.
#
# `start` is idempotent: nodes already running are left alone and dead ones are started again
# on their existing storage, so a test that SIGKILLs a broker can bring it back the same way.
#
# Environment:
#   KAFKA_VERSION          Apache Kafka version from Maven Central (default 4.1.1)
#   VEHICLEOPS_KAFKA_CACHE jar cache root (default ~/.cache/vehicleops)
#   VEHICLEOPS_KAFKA_STATE storage, logs and PID files (default /tmp/vehicleops-kafka)
#   KAFKA_HEAP_OPTS        broker heap (default "-Xms128m -Xmx512m")
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
LOG4J_VERSION="2.24.3"
SLF4J_VERSION="2.0.17"
CACHE_ROOT="${VEHICLEOPS_KAFKA_CACHE:-$HOME/.cache/vehicleops}"
KAFKA_HOME="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
STATE_ROOT="${VEHICLEOPS_KAFKA_STATE:-/tmp/vehicleops-kafka}"
HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
READY_TIMEOUT_SECS=120
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

BROKERS=1
PORT_BASE=""
ARGS=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --brokers) BROKERS="$2"; shift 2 ;;
        --brokers=*) BROKERS="${1#--brokers=}"; shift ;;
        --port-base) PORT_BASE="$2"; shift 2 ;;
        *) ARGS+=("$1"); shift ;;
    esac
done
set -- "${ARGS[@]+"${ARGS[@]}"}"
case "$BROKERS" in
    1) CLIENT_BASE=9092; CONTROLLER_BASE=9093; PORT_STEP=2; RF=1; MIN_ISR=1 ;;
    3) CLIENT_BASE=19092; CONTROLLER_BASE=19192; PORT_STEP=1; RF=3; MIN_ISR=2 ;;
    *) echo "kafka.sh: --brokers must be 1 or 3, got '$BROKERS'" >&2; exit 2 ;;
esac
if [[ -n "$PORT_BASE" ]]; then
    CLIENT_BASE="$PORT_BASE"; CONTROLLER_BASE=$((PORT_BASE + 100)); PORT_STEP=1
fi
CLUSTER_DIR="$STATE_ROOT/brokers-$BROKERS${PORT_BASE:+-$PORT_BASE}"

log() { echo "kafka.sh: $*" >&2; }

client_port() { echo $((CLIENT_BASE + ($1 - 1) * PORT_STEP)); }
controller_port() { echo $((CONTROLLER_BASE + ($1 - 1) * PORT_STEP)); }

bootstrap() {
    local out="" n
    for n in $(seq 1 "$BROKERS"); do
        out+="${out:+,}127.0.0.1:$(client_port "$n")"
    done
    echo "$out"
}

# Fetches the broker, its tools and a log4j2 SLF4J binding with Maven into $LIBS.
fetch() {
    if [[ -f "$LIBS/.complete" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || { log "mvn is required to fetch Kafka"; exit 1; }
    command -v java >/dev/null || { log "java (17+) is required to run Kafka"; exit 1; }
    mkdir -p "$KAFKA_HOME"
    sed -e "s/@KAFKA_VERSION@/$KAFKA_VERSION/g" -e "s/@LOG4J_VERSION@/$LOG4J_VERSION/g" \
        -e "s/@SLF4J_VERSION@/$SLF4J_VERSION/g" \
        "$SCRIPT_DIR/kafka/pom.xml.in" >"$KAFKA_HOME/pom.xml"
    log "fetching Apache Kafka $KAFKA_VERSION jars into $LIBS"
    rm -rf "$LIBS"
    mvn -q -B -Dstyle.color=never -f "$KAFKA_HOME/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$LIBS" >&2
    touch "$LIBS/.complete"
}

node_dir() { echo "$CLUSTER_DIR/node-$1"; }
pid_file() { echo "$(node_dir "$1")/kafka.pid"; }

# Prints the PID of a running node, or nothing.
running_pid() {
    local f pid
    f="$(pid_file "$1")"
    [[ -f "$f" ]] || return 0
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null && grep -q "kafka.Kafka" "/proc/$pid/cmdline" 2>/dev/null; then
        echo "$pid"
    fi
}

# True while the recorded process exists. Unlike `running_pid` it does not require the
# command line to be Kafka's yet: right after start it may still be `setsid` about to exec java.
pid_alive() {
    local f
    f="$(pid_file "$1")"
    [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

write_config() {
    local n="$1" dir voters="" m
    dir="$(node_dir "$n")"
    for m in $(seq 1 "$BROKERS"); do
        voters+="${voters:+,}$m@127.0.0.1:$(controller_port "$m")"
    done
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(client_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(client_port "$n")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=$RF
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$RF
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
share.coordinator.state.topic.replication.factor=$RF
share.coordinator.state.topic.min.isr=$MIN_ISR
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
unclean.leader.election.enable=false
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.retention.check.interval.ms=60000
log.segment.bytes=67108864
EOF
}

format_storage() {
    local n="$1" dir cluster_id
    dir="$(node_dir "$n")"
    if [[ -f "$dir/data/meta.properties" ]]; then
        return 0
    fi
    cluster_id="$(cat "$CLUSTER_DIR/cluster.id")"
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
        kafka.tools.StorageTool format --ignore-formatted \
        --config "$dir/server.properties" --cluster-id "$cluster_id" >"$dir/format.log" 2>&1 || {
        cat "$dir/format.log" >&2
        log "formatting storage of node $n failed"
        exit 1
    }
}

start_node() {
    local n="$1" dir pid
    dir="$(node_dir "$n")"
    pid="$(running_pid "$n")"
    if [[ -n "$pid" ]]; then
        log "node $n already running (pid $pid)"
        return 0
    fi
    mkdir -p "$dir"
    write_config "$n"
    format_storage "$n"
    # A fresh log, so readiness is judged by this run's "started" line.
    [[ -f "$dir/server.log" ]] && mv -f "$dir/server.log" "$dir/server.log.1"
    # setsid: the broker must outlive the shell or test that started it.
    # shellcheck disable=SC2086
    setsid java $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
        -Dkafka.logs.dir="$dir" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
        >"$dir/server.log" 2>&1 </dev/null &
    echo $! >"$(pid_file "$n")"
    log "node $n starting (pid $!, 127.0.0.1:$(client_port "$n"), log $dir/server.log)"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits until every node listens and has logged that the server started.
wait_ready() {
    local deadline=$((SECONDS + READY_TIMEOUT_SECS)) n pending
    while :; do
        pending=""
        for n in $(seq 1 "$BROKERS"); do
            if ! pid_alive "$n"; then
                tail -n 30 "$(node_dir "$n")/server.log" >&2 || true
                log "node $n exited during startup"
                exit 1
            fi
            if ! port_open "$(client_port "$n")" \
                || ! grep -q "Kafka Server started" "$(node_dir "$n")/server.log"; then
                pending+=" $n"
            fi
        done
        if [[ -z "$pending" ]]; then
            log "ready: $(bootstrap)"
            return 0
        fi
        if ((SECONDS > deadline)); then
            log "nodes not ready after ${READY_TIMEOUT_SECS}s:$pending"
            exit 1
        fi
        sleep 0.5
    done
}

start() {
    fetch
    mkdir -p "$CLUSTER_DIR"
    if [[ ! -f "$CLUSTER_DIR/cluster.id" ]]; then
        java -cp "$LIBS/*" -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.properties" \
            kafka.tools.StorageTool random-uuid >"$CLUSTER_DIR/cluster.id"
    fi
    local n
    for n in $(seq 1 "$BROKERS"); do
        start_node "$n"
    done
    wait_ready
    bootstrap
}

stop() {
    local n pid waited
    for n in $(seq 1 "$BROKERS"); do
        pid="$(running_pid "$n")"
        if [[ -z "$pid" ]]; then
            rm -f "$(pid_file "$n")"
            continue
        fi
        kill -TERM "$pid"
        waited=0
        while kill -0 "$pid" 2>/dev/null && ((waited < 300)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "node $n (pid $pid) did not stop in 30s; killing it"
            kill -KILL "$pid"
        fi
        rm -f "$(pid_file "$n")"
        log "node $n stopped"
    done
}

status() {
    local n pid rc=0
    for n in $(seq 1 "$BROKERS"); do
        pid="$(running_pid "$n")"
        if [[ -n "$pid" ]]; then
            echo "node $n: running (pid $pid) 127.0.0.1:$(client_port "$n")"
        else
            echo "node $n: stopped"
            rc=3
        fi
    done
    return "$rc"
}

case "${1:-}" in
    fetch) fetch ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    bootstrap) bootstrap ;;
    pid)
        [[ -n "${2:-}" ]] || { log "usage: kafka.sh [--brokers N] pid NODE"; exit 2; }
        running_pid "$2"
        ;;
    *)
        sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
