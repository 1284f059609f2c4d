#!/usr/bin/env bash
# deploy/local/demo.sh — `make demo` (issue #5): one command from a fresh machine to a fleet of three
# evfleet-worker replicas processing a realistic mix of S3, change-stream and IoT events, and a
# summary a person can read. Then it stops what it started.
#
#   bash deploy/local/demo.sh          run the demo, stop what it started
#   KEEP=1 bash deploy/local/demo.sh   ... leave the fleet (and the services) running to look around
#   bash deploy/local/demo.sh stop     stop a fleet (and the services) a KEEP=1 run left running
#
# Steps: install what is missing (deploy/local/deps.sh, only when a tool is missing); build with
# make when EVF_BIN is not given; start local Kafka + Redis unless they already answer; position
# the demo's consumer group at the end of the source topics and delete the demo's Redis keys, so
# every run starts from the same state and prints the same numbers; start three replicas (separate
# processes, HTTP on DEMO_HTTP_PORT and the next two ports) with config/worker.conf plus the demo's
# -X overrides; publish generated S3 / stream / IoT events (fixed seeds), a scripted story
# (overwrites, late and duplicate deliveries, threshold crossings) and a few events made to fail
# (chaos, unroutable, invalid, undecodable); wait until every published event is accounted for in
# the replicas' /metrics; print what happened, read from /metrics, /status, Redis and Kafka.
#
# Environment: EVF_BIN (programs; unset: `make programs` and bin/), KAFKA_PORT (9092), REDIS_PORT
# (6379), KEEP (0), DEMO_CONF (config/worker.conf), DEMO_GROUP (the config's kafka.group.id),
# DEMO_PREFIX (demo; its keys are deleted at the start), DEMO_HTTP_PORT (9464), DEMO_TIMEOUT
# (90 s for the fleet to finish), STATE_DIR (deploy/local/.state; the run's logs and files in
# $STATE_DIR/demo-<KAFKA_PORT>-<group>/).
# Exit: 0 done, 1 something failed (the message says what; what the demo started is stopped).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

KAFKA_PORT=${KAFKA_PORT:-9092}
REDIS_PORT=${REDIS_PORT:-6379}
export KAFKA_PORT REDIS_PORT
KEEP=${KEEP:-0}
DEMO_CONF=${DEMO_CONF:-config/worker.conf}
DEMO_PREFIX=${DEMO_PREFIX:-demo}
DEMO_HTTP_PORT=${DEMO_HTTP_PORT:-9464}
DEMO_TIMEOUT=${DEMO_TIMEOUT:-90}
STATE_DIR=${STATE_DIR:-$ROOT/deploy/local/.state}
KAFKA_LIBS_DIR=${KAFKA_LIBS_DIR:-$STATE_DIR/kafka-libs}
REPLICAS=3
BROKERS=127.0.0.1:$KAFKA_PORT
SERVICES=(bash "$HERE/services.sh")

# What the demo publishes: generated events (fixed seeds, so every run publishes the same ones)
# and the scripted story below.
GEN_S3=300
GEN_STREAM=300
GEN_IOT=600

T_START=$SECONDS
die() {
    echo "demo: FAILED: $*" >&2
    exit 1
}
step() { printf '\n[%s] %s\n' "$(date +%T)" "$*"; }
info() { printf '    %s\n' "$*"; }
now_ms() { date +%s%3N; }

[[ $DEMO_PREFIX =~ ^[A-Za-z0-9._-]+$ ]] || die "DEMO_PREFIX='$DEMO_PREFIX': use letters, digits and . _ -"
for p in KAFKA_PORT REDIS_PORT DEMO_HTTP_PORT; do
    # shellcheck disable=SC2015
    [[ ${!p} =~ ^[0-9]+$ ]] && ((${!p} > 0 && ${!p} + REPLICAS < 65536)) || die "$p='${!p}' is not a TCP port"
done
[[ $DEMO_TIMEOUT =~ ^[0-9]+$ ]] || die "DEMO_TIMEOUT='$DEMO_TIMEOUT' is not a number of seconds"

# ------------------------------------------------------------------------------ helpers

