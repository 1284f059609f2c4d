#!/usr/bin/env bash
# tests/run.sh unit|integration|all — runs the check suites (and integration scripts) built by make.
# Integration tests use the real local Kafka + Redis from deploy/local: started here if not up, and
# stopped at the end only if this run started them.
set -uo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
BUILD=${EVF_BUILD:-build/default}
export EVF_BIN=${EVF_BIN:-bin} EVF_BUILD=$BUILD
export KAFKA_PORT=${KAFKA_PORT:-9092} REDIS_PORT=${REDIS_PORT:-6379}
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120}
logdir=$BUILD/test-logs
mkdir -p "$logdir"
failed=()
passed=0

run_one() { # name, command...
    local name=$1; shift
    local t0=$SECONDS
    mkdir -p "$(dirname "$logdir/$name.log")"
    if "$@" >"$logdir/$name.log" 2>&1; then
        passed=$((passed + 1))
        printf '  ok    %-40s %3ds\n' "$name" $((SECONDS - t0))
    else
        failed+=("$name")
        printf '  FAIL  %-40s %3ds  (log: %s)\n' "$name" $((SECONDS - t0)) "$logdir/$name.log"
        tail -n 30 "$logdir/$name.log" | sed 's/^/        /'
    fi
}

if [[ $what == unit || $what == all ]]; then
    echo "unit tests ($BUILD)"
    for t in "$BUILD"/tests/unit/test_*; do
        [[ -x $t && $t != *.o && $t != *.d ]] || continue
        run_one "unit/$(basename "$t")" "$t"
    done
fi

started=0
cleanup() {
    if [[ $started == 1 ]]; then
        echo "stopping the local services this run started"
        bash deploy/local/services.sh down >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

if [[ $what == integration || $what == all ]]; then
    echo "integration tests ($BUILD; Kafka 127.0.0.1:$KAFKA_PORT, Redis 127.0.0.1:$REDIS_PORT)"
    if ! bash deploy/local/services.sh status >/dev/null 2>&1; then
        bash deploy/local/services.sh up || { echo "could not start the local services"; exit 1; }
        started=1
    fi
    for t in "$BUILD"/tests/integration/test_*; do
        [[ -x $t && $t != *.o && $t != *.d ]] || continue
        run_one "integration/$(basename "$t")" "$t"
    done
    for s in tests/integration/test_*.sh; do
        [[ -f $s ]] || continue
        run_one "integration/$(basename "$s" .sh)" bash "$s"
    done
fi

echo "passed: $passed  failed: ${#failed[@]}"
[[ ${#failed[@]} == 0 ]] || { printf '  failed: %s\n' "${failed[@]}"; exit 1; }
