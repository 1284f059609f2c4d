# tests/containers/fleet.sh — a worker fleet in real containers (sourced by run.sh: ct_fleet IMAGE).
#
# Three worker containers from the image on the host network (each its own http.listen port on
# 127.0.0.1), configured through EVFLEET_* variables, with every route sent to the `ledger`
# processor by `-X route.<glob>=ledger` arguments (routes are never read from the environment).
# A mixed load (s3, stream, iot) is published by evfleet-produce from the same image while:
#   1. one worker is stopped (`podman stop`: SIGTERM) — it exits 0 within shutdown.grace.ms and
#      leaves the group, so its partitions move at once (well before the session timeout);
#   2. another is killed (SIGKILL) — its partitions move only after the session timeout;
#   3. two more start — the partitions spread over the three live workers.
# At the end every event published is in the ledger exactly once (HLEN = events published, every
# count 1), the group has no lag, nothing was dead-lettered, and the live workers stop with exit 0.

CT_FLEET_PARTITIONS=6
CT_FLEET_SESSION_MS=8000
CT_FLEET_GRACE_MS=5000

ct_fleet_parts() { ct_status_parts "$CT_FLEET_TOPICS" "$@"; }
ct_fleet_covered() { ct_status_covered "$CT_FLEET_TOPICS" "$CT_FLEET_PARTITIONS" "$@"; }

# ct_fleet_spread PORT...: covered, and every worker holds at least one source partition.
ct_fleet_spread() {
    local p
    ct_fleet_covered "$@" || return 1
    for p in "$@"; do
        [[ -n $(ct_fleet_parts "$p") ]] || return 1
    done
}

# ct_fleet_start NAME: a worker container on a free port; returns at once.
ct_fleet_start() {
    local name=$1 port
    ct_free_port port || return 1
    CT_FLEET_PORT[$name]=$port
    podman run -d --name "$CT_RUN-$name" --label "evfleet.ct.run=$CT_RUN" \
        --network host --read-only --pull=never --health-interval=disable \
        "${CT_FLEET_ENV[@]}" -e "EVFLEET_HTTP_LISTEN=127.0.0.1:$port" \
        "$CT_IMAGE" -c /etc/evfleet/worker.conf \
        -X 'route.s3:ObjectCreated:*=ledger' -X 'route.s3:ObjectRemoved:*=ledger' \
        -X 'route.stream:*=ledger' -X 'route.iot:*=ledger' -X 'route.*=ledger' \
        >/dev/null 2>>"$CT_LOGS/podman.log"
}

# ct_fleet_produce NAME COUNT RATE: publish a mixed load from the image; logs to $CT_LOGS/NAME.log.
ct_fleet_produce() {
    local name=$1 count=$2 rate=$3
    podman run --rm --name "$CT_RUN-$name" --label "evfleet.ct.run=$CT_RUN" \
        --network host --read-only --pull=never --entrypoint evfleet-produce \
        "$CT_IMAGE" -b "$CT_BROKERS" -X "topics=$CT_FLEET_TOPICS" -X "topics.partitions=$CT_FLEET_PARTITIONS" \
        -X log.format=text bench --rate "$rate" --count "$count" --mix s3=1,stream=1,iot=2 \
        >"$CT_LOGS/$name.log" 2>&1
}

ct_fleet_logs() { podman logs "$CT_RUN-$1" >"$CT_LOGS/$1.log" 2>&1 || true; }

# ct_fleet_stop NAME: SIGTERM through `podman stop`; checks exit 0 within the grace period.
ct_fleet_stop_checked() {
    local name=$1 t0 ms code
    t0=$(date +%s%N)
    podman stop -t 60 "$CT_RUN-$name" >/dev/null 2>&1
    ms=$((($(date +%s%N) - t0) / 1000000))
    code=$(podman inspect -f '{{.State.ExitCode}}' "$CT_RUN-$name")
    ct_fleet_logs "$name"
    echo "$name stopped by SIGTERM in ${ms} ms, exit $code"
    [[ $code == 0 ]] || return 1
    ((ms < CT_FLEET_GRACE_MS + 2000)) || { echo "took longer than shutdown.grace.ms (${CT_FLEET_GRACE_MS}) + 2 s"; return 1; }
    grep -q '"exit 0"' "$CT_LOGS/$name.log" || grep -q 'exit 0' "$CT_LOGS/$name.log"
}

