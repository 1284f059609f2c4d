#!/usr/bin/env bash
# tests/valgrind/run.sh — a short end-to-end run under valgrind memcheck (`make test-valgrind`).
#
#  1. evfleet-worker runs under memcheck (unique topic, group, Redis key prefix and alerts topic),
#     with the built-in processors routed (s3_index, stream_materialize, iot_rollup with a
#     threshold so it emits alerts, chaos failing custom events so they retry and dead-letter);
#  2. evfleet-produce (plain) publishes EVENTS events (s3, stream, iot) and kcat adds a few
#     malformed values (not protobuf, bad UTF-8, a wrong CloudEvent) and a few CloudEvents JSON
#     events; the script waits until the worker consumed them all and has nothing in flight;
#  3. SIGTERM: the worker must shut down cleanly (exit 0);
#  4. evfleet-produce runs under memcheck twice, small: `s3 --count` and `json` with good and bad
#     lines (exit 3 expected: bad lines are rejected);
#  5. evfleet-dlq (when built) runs under memcheck: `list` and `stats` of the dead letters of 1.
# Every memcheck run must report zero errors and zero definitely-lost blocks outside the
# suppressions in tests/valgrind/evfleet.supp (each one explained there).
#
# Environment: KAFKA_PORT (9092), REDIS_PORT (6379) — the local services are started if they are
# not up, and stopped at the end only if this script started them; EVF_BIN (bin: build with
# `make` first); EVENTS (2000); VALGRIND_TIMEOUT (300 s to wait for processing).
# Logs: build/valgrind/ (one memcheck log per process; kept).
set -uo pipefail
cd "$(dirname "$0")/../.."

EVF_BIN=${EVF_BIN:-bin}
KAFKA_PORT=${KAFKA_PORT:-9092}
REDIS_PORT=${REDIS_PORT:-6379}
EVENTS=${EVENTS:-2000}
VALGRIND_TIMEOUT=${VALGRIND_TIMEOUT:-300}
export KAFKA_PORT REDIS_PORT
BROKERS=127.0.0.1:$KAFKA_PORT
OUT=build/valgrind
SUPP=tests/valgrind/evfleet.supp

die() { echo "valgrind: $*" >&2; exit 2; }
for b in evfleet-worker evfleet-produce; do
    [[ -x $EVF_BIN/$b ]] || die "$EVF_BIN/$b missing: run make first"
done
# Valgrind cannot run a sanitizer build (make SANITIZE=… puts those in build/san-*/bin).
grep -q __asan_init "$EVF_BIN/evfleet-worker" && die "$EVF_BIN holds a sanitizer build: use the plain one (bin)"
for t in valgrind kcat curl redis-cli python3; do
    command -v "$t" >/dev/null || die "$t missing (make deps; valgrind: apt-get install valgrind)"
done

rm -rf "$OUT"
mkdir -p "$OUT"
uniq=vg-$$-$RANDOM
TOPIC=$uniq
GROUP=$uniq-g
PREFIX=$uniq
ALERTS=$uniq.alerts
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
VG=(valgrind --tool=memcheck --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --error-exitcode=99 --track-origins=no --num-callers=40
    --suppressions="$SUPP" --gen-suppressions=all)

started=0
worker_pid=
failures=()
cleanup() {
    [[ -n $worker_pid ]] && kill -0 "$worker_pid" 2>/dev/null && kill -KILL "$worker_pid" 2>/dev/null
    redis-cli -p "$REDIS_PORT" --scan --pattern "$PREFIX:*" 2>/dev/null |
        xargs -r -n 500 redis-cli -p "$REDIS_PORT" del >/dev/null 2>&1
    if [[ $started == 1 ]]; then
        echo "valgrind: stopping the local services this run started"
        bash deploy/local/services.sh down >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

if ! bash deploy/local/services.sh status >/dev/null 2>&1; then
    bash deploy/local/services.sh up || die "could not start the local services"
    started=1
fi

# check_log NAME LOG RC WANT_RC — memcheck's verdict on one process.
check_log() {
    local name=$1 log=$2 rc=$3 want=$4
    local errors definite
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
    definite=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
    printf '  %-28s exit %-3s errors %-4s definitely lost %s bytes  (%s)\n' "$name" "$rc" \
        "${errors:-?}" "${definite:-0}" "$log"
    if [[ $rc != "$want" || ${errors:-x} != 0 ]]; then
        failures+=("$name")
        grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|Source and|Argument|[0-9,]+ bytes in [0-9,]+ blocks are definitely)' \
            "$log" | head -10 | sed 's/^/        /'
    fi
}

metric_sum() { # NAME < /metrics text — the sum of the metric's samples
    awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }'
}

t0=$SECONDS
echo "valgrind: worker under memcheck (topic $TOPIC, group $GROUP, http 127.0.0.1:$PORT)"
# Topics first (plain producer, 3 partitions), so the worker subscribes to an existing topic.
"$EVF_BIN/evfleet-produce" -b "$BROKERS" -t "$TOPIC" -X topics.partitions=3 -q \
    s3 --bucket vg --key warmup --id "$uniq-warmup" >"$OUT/produce-warmup.log" 2>&1 ||
    die "could not create $TOPIC (see $OUT/produce-warmup.log)"

