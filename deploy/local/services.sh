#!/usr/bin/env bash
# deploy/local/services.sh — real local Kafka (KRaft, single node) + Redis on 127.0.0.1.
#
#   services.sh fetch                   download Kafka jars once (Maven Central, deploy/local/pom.xml):
#                                       KAFKA_VERSION's, and KAFKA_SCRAM_VERSION's for the SCRAM test
#   services.sh up | down | status      both services (idempotent; down stops by PID only)
#   services.sh kafka-start | kafka-stop | redis-start | redis-stop
#                                       one service, same port and data dir (for fault tests)
#
# Environment (see README.md): KAFKA_VERSION (pom.xml's, 4.1.2), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1),
# KAFKA_SASL_PORT (unset = no SASL), KAFKA_SASL_USER (evfleet), KAFKA_SASL_PASSWORD (evfleet-secret),
# KAFKA_SCRAM_VERSION (3.9.1; empty = fetch no second version), KAFKA_SCRAM_LIBS_DIR
# (deploy/local/.state/kafka-libs-<KAFKA_SCRAM_VERSION>),
# REDIS_PORT (6379), REDIS_ACL_USER / REDIS_ACL_PASSWORD, STATE_DIR (deploy/local/.state),
# KAFKA_LIBS_DIR (deploy/local/.state/kafka-libs), CLEAN=1 (down/…-stop: also delete that port's state),
# STOP_SIGNAL (TERM; KILL = crash), KAFKA_START_TIMEOUT (90), STOP_TIMEOUT (20),
# KAFKA_HEAP_OPTS, KAFKA_JVM_OPTS, KAFKA_EXTRA_PROPERTIES (lines appended to server.properties),
# MVN_ARGS (extra maven arguments for fetch).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

KAFKA_PORT=${KAFKA_PORT:-9092}
REDIS_PORT=${REDIS_PORT:-6379}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_SASL_PORT=${KAFKA_SASL_PORT:-}
KAFKA_SASL_USER=${KAFKA_SASL_USER:-evfleet}
KAFKA_SASL_PASSWORD=${KAFKA_SASL_PASSWORD:-evfleet-secret}
REDIS_ACL_USER=${REDIS_ACL_USER:-}
REDIS_ACL_PASSWORD=${REDIS_ACL_PASSWORD:-}
STATE_DIR=${STATE_DIR:-$ROOT/deploy/local/.state}
KAFKA_VERSION=${KAFKA_VERSION:-}
KAFKA_LIBS_DIR=${KAFKA_LIBS_DIR:-$ROOT/deploy/local/.state/kafka-libs${KAFKA_VERSION:+-$KAFKA_VERSION}}
# A second Kafka version `fetch` also downloads: librdkafka < 2.6.1 cannot log in with SCRAM to
# Kafka 4.x (see write_kafka_props), so tests/integration/test_security.sh runs SCRAM on this one.
KAFKA_SCRAM_VERSION=${KAFKA_SCRAM_VERSION-3.9.1}
KAFKA_SCRAM_LIBS_DIR=${KAFKA_SCRAM_LIBS_DIR:-$ROOT/deploy/local/.state/kafka-libs-$KAFKA_SCRAM_VERSION}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
REDIS_START_TIMEOUT=${REDIS_START_TIMEOUT:-15}
STOP_TIMEOUT=${STOP_TIMEOUT:-20}
STOP_SIGNAL=${STOP_SIGNAL:-TERM}
CLEAN=${CLEAN:-0}
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m}
KAFKA_JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}
KAFKA_EXTRA_PROPERTIES=${KAFKA_EXTRA_PROPERTIES:-}
MVN_ARGS=${MVN_ARGS:-}
POM=$HERE/pom.xml

die() { echo "services.sh: $*" >&2; exit 1; }

for p in KAFKA_PORT REDIS_PORT KAFKA_CONTROLLER_PORT ${KAFKA_SASL_PORT:+KAFKA_SASL_PORT}; do
    # shellcheck disable=SC2015
    [[ ${!p} =~ ^[0-9]+$ ]] && ((${!p} > 0 && ${!p} < 65536)) || die "$p='${!p}' is not a TCP port"