# ct_fleet_ledger_state: "<ids in the ledger> <ids counted other than once> <total lag of the live workers>"
ct_fleet_ledger_state() {
    local hlen bad lag=0 l w
    hlen=$(ct_redis_raw HLEN "$CT_FLEET_LEDGER")
    bad=$(ct_redis_raw HVALS "$CT_FLEET_LEDGER" | grep -cvx 1 || true)
    for w in "${CT_FLEET_LIVE[@]}"; do
        l=$(curl -fsS --max-time 2 "http://127.0.0.1:${CT_FLEET_PORT[$w]}/status" |
            ct_python -c 'import json,sys; print(json.load(sys.stdin).get("lag", -1))' 2>/dev/null) || l=-1
        ((l < 0)) && lag=-1
        ((lag >= 0)) && lag=$((lag + l))
    done
    echo "$hlen $bad $lag"
}

# ct_fleet_wait_ledger TOTAL LIMIT: until the ledger holds TOTAL ids each counted once and no live
# worker has lag; gives up after LIMIT s, or once the lag is 0 and the ledger has not changed for
# 15 s (nothing more will come). Prints the milliseconds it took, or the last state.
ct_fleet_wait_ledger() {
    local total=$1 limit=$2 t0 state last="" still=0
    t0=$(date +%s%N)
    while :; do
        state=$(ct_fleet_ledger_state)
        if [[ $state == "$total 0 0" ]]; then
            echo "$((($(date +%s%N) - t0) / 1000000))"
            return 0
        fi
        if [[ $state == "$last" && $state == *" 0" ]]; then
            still=$((still + 1))
        else
            still=0
        fi
        last=$state
        if ((still >= 30 || ($(date +%s%N) - t0) / 1000000000 >= limit)); then
            echo "ledger ids, counts other than 1, lag: $state"
            return 1
        fi
        sleep 0.5
    done
}

