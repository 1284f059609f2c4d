#!/usr/bin/env bash
# tests/fuzz/run.sh [TARGET…] — build the libFuzzer targets with clang (ASan + UBSan + libFuzzer)
# and run each for a bounded time. `make fuzz` calls it; CI runs it with a short FUZZ_SECONDS.
#
#   FUZZ_SECONDS=60     time per target (0: only replay the seeds and regression inputs once)
#   FUZZ_CC=clang       the compiler (needs -fsanitize=fuzzer: Debian's clang + libclang-rt-14-dev)
#   FUZZ_ARGS=…         extra libFuzzer flags for every target (e.g. -jobs=2 -workers=2)
#
# Targets: event_decode event_json aws_import config redis_url dlq_headers (default: all).
# The project's sources are compiled here with clang into build/fuzz/obj/ (not through the
# Makefile's gcc variants); programs go to build/fuzz/fuzz_<target>. Each run starts from the
# committed seeds (tests/fuzz/corpus/<target>/, the event decoder's are corpus/event/) and the
# regression inputs (tests/regress/<target>/), and keeps what it finds in build/fuzz/corpus/<target>/,
# so repeated runs go deeper. A crash (sanitizer report or failed property) leaves its input in
# build/fuzz/artifacts/<target>/; the script goes on with the other targets and exits 1 at the end.
# Reproduce one: build/fuzz/fuzz_<target> FILE  (see tests/fuzz/README.md).
set -uo pipefail
cd "$(dirname "$0")/../.."

ALL_TARGETS=(event_decode event_json aws_import config redis_url dlq_headers)
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_ARGS=${FUZZ_ARGS:-}
OUT=build/fuzz
PKGS="rdkafka hiredis libprotobuf-c libmicrohttpd jansson"

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
    [[ -f tests/fuzz/fuzz_$t.c ]] || { echo "fuzz: unknown target '$t' (${ALL_TARGETS[*]})" >&2; exit 2; }
done
[[ $FUZZ_SECONDS =~ ^[0-9]+$ ]] || { echo "fuzz: FUZZ_SECONDS='$FUZZ_SECONDS' is not a number" >&2; exit 2; }