done
if [[ -n $KAFKA_SASL_PORT ]]; then
    [[ $KAFKA_SASL_PORT != "$KAFKA_PORT" && $KAFKA_SASL_PORT != "$KAFKA_CONTROLLER_PORT" ]] ||
        die "KAFKA_SASL_PORT must differ from KAFKA_PORT and KAFKA_CONTROLLER_PORT"
fi
[[ $KAFKA_CONTROLLER_PORT != "$KAFKA_PORT" ]] || die "KAFKA_CONTROLLER_PORT must differ from KAFKA_PORT"
if [[ -n $KAFKA_SASL_PORT ]]; then
    # they go unquoted into StorageTool's --add-scram and into a JAAS line in server.properties
    for v in KAFKA_SASL_USER KAFKA_SASL_PASSWORD; do
        [[ ${!v} =~ ^[A-Za-z0-9._@:/+-]+$ ]] || die "$v may only contain letters, digits and . _ @ : / + -"
    done
fi

mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
KDIR=$STATE_DIR/kafka-$KAFKA_PORT
RDIR=$STATE_DIR/redis-$REDIS_PORT
KPID=$KDIR/kafka.pid
RPID=$RDIR/redis.pid

# ---------------------------------------------------------------- helpers

# pid_of FILE: prints the pid recorded in FILE if that process is alive, else nothing
pid_of() {
    local f=$1 pid
    [[ -f $f ]] || return 0
    pid=$(tr -cd '0-9' <"$f" 2>/dev/null || true)
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
    return 0
}

# ours PID PATTERN: the process's command line contains PATTERN (guards against recycled PIDs)
ours() {
    local pid=$1 pat=$2 cmd
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
    [[ $cmd == *"$pat"* ]]
}

# live_pid FILE PATTERN: pid from FILE if alive and ours; removes a stale PID file
live_pid() {
    local f=$1 pat=$2 pid
    pid=$(pid_of "$f")
    if [[ -n $pid ]] && ours "$pid" "$pat"; then
        echo "$pid"
        return 0
    fi
    [[ -f $f ]] && rm -f "$f"
    return 0
}

listening() { # PORT -> 0 if something listens on 127.0.0.1/any on that TCP port
    [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
}

port_owner() { # PORT -> "name pid" of the listener, best effort
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:((.*))' | head -n1 || true
}

# check_ports_free SERVICE PORT...: exit 1 naming the first busy port
check_ports_free() {
    local svc=$1 p
    shift
    for p in "$@"; do
        if listening "$p"; then
            die "$svc: port $p is already in use by something that is not this script's $svc ($(port_owner "$p")); choose other ports (KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_SASL_PORT, REDIS_PORT) or stop it"
        fi
    done
}

# stop_pid NAME PID PIDFILE: SIGTERM (or $STOP_SIGNAL), wait up to STOP_TIMEOUT s, then SIGKILL
stop_pid() {
    local name=$1 pid=$2 f=$3 i
    kill -s "$STOP_SIGNAL" "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$name: pid $pid still alive after ${STOP_TIMEOUT}s, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$f"
}

with_lock() { # DIR CMD...: serialize start/stop of one service instance
    local d=$1
    shift
    mkdir -p "$d"
    exec {lockfd}>"$d/.lock"
    flock -w 180 "$lockfd" || die "could not lock $d/.lock"
    "$@"
    local rc=$?
    exec {lockfd}>&-
    return $rc
}

# ---------------------------------------------------------------- fetch

libs_complete() {
    local want
    want=$( (cat "$POM"; echo "kafka.version=$KAFKA_VERSION") | sha256sum | cut -d' ' -f1)
    [[ -f $KAFKA_LIBS_DIR/.complete && $(cat "$KAFKA_LIBS_DIR/.complete") == "$want" ]] &&
        compgen -G "$KAFKA_LIBS_DIR/kafka_2.13-*.jar" >/dev/null
}

do_fetch() {
    libs_complete && return 0
    command -v mvn >/dev/null || die "fetch: maven (mvn) is not installed (apt-get install maven)"
    command -v java >/dev/null || die "fetch: java is not installed (apt-get install openjdk-17-jre-headless)"
    mkdir -p "$(dirname "$KAFKA_LIBS_DIR")"
    exec {fl}>"$KAFKA_LIBS_DIR.lock"
    flock -w 600 "$fl" || die "fetch: could not lock $KAFKA_LIBS_DIR.lock"
    if ! libs_complete; then
        local tmp=$KAFKA_LIBS_DIR.tmp.$$ t0=$SECONDS
        rm -rf "$tmp"
        echo "fetching Kafka jars with maven into $KAFKA_LIBS_DIR ..."
        # shellcheck disable=SC2086
        if ! mvn -q -B -Dstyle.color=never -f "$POM" ${KAFKA_VERSION:+"-Dkafka.version=$KAFKA_VERSION"} $MVN_ARGS \
            dependency:copy-dependencies -DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
            tail -n 40 "$tmp.log" >&2
            rm -rf "$tmp"
            die "fetch: maven failed (full log: $tmp.log)"
        fi
        rm -f "$tmp.log"
        local n
        n=$(find "$tmp" \( -name 'slf4j-simple-*.jar' -o -name 'log4j-slf4j*-impl-*.jar' -o -name 'slf4j-reload4j-*.jar' \
            -o -name 'slf4j-log4j12-*.jar' -o -name 'logback-classic-*.jar' -o -name 'slf4j-nop-*.jar' \) | wc -l)
        [[ $n == 1 ]] || { rm -rf "$tmp"; die "fetch: expected exactly one SLF4J provider jar, found $n"; }
        (cat "$POM"; echo "kafka.version=$KAFKA_VERSION") | sha256sum | cut -d' ' -f1 >"$tmp/.complete"
        rm -rf "$KAFKA_LIBS_DIR"
        mv "$tmp" "$KAFKA_LIBS_DIR"
        echo "fetched $(find "$KAFKA_LIBS_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - t0))s"
    fi
    exec {fl}>&-
}

