#!/usr/bin/env bash
# Apache Kafka (KRaft) from Maven Central, run with this machine's Java: one combined
# broker/controller on loopback, for `make test-kafka` and for trying the platform on a
# durable broker. Not for production (see deploy/compose.yaml and deploy/k8s/).
#
#   deploy/kafka/kafka.sh fetch     download the jars (Maven) into $KAFKA_LIBS_DIR
#   deploy/kafka/kafka.sh start     fetch if needed, format storage once, start, wait until ready
#   deploy/kafka/kafka.sh stop      SIGTERM, wait for a clean exit (SIGKILL after 30 s)
#   deploy/kafka/kafka.sh kill      SIGKILL at once, as a crash would (fault tests)
#   deploy/kafka/kafka.sh restart   stop, then start on the same data
#   deploy/kafka/kafka.sh status    exit 0 if running and answering the Admin API
#   deploy/kafka/kafka.sh reset     stop and delete the data (topics, offsets)
#
# Settings (environment): KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093),
# KAFKA_STATE_DIR (var/kafka: data, log, pid), KAFKA_LIBS_DIR (var/kafka/libs),
# KAFKA_M2_REPO (~/.m2/repository), KAFKA_HEAP (512m), KAFKA_READY_TIMEOUT seconds (90).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
STATE="${KAFKA_STATE_DIR:-$ROOT/var/kafka}"
M2_REPO="${KAFKA_M2_REPO:-$HOME/.m2/repository}"
HEAP="${KAFKA_HEAP:-512m}"
READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-90}"
LIBS="${KAFKA_LIBS_DIR:-$ROOT/var/kafka/libs}"
DATA="$STATE/data"
PID_FILE="$STATE/kafka.pid"
LOG="$STATE/kafka.log"
BOOTSTRAP="127.0.0.1:$PORT"

say() { echo "kafka.sh: $*" >&2; }

need() {
    command -v "$1" >/dev/null 2>&1 || { say "$1 is not installed. Fix: $2"; exit 1; }
}

fetch() {
    # The jars are fetched again only when the pom changes.
    local stamp="$LIBS/.pom.sha256" want
    want="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    need mvn "apt-get install -y maven"
    need java "apt-get install -y openjdk-17-jdk-headless"
    say "fetching Apache Kafka jars from Maven Central into $LIBS (cache $M2_REPO)"
    rm -rf "$LIBS"
    mkdir -p "$LIBS"
    mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" "-Dmaven.repo.local=$M2_REPO" \
        dependency:copy-dependencies "-DoutputDirectory=$LIBS"
    echo "$want" >"$stamp"
}

pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local p
    p="$(cat "$PID_FILE")"
    # The pid must still be our JVM, not a recycled number.
    if kill -0 "$p" 2>/dev/null && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "kafka.Kafka"; then
        echo "$p"
        return 0
    fi
    return 1
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

ready_check() {
    # A real request: the Admin API must list this broker and an elected controller.
    local classes="$STATE/classes"
    if [[ ! -f "$classes/Ready.class" || "$HERE/Ready.java" -nt "$classes/Ready.class" ]]; then
        mkdir -p "$classes"
        javac -nowarn -d "$classes" -cp "$LIBS/*" "$HERE/Ready.java"
    fi
    java -cp "$classes:$LIBS/*" -Dlog4j2.configurationFile="$HERE/log4j2-quiet.xml" \
        Ready "$BOOTSTRAP" 1
}

render_config() {
    sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" \
        -e "s|@LOG_DIR@|$DATA|g" "$HERE/server.properties" >"$STATE/server.properties"
}

format_once() {
    [[ -f "$DATA/meta.properties" ]] && return 0
    local cluster_id
    cluster_id="$(java -cp "$LIBS/*" kafka.tools.StorageTool random-uuid)"
    say "formatting $DATA (cluster $cluster_id)"
    mkdir -p "$DATA"
    java -cp "$LIBS/*" -Dlog4j2.configurationFile="$HERE/log4j2.xml" kafka.tools.StorageTool \
        format -t "$cluster_id" -c "$STATE/server.properties" --standalone >>"$LOG" 2>&1
}

start() {
    if p="$(pid)"; then
        say "already running (pid $p) on $BOOTSTRAP"
        wait_ready "$p"
        return 0
    fi
    need java "apt-get install -y openjdk-17-jdk-headless"
    need javac "apt-get install -y openjdk-17-jdk-headless"
    mkdir -p "$STATE"
    fetch
    for port in "$PORT" "$CONTROLLER_PORT"; do
        if port_open "$port"; then
            say "port $port is already in use; stop what listens there or set KAFKA_PORT/KAFKA_CONTROLLER_PORT"
            exit 1
        fi
    done
    render_config
    format_once
    echo "--- $(date -u +%FT%TZ) kafka.sh: starting on $BOOTSTRAP" >>"$LOG"
    # exec keeps the JVM's own pid in $!; setsid gives it its own session so a Ctrl-C
    # meant for the caller does not race our orderly stop.
    (exec setsid java "-Xmx$HEAP" "-Xms$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
        "-Dlog4j2.configurationFile=$HERE/log4j2.xml" -cp "$LIBS/*" \
        kafka.Kafka "$STATE/server.properties" </dev/null >>"$LOG" 2>&1) &
    echo $! >"$PID_FILE"
    wait_ready "$!"
}

wait_ready() {
    local p="$1" deadline=$((SECONDS + READY_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$p" 2>/dev/null; then
            say "Kafka exited during start-up; last lines of $LOG:"
            tail -n 30 "$LOG" >&2
            rm -f "$PID_FILE"
            exit 1
        fi
        if port_open "$PORT" && ready_check >/dev/null 2>&1; then
            say "ready on $BOOTSTRAP (pid $p, data $DATA, log $LOG)"
            return 0
        fi
        sleep 0.5
    done
    say "not ready after ${READY_TIMEOUT}s; last lines of $LOG:"
    tail -n 30 "$LOG" >&2
    exit 1
}

stop() {
    local p
    if ! p="$(pid)"; then
        rm -f "$PID_FILE"
        return 0
    fi
    kill -TERM "$p"
    local deadline=$((SECONDS + 30))
    while kill -0 "$p" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            say "still running 30 s after SIGTERM; SIGKILL"
            kill -KILL "$p" 2>/dev/null || true
        fi
        sleep 0.1
    done
    rm -f "$PID_FILE"
    say "stopped (pid $p)"
}

crash() {
    local p
    if p="$(pid)"; then
        kill -KILL "$p"
        while kill -0 "$p" 2>/dev/null; do sleep 0.05; done
        say "killed (pid $p)"
    fi
    rm -f "$PID_FILE"
}

status() {
    local p
    if ! p="$(pid)"; then
        say "not running"
        return 1
    fi
    if ready_check; then
        say "running (pid $p) on $BOOTSTRAP"
    else
        say "pid $p is up but not answering on $BOOTSTRAP"
        return 1
    fi
}

case "${1:-}" in
fetch) fetch ;;
start) start ;;
stop) stop ;;
kill) crash ;;
restart) stop && start ;;
status) status ;;
reset) stop && rm -rf "$DATA" "$STATE/server.properties" && say "data deleted" ;;
*)
    # The comment block at the top of this file.
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit 2
    ;;
esac