# ---------------------------------------------------------------- toolchain
have_fuzzer() {
    echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' |
        "$FUZZ_CC" -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1
}
if ! have_fuzzer; then
    # Debian 12: clang is 14; libFuzzer's runtime is in libclang-rt-14-dev.
    if [[ $FUZZ_CC == clang && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        echo "fuzz: installing clang and libclang-rt-14-dev (libFuzzer)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            clang libclang-rt-14-dev >/dev/null 2>&1 ||
            { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
              DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                  clang libclang-rt-14-dev >/dev/null 2>&1; }
    fi
    have_fuzzer || { echo "fuzz: $FUZZ_CC cannot build -fsanitize=fuzzer (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
fi
command -v protoc-c >/dev/null || { echo "fuzz: protoc-c missing (make deps)" >&2; exit 2; }
pkg-config --exists $PKGS || { echo "fuzz: libraries missing (make deps)" >&2; exit 2; }

# ---------------------------------------------------------------- build
t0=$SECONDS
mkdir -p "$OUT/gen" "$OUT/obj" "$OUT/logs"
protoc-c --c_out="$OUT/gen" -Iproto proto/evfleet/v1/event.proto || exit 2

# What the targets reach: the codec, config, Redis URL, AWS import (with the id generator), the
# dead-letter headers, and what those call (log, err, sha256).
SRCS=(common/event.c common/event_json.c common/fingerprint.c common/sha256.c common/log.c
      common/err.c common/config.c common/redis_url.c producers/aws_import.c producers/generate.c
      dlq/deadletter.c)
# -fsanitize=fuzzer-no-link: coverage for libFuzzer in our code; libFuzzer's main links later.
CFLAGS=(-std=gnu11 -pthread -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
        -fsanitize=address,undefined -fno-sanitize-recover=undefined
        -Wall -Wextra -Wstrict-prototypes -Wshadow -Wpointer-arith -Wformat=2
        -Wno-missing-field-initializers -Wno-unknown-warning-option -Wno-format-truncation
        -Iinclude -Icommon -Iproducers -Iconsumer -Idlq -I"$OUT/gen" $(pkg-config --cflags $PKGS))
LIBS=($(pkg-config --libs $PKGS) -ldl -lm -pthread)

build_failed=0
objs=()
compile() { # src obj [extra flags…]
    local src=$1 obj=$2; shift 2
    "$FUZZ_CC" "${CFLAGS[@]}" "$@" -c "$src" -o "$obj" 2>>"$OUT/logs/build.log" ||
        { echo "fuzz: compiling $src failed (see $OUT/logs/build.log)" >&2; return 1; }
}
: >"$OUT/logs/build.log"
pids=()
for src in "${SRCS[@]}" "$OUT/gen/evfleet/v1/event.pb-c.c" tests/fuzz/fuzz_common.c; do
    obj=$OUT/obj/$(echo "${src%.c}" | tr / _).o
    objs+=("$obj")
    extra=(-fsanitize=fuzzer-no-link)
    [[ $src == *pb-c.c ]] && extra+=(-w)
    compile "$src" "$obj" "${extra[@]}" &
    pids+=($!)
    if ((${#pids[@]} >= 2)); then wait "${pids[0]}" || build_failed=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || build_failed=1; done
((build_failed == 0)) || exit 2
for t in "${targets[@]}"; do
    "$FUZZ_CC" "${CFLAGS[@]}" -DEVF_LIBFUZZER -fsanitize=fuzzer -Itests/fuzz "tests/fuzz/fuzz_$t.c" \
        "${objs[@]}" "${LIBS[@]}" -o "$OUT/fuzz_$t" 2>>"$OUT/logs/build.log" ||
        { echo "fuzz: linking fuzz_$t failed (see $OUT/logs/build.log)" >&2; exit 2; }
done
grep -q 'warning:' "$OUT/logs/build.log" && { echo "fuzz: build warnings:"; grep 'warning:' "$OUT/logs/build.log" | sort -u; }
echo "fuzz: built ${#targets[@]} target(s) in $((SECONDS - t0))s; ${FUZZ_SECONDS}s each"

# ---------------------------------------------------------------- run
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
    seeds=tests/fuzz/corpus/$t
    [[ $t == event_decode ]] && seeds=tests/fuzz/corpus/event
    work=$OUT/corpus/$t
    arts=$OUT/artifacts/$t
    log=$OUT/logs/$t.log
    mkdir -p "$work" "$arts"
    dirs=("$work")
    [[ -d $seeds ]] && dirs+=("$seeds")
    [[ -d tests/regress/$t ]] && dirs+=("tests/regress/$t")
    args=(-timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1
          -artifact_prefix="$arts/")
    [[ -f tests/fuzz/dict/$t.dict ]] && args+=(-dict="tests/fuzz/dict/$t.dict")
    if ((FUZZ_SECONDS == 0)); then args+=(-runs=0); else args+=(-max_total_time="$FUZZ_SECONDS"); fi
    # shellcheck disable=SC2206
    args+=($FUZZ_ARGS)
    ts=$SECONDS
    "$OUT/fuzz_$t" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)
    if ((rc == 0)); then
        printf '  ok    %-14s %4ds  %s execs  %s\n' "$t" $((SECONDS - ts)) "${execs:-?}" "${cov:-}"
    else
        failed+=("$t")
        art=$(grep -oE "(Test unit written to|artifact_prefix.*) [^ ]+" "$log" | tail -1 | awk '{print $NF}')
        printf '  FAIL  %-14s %4ds  exit %d  (log: %s)\n' "$t" $((SECONDS - ts)) "$rc" "$log"
        grep -E 'ERROR: |SUMMARY: |fuzz property failed|runtime error' "$log" | head -5 | sed 's/^/        /'
        [[ -n $art ]] && printf '        input: %s\n        reproduce: %s/fuzz_%s %s\n' "$art" "$OUT" "$t" "$art"
    fi
done
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
[[ ${#failed[@]} == 0 ]] || { printf '  failed: %s\n' "${failed[@]}"; exit 1; }