kafka_version() {
    local j
    j=$(compgen -G "$KAFKA_LIBS_DIR/kafka_2.13-*.jar" | head -n1)
    j=${j##*/kafka_2.13-}
    echo "${j%.jar}"
}

# ---------------------------------------------------------------- kafka

kafka_answers() { # -> 0 if the broker serves metadata on KAFKA_PORT
    timeout 6 kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 4 -X socket.timeout.ms=3000 2>/dev/null |
        grep -q "broker 1 at"
}

write_kafka_props() {
    local f=$KDIR/server.properties listeners advertised protomap
    listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT"
    advertised="PLAINTEXT://127.0.0.1:$KAFKA_PORT"
    protomap="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if [[ -n $KAFKA_SASL_PORT ]]; then
        listeners+=",SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT"
        advertised+=",SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT"
        protomap+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
    fi
    cat >"$f.tmp" <<EOF
# generated by deploy/local/services.sh on every start; edit the script, not this file
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protomap
inter.broker.listener.name=PLAINTEXT
log.dirs=$KDIR/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=8
group.initial.rebalance.delay.ms=0
# allow the short session timeouts the tests use (broker default minimum is 6000)
group.min.session.timeout.ms=1000
group.consumer.min.session.timeout.ms=1000
group.consumer.min.heartbeat.interval.ms=500
# after a crash (kill -9) the restarted broker waits for its old registration to expire
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=1000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
EOF
    if [[ -n $KAFKA_SASL_PORT ]]; then
        # SCRAM-SHA-512 users live in the metadata log (format --add-scram). PLAIN is offered too,
        # with the same user and password: librdkafka < 2.6.1 (Debian's 2.0.2) cannot do SCRAM
        # against Kafka 4.x brokers. Its client-final-message repeats the client nonce after the
        # server's (fixed in librdkafka 2.6.1, confluentinc/librdkafka#4895); Kafka 3.8.1/3.9.x
        # check the nonce with endsWith and accept it, 4.x demand the exact nonce (RFC 5802,
        # CVE-2024-56128) and answer "invalid credentials". No broker or client setting changes
        # that: use KAFKA_VERSION=3.9.1 for SCRAM with this librdkafka, or PLAIN on 4.x.
        # The file holds the PLAIN password, so it is readable by its owner only.
        chmod 600 "$f.tmp"
        cat >>"$f.tmp" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_SASL_USER="$KAFKA_SASL_PASSWORD";
EOF
    fi
    if [[ -n $KAFKA_EXTRA_PROPERTIES ]]; then
        printf '# KAFKA_EXTRA_PROPERTIES\n%s\n' "$KAFKA_EXTRA_PROPERTIES" >>"$f.tmp"
    fi
    mv "$f.tmp" "$f"
}

kafka_java() { # args... : run a Kafka tool class in the foreground
    # shellcheck disable=SC2086
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
        -cp "$KAFKA_LIBS_DIR/*" "$@"
}

kafka_format() {
    local v
    v=$(kafka_version)
    if [[ -f $KDIR/data/meta.properties ]]; then
        if [[ -s $KDIR/kafka-version && $(cat "$KDIR/kafka-version") != "$v" ]]; then
            die "kafka: $KDIR was formatted by Kafka $(cat "$KDIR/kafka-version"), not $v; use another port or STATE_DIR, or remove it with CLEAN=1 (KAFKA_PORT=$KAFKA_PORT $0 kafka-stop)"
        fi
        return 0
    fi
    echo "$v" >"$KDIR/kafka-version"
    if [[ ! -s $KDIR/cluster.id ]]; then
        kafka_java kafka.tools.StorageTool random-uuid >"$KDIR/cluster.id.tmp"
        mv "$KDIR/cluster.id.tmp" "$KDIR/cluster.id"
    fi
    local args=(format -t "$(tr -d '[:space:]' <"$KDIR/cluster.id")" -c "$KDIR/server.properties" --ignore-formatted)
    if [[ -n $KAFKA_SASL_PORT ]]; then
        args+=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SASL_USER,password=$KAFKA_SASL_PASSWORD]")
        scram_token >"$KDIR/scram-user"
    fi
    kafka_java kafka.tools.StorageTool "${args[@]}" >"$KDIR/format.log" 2>&1 || {
        cat "$KDIR/format.log" >&2
        die "kafka: storage format failed"
    }
}

