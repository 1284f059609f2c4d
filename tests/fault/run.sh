#!/usr/bin/env bash
# tests/fault/run.sh — issue 11's fault suite (`make test-fault`); see tests/fault/README.md.
#
# 1. tests/fault/fault.py: three workers, 200,000 events, a worker SIGKILLed, the broker and Redis
#    stopped and restarted, a worker SIGSTOPped past its lease (real Kafka + Redis);
# 2. $EVF_BUILD/fault/mock: the faults only librdkafka's mock cluster can make on demand (request
#    errors, coordinator moves, a broker down, high RTT), with the real Redis.
# Both check the ledger invariants and print one line of counts with the seed.
#
# The suite stops and starts its brokers, so it runs on its OWN services (KAFKA_PORT, REDIS_PORT;
# the Makefile passes 19092 and 16379), started here when they are not up and stopped at the end
# when this run started them. It refuses the default ports 9092/6379 (the shared `make up` ones)
# unless FAULT_ALLOW_DEFAULT_PORTS=1. FAULT_PARTS=real,mock selects the parts.
set -uo pipefail
cd "$(dirname "$0")/../.."

export EVF_BIN=${EVF_BIN:-bin} EVF_BUILD=${EVF_BUILD:-build/default}
export KAFKA_PORT=${KAFKA_PORT:-19092} REDIS_PORT=${REDIS_PORT:-16379}
FAULT_PARTS=${FAULT_PARTS:-real,mock}

if [[ ${FAULT_ALLOW_DEFAULT_PORTS:-0} != 1 && ($KAFKA_PORT == 9092 || $REDIS_PORT == 6379) ]]; then
    echo "fault: refusing KAFKA_PORT=$KAFKA_PORT REDIS_PORT=$REDIS_PORT: the suite stops and restarts" \
        "its brokers; give it ports of its own (FAULT_ALLOW_DEFAULT_PORTS=1 to insist)" >&2
    exit 2
fi
for tool in python3 kcat redis-cli "$EVF_BIN/evfleet-worker" "$EVF_BIN/evfleet-produce" \
    "$EVF_BUILD/fault/faultctl" "$EVF_BUILD/fault/mock"; do
    if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x $tool ]]; then
        echo "fault: $tool is missing (make all tests builds the programs and tests/fault/*_main.c)" >&2
        exit 2
    fi
done

services() { bash deploy/local/services.sh "$@"; }
st=$(services status 2>/dev/null || true)
kafka_was_up=0 redis_was_up=0
grep -q '^kafka  up' <<<"$st" && kafka_was_up=1
grep -q '^redis  up' <<<"$st" && redis_was_up=1
stop_started() {
    [[ $kafka_was_up == 1 ]] || services kafka-stop >/dev/null 2>&1 || true
    # redis-stop keeps a snapshot for the restarts of the run; `down` removes it
    [[ $redis_was_up == 1 ]] || services down >/dev/null 2>&1 || true
}
trap stop_started EXIT
trap 'exit 130' INT TERM
if [[ $kafka_was_up == 0 || $redis_was_up == 0 ]]; then
    echo "fault: starting the suite's Kafka (127.0.0.1:$KAFKA_PORT) and Redis (127.0.0.1:$REDIS_PORT)" >&2
    services up >&2 || { echo "fault: could not start the services" >&2; exit 2; }
fi

t0=$SECONDS
rc=0
lines=()
out=$(mktemp)
trap 'rm -f "$out"; stop_started' EXIT
part() { # NAME CMD...: runs one part; its last stdout line is its count line
    shift
    "$@" >"$out"
    local r=$?
    cat "$out"
    ((r > rc)) && rc=$r
    lines+=("$(tail -n 1 "$out")")
    return 0
}
[[ ,$FAULT_PARTS, == *,real,* ]] && part real python3 tests/fault/fault.py
[[ ,$FAULT_PARTS, == *,mock,* ]] && part mock "$EVF_BUILD/fault/mock"
echo "---- fault suite ($((SECONDS - t0))s)"
printf '%s\n' "${lines[@]}"
exit $rc