WLOG=$OUT/worker.memcheck.log
"${VG[@]}" --log-file="$WLOG" "$EVF_BIN/evfleet-worker" \
    -X kafka.bootstrap.servers="$BROKERS" -X redis.url="redis://127.0.0.1:$REDIS_PORT/0" \
    -X kafka.group.id="$GROUP" -X topics="$TOPIC" -X topics.partitions=3 \
    -X idempotency.key.prefix="$PREFIX" -X http.listen="127.0.0.1:$PORT" \
    -X log.format=json -X log.level=info \
    -X kafka.session.timeout.ms=10000 -X kafka.heartbeat.interval.ms=1000 \
    -X shutdown.grace.ms=20000 -X worker.threads=2 \
    -X retry.max.attempts=2 -X retry.backoff.initial.ms=10 -X retry.backoff.max.ms=50 \
    -X retry.topics.delays.ms=300 \
    -X 'route.s3:*=s3_index' -X 'route.stream:*=stream_materialize' -X 'route.iot:*=iot_rollup' \
    -X 'route.*=chaos' -X processor.chaos.fail.rate=1 -X processor.chaos.fail.kind=transient \
    -X processor.iot_rollup.alerts.topic="$ALERTS" \
    -X processor.iot_rollup.threshold.temperature.above=25 \
    >"$OUT/worker.log" 2>&1 &
worker_pid=$!

ready=0
for _ in $(seq 1 240); do
    kill -0 "$worker_pid" 2>/dev/null || break
    if curl -sf --max-time 3 "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.5
done
((ready)) || { tail -20 "$OUT/worker.log"; die "the worker did not become ready (log: $OUT/worker.log)"; }
echo "valgrind: worker ready after $((SECONDS - t0))s"

# The events: the warm-up again (same id: a duplicate), EVENTS generated ones, plus malformed
# values and CloudEvents JSON through kcat.
"$EVF_BIN/evfleet-produce" -b "$BROKERS" -t "$TOPIC" -q \
    s3 --bucket vg --key warmup --id "$uniq-warmup" >"$OUT/produce.log" 2>&1 || die "producing failed"
per=$((EVENTS / 3))
"$EVF_BIN/evfleet-produce" -b "$BROKERS" -t "$TOPIC" -q s3 --count "$per" --seed 11 >>"$OUT/produce.log" 2>&1 &&
"$EVF_BIN/evfleet-produce" -b "$BROKERS" -t "$TOPIC" -q stream --count "$per" --seed 12 >>"$OUT/produce.log" 2>&1 &&
"$EVF_BIN/evfleet-produce" -b "$BROKERS" -t "$TOPIC" -q iot --count $((EVENTS - 2 * per)) --seed 13 >>"$OUT/produce.log" 2>&1 ||
    die "producing failed (see $OUT/produce.log)"
malformed=(
    'not an event at all'
    '{"specversion":"0.3","id":"x","source":"s","type":"t"}'
    '{"specversion":"1.0","id":"","source":"s","type":"t"}'
    '{"truncated":'
    $'\x12\x03ab'
    $'\x1a\x02\xff\xfe'
    $'\x7b\x7c'
    '{"specversion":"1.0","id":"ce-bad-time","source":"evfleet/s3","type":"s3:ObjectCreated:Put","time":"yesterday"}'
)
for m in "${malformed[@]}"; do printf '%s\n' "$m"; done |
    kcat -P -b "$BROKERS" -t "$TOPIC" -p 0 2>>"$OUT/produce.log" || die "kcat failed"
ce_events=3
for i in $(seq 1 $ce_events); do
    printf '{"specversion":"1.0","id":"%s-ce-%d","source":"evfleet/custom","type":"custom:vg","data":{"n":%d}}\n' "$uniq" "$i" "$i"
done | kcat -P -b "$BROKERS" -t "$TOPIC" -p 1 -H content-type=application/cloudevents+json 2>>"$OUT/produce.log" ||
    die "kcat failed"