rcli() { timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
kafka_answers() { timeout 8 kcat -b "$BROKERS" -L -m 5 2>/dev/null | grep -q 'broker [0-9]* at'; }
redis_answers() { [[ $(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }
listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }
http_get() { curl -s --max-time 3 "http://127.0.0.1:$1$2"; }

# conf_value KEY: the effective value of KEY for the replicas (from --check-config)
conf_value() {
    awk -v k="$1" 'index($0, k " = ") == 1 {
        v = substr($0, length(k) + 4); sub(/ +# [^#]*$/, "", v); sub(/ +$/, "", v); print v; exit }' \
        "$DSTATE/effective.conf"
}

# pid_alive PIDFILE: prints the pid if it runs evfleet-worker (guards against recycled pids)
pid_alive() {
    local pid
    [[ -f $1 ]] || return 0
    pid=$(tr -cd '0-9' <"$1")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q evfleet-worker && echo "$pid"
    return 0
}

# stop_replicas DIR: SIGTERM every live replica recorded in DIR, wait for them (SIGKILL after
# 30 s). A replica that is this script's child and exits other than 0 sets STOP_FAILED.
STOP_FAILED=0
stop_replicas() {
    local dir=$1 f pid pids=() deadline rc
    for f in "$dir"/replica-*.pid; do
        [[ -e $f ]] || continue
        pid=$(pid_alive "$f")
        [[ -n $pid ]] && { kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); }
    done
    deadline=$((SECONDS + 30))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "demo: replica pid $pid did not stop within 30 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        # the exit status, when the replica is our child (127: it is not, e.g. `demo.sh stop`)
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        if ((rc != 0 && rc != 127)); then
            echo "demo: replica pid $pid exited with status $rc on shutdown (logs: $dir/)" >&2
            STOP_FAILED=1
        fi
    done
    rm -f "$dir"/replica-*.pid
    ((${#pids[@]} == 0)) || echo "    stopped ${#pids[@]} replica(s)"
}

# stop_services KAFKA-PORT REDIS-PORT WHAT...: stop the services named (kafka, redis) that a demo
# started on those ports
stop_services() {
    local kp=$1 rp=$2 cmd=
    shift 2
    local what=" $* "
    if [[ $what == *" kafka "* && $what == *" redis "* ]]; then
        cmd=down
    elif [[ $what == *" kafka "* ]]; then
        cmd=kafka-stop
    elif [[ $what == *" redis "* ]]; then
        cmd=redis-stop
    fi
    [[ -n $cmd ]] || return 0
    KAFKA_PORT=$kp REDIS_PORT=$rp "${SERVICES[@]}" "$cmd" | sed 's/^/    /' || true
}

# ------------------------------------------------------------------------------ demo.sh stop

if [[ ${1:-} == stop ]]; then
    found=0
    for d in "$STATE_DIR"/demo-*; do
        [[ -d $d ]] || continue
        if compgen -G "$d/replica-*.pid" >/dev/null; then
            found=1
            echo "demo: stopping the fleet of $d"
            stop_replicas "$d"
        fi
        if [[ -s $d/services-started ]]; then
            found=1
            read -r kp rp svcs <"$d/services-started"
            echo "demo: stopping the services the demo started: $svcs (Kafka port $kp, Redis port $rp)"
            # shellcheck disable=SC2086
            stop_services "$kp" "$rp" $svcs
            rm -f "$d/services-started"
        fi
    done
    ((found)) || echo "demo: nothing to stop"
    exit 0
elif [[ ${1:-} == -h || ${1:-} == --help || ${1:-} == help ]]; then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
elif [[ -n ${1:-} ]]; then
    echo "demo: unknown argument '$1' (usage: demo.sh [stop|--help])" >&2
    exit 2
fi

# ------------------------------------------------------------------------------ cleanup

STARTED_SERVICES=()
DSTATE=
FLEET_STARTED=0
FINISHED=0
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ $KEEP == 1 && $rc == 0 && $FINISHED == 1 ]]; then
        ((${#STARTED_SERVICES[@]} == 0)) ||
            echo "$KAFKA_PORT $REDIS_PORT ${STARTED_SERVICES[*]}" >"$DSTATE/services-started"
        exit 0
    fi
    if ((FLEET_STARTED)) && compgen -G "$DSTATE/replica-*.pid" >/dev/null; then
        echo
        echo "demo: stopping the fleet"
        stop_replicas "$DSTATE"
        if ((STOP_FAILED && rc == 0)); then
            echo "demo: FAILED: a replica did not shut down cleanly" >&2
            rc=1
        fi
    fi
    if ((${#STARTED_SERVICES[@]})); then
        echo "demo: stopping the local services the demo started (${STARTED_SERVICES[*]})"
        stop_services "$KAFKA_PORT" "$REDIS_PORT" "${STARTED_SERVICES[@]}"
    fi
    if ((rc != 0)); then
        [[ -n $DSTATE ]] && echo "demo: logs of this run: $DSTATE/" >&2
        echo "demo: exit $rc" >&2
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT
trap 'echo "demo: terminated" >&2; exit 143' TERM

echo "evfleet demo: a fleet of $REPLICAS workers on local Kafka (127.0.0.1:$KAFKA_PORT) and Redis (127.0.0.1:$REDIS_PORT)"

# ------------------------------------------------------------------------------ 1. dependencies

step "1/8 dependencies"
need=(kcat redis-server redis-cli java python3 curl ss)
[[ -f $KAFKA_LIBS_DIR/.complete ]] || need+=(mvn)
if [[ -z ${EVF_BIN:-} ]]; then
    need+=(make cc pkg-config protoc-c)
fi
missing=()
for t in "${need[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
if [[ -z ${EVF_BIN:-} ]] && ! pkg-config --exists rdkafka hiredis libprotobuf-c libmicrohttpd jansson 2>/dev/null; then
    missing+=("development libraries")
fi
if ((${#missing[@]})); then
    info "missing: ${missing[*]}; installing with deploy/local/deps.sh"
    bash "$HERE/deps.sh" || die "deploy/local/deps.sh failed (run it as root or with sudo)"
    for t in "${need[@]}"; do command -v "$t" >/dev/null 2>&1 || die "'$t' is still missing after deploy/local/deps.sh"; done
else
    info "all present (${need[*]})"
fi

# ------------------------------------------------------------------------------ 2. build

step "2/8 build"
if [[ -z ${EVF_BIN:-} ]]; then
    mkdir -p "$STATE_DIR"
    if ! make -s programs >"$STATE_DIR/demo-build.log" 2>&1; then
        tail -n 30 "$STATE_DIR/demo-build.log" >&2
        die "make programs failed (log: $STATE_DIR/demo-build.log)"
    fi
    EVF_BIN=bin
    info "make programs: done"
fi
for p in evfleet-worker evfleet-produce; do
    [[ -x $EVF_BIN/$p ]] || die "$EVF_BIN/$p is missing; run make (or set EVF_BIN)"
done
info "programs in $EVF_BIN/ ($("$EVF_BIN/evfleet-worker" --version 2>/dev/null | head -n1))"
[[ -f $DEMO_CONF ]] || die "configuration $DEMO_CONF not found"

# ------------------------------------------------------------------------------ 3. services

step "3/8 local Kafka and Redis"
k_up=0 r_up=0
kafka_answers && k_up=1
redis_answers && r_up=1
if ((k_up)); then info "kafka  already running on $BROKERS (left as it is)"; fi
if ((r_up)); then info "redis  already running on 127.0.0.1:$REDIS_PORT (left as it is)"; fi
# A service of deploy/local/services.sh that runs but does not answer yet (someone's `make up` is
# under way) is waited for below, but it is not the demo's to stop.
status_now=$("${SERVICES[@]}" status 2>/dev/null || true)
own_k=1 own_r=1
grep -q '^kafka  not-answering' <<<"$status_now" && own_k=0
grep -q '^redis  not-answering' <<<"$status_now" && own_r=0
if ((!k_up && !r_up)); then
    STARTED_SERVICES=(kafka redis)
    "${SERVICES[@]}" up 2>&1 | sed 's/^/    /' || die "could not start Kafka and Redis (deploy/local/services.sh up)"
elif ((!k_up)); then
    STARTED_SERVICES=(kafka)
    "${SERVICES[@]}" kafka-start 2>&1 | sed 's/^/    /' || die "could not start Kafka (deploy/local/services.sh kafka-start)"
elif ((!r_up)); then
    STARTED_SERVICES=(redis)
    "${SERVICES[@]}" redis-start 2>&1 | sed 's/^/    /' || die "could not start Redis (deploy/local/services.sh redis-start)"
fi
if ((!own_k || !own_r)); then
    keep=()
    for svc in "${STARTED_SERVICES[@]}"; do
        [[ $svc == kafka && $own_k == 0 || $svc == redis && $own_r == 0 ]] || keep+=("$svc")
    done
    STARTED_SERVICES=("${keep[@]}")
fi
kafka_answers || die "Kafka does not answer on $BROKERS"
redis_answers || die "Redis does not answer on 127.0.0.1:$REDIS_PORT"

# ------------------------------------------------------------------------------ 4. configuration, topics, state

step "4/8 configuration, consumer group and demo state"
GROUP=${DEMO_GROUP:-}
if [[ -z $GROUP ]]; then
    GROUP=$("$EVF_BIN/evfleet-worker" -c "$DEMO_CONF" --check-config 2>/dev/null |
        awk 'index($0, "kafka.group.id = ") == 1 { v = substr($0, 18); sub(/ +# [^#]*$/, "", v); print v }')
    GROUP=${GROUP:-evfleet-demo}
fi
[[ $GROUP =~ ^[A-Za-z0-9._-]+$ ]] || die "group id '$GROUP': use letters, digits and . _ -"
DSTATE=$STATE_DIR/demo-$KAFKA_PORT-$GROUP
mkdir -p "$DSTATE"
for f in "$DSTATE"/replica-*.pid; do
    [[ -e $f ]] || continue
    pid=$(pid_alive "$f")
    [[ -z $pid ]] || die "a demo fleet of group $GROUP is still running (pid $pid, left by KEEP=1?); stop it first: bash deploy/local/demo.sh stop"
    rm -f "$f"
done
for ((i = 0; i < REPLICAS; i++)); do
    port=$((DEMO_HTTP_PORT + i))
    listening "$port" && die "port $port (replica $((i + 1))'s http.listen) is in use: $(ss -Hltnp "sport = :$port" | grep -o 'users:.*' | head -n1); choose others with DEMO_HTTP_PORT=..."
done
rm -f "$DSTATE"/*.log "$DSTATE"/*.metrics "$DSTATE"/*.status.json "$DSTATE"/services-started

# What every replica gets on top of the configuration file: the local services, the demo's group
# and key prefix, short retry delays (so the demo finishes in seconds), and one narrow route to
# `chaos`, which fails every event it gets (transient: retried in place, then on the retry topic,
# then dead-lettered).
XARGS=(
    -X "kafka.bootstrap.servers=$BROKERS"
    -X "redis.url=redis://127.0.0.1:$REDIS_PORT/0"
    -X "kafka.group.id=$GROUP"
    -X "idempotency.key.prefix=$DEMO_PREFIX"
    -X "retry.topics.delays.ms=1000"
    -X "retry.backoff.initial.ms=100"
    -X "retry.backoff.max.ms=400"
    -X "route.s3:ObjectRestore:*=chaos"
    -X "processor.chaos.fail.rate=1"
    -X "processor.chaos.fail.kind=transient"
    -X "log.format=json"
)
"$EVF_BIN/evfleet-worker" -c "$DEMO_CONF" "${XARGS[@]}" --check-config >"$DSTATE/effective.conf" 2>"$DSTATE/check-config.err" ||
    { cat "$DSTATE/check-config.err" >&2; die "$DEMO_CONF with the demo's settings is not valid"; }
IFS=, read -r -a TOPICS <<<"$(conf_value topics)"
ALERTS_TOPIC=$(conf_value processor.iot_rollup.alerts.topic)
ALERTS_TOPIC=${ALERTS_TOPIC:-events.alerts}
WINDOW_MS=$(conf_value processor.iot_rollup.window.ms)
WINDOW_MS=${WINDOW_MS:-60000}
info "configuration: $DEMO_CONF + ${#XARGS[@]} -X overrides (effective: $DSTATE/effective.conf)"
info "group $GROUP, source topics ${TOPICS[*]}, Redis key prefix $DEMO_PREFIX:"
T_SOURCE=() T_S3='' T_STREAM='' T_IOT=''
for t in "${TOPICS[@]}"; do
    t=${t// /}
    [[ -n $t ]] || continue
    T_SOURCE+=("$t")
    case $t in
    *s3*) T_S3=${T_S3:-$t} ;;
    *stream*) T_STREAM=${T_STREAM:-$t} ;;
    *iot*) T_IOT=${T_IOT:-$t} ;;
    esac
done
[[ -n $T_S3 && -n $T_STREAM && -n $T_IOT ]] ||
    die "the demo needs an S3, a stream and an IoT topic among topics = ${TOPICS[*]}"

# A run starts where the last one ended: the group's committed offsets at the end of the source
# topics (events published there since are not the demo's), and no keys under the demo's prefix.
existing=()
kcat -b "$BROKERS" -L -m 10 >"$DSTATE/metadata.txt" 2>/dev/null || die "kcat -L failed on $BROKERS"
for t in "${T_SOURCE[@]}"; do
    grep -q "topic \"$t\" with [1-9][0-9]* partitions" "$DSTATE/metadata.txt" && existing+=("$t")
done
if ((${#existing[@]})); then
    [[ -d $KAFKA_LIBS_DIR ]] || die "no Kafka tools in $KAFKA_LIBS_DIR to reset group $GROUP (bash deploy/local/services.sh fetch)"
    targs=()
    for t in "${existing[@]}"; do targs+=(--topic "$t"); done
    deadline=$((SECONDS + 40))
    while :; do
        if java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
            -cp "$KAFKA_LIBS_DIR/*" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
            --bootstrap-server "$BROKERS" --group "$GROUP" --reset-offsets --to-latest "${targs[@]}" --execute \
            >"$DSTATE/reset.log" 2>&1; then
            break
        fi
        # Members of an earlier run that was killed stay in the group until their session ends.
        if grep -q -i 'inactive' "$DSTATE/reset.log" && ((SECONDS < deadline)); then
            sleep 2
            continue
        fi
        tail -n 20 "$DSTATE/reset.log" >&2
        die "could not position group $GROUP at the end of ${existing[*]} (log: $DSTATE/reset.log)"
    done
    info "group $GROUP positioned at the end of ${existing[*]} (older events there are not the demo's)"
else
    info "the source topics are new: the replicas create them"
fi
deleted=$(rcli --scan --pattern "$DEMO_PREFIX:*" | xargs -r -d '\n' -n 500 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" unlink |
    awk '{ n += $1 } END { print n + 0 }') || die "could not delete the keys $DEMO_PREFIX:* in Redis"
info "deleted $deleted key(s) $DEMO_PREFIX:* left by an earlier run"

# ------------------------------------------------------------------------------ 5. fleet

step "5/8 starting $REPLICAS worker replicas"
START_MS=$(now_ms)
PIDS=()
FLEET_STARTED=1
for ((i = 1; i <= REPLICAS; i++)); do
    port=$((DEMO_HTTP_PORT + i - 1))
    # setsid: a kept fleet (KEEP=1) survives the terminal; bash writes its PID and then execs.
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$DSTATE/replica-$i.pid" \
        "$EVF_BIN/evfleet-worker" -c "$DEMO_CONF" "${XARGS[@]}" -X "http.listen=127.0.0.1:$port" \
        >"$DSTATE/replica-$i.log" 2>&1 </dev/null &
done
for ((i = 1; i <= REPLICAS; i++)); do
    for ((w = 0; w < 50; w++)); do
        [[ -s $DSTATE/replica-$i.pid ]] && break
        sleep 0.1
    done
    PIDS[i]=$(tr -cd '0-9' <"$DSTATE/replica-$i.pid" 2>/dev/null || true)
    [[ -n ${PIDS[i]} ]] || die "replica $i did not start"
done

fail_replica() { # I WHY
    echo "---- last lines of $DSTATE/replica-$1.log" >&2
    tail -n 15 "$DSTATE/replica-$1.log" >&2
    die "replica $1 (pid ${PIDS[$1]}): $2"
}

deadline=$((SECONDS + 60))
for ((i = 1; i <= REPLICAS; i++)); do
    port=$((DEMO_HTTP_PORT + i - 1))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz") == 200 ]]; do
        kill -0 "${PIDS[i]}" 2>/dev/null || fail_replica "$i" "exited during start-up"
        ((SECONDS < deadline)) || fail_replica "$i" "not ready after 60 s: $(http_get "$port" /readyz)"
        sleep 0.3
    done
done

# partition counts of the source topics (the replicas created them if they were missing)
kcat -b "$BROKERS" -L -m 10 >"$DSTATE/metadata.txt" 2>/dev/null || die "kcat -L failed on $BROKERS"

total_parts=0
for t in "${T_SOURCE[@]}"; do
    n=$(sed -n "s/.*topic \"$t\" with \([0-9]*\) partitions.*/\1/p" "$DSTATE/metadata.txt" | head -n1)
    [[ -n $n && $n -gt 0 ]] || die "source topic $t does not exist after the replicas started"

    total_parts=$((total_parts + n))
done

# assignment_check: "ok" when the replicas together hold every source partition exactly once and
# each holds at least one; else a short description
assignment_check() {
    local i port
    for ((i = 1; i <= REPLICAS; i++)); do
        port=$((DEMO_HTTP_PORT + i - 1))
        http_get "$port" /status >"$DSTATE/replica-$i.status.json" 2>/dev/null || echo '{}' >"$DSTATE/replica-$i.status.json"
    done
    python3 - "$DSTATE" "$REPLICAS" "${T_SOURCE[@]}" <<'EOF'
import json, sys
d, n, topics = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
held, per = {}, []
for i in range(1, n + 1):
    try:
        st = json.load(open(f"{d}/replica-{i}.status.json"))
    except Exception:
        st = {}
    mine = [(a["topic"], a["partition"]) for a in st.get("assignment", []) if a.get("topic") in topics]
    per.append(len(mine))
    for tp in mine:
        held[tp] = held.get(tp, 0) + 1
twice = sum(1 for c in held.values() if c > 1)
print("ok" if twice == 0 and min(per) > 0 else "", len(held), twice, "/".join(map(str, per)))
EOF
}

deadline=$((SECONDS + 60))
stable_since=-1
while :; do
    read -r verdict held twice per <<<"$(assignment_check)" || true
    if [[ $verdict == ok && $held == "$total_parts" ]]; then
        ((stable_since >= 0)) || stable_since=$SECONDS
        ((SECONDS - stable_since >= 2)) && break
    else
        stable_since=-1
    fi
    for ((i = 1; i <= REPLICAS; i++)); do
        kill -0 "${PIDS[i]}" 2>/dev/null || fail_replica "$i" "exited while the group was forming"
    done
    ((SECONDS < deadline)) || die "the group did not settle in 60 s: $held of $total_parts source partitions held, $twice twice, per replica $per"
    sleep 0.5
done
info "replicas ready: pids ${PIDS[*]:1}, http://127.0.0.1:$DEMO_HTTP_PORT..$((DEMO_HTTP_PORT + REPLICAS - 1)); $total_parts source partitions shared $per"

# ------------------------------------------------------------------------------ 6. publish

step "6/8 publishing events"
# The scripted story. IoT readings share one window (T0 + i s), so the rollups are the same on
# every run. Ids are fixed and readable; the generated events have seeded UUIDs.
T0=$(($(now_ms) / WINDOW_MS * WINDOW_MS))
ts() { echo "\"$((T0 + $1 * 1000))\""; }
STORY=$DSTATE/story.jsonl
BUCKET=demo-photos
ORDER='{\"customerId\":\"cust-00042\",\"orderId\":\"ord-9000042\"}'
ORDER43='{\"customerId\":\"cust-00043\",\"orderId\":\"ord-9000043\"}'
ORDER44='{\"customerId\":\"cust-00044\",\"orderId\":\"ord-9000044\"}'
s3ev() { # ID TYPE KEY SIZE SEQUENCER CONTENT-TYPE
    local name=${2#s3:}
    printf '{"id":"%s","source":"S3","type":"%s","subject":"%s/%s","s3":{"bucket":"%s","key":"%s","size":"%s","etag":"%s","sequencer":"%s","contentType":"%s","eventName":"%s","region":"eu-west-1"}}\n' \
        "$1" "$2" "$BUCKET" "$3" "$BUCKET" "$3" "$4" "$(printf '%s' "$1" | md5sum | cut -c1-32)" "$5" "$6" "$name"
}
stev() { # ID OP KEYS SEQ NEW-IMAGE
    printf '{"id":"%s","source":"STREAM","type":"stream:%s","subject":"orders/%s","stream":{"table":"orders","op":"%s","sequenceNumber":"%s","keys":"%s","newImage":"%s"}}\n' \
        "$1" "$2" "$3" "$2" "$4" "$3" "$5"
}
iotev() { # ID DEVICE METRIC VALUE UNIT SECOND
    printf '{"id":"%s","source":"IOT","type":"iot:telemetry","timeMs":%s,"subject":"%s","iot":{"deviceId":"%s","metric":"%s","value":%s,"unit":"%s"}}\n' \
        "$1" "$(ts "$6")" "$2" "$2" "$3" "$4" "$5"
}
order_image() { # ORDER-NO STATUS VERSION
    printf '{\\"currency\\":\\"EUR\\",\\"customerId\\":\\"cust-%05d\\",\\"items\\":3,\\"orderId\\":\\"ord-%07d\\",\\"status\\":\\"%s\\",\\"totalCents\\":25990,\\"version\\":%d}' \
        "$1" "$((9000000 + $1))" "$2" "$3"
}
{
    # S3: cat.jpg is overwritten (seq 0105) and a late, older event (0102) arrives after it; dog.jpg
    # is created, delivered twice, then removed; two restores go to `chaos`; a tagging event has no
    # route; a notification with a corrupt sequencer is refused by s3_index.
    s3ev demo-s3-01 s3:ObjectCreated:Put cat.jpg 52311 0000000000000100 image/jpeg
    s3ev demo-s3-02 s3:ObjectCreated:Put dog.jpg 48000 0000000000000101 image/jpeg
    s3ev demo-s3-03 s3:ObjectCreated:Put cat.jpg 60000 0000000000000105 image/jpeg
    s3ev demo-s3-04 s3:ObjectCreated:Put cat.jpg 51000 0000000000000102 image/jpeg
    s3ev demo-s3-02 s3:ObjectCreated:Put dog.jpg 48000 0000000000000101 image/jpeg
    s3ev demo-s3-05 s3:ObjectRemoved:Delete dog.jpg 0 0000000000000106 ''
    s3ev demo-s3-06 s3:ObjectCreated:CompleteMultipartUpload reports/q3.pdf 1200000 0000000000000107 application/pdf
    s3ev demo-s3-07 s3:ObjectRestore:Completed archive/2019.tar 0 0000000000000108 ''
    s3ev demo-s3-08 s3:ObjectRestore:Completed archive/2020.tar 0 0000000000000109 ''
    s3ev demo-s3-09 s3:ObjectTagging:Put cat.jpg 0 000000000000010A ''
    s3ev demo-s3-10 s3:ObjectCreated:Put broken.jpg 10 not-a-sequencer image/jpeg
    # Stream: order 42 is placed, paid and shipped; "packed" (seq 3) arrives after "shipped"
    # (seq 4) and a duplicate of "paid" is delivered again; order 43 is placed and removed; an
    # update of order 44 carries an image that is not JSON.
    stev demo-st-01 INSERT "$ORDER" 900001 "$(order_image 42 PLACED 1)"
    stev demo-st-02 MODIFY "$ORDER" 900002 "$(order_image 42 PAID 2)"
    stev demo-st-04 MODIFY "$ORDER" 900004 "$(order_image 42 SHIPPED 4)"
    stev demo-st-03 MODIFY "$ORDER" 900003 "$(order_image 42 PACKED 3)"
    stev demo-st-02 MODIFY "$ORDER" 900002 "$(order_image 42 PAID 2)"
    stev demo-st-05 INSERT "$ORDER43" 900005 "$(order_image 43 PLACED 1)"
    stev demo-st-06 REMOVE "$ORDER43" 900006 ''
    stev demo-st-07 MODIFY "$ORDER44" 900007 '{\"status\":'
    # IoT: boiler-7 crosses 80 °C twice (one message delivered twice), tracker-3's battery falls
    # below 20 %, and greenhouse-2 reports several readings in one message.
    iotev demo-iot-01 boiler-7 temperature 72.5 C 1
    iotev demo-iot-02 boiler-7 temperature 78.0 C 2
    iotev demo-iot-03 boiler-7 temperature 84.5 C 3
    iotev demo-iot-03 boiler-7 temperature 84.5 C 3
    iotev demo-iot-04 boiler-7 temperature 86.0 C 4
    iotev demo-iot-05 boiler-7 temperature 77.0 C 5
    iotev demo-iot-06 boiler-7 temperature 81.2 C 6
    iotev demo-iot-07 tracker-3 battery 45 % 1
    iotev demo-iot-08 tracker-3 battery 31 % 2
    iotev demo-iot-09 tracker-3 battery 18 % 3
    iotev demo-iot-10 tracker-3 battery 12 % 4
    printf '{"id":"demo-iot-11","source":"IOT","type":"iot:telemetry","timeMs":%s,"subject":"greenhouse-2","iot":{"deviceId":"greenhouse-2","readings":{"temperature":82.0,"humidity":71.0,"co2":640}}}\n' "$(ts 7)"
} >"$STORY"
STORY_N=$(wc -l <"$STORY")

produce() { # LOGNAME ARGS...: run evfleet-produce, die with its output on failure
    local name=$1
    shift
    if ! "$EVF_BIN/evfleet-produce" -c "$DEMO_CONF" -b "$BROKERS" -q "$@" >"$DSTATE/produce-$name.log" 2>&1; then
        cat "$DSTATE/produce-$name.log" >&2
        die "evfleet-produce $* failed"
    fi
}
t_pub=$SECONDS
produce s3 -t "$T_S3" s3 --count "$GEN_S3" --seed 501 &
p1=$!
produce stream -t "$T_STREAM" stream --count "$GEN_STREAM" --seed 502 &
p2=$!
produce iot -t "$T_IOT" iot --count "$GEN_IOT" --seed 503 --time-ms "$((T0 + 30000))" &
p3=$!
wait $p1 || die "publishing the generated S3 events failed"
wait $p2 || die "publishing the generated stream events failed"
wait $p3 || die "publishing the generated IoT events failed"
produce story json "$STORY"
# A device with old firmware sends plain text instead of an event.
printf 'temperature=81.5;unit=C' | timeout 30 kcat -P -b "$BROKERS" -t "$T_IOT" -k boiler-9 ||
    die "kcat could not publish the malformed message"
PUBLISHED=$((GEN_S3 + GEN_STREAM + GEN_IOT + STORY_N + 1))
info "$GEN_S3 generated S3 events -> $T_S3, $GEN_STREAM stream records -> $T_STREAM, $GEN_IOT IoT readings -> $T_IOT"
info "$STORY_N scripted events ($STORY) and 1 malformed message (kcat) -> $PUBLISHED in all, in $((SECONDS - t_pub)) s"

# ------------------------------------------------------------------------------ 7. wait

step "7/8 waiting until the fleet has finished every event"
# Finished = every published event has a final outcome (ok, duplicate or dlq; a retry is not
# final: the event comes back from the retry topic) and nothing is in flight.
scrape() {
    local i port
    for ((i = 1; i <= REPLICAS; i++)); do
        port=$((DEMO_HTTP_PORT + i - 1))
        http_get "$port" /metrics >"$DSTATE/replica-$i.metrics" || : >"$DSTATE/replica-$i.metrics"
    done
}
finished_count() {
    awk '/^evfleet_events_processed_total\{/ && /outcome="(ok|duplicate|dlq)"/ { n += $NF }
         /^evfleet_inflight_events / { busy += $NF } END { printf "%.0f %.0f\n", n, busy }' "$DSTATE"/replica-*.metrics
}
t_wait=$SECONDS
deadline=$((SECONDS + DEMO_TIMEOUT))
last=-1
while :; do
    scrape
    read -r done_n busy <<<"$(finished_count)"
    if ((done_n >= PUBLISHED && busy == 0)); then
        break
    fi
    for ((i = 1; i <= REPLICAS; i++)); do
        kill -0 "${PIDS[i]}" 2>/dev/null || fail_replica "$i" "exited while processing"
    done
    if ((SECONDS >= deadline)); then
        die "the fleet did not finish within ${DEMO_TIMEOUT} s: $done_n of $PUBLISHED events have an outcome, $busy in flight (see $DSTATE/replica-*.log, DEMO_TIMEOUT=...)"
    fi
    if [[ -t 1 && $done_n != "$last" ]]; then
        printf '\r    %d of %d events finished ...' "$done_n" "$PUBLISHED"
        last=$done_n
    fi
    sleep 0.5
done
[[ -t 1 ]] && printf '\r\033[K'
info "all $PUBLISHED events finished in $((SECONDS - t_wait)) s ($done_n outcomes)"
assignment_check >/dev/null || true

# ------------------------------------------------------------------------------ 8. summary

step "8/8 summary"
PRE=$DEMO_PREFIX
hr() { printf '%s\n' "------------------------------------------------------------------------------------------"; }
hr
echo "EVENTS PER PROCESSOR AND OUTCOME (the sum of the $REPLICAS replicas' /metrics)"
awk '
/^evfleet_events_processed_total\{/ {
    p = $0; sub(/.*processor="/, "", p); sub(/".*/, "", p)
    o = $0; sub(/.*outcome="/, "", o); sub(/".*/, "", o)
    if (p == "") p = "(no processor)"
    v[p, o] += $NF; if (!(p in seen)) { seen[p] = 1; order[++n] = p }
}
/^evfleet_retries_total\{/ { p = $0; sub(/.*processor="/, "", p); sub(/".*/, "", p); r[p] += $NF }
END {
    printf "    %-20s %8s %10s %8s %8s %16s\n", "processor", "ok", "duplicate", "dlq", "retry", "in-place retries"
    for (i = 1; i <= n; i++) {
        p = order[i]
        if (v[p, "ok"] + v[p, "duplicate"] + v[p, "dlq"] + v[p, "retry"] == 0) continue
        printf "    %-20s %8.0f %10.0f %8.0f %8.0f %16.0f\n", p, v[p, "ok"], v[p, "duplicate"], v[p, "dlq"], v[p, "retry"], r[p]
        t["ok"] += v[p, "ok"]; t["duplicate"] += v[p, "duplicate"]; t["dlq"] += v[p, "dlq"]; t["retry"] += v[p, "retry"]; tr += r[p]
    }
    printf "    %-20s %8.0f %10.0f %8.0f %8.0f %16.0f\n", "total", t["ok"], t["duplicate"], t["dlq"], t["retry"], tr
}' "$DSTATE"/replica-*.metrics
echo "    (ok + duplicate + dlq = the $PUBLISHED events published; retry counts the runs that asked to be run"
echo "     again: in place after a backoff (in-place retries), then from the retry topic, then dead-lettered;"
echo "     (no processor): events that could not be decoded or had no route)"
awk '/^evfleet_dlq_events_total\{/ {
    t = $0; sub(/.*topic="/, "", t); sub(/".*/, "", t); c = $0; sub(/.*class="/, "", c); sub(/".*/, "", c)
    n[t " " c] += $NF }
  END { for (k in n) if (n[k] > 0) { split(k, a, " "); printf "    dead-lettered from %-16s class %-12s %.0f\n", a[1], a[2], n[k] } }' \
    "$DSTATE"/replica-*.metrics | sort

hr
echo "REPLICAS (separate processes; source partitions from /status; the cooperative-sticky assignor"
echo "balances the number of partitions over all subscribed topics, retry and replay topics included)"
for ((i = 1; i <= REPLICAS; i++)); do
    port=$((DEMO_HTTP_PORT + i - 1))
    python3 - "$DSTATE/replica-$i.status.json" "$i" "$port" "${PIDS[i]}" "$DSTATE/replica-$i.metrics" "${T_SOURCE[@]}" <<'EOF'
import json, re, sys
path, i, port, pid, metrics, topics = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
st = json.load(open(path))
by, other = {}, 0
for a in st.get("assignment", []):
    if a["topic"] in topics:
        by.setdefault(a["topic"], []).append(a["partition"])
    else:
        other += 1
def ranges(ps):
    ps, out, k = sorted(ps), [], 0
    while k < len(ps):
        j = k
        while j + 1 < len(ps) and ps[j + 1] == ps[j] + 1:
            j += 1
        out.append(str(ps[k]) if j == k else f"{ps[k]}-{ps[j]}")
        k = j + 1
    return ",".join(out) or "-"
done = 0
for line in open(metrics):
    if line.startswith("evfleet_events_processed_total{") and re.search(r'outcome="(ok|duplicate|dlq)"', line):
        done += float(line.split()[-1])
print(f"    replica {i}  pid {pid}  instance {st.get('instance', '?')}  http://127.0.0.1:{port}  finished {int(done)} events")
print("        " + "   ".join(f"{t} [{ranges(by.get(t, []))}]" for t in topics) + f"   + {other} retry/replay partitions")
EOF
done

hr
echo "WHAT THE PROCESSORS BUILT (Redis, keys $PRE:*)"
# s3_index: per-bucket totals
mapfile -t buckets < <(rcli --scan --pattern "$PRE:s3:bucket:*" | sort)
if ((${#buckets[@]})); then
    for b in "${buckets[@]}"; do printf 'HMGET %s live_objects live_bytes created removed\n' "$b"; done |
        rcli >"$DSTATE/buckets.txt"
    paste -d' ' <(printf '%s\n' "${buckets[@]}") <(paste -d' ' - - - - <"$DSTATE/buckets.txt") |
        awk -v pre="$PRE:s3:bucket:" -v demo="$BUCKET" '
        { b = substr($1, length(pre) + 1); o[b] = $2; by[b] = $3; c[b] = $4; r[b] = $5
          to += $2; tb += $3; tc += $4; tr += $5; n++ }
        function human(x) { return x >= 1e9 ? sprintf("%.1f GB", x / 1e9) : x >= 1e6 ? sprintf("%.1f MB", x / 1e6) : x >= 1e3 ? sprintf("%.1f kB", x / 1e3) : x " B" }
        END {
            printf "    s3_index: %.0f buckets, %.0f live objects, %s live, %.0f creates and %.0f removes applied\n", n, to, human(tb), tc, tr
            printf "      %-40s %8s %12s %8s %8s\n", "bucket", "objects", "live bytes", "created", "removed"
            # the three largest generated buckets, then the demo bucket
            for (k = 0; k < 3; k++) { best = ""; for (x in by) if (x != demo && !(x in shown) && (best == "" || by[x] + 0 > by[best] + 0)) best = x
                if (best == "") break; shown[best] = 1
                printf "      %-40s %8.0f %12.0f %8.0f %8.0f\n", best, o[best], by[best], c[best], r[best] }
            if (demo in o) printf "      %-40s %8.0f %12.0f %8.0f %8.0f\n", demo, o[demo], by[demo], c[demo], r[demo]
        }'
    cat_size=$(rcli HGET "$PRE:s3:obj:$BUCKET/cat.jpg" size)
    cat_seq=$(rcli HGET "$PRE:s3:obj:$BUCKET/cat.jpg" sequencer)
    dog_state=$(rcli HGET "$PRE:s3:obj:$BUCKET/dog.jpg" state)
    echo "      $BUCKET/cat.jpg: size $cat_size, sequencer $cat_seq (the late event with sequencer ...0102 changed nothing)"
    echo "      $BUCKET/dog.jpg: $dog_state (a tombstone: an older create delivered late cannot bring it back)"
else
    echo "    s3_index: no buckets (nothing was indexed?)"
fi

# stream_materialize: live rows per table and one materialized row
mapfile -t metas < <(rcli --scan --pattern "$PRE:table:*:__meta" | sort)
tables=""
for m in "${metas[@]}"; do
    t=${m#"$PRE:table:"}
    tables+="${t%:__meta} $(rcli HGET "$m" rows), "
done
echo "    stream_materialize: live rows per table: ${tables%, }"
row_key="$PRE:table:orders:{\"customerId\":\"cust-00042\",\"orderId\":\"ord-9000042\"}"
echo "      $row_key"
echo "        op $(rcli HGET "$row_key" op), seq $(rcli HGET "$row_key" seq) (\"PACKED\", seq 900003, arrived late and was ignored)"
echo "        row $(rcli HGET "$row_key" row)"
k43="$PRE:table:orders:{\"customerId\":\"cust-00043\",\"orderId\":\"ord-9000043\"}"
echo "      order 43: op $(rcli HGET "$k43" op) (removed; the tombstone keeps seq $(rcli HGET "$k43" seq))"

# iot_rollup: window hashes, one rollup, current threshold states
rcli --scan --pattern "$PRE:iot:*" >"$DSTATE/iot-keys.txt"
nwin=$(grep -vc ':state$' "$DSTATE/iot-keys.txt" || true)
ndev=$(grep -v ':state$' "$DSTATE/iot-keys.txt" | awk -F: -v n="$(tr -cd ':' <<<"$PRE" | wc -c)" '{ print $(n + 3) }' | sort -u | wc -l)
echo "    iot_rollup: $nwin window rollups (device x metric x $((WINDOW_MS / 1000)) s window) for $ndev devices"
wkey="$PRE:iot:boiler-7:temperature:$T0"
read -r wc ws wmin wmax < <(printf 'HMGET %s count sum min max\n' "$wkey" | rcli | paste -d' ' - - - -)
echo "      $wkey"
echo "        count $wc, min $wmin, max $wmax, mean $(awk -v s="$ws" -v c="$wc" 'BEGIN { if (c > 0) printf "%.2f", s / c; else print "-" }') (the duplicate delivery was counted once)"
states=""
while read -r k; do
    [[ -n $k ]] || continue
    s=$(rcli HGET "$k" state)
    k=${k#"$PRE:iot:"}
    states+="${k%:state} $s, "
done < <(grep ':state$' "$DSTATE/iot-keys.txt" | sort)
echo "      threshold states now: ${states%, }"

# alerts: the messages on the alerts topic since the demo started, and what raised them (logs)
echo "    alerts raised (iot_rollup emits one per threshold crossing to $ALERTS_TOPIC):"
timeout 30 kcat -C -e -q -b "$BROKERS" -t "$ALERTS_TOPIC" -o "s@$START_MS" -f '%k\t%h\n' >"$DSTATE/alerts.txt" 2>/dev/null || : >"$DSTATE/alerts.txt"
nalerts=$(wc -l <"$DSTATE/alerts.txt")
echo "      $nalerts alert event(s) on $ALERTS_TOPIC since the demo started:"
grep -h 'went above\|went below' "$DSTATE"/replica-*.log 2>/dev/null |
    sed -n 's/.*iot_rollup: \(.* went [a-z]*\) (event \([^)]*\)).*/\1 (event \2)/p' | sort -u | sed 's/^/        /'
awk -F'\t' '{ id = $2; sub(/.*ce_id=/, "", id); sub(/,.*/, "", id); printf "        %s alert id %s\n", $1, id }' "$DSTATE/alerts.txt" | sort

hr
echo "WHERE THE FAILED EVENTS WENT (dead letters since the demo started, read back with kcat)"
for t in "${T_SOURCE[@]}"; do
    retry="$t.$GROUP.retry.1" dlq="$t.$GROUP.dlq"
    timeout 30 kcat -C -e -q -b "$BROKERS" -t "$retry" -o "s@$START_MS" -f '%k\n' >"$DSTATE/retry.txt" 2>/dev/null || : >"$DSTATE/retry.txt"
    timeout 30 kcat -C -e -q -b "$BROKERS" -t "$dlq" -o "s@$START_MS" -f '%k\t%h\n' >"$DSTATE/dlq.txt" 2>/dev/null || : >"$DSTATE/dlq.txt"
    nr=$(wc -l <"$DSTATE/retry.txt")
    nd=$(wc -l <"$DSTATE/dlq.txt")
    ((nr + nd > 0)) || { echo "    $t: no failures"; continue; }
    echo "    $t: $nd dead letter(s) in $dlq$( ((nr)) && echo "; $nr went through $retry first (retried after 1 s)")"
    awk -F'\t' '
    function hdr(h, name,   i, v) {
        i = index(h, name "="); if (!i) return ""
        v = substr(h, i + length(name) + 1)
        if (match(v, /,(evfleet\.|ce_|content-type=)/)) v = substr(v, 1, RSTART - 1)
        return v
    }
    { id = hdr($2, "ce_id"); if (id == "") id = "(no id: not an event)"
      msg = hdr($2, "evfleet.error.message"); if (length(msg) > 80) msg = substr(msg, 1, 77) "..."
      printf "      %-12s %-11s %-18s attempts %-2s key %s\n        %s\n", id, hdr($2, "evfleet.error.class"),
          (hdr($2, "evfleet.processor") == "" ? "-" : hdr($2, "evfleet.processor")), hdr($2, "evfleet.attempts"), $1, msg }' "$DSTATE/dlq.txt"
done
hr
FINISHED=1
echo "demo finished in $((SECONDS - T_START)) s: $PUBLISHED events, $REPLICAS replicas, group $GROUP, keys $PRE:*"

if [[ $KEEP == 1 ]]; then
    cat <<EOF

KEEP=1: the fleet keeps running$( ((${#STARTED_SERVICES[@]})) && echo ", and so do the services the demo started (${STARTED_SERVICES[*]})"). Look around:
  endpoints   curl http://127.0.0.1:$DEMO_HTTP_PORT/status   (/metrics, /readyz, /healthz; replicas on ports $DEMO_HTTP_PORT-$((DEMO_HTTP_PORT + REPLICAS - 1)))
  redis       redis-cli -p $REDIS_PORT --scan --pattern '$PRE:s3:bucket:*'
              redis-cli -p $REDIS_PORT HGETALL '$row_key'
  publish     $EVF_BIN/evfleet-produce -b $BROKERS iot --device boiler-7 --metric temperature --value 91.5 --unit C
              $EVF_BIN/evfleet-produce -b $BROKERS s3 --count 100
  dead letters kcat -C -e -q -b $BROKERS -t $T_S3.$GROUP.dlq -f '%k %h\n'
  alerts      kcat -C -e -q -b $BROKERS -t $ALERTS_TOPIC -f '%k %h\n'
  logs        $DSTATE/replica-{1..$REPLICAS}.log
  4th replica $EVF_BIN/evfleet-worker -c $DEMO_CONF $(printf '%q ' "${XARGS[@]}")-X http.listen=127.0.0.1:$((DEMO_HTTP_PORT + REPLICAS))
  stop        bash deploy/local/demo.sh stop
EOF
fi