# ct_fleet_missing: which published events are not in the ledger (topic partition offset id),
# into $CT_LOGS/missing.txt, with a summary; the evidence a worker developer needs.
ct_fleet_missing() {
    local t
    for t in ${CT_FLEET_TOPICS//,/ }; do
        kcat -b "$CT_BROKERS" -C -t "$t" -o beginning -e -q -f '%t %p %o %h\n' 2>/dev/null
    done >"$CT_LOGS/published.txt"
    ct_redis_raw HKEYS "$CT_FLEET_LEDGER" >"$CT_LOGS/ledger-ids.txt"
    ct_python - "$CT_LOGS" <<'PY'
import collections, os, re, sys
d = sys.argv[1]
have = set(open(os.path.join(d, "ledger-ids.txt")).read().split())
missing = []
for line in open(os.path.join(d, "published.txt")):
    t, p, o, h = line.rstrip("\n").split(" ", 3)
    m = re.search(r"ce_id=([^,]+)", h)
    if m and m.group(1) not in have:
        missing.append((t, int(p), int(o), m.group(1), (re.search(r"ce_time=([^,]+)", h) or [None, "?"])[1]))
with open(os.path.join(d, "missing.txt"), "w") as f:
    for x in sorted(missing):
        f.write("%s %d %d %s %s\n" % x)
parts = collections.Counter((t, p) for t, p, *_ in missing)
times = sorted(x[4] for x in missing)
print("        missing: %d event(s) in %d partition(s), produced %s .. %s; list: %s"
      % (len(missing), len(parts), times[0] if times else "-", times[-1] if times else "-", os.path.join(d, "missing.txt")))
PY
}

ct_fleet_dlq_empty() {
    local t n
    for t in ${CT_FLEET_TOPICS//,/ }; do
        n=$(kcat -b "$CT_BROKERS" -C -t "$t.$CT_RUN.dlq" -o beginning -e -q -f '%o\n' 2>/dev/null | wc -l)
        [[ $n == 0 ]] || { echo "$t.$CT_RUN.dlq holds $n dead letter(s)"; return 1; }
    done
}

ct_fleet() {
    ct_stage "fleet of worker containers (SIGTERM, SIGKILL, scale out; ledger exactly once)"
    local w ms total=0 pids=() rc
    declare -gA CT_FLEET_PORT=()
    CT_FLEET_TOPICS="$CT_RUN-s3,$CT_RUN-stream,$CT_RUN-iot"
    CT_FLEET_LEDGER="$CT_RUN:ledger:$CT_RUN"
    CT_TOPIC_REGEXES+=("$CT_RUN-.*")
    CT_GROUPS+=("$CT_RUN")
    CT_REDIS_PATTERNS+=("$CT_RUN:*")
    # Everything but the routes through the environment, as the issue asks of the image.
    CT_FLEET_ENV=(
        -e "EVFLEET_KAFKA_BOOTSTRAP_SERVERS=$CT_BROKERS"
        -e "EVFLEET_REDIS_URL=$CT_REDIS_URL"
        -e "EVFLEET_KAFKA_GROUP_ID=$CT_RUN"
        -e "EVFLEET_TOPICS=$CT_FLEET_TOPICS"
        -e "EVFLEET_TOPICS_PARTITIONS=$CT_FLEET_PARTITIONS"
        -e "EVFLEET_IDEMPOTENCY_KEY_PREFIX=$CT_RUN"
        -e "EVFLEET_PROCESSING_TIMEOUT_MS=2000"
        -e "EVFLEET_IDEMPOTENCY_LEASE_MS=3000"
        -e "EVFLEET_KAFKA_SESSION_TIMEOUT_MS=$CT_FLEET_SESSION_MS"
        -e "EVFLEET_KAFKA_HEARTBEAT_INTERVAL_MS=500"
        -e "EVFLEET_SHUTDOWN_GRACE_MS=$CT_FLEET_GRACE_MS"
        -e "EVFLEET_RETRY_TOPICS_DELAYS_MS="
        -e "EVFLEET_LOG_FORMAT=json"
    )

    for w in w1 w2 w3; do ct_fleet_start "$w"; done
    for w in w1 w2 w3; do
        if ! ct_require "$w ready on 127.0.0.1:${CT_FLEET_PORT[$w]} (read-only rootfs, config from EVFLEET_*)" \
            ct_wait_ready "${CT_FLEET_PORT[$w]}" 90 "$CT_RUN-$w"; then
            ct_fleet_logs "$w"
            return 0
        fi
    done
    ct_check "HEALTHCHECK (the worker's --probe on the port of EVFLEET_HTTP_LISTEN) says healthy" \
        podman healthcheck run "$CT_RUN-w1"
    ct_check "the 3 workers hold every source partition between them" \
        ct_wait_for 30 ct_fleet_covered "${CT_FLEET_PORT[w1]}" "${CT_FLEET_PORT[w2]}" "${CT_FLEET_PORT[w3]}"
    ct_check "no unknown EVFLEET_* variable warned about" \
        bash -c "! podman logs '$CT_RUN-w1' 2>&1 | grep -i 'unknown'"

    # 1. SIGTERM under load
    ct_fleet_produce load-1 4000 1000 &
    pids=($!)
    sleep 1.5
    ct_check "SIGTERM: w1 exits 0 within shutdown.grace.ms while events flow" ct_fleet_stop_checked w1
    if ms=$(ct_wait_for 20 ct_fleet_covered "${CT_FLEET_PORT[w2]}" "${CT_FLEET_PORT[w3]}"); then
        if ((ms < CT_FLEET_SESSION_MS)); then
            ct_pass "SIGTERM: w1 left the group — its partitions moved in ${ms} ms (session timeout ${CT_FLEET_SESSION_MS} ms)"
        else
            ct_fail "SIGTERM: w1's partitions moved only after ${ms} ms: it did not leave the group"
        fi
    else
        ct_fail "SIGTERM: w2 and w3 do not hold every partition 20 s after w1 stopped"
    fi
    wait "${pids[0]}" && rc=0 || rc=$?
    if ((rc == 0)); then ct_pass "load-1: 4000 events published (evfleet-produce in the image)"; total=$((total + 4000)); else ct_fail "load-1: evfleet-produce exit $rc" "$(tail -n 5 "$CT_LOGS/load-1.log")"; fi

    # 2. SIGKILL under load
    ct_fleet_produce load-2 4000 1000 &
    pids=($!)
    sleep 1.5
    local t_kill
    t_kill=$(date +%s%N)
    podman kill -s KILL "$CT_RUN-w2" >/dev/null 2>>"$CT_LOGS/podman.log"
    ct_check "SIGKILL: w2 is gone (exit 137)" \
        bash -c "podman wait '$CT_RUN-w2' >/dev/null 2>&1; [[ \$(podman inspect -f '{{.State.ExitCode}}' '$CT_RUN-w2') == 137 ]]"
    ct_fleet_logs w2
    if ct_wait_for 40 ct_fleet_covered "${CT_FLEET_PORT[w3]}" >/dev/null; then
        ms=$((($(date +%s%N) - t_kill) / 1000000))
        if ((ms >= CT_FLEET_SESSION_MS * 3 / 4)); then
            ct_pass "SIGKILL: w2's partitions moved to w3 after ${ms} ms (session timeout ${CT_FLEET_SESSION_MS} ms)"
        else
            ct_fail "SIGKILL: w2's partitions moved after only ${ms} ms, before the session timeout"
        fi
    else
        ct_fail "SIGKILL: w3 does not hold every partition 40 s after w2 was killed"
    fi
    wait "${pids[0]}" && rc=0 || rc=$?
    if ((rc == 0)); then ct_pass "load-2: 4000 events published"; total=$((total + 4000)); else ct_fail "load-2: evfleet-produce exit $rc" "$(tail -n 5 "$CT_LOGS/load-2.log")"; fi

    # 3. Two more workers while events flow
    ct_fleet_produce load-3 3000 1000 &
    pids=($!)
    ct_fleet_start w4
    ct_fleet_start w5
    ct_check "w4 ready" ct_wait_ready "${CT_FLEET_PORT[w4]}" 90 "$CT_RUN-w4"
    ct_check "w5 ready" ct_wait_ready "${CT_FLEET_PORT[w5]}" 90 "$CT_RUN-w5"
    if ms=$(ct_wait_for 40 ct_fleet_spread "${CT_FLEET_PORT[w3]}" "${CT_FLEET_PORT[w4]}" "${CT_FLEET_PORT[w5]}"); then
        ct_pass "scale out: partitions spread over w3, w4, w5 ($(for w in w3 w4 w5; do printf '%s:%s ' $w "$(ct_fleet_parts "${CT_FLEET_PORT[$w]}" | wc -l)"; done)partitions)"
    else
        ct_fail "scale out: partitions not spread over w3, w4, w5 within 40 s" \
            "$(for w in w3 w4 w5; do echo "$w: $(ct_fleet_parts "${CT_FLEET_PORT[$w]}" | tr '\n' ' ')"; done)"
    fi
    wait "${pids[0]}" && rc=0 || rc=$?
    if ((rc == 0)); then ct_pass "load-3: 3000 events published"; total=$((total + 3000)); else ct_fail "load-3: evfleet-produce exit $rc" "$(tail -n 5 "$CT_LOGS/load-3.log")"; fi

    # 4. Exactly once
    CT_FLEET_LIVE=(w3 w4 w5)
    if ms=$(ct_fleet_wait_ledger "$total" 120); then
        ct_pass "ledger: all $total events applied exactly once (every count 1), no lag (settled ${ms} ms after the last load)"
    else
        ct_fail "ledger: $total events published, not all applied exactly once" \
            "$ms; counts (how many ids, count): $(ct_redis_raw HVALS "$CT_FLEET_LEDGER" | sort | uniq -c | tr -s ' ' | tr '\n' ';')"
        ct_fleet_missing "$total"
    fi
    ct_check "nothing dead-lettered" ct_fleet_dlq_empty
    local dup
    dup=$(for w in w3 w4 w5; do curl -fsS --max-time 2 "http://127.0.0.1:${CT_FLEET_PORT[$w]}/metrics"; done 2>/dev/null |
        awk '/^evfleet_duplicates_skipped_total/ {s += $2} END {print s + 0}')
    echo "  info  duplicates skipped by idempotency on the live workers: $dup; memory: $(podman stats --no-stream --format '{{.Name}}={{.MemUsage}}' "$CT_RUN-w3" "$CT_RUN-w4" "$CT_RUN-w5" 2>/dev/null | sed "s/$CT_RUN-//" | awk '{printf "%s ", $1}')"

    for w in w3 w4 w5; do
        ct_check "SIGTERM: $w exits 0 within shutdown.grace.ms" ct_fleet_stop_checked "$w"
    done
}
