#!/usr/bin/env bash
# tests/containers/run.sh — `make test-containers`: the image, the compose file and the Kubernetes
# manifests, tested with real containers (podman 4.3 + runc, host network, no registry).
#
#   bash tests/containers/run.sh [all|validate|image|fleet|kube]...     (default: all)
#
# Stages:
#   validate  offline: deploy/k8s/ against the Kubernetes and KEDA schemas, deploy/compose.yaml
#             against the Compose Specification, and what the issue asks of them (validate.sh)
#   base      localhost/debian-base:bookworm by debootstrap, cached between runs (make-base.sh)
#   image     deploy/Containerfile built on that base for both stages (the file users build on
#             debian:bookworm / bookworm-slim), then checked: uid 10001, STOPSIGNAL, HEALTHCHECK,
#             read-only root, configuration by environment, secrets redacted, the ConfigMap's and
#             the compose file's configuration accepted by the image's worker
#   fleet     3 worker containers + SIGTERM, SIGKILL, 2 more; ledger exactly once (fleet.sh)
#   kube      deploy/k8s played with `podman kube play`, every replica ready (kube.sh)
# `image` is built whenever fleet or kube run, unless CT_IMAGE names an existing image.
#
# Everything a run makes is removed at the end, also on failure or interruption (common.sh:
# ct_cleanup): its containers, pods, images (and podman's pause image when the run made it),
# Kafka topics and groups, Redis keys. The base image stays: it is the cache. CT_KEEP=1 keeps
# everything for a look (then remove it by hand: podman rm/rmi, names start with the run id).
# Local Kafka and Redis are started if needed (deploy/local/services.sh up) and never stopped.
#
# Environment: KAFKA_PORT (9092), REDIS_PORT (6379), CT_IMAGE, CT_KEEP, BASE_IMAGE,
# BASE_MAX_AGE_DAYS (make-base.sh), EVF_CT_STATE (build/containers), MAKE_JOBS (2).
# Ends with "N passed, N failed"; exit 0 only when nothing failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/containers/common.sh
. "$HERE/common.sh"
# shellcheck source=tests/containers/validate.sh
. "$HERE/validate.sh"
# shellcheck source=tests/containers/fleet.sh
. "$HERE/fleet.sh"
# shellcheck source=tests/containers/kube.sh
. "$HERE/kube.sh"

