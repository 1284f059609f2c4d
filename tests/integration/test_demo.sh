#!/usr/bin/env bash
# tests/integration/test_demo.sh — `make demo` (deploy/local/demo.sh) in a test-friendly way: the
# local services are already up (tests/run.sh), so the demo must use them and leave them running;
# it runs with its own group, key prefix and HTTP ports (not the ones a person's demo uses), twice.
# Checks: exit 0; the summary's sections; every published event accounted for; the outcomes, dead
# letters and alerts the scripted story makes; the replicas gone afterwards; and the second run's
# summary equal to the first's (reruns give the same numbers), up to pids, partitions and times.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

export EVF_BIN=${EVF_BIN:-bin}
export KAFKA_PORT=${KAFKA_PORT:-9092} REDIS_PORT=${REDIS_PORT:-6379}
export DEMO_GROUP=evfleet-demo-test DEMO_PREFIX=demotest
STATE_DIR=${STATE_DIR:-deploy/local/.state}
tmp=$(mktemp -d)
# At the end: the demo's keys go (its topics stay: a fixed, small set the next run reuses).
cleanup() {
    timeout 30 redis-cli -p "$REDIS_PORT" --scan --pattern "$DEMO_PREFIX:*" |
        xargs -r -d '\n' -n 500 timeout 30 redis-cli -p "$REDIS_PORT" unlink >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
pass() { echo "ok:   $*"; }
# check WHAT COMMAND...: pass when the command succeeds, else fail
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# three consecutive free ports for the replicas' http.listen
base=
for try in $(seq 0 40); do
    b=$((29464 + try * 7 + RANDOM % 5))
    if ! listening "$b" && ! listening $((b + 1)) && ! listening $((b + 2)); then
        base=$b
        break
    fi
done
[[ -n $base ]] || { echo "FAIL: no three free ports found"; exit 1; }
export DEMO_HTTP_PORT=$base

bash deploy/local/services.sh status >/dev/null 2>&1 ||
    { echo "FAIL: the local services are not up (tests/run.sh starts them)"; exit 1; }

# summary_of FILE: the summary without what legitimately differs between runs (pids, instance
# ids, which replica holds which partitions, times, the IoT window's start), sorted
summary_of() {
    sed -n '/^EVENTS PER PROCESSOR AND OUTCOME/,/^demo finished/p' "$1" |
        sed '/^REPLICAS/,/^-----/d' |
        sed -E 's/[0-9]{13}/T/g; s/demo finished in [0-9]+ s/demo finished/' | sort
}

run_demo() { # N
    local out=$tmp/demo-$1.txt t0=$SECONDS rc
    bash deploy/local/demo.sh >"$out" 2>&1
    rc=$?
    echo "demo run $1: exit $rc in $((SECONDS - t0)) s"
    if ((rc != 0)); then
        fail "demo run $1 exited $rc"
        sed 's/^/    | /' "$out"
        return 1
    fi
    pass "demo run $1 exited 0"
    return 0
}

check_summary() { # FILE
    local f=$1 n ok dup dlq total
    for section in "EVENTS PER PROCESSOR AND OUTCOME" "REPLICAS (separate processes" \
        "WHAT THE PROCESSORS BUILT" "WHERE THE FAILED EVENTS WENT" "demo finished in"; do
        check "section: $section" grep -qF "$section" "$f"
    done
    n=$(sed -n 's/.* -> \([0-9][0-9]*\) in all.*/\1/p' "$f")
    check "all ${n:-?} published events finished" grep -q "all ${n:-x} events finished" "$f"
    # the total row: ok + duplicate + dlq = published; 3 duplicates, 6 dead letters in the story
    total=$(grep -E '^ +total ' "$f")
    read -r _ ok dup dlq _ <<<"$total"
    check "outcomes add up to $n: '$total'" test "$((${ok:-0} + ${dup:-0} + ${dlq:-0}))" == "${n:-x}"
    check "3 duplicate deliveries skipped (${dup:-?})" test "${dup:-}" == 3
    check "6 dead letters (${dlq:-?})" test "${dlq:-}" == 6
    for p in s3_index stream_materialize iot_rollup chaos; do
        check "a row for processor $p" grep -qE "^ +$p +[0-9]+" "$f"
    done
    for c in transient permanent unroutable decode; do
        check "dead letters of class $c" grep -qE "dead-lettered from .* class $c" "$f"
    done
    check "3 replicas listed" test "$(grep -cE '^ +replica [0-9]+ +pid [0-9]+' "$f")" == 3
    check "4 alerts raised" grep -qE '^ +4 alert event\(s\)' "$f"
    check "the chaos events went through the retry topic" grep -q 'went through .*retry.1 first' "$f"
    check "the materialized row is the newest (SHIPPED)" grep -q '"status":"SHIPPED"' "$f"
    check "the late S3 event changed nothing" grep -q 'cat.jpg: size 60000' "$f"
    # the demo uses the services that were up and leaves them up
    check "the demo used the running services" grep -q 'already running' "$f"
}

check_after() {
    local i
    for ((i = 0; i < 3; i++)); do
        check "port $((base + i)) free after the demo" eval "! listening $((base + i))"
    done
    check "no replica pid files left" eval "! compgen -G '$STATE_DIR/demo-$KAFKA_PORT-$DEMO_GROUP/replica-*.pid' >/dev/null"
    check "services still up after the demo" bash deploy/local/services.sh status
}

if run_demo 1; then
    check_summary "$tmp/demo-1.txt"
    check_after
    sed -n '/^EVENTS PER PROCESSOR/,/^demo finished/p' "$tmp/demo-1.txt"
    if run_demo 2; then
        check_after
        if diff <(summary_of "$tmp/demo-1.txt") <(summary_of "$tmp/demo-2.txt") >"$tmp/diff.txt"; then
            pass "the second run's summary equals the first's"
        else
            fail "the second run's summary differs from the first's:"
            sed 's/^/    | /' "$tmp/diff.txt"
        fi
    fi
fi

echo "failures: $failures"
((failures == 0))