scram_token() { printf '%s\n' "$KAFKA_SASL_USER $(printf '%s' "$KAFKA_SASL_PASSWORD" | sha256sum | cut -c1-16)"; }

# The SCRAM user must exist when SASL is asked for on a data dir formatted without it (or with
# another user/password): create or update it through the admin API (KIP-554) on the running broker.
kafka_ensure_scram_user() {
    [[ -n $KAFKA_SASL_PORT ]] || return 0
    [[ -f $KDIR/scram-user && $(cat "$KDIR/scram-user") == "$(scram_token)" ]] && return 0
    kafka_java kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter \
        --entity-type users --entity-name "$KAFKA_SASL_USER" \
        --add-config "SCRAM-SHA-512=[password=$KAFKA_SASL_PASSWORD]" >"$KDIR/scram.log" 2>&1 || {
        cat "$KDIR/scram.log" >&2
        die "kafka: could not create SCRAM user $KAFKA_SASL_USER"
    }
    scram_token >"$KDIR/scram-user"
}

kafka_line() { # STATE PID
    local s="kafka  $1  127.0.0.1:$KAFKA_PORT"
    [[ -n ${2:-} ]] && s+=" (pid $2)"
    [[ -n $KAFKA_SASL_PORT ]] && s+=" sasl_plaintext 127.0.0.1:$KAFKA_SASL_PORT"
    echo "$s"
}

kafka_wait() { # PID: wait for the broker to answer, or die with the log tail
    local pid=$1 deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        kafka_answers && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "kafka: the broker (pid $pid) exited during start-up; last 40 lines of $KDIR/kafka.log:" >&2
            tail -n 40 "$KDIR/kafka.log" >&2
            rm -f "$KPID"
            exit 1
        fi
        sleep 0.5
    done
    echo "kafka: no answer on 127.0.0.1:$KAFKA_PORT after ${KAFKA_START_TIMEOUT}s (pid $pid still running; stop it with: KAFKA_PORT=$KAFKA_PORT $0 kafka-stop); last 40 lines of $KDIR/kafka.log:" >&2
    tail -n 40 "$KDIR/kafka.log" >&2
    exit 1
}