total=$((EVENTS + 2 + ${#malformed[@]} + ce_events))
want_ok=$((EVENTS + 1)) want_dup=1 want_dlq=$((${#malformed[@]} + ce_events))
echo "valgrind: produced $total messages ($EVENTS generated, a warm-up twice, ${#malformed[@]} malformed, $ce_events CloudEvents JSON failing via a retry topic)"

# Wait: every event ran ok, was skipped as a duplicate or dead-lettered, nothing is in flight,
# and the same for 3 polls in a row.
stable=0
consumed=0
deadline=$((SECONDS + VALGRIND_TIMEOUT))
while ((SECONDS < deadline)); do
    kill -0 "$worker_pid" 2>/dev/null || break
    metrics=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics")
    consumed=$(metric_sum evfleet_events_consumed_total <<<"$metrics")
    inflight=$(metric_sum evfleet_inflight_events <<<"$metrics")
    ok=$(grep -E '^evfleet_events_processed_total\{.*outcome="ok"' <<<"$metrics" | awk '{ s += $NF } END { printf "%d", s }')
    dup=$(metric_sum evfleet_duplicates_skipped_total <<<"$metrics")
    dlq=$(metric_sum evfleet_dlq_events_total <<<"$metrics")
    if ((ok >= want_ok && dup >= want_dup && dlq >= want_dlq && inflight == 0)); then
        stable=$((stable + 1))
        ((stable >= 3)) && break
    else
        stable=0
    fi
    sleep 1
done
processed=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" | grep -E '^evfleet_(events_processed_total|dlq_events_total)' | tr '\n' ' ')
echo "valgrind: after $((SECONDS - t0))s: consumed $consumed (incl. retry copies), ok $ok of $want_ok, duplicates $dup of $want_dup, dead-lettered $dlq of $want_dlq"
echo "  $processed"
((stable >= 3)) || failures+=("worker did not process everything in ${VALGRIND_TIMEOUT}s")

kill -TERM "$worker_pid" 2>/dev/null
rc=
for _ in $(seq 1 120); do
    kill -0 "$worker_pid" 2>/dev/null || break
    sleep 0.5
done
if kill -0 "$worker_pid" 2>/dev/null; then
    failures+=("worker did not exit within 60 s of SIGTERM")
    kill -KILL "$worker_pid" 2>/dev/null
fi
wait "$worker_pid"
rc=$?
worker_pid=
echo "valgrind: worker exited after $((SECONDS - t0))s"
check_log evfleet-worker "$WLOG" "$rc" 0

# evfleet-produce under memcheck: generated events, and JSON lines (good and bad: exit 3).
PLOG=$OUT/produce-s3.memcheck.log
"${VG[@]}" --log-file="$PLOG" "$EVF_BIN/evfleet-produce" -b "$BROKERS" -t "$TOPIC.produce" -q \
    s3 --count 100 --seed 21 >"$OUT/produce-s3.log" 2>&1
check_log "evfleet-produce s3" "$PLOG" $? 0

PLOG=$OUT/produce-json.memcheck.log
{
    cat tests/data/aws/*.json | python3 -c 'import json,sys
dec = json.JSONDecoder(); s = sys.stdin.read(); i = 0
while True:
    while i < len(s) and s[i].isspace(): i += 1
    if i >= len(s): break
    doc, i = dec.raw_decode(s, i); print(json.dumps(doc))'
    echo '{"id":"vg-json-1","type":"custom:x","data":"aGk="}'
    echo '{"specversion":"1.0","id":"vg-ce-1","source":"evfleet/iot","type":"iot:telemetry","data":{"deviceId":"d","value":1}}'
    echo 'not json'
    echo '{"Records":[{"eventSource":"aws:sqs"}]}'
    echo '{"id":"x","s3":{},"iot":{}}'
} >"$OUT/produce-json.input"
"${VG[@]}" --log-file="$PLOG" "$EVF_BIN/evfleet-produce" -b "$BROKERS" -t "$TOPIC.produce" -q \
    json "$OUT/produce-json.input" >"$OUT/produce-json.log" 2>&1
check_log "evfleet-produce json" "$PLOG" $? 3

# evfleet-dlq under memcheck (read-only commands) on the dead letters the worker just wrote.
ndlq=0
if [[ -x $EVF_BIN/evfleet-dlq ]]; then
    DLQ_TOPIC=$TOPIC.$GROUP.dlq
    DARGS=(-b "$BROKERS" -X redis.url="redis://127.0.0.1:$REDIS_PORT/0" -X idempotency.key.prefix="$PREFIX" -q)
    for cmd in "list $DLQ_TOPIC --format json" "stats $DLQ_TOPIC"; do
        name=${cmd%% *}
        DLOG=$OUT/dlq-$name.memcheck.log
        # shellcheck disable=SC2086
        "${VG[@]}" --log-file="$DLOG" "$EVF_BIN/evfleet-dlq" "${DARGS[@]}" $cmd >"$OUT/dlq-$name.log" 2>&1
        check_log "evfleet-dlq $name" "$DLOG" $? 0
        ndlq=$((ndlq + 1))
    done
    letters=$(grep -c '^{' "$OUT/dlq-list.log")
    if [[ $letters != "$want_dlq" ]]; then
        failures+=("evfleet-dlq list shows $letters dead letters, want $want_dlq")
    fi
fi

echo "valgrind: done in $((SECONDS - t0))s (topics $TOPIC, $TOPIC.produce, $ALERTS and the group's retry/dlq topics are left on the broker)"
checks=$((4 + ndlq)) # processing finished, and the memcheck verdicts
nfail=${#failures[@]}
echo "valgrind: $((nfail > checks ? 0 : checks - nfail)) passed, $nfail failed"
((nfail == 0)) || { printf '  failed: %s\n' "${failures[@]}"; exit 1; }