stages=("$@")
((${#stages[@]})) || stages=(all)
want() {
    local s
    for s in "${stages[@]}"; do [[ $s == all || $s == "$1" ]] && return 0; done
    return 1
}
for s in "${stages[@]}"; do
    case $s in all | validate | image | fleet | kube) ;; *) ct_die "unknown stage '$s' (all, validate, image, fleet, kube)" ;; esac
done

STAGE_TIMES=()
timed() { # NAME FUNCTION...
    local name=$1 t=$SECONDS
    shift
    "$@"
    STAGE_TIMES+=("$(printf '%-10s %4ds' "$name" $((SECONDS - t)))")
}

# The summary goes to the run's own stdout/stderr even when a signal lands inside a function
# whose output is redirected (the trap runs there).
exec {CT_STDOUT}>&1 {CT_STDERR}>&2
finish() {
    local rc=$?
    exec 1>&"$CT_STDOUT" 2>&"$CT_STDERR"
    if [[ ${CT_KEEP:-0} == 1 ]]; then
        printf '\nCT_KEEP=1: left run %s as it is (containers, pods, images %s, topics %s-*)\n' \
            "$CT_RUN" "${CT_IMAGES[*]:-}" "$CT_RUN"
    else
        local t=$SECONDS
        ct_cleanup || ct_fail "cleanup removed everything the run made"
        STAGE_TIMES+=("$(printf '%-10s %4ds' cleanup $((SECONDS - t)))")
    fi
    printf '\n=== test-containers: run %s, logs in %s\n' "$CT_RUN" "$CT_LOGS"
    printf '%s\n' "${STAGE_TIMES[@]}"
    printf 'total      %4ds\n' "$SECONDS"
    if ((CT_FAILED)); then
        printf '\nfailed:\n'
        printf '  - %s\n' "${CT_FAILURES[@]}"
    fi
    printf '\n%d passed, %d failed\n' "$CT_PASSED" "$CT_FAILED"
    ((CT_FAILED == 0 && rc == 0)) || exit 1
    exit 0
}
trap finish EXIT
trap 'ct_fail "run interrupted by a signal"; exit 130' INT TERM

# ---------------------------------------------------------------------------- image

ct_build() {
    ct_stage "base image"
    if ! ct_require "base image $BASE_IMAGE (debootstrap, cached)" bash "$EVF_CT_ROOT/deploy/containers/make-base.sh"; then
        return 1
    fi
    podman image inspect -f '        {{.Created}}  {{.Size}} bytes' "$BASE_IMAGE" 2>/dev/null
    ct_stage "build deploy/Containerfile on $BASE_IMAGE"
    local tag=localhost/evfleet-ct:$CT_RUN build_tag=localhost/evfleet-ct-build:$CT_RUN t=$SECONDS
    local args=(--pull=never --network host --format docker
        --build-arg "BUILDER_IMAGE=$BASE_IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE"
        --build-arg "MAKE_JOBS=${MAKE_JOBS:-2}" -f "$EVF_CT_ROOT/deploy/Containerfile")
    # The builder stage is tagged too, so cleanup can remove it and its layers by name.
    CT_IMAGES+=("$tag" "$build_tag")
    if ! ct_require "podman build --target build (Debian's -dev packages, make)" \
        bash -c 'podman build "$@" >"'"$CT_LOGS"'/build.log" 2>&1' _ "${args[@]}" --target build -t "$build_tag" "$EVF_CT_ROOT"; then
        tail -n 30 "$CT_LOGS/build.log"
        return 1
    fi
    if ! ct_require "podman build (runtime stage on the base image)" \
        bash -c 'podman build "$@" >>"'"$CT_LOGS"'/build.log" 2>&1' _ "${args[@]}" -t "$tag" "$EVF_CT_ROOT"; then
        tail -n 30 "$CT_LOGS/build.log"
        return 1
    fi
    CT_IMAGE=$tag
    echo "  info  built $tag in $((SECONDS - t)) s, $(podman image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
}

ct_image_run() { podman run --rm --network host --pull=never --read-only --label "evfleet.ct.run=$CT_RUN" "$@"; }

ct_image_checks() {
    ct_stage "image checks"
    local img=$CT_IMAGE conf
    ct_check "runs as 10001:10001, workdir set" bash -c "
        [[ \$(podman image inspect -f '{{.Config.User}}' '$img') == 10001:10001 ]] &&
        [[ -n \$(podman image inspect -f '{{.Config.WorkingDir}}' '$img') ]]"
    ct_check "STOPSIGNAL SIGTERM, ENTRYPOINT evfleet-worker, CMD -c /etc/evfleet/worker.conf" bash -c "
        [[ \$(podman image inspect -f '{{.Config.StopSignal}}' '$img') == SIGTERM ]] &&
        [[ \$(podman image inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' '$img') == '[\"evfleet-worker\"] [\"-c\",\"/etc/evfleet/worker.conf\"]' ]]"
    ct_check "HEALTHCHECK kept (docker format) and runs the worker's --probe on /readyz" bash -c "
        podman image inspect '$img' | grep -A6 '\"Healthcheck\"' | grep -q -- '--probe' &&
        podman image inspect '$img' | grep -A6 '\"Healthcheck\"' | grep -q '/readyz'"
    ct_check "the programs run as uid 10001 on a read-only root filesystem" bash -c "
        [[ \$(podman run --rm --pull=never --read-only --entrypoint id '$img' -u) == 10001 ]] &&
        podman run --rm --pull=never --read-only '$img' --version &&
        podman run --rm --pull=never --read-only --entrypoint evfleet-produce '$img' --version"
    if [[ -f $EVF_CT_ROOT/dlq/dlq_main.c ]]; then
        ct_check "evfleet-dlq is in the image" ct_image_run --entrypoint evfleet-dlq "$img" --version
    fi
    ct_check "configuration by environment; secrets redacted by --check-config" bash -c "
        out=\$(podman run --rm --pull=never --read-only -e EVFLEET_KAFKA_BOOTSTRAP_SERVERS=broker-x:9092 \
            -e EVFLEET_REDIS_PASSWORD=pw-not-shown-42 -e EVFLEET_PROCESSOR_IOT__ROLLUP_WINDOW_MS=5000 \
            '$img' -c /etc/evfleet/worker.conf --check-config 2>&1) || exit 1
        echo \"\$out\" | grep -Eq '^kafka.bootstrap.servers *= *broker-x:9092' &&
        echo \"\$out\" | grep -Eq '^processor.iot_rollup.window.ms *= *5000' &&
        echo \"\$out\" | grep -Eq '^route.iot:\\* *= *iot_rollup' &&
        ! echo \"\$out\" | grep -q pw-not-shown-42 || { echo \"\$out\"; exit 1; }"
    # deploy/k8s's ConfigMap and deploy/compose.yaml's worker environment, on the image's worker.
    conf=$CT_LOGS/configmap-worker.conf
    ct_python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["data"]["worker.conf"], end="")' \
        "$EVF_CT_ROOT/deploy/k8s/configmap.yaml" >"$conf"
    ct_check "deploy/k8s ConfigMap's worker.conf is accepted by the image's worker" bash -c "
        out=\$(podman run --rm --pull=never --read-only -v '$conf:/etc/evfleet/worker.conf:ro' \
            -e EVFLEET_HTTP_LISTEN=0.0.0.0:9464 '$img' -c /etc/evfleet/worker.conf --check-config 2>&1) || { echo \"\$out\"; exit 1; }
        ! echo \"\$out\" | grep -i -E 'unknown|warn'"
    if [[ -n ${CT_COMPOSE_ENV:-} ]]; then
        local envargs=()
        while IFS= read -r kv; do envargs+=(-e "$kv"); done < <(ct_python -c '
import json, sys
for k, v in json.loads(sys.argv[1]).items():
    print(f"{k}={v}")' "$CT_COMPOSE_ENV")
        # shellcheck disable=SC2016 # expanded by the inner bash
        ct_check "deploy/compose.yaml's worker environment is understood by the image's worker" bash -c '
            out=$(podman run --rm --pull=never --read-only "$@" -c /etc/evfleet/worker.conf --check-config 2>&1) || { echo "$out"; exit 1; }
            ! echo "$out" | grep -i -E "unknown|warn"' _ "${envargs[@]}" "$img"
    fi
}

# ---------------------------------------------------------------------------- main

ct_log "test-containers run $CT_RUN (podman $(podman version -f '{{.Client.Version}}' 2>/dev/null), Kafka 127.0.0.1:$KAFKA_PORT, Redis 127.0.0.1:$REDIS_PORT)"
if want validate || want image; then
    timed validate ct_validate
fi
if want image || want fleet || want kube; then
    if [[ -z ${CT_IMAGE:-} ]]; then
        if ! timed build ct_build; then
            exit 1
        fi
    else
        ct_log "using the existing image $CT_IMAGE (CT_IMAGE)"
    fi
    want image && timed image ct_image_checks
fi
if want fleet || want kube; then
    ct_stage "local Kafka + Redis"
    if ! ct_require "local Kafka and Redis up (deploy/local/services.sh up)" \
        bash "$EVF_CT_ROOT/deploy/local/services.sh" up; then
        exit 1
    fi
    ct_venv || ct_die "no python venv"
fi
want fleet && timed fleet ct_fleet
if want kube; then
    podman image exists "localhost/podman-pause:$(podman version -f '{{.Client.Version}}')-0" &&
        CT_PAUSE_EXISTED=yes || CT_PAUSE_EXISTED=no
    timed kube ct_kube
fi