kafka_start_locked() {
    local pid
    pid=$(live_pid "$KPID" "$KDIR/server.properties")
    if [[ -n $pid ]]; then
        if [[ -n $KAFKA_SASL_PORT ]] && ! grep -q "^listeners=.*SASL_PLAINTEXT://127.0.0.1:$KAFKA_SASL_PORT" "$KDIR/server.properties"; then
            die "kafka: the broker on 127.0.0.1:$KAFKA_PORT (pid $pid) runs without a SASL listener on $KAFKA_SASL_PORT; stop it first (KAFKA_PORT=$KAFKA_PORT $0 kafka-stop)"
        fi
        kafka_wait "$pid"
        kafka_ensure_scram_user
        kafka_line up "$pid"
        return 0
    fi
    check_ports_free kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" ${KAFKA_SASL_PORT:+"$KAFKA_SASL_PORT"}
    do_fetch
    command -v kcat >/dev/null || die "kafka: kcat is needed for the readiness check (apt-get install kcat)"
    mkdir -p "$KDIR/data"
    write_kafka_props
    kafka_format
    {
        echo "===== $(date '+%F %T') starting Kafka $(kafka_version) on 127.0.0.1:$KAFKA_PORT"
    } >>"$KDIR/kafka.log"
    # bash writes its own PID and then execs java, so the PID file names the JVM itself.
    # shellcheck disable=SC2016,SC2086  # $$ is the child's; the JVM options are meant to split
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$KPID" \
        java $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS \
        -Dorg.slf4j.simpleLogger.showDateTime=true \
        "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS" \
        -Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config=warn \
        -Dorg.slf4j.simpleLogger.log.kafka.server.KafkaConfig=warn \
        -cp "$KAFKA_LIBS_DIR/*" kafka.Kafka "$KDIR/server.properties" \
        >>"$KDIR/kafka.log" 2>&1 </dev/null {lockfd}>&- &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $KPID ]] && break
        sleep 0.1
    done
    pid=$(pid_of "$KPID")
    [[ -n $pid ]] || { tail -n 40 "$KDIR/kafka.log" >&2; die "kafka: the JVM did not start"; }
    kafka_wait "$pid"
    kafka_ensure_scram_user
    kafka_line up "$pid"
}

kafka_stop_locked() {
    local pid
    pid=$(live_pid "$KPID" "$KDIR/server.properties")
    if [[ -n $pid ]]; then
        stop_pid kafka "$pid" "$KPID"
    fi
    if [[ $CLEAN == 1 && -d $KDIR ]]; then
        rm -rf -- "$KDIR"
    fi
    kafka_line down
}

kafka_status() { # -> 0 if up
    local pid
    pid=$(live_pid "$KPID" "$KDIR/server.properties")
    if [[ -z $pid ]]; then
        kafka_line down
        return 1
    fi
    if kafka_answers; then
        kafka_line up "$pid"
        return 0
    fi
    kafka_line "not-answering" "$pid"
    return 1
}

# ---------------------------------------------------------------- redis

redis_cli() { timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
redis_answers() { [[ $(redis_cli ping 2>/dev/null) == PONG ]]; }

redis_line() {
    local s="redis  $1  127.0.0.1:$REDIS_PORT"
    [[ -n ${2:-} ]] && s+=" (pid $2)"
    echo "$s"
}

redis_acl() {
    [[ -n $REDIS_ACL_USER ]] || return 0
    [[ -n $REDIS_ACL_PASSWORD ]] || die "redis: REDIS_ACL_USER is set but REDIS_ACL_PASSWORD is empty"
    local out
    out=$(redis_cli ACL SETUSER "$REDIS_ACL_USER" reset on ">$REDIS_ACL_PASSWORD" '~*' '&*' '+@all' 2>&1)
    [[ $out == OK ]] || die "redis: ACL SETUSER $REDIS_ACL_USER failed: $out"
}

redis_wait() {
    local pid=$1 deadline=$((SECONDS + REDIS_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        redis_answers && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "redis: redis-server (pid $pid) exited during start-up; last 40 lines of $RDIR/redis.log:" >&2
            tail -n 40 "$RDIR/redis.log" >&2
            rm -f "$RPID"
            exit 1
        fi
        sleep 0.1
    done
    echo "redis: no PONG on 127.0.0.1:$REDIS_PORT after ${REDIS_START_TIMEOUT}s; last 40 lines of $RDIR/redis.log:" >&2
    tail -n 40 "$RDIR/redis.log" >&2
    exit 1
}

redis_start_locked() {
    local pid
    pid=$(live_pid "$RPID" redis-server)
    if [[ -n $pid ]]; then
        redis_wait "$pid"
        redis_acl
        redis_line up "$pid"
        return 0
    fi
    command -v redis-server >/dev/null || die "redis: redis-server is not installed (apt-get install redis-server)"
    check_ports_free redis "$REDIS_PORT"
    mkdir -p "$RDIR/data"
    echo "===== $(date '+%F %T') starting redis-server on 127.0.0.1:$REDIS_PORT" >>"$RDIR/redis.log"
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$RPID" \
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RDIR/data" \
        --save '' --appendonly no --maxmemory-policy noeviction --daemonize no \
        --protected-mode yes --logfile '' \
        >>"$RDIR/redis.log" 2>&1 </dev/null {lockfd}>&- &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $RPID ]] && break
        sleep 0.1
    done
    pid=$(pid_of "$RPID")
    [[ -n $pid ]] || { tail -n 40 "$RDIR/redis.log" >&2; die "redis: redis-server did not start"; }
    redis_wait "$pid"
    redis_acl
    redis_line up "$pid"
}

# keep=1 (redis-stop): SAVE a snapshot first so redis-start brings the keys back; with
# STOP_SIGNAL=KILL no snapshot is taken and an old one is removed, so Redis comes back empty,
# as a crashed Redis without persistence would.
# keep=0 (down): no snapshot, an old one is removed: the next `up` starts empty (--save '').
redis_stop_locked() {
    local keep=$1 pid
    [[ $STOP_SIGNAL == KILL || $STOP_SIGNAL == SIGKILL || $STOP_SIGNAL == 9 ]] && keep=0
    pid=$(live_pid "$RPID" redis-server)
    if [[ -n $pid ]]; then
        if [[ $keep == 1 ]]; then
            redis_cli SAVE >/dev/null 2>&1 || echo "redis: SAVE before stop failed; keys will be lost" >&2
        fi
        stop_pid redis "$pid" "$RPID"
    fi
    [[ $keep == 1 ]] || rm -f "$RDIR/data/dump.rdb"
    if [[ $CLEAN == 1 && -d $RDIR ]]; then
        rm -rf -- "$RDIR"
    fi
    redis_line down
}

redis_status() {
    local pid
    pid=$(live_pid "$RPID" redis-server)
    if [[ -z $pid ]]; then
        redis_line down
        return 1
    fi
    if redis_answers; then
        redis_line up "$pid"
        return 0
    fi
    redis_line "not-answering" "$pid"
    return 1
}

# ---------------------------------------------------------------- main

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

cmd=${1:-}
case $cmd in
fetch)
    do_fetch
    echo "Kafka $(kafka_version) jars in $KAFKA_LIBS_DIR"
    if [[ -n $KAFKA_SCRAM_VERSION && $KAFKA_SCRAM_VERSION != "$(kafka_version)" ]]; then
        (
            KAFKA_VERSION=$KAFKA_SCRAM_VERSION KAFKA_LIBS_DIR=$KAFKA_SCRAM_LIBS_DIR
            do_fetch
            echo "Kafka $(kafka_version) jars in $KAFKA_LIBS_DIR (for SCRAM with librdkafka < 2.6.1)"
        )
    fi
    ;;
up)
    # refuse before starting anything if a port of a service that is not already ours is taken
    [[ -n $(live_pid "$KPID" "$KDIR/server.properties") ]] ||
        check_ports_free kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" ${KAFKA_SASL_PORT:+"$KAFKA_SASL_PORT"}
    [[ -n $(live_pid "$RPID" redis-server) ]] || check_ports_free redis "$REDIS_PORT"
    do_fetch
    with_lock "$RDIR" redis_start_locked
    with_lock "$KDIR" kafka_start_locked
    ;;
down)
    rc=0
    with_lock "$KDIR" kafka_stop_locked || rc=1
    with_lock "$RDIR" redis_stop_locked 0 || rc=1
    exit $rc
    ;;
status)
    rc=0
    kafka_status || rc=1
    redis_status || rc=1
    exit $rc
    ;;
kafka-start) with_lock "$KDIR" kafka_start_locked ;;
kafka-stop) with_lock "$KDIR" kafka_stop_locked ;;
redis-start) with_lock "$RDIR" redis_start_locked ;;
redis-stop) with_lock "$RDIR" redis_stop_locked 1 ;;
-h | --help | help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
