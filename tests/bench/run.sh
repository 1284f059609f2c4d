#!/usr/bin/env bash
# tests/bench/run.sh — issue #10's benchmark (`make bench`, `make bench QUICK=1`).
#
# Starts the local Kafka + Redis (deploy/local/services.sh) when they are not up, runs
# tests/bench/bench.py, and stops at the end only what it started. Environment (empty = default):
#   QUICK=1        smoke check, about a minute: N=50000, 1 run each, latency at 5k/s only, 5 s
#   N              events preloaded (default 1000000; QUICK 50000)
#   PARTITIONS     partitions of the preloaded topic (default 12)
#   REPS           runs of each measurement (default 3; QUICK 1)
#   LAT_RATES      comma-separated rates of the latency runs (default 5000,20000; QUICK 5000)
#   LAT_SECONDS    length of each latency run (default 20; QUICK 5)
#   LAT_PRODUCER_X extra -X settings of the latency runs' producer (e.g. "kafka.linger.ms=0")
#   KAFKA_PORT, REDIS_PORT   local services (default 9092, 6379)
#   RESULTS        JSON output (default tests/bench/results-<timestamp>.json, git-ignored)
#   EVF_BIN, EVF_BUILD       where make put the programs and tests/bench/count
# Exit: 0 every measurement was made (targets are reported, never asserted), 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/../.."

export EVF_BIN=${EVF_BIN:-bin} EVF_BUILD=${EVF_BUILD:-build/default}
export KAFKA_PORT=${KAFKA_PORT:-9092} REDIS_PORT=${REDIS_PORT:-6379}
export QUICK=${QUICK:-} N=${N:-} PARTITIONS=${PARTITIONS:-}

for tool in python3 "$EVF_BIN/evfleet-worker" "$EVF_BIN/evfleet-produce" "$EVF_BUILD/bench/count" \
    "$EVF_BUILD/bench/latency"; do
    if ! command -v "$tool" >/dev/null 2>&1 && [[ ! -x $tool ]]; then
        echo "bench: $tool is missing (make all tests builds the programs and tests/bench/*_main.c)" >&2
        exit 1
    fi
done
command -v kcat >/dev/null 2>&1 || echo "bench: kcat is not installed: the kcat ceiling is skipped" >&2

services() { bash deploy/local/services.sh "$@"; }

# Which service answers now (status prints one line per service, "kafka  up  …" / "redis  up  …").
kafka_was_up=0
redis_was_up=0
st=$(services status 2>/dev/null || true)
grep -q '^kafka  up' <<<"$st" && kafka_was_up=1
grep -q '^redis  up' <<<"$st" && redis_was_up=1

stop_started() {
    if [[ $kafka_was_up == 0 && $redis_was_up == 0 ]]; then
        echo "bench: stopping the local services this run started" >&2
        services down >/dev/null 2>&1 || true
    elif [[ $kafka_was_up == 0 ]]; then
        echo "bench: stopping Kafka, which this run started" >&2
        services kafka-stop >/dev/null 2>&1 || true
    elif [[ $redis_was_up == 0 ]]; then
        echo "bench: stopping Redis, which this run started" >&2
        services redis-stop >/dev/null 2>&1 || true
    fi
}

if [[ $kafka_was_up == 0 || $redis_was_up == 0 ]]; then
    echo "bench: starting local Kafka (127.0.0.1:$KAFKA_PORT) and Redis (127.0.0.1:$REDIS_PORT)" >&2
    trap stop_started EXIT
    trap 'exit 130' INT TERM
    if ! services up >&2; then
        echo "bench: could not start the local services" >&2
        exit 1
    fi
fi

python3 tests/bench/bench.py
