# tests/containers/common.sh — sourced by run.sh, validate.sh, fleet.sh and kube.sh.
#
# Checks are counted (`ct_check`), failures do not stop a stage unless it cannot go on
# (`ct_require`). Everything a run makes is named after $CT_RUN and labelled
# evfleet.ct.run=$CT_RUN, and ct_cleanup removes it: containers, pods, images, the Kafka topics
# and consumer groups, the Redis keys — also when a check fails or the run is interrupted.

# shellcheck source=deploy/containers/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/deploy/containers/lib.sh"

KAFKA_PORT=${KAFKA_PORT:-9092}
REDIS_PORT=${REDIS_PORT:-6379}
CT_BROKERS=127.0.0.1:$KAFKA_PORT
# shellcheck disable=SC2034 # used by fleet.sh and kube.sh
CT_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
: "${CT_RUN:=ct$(date +%s | tail -c 6)$((RANDOM % 90 + 10))}"
CT_LOGS=${CT_LOGS:-$EVF_CT_STATE/logs/$CT_RUN}
mkdir -p "$CT_LOGS"
export CT_RUN

CT_PASSED=${CT_PASSED:-0}
CT_FAILED=${CT_FAILED:-0}
CT_FAILURES=()

# ---------------------------------------------------------------------------- checks

ct_pass() {
    CT_PASSED=$((CT_PASSED + 1))
    printf '  ok    %s\n' "$1"
}
ct_fail() {
    CT_FAILED=$((CT_FAILED + 1))
    CT_FAILURES+=("$1")
    printf '  FAIL  %s\n' "$1"
    [[ -z ${2:-} ]] || printf '%s\n' "$2" | sed 's/^/        /' | tail -n 40
}
# ct_check DESCRIPTION COMMAND...: runs COMMAND (output kept in a file, shown on failure).
ct_check() {
    local desc=$1 out
    shift
    out=$(mktemp "$CT_LOGS/check.XXXXXX")
    if "$@" >"$out" 2>&1; then
        ct_pass "$desc"
    else
        ct_fail "$desc" "$(tail -n 40 "$out")"
    fi
    rm -f "$out"
}
# ct_require DESCRIPTION COMMAND...: as ct_check, but returns 1 on failure (the caller stops).
ct_require() {
    local before=$CT_FAILED
    ct_check "$@"
    ((CT_FAILED == before))
}
ct_stage() { printf '\n--- %s (t+%ds)\n' "$1" "$SECONDS"; }

# ---------------------------------------------------------------------------- small tools

# ct_free_port VAR: a TCP port no socket uses, below the ephemeral range (a port a client
# connection holds as its local port cannot be bound either), into VAR; never the same twice in a run.
CT_PORTS_TAKEN=" "
ct_free_port() {
    local -n ct_fp_out=$1
    local ct_fp_port ct_fp_i ct_fp_lo
    ct_fp_lo=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    ((ct_fp_lo > 21000)) || ct_fp_lo=32768
    for ((ct_fp_i = 0; ct_fp_i < 500; ct_fp_i++)); do
        ct_fp_port=$((20000 + RANDOM % (ct_fp_lo - 20000)))
        [[ $CT_PORTS_TAKEN == *" $ct_fp_port "* ]] && continue
        [[ -z $(ss -Htan "( sport = :$ct_fp_port )" 2>/dev/null) ]] || continue
        CT_PORTS_TAKEN+="$ct_fp_port "
        # shellcheck disable=SC2034 # a nameref: sets the caller's variable
        ct_fp_out=$ct_fp_port
        return 0
    done
    return 1
}

# ct_http URL: the body on 200, exit 1 otherwise.
ct_http() { curl -fsS --max-time 3 "$1"; }

# ct_wait_ready PORT SECONDS [CONTAINER]: poll /readyz until 200 (gives up early when CONTAINER
# is no longer running, showing its log's tail).
ct_wait_ready() {
    local port=$1 limit=$2 ctr=${3:-} t0=$SECONDS
    while ((SECONDS - t0 < limit)); do
        curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && return 0
        if [[ -n $ctr && $(podman inspect -f '{{.State.Running}}' "$ctr" 2>/dev/null) != true ]]; then
            echo "$ctr is not running (exit $(podman inspect -f '{{.State.ExitCode}}' "$ctr" 2>/dev/null)):"
            podman logs "$ctr" 2>&1 | tail -n 15
            return 1
        fi
        sleep 0.5
    done
    echo "127.0.0.1:$port/readyz not 200 after ${limit}s: $(curl -sS --max-time 2 "http://127.0.0.1:$port/readyz" 2>&1)"
    return 1
}

# ct_status_parts TOPICS PORT...: "topic:partition" of every partition of TOPICS (comma-separated)
# that the workers on these ports hold, per their /status; one a line, sorted, duplicates kept.
ct_status_parts() {
    local topics=$1 p
    shift
    for p in "$@"; do
        curl -fsS --max-time 2 "http://127.0.0.1:$p/status" 2>/dev/null | tr -d '\n' || echo '{}'
        echo
    done | ct_python -c '
import json, sys
topics = set(sys.argv[1].split(","))
for line in sys.stdin:
    try:
        st = json.loads(line)
    except ValueError:
        continue
    for a in st.get("assignment", []):
        if a.get("topic") in topics:
            print("%s:%d" % (a["topic"], a["partition"]))
' "$topics" | sort
}

# ct_status_covered TOPICS PARTITIONS PORT...: the workers on these ports hold every partition of
# TOPICS (each with PARTITIONS partitions) between them, each exactly once.
ct_status_covered() {
    local topics=$1 parts=$2 t p want
    shift 2
    want=$(for t in ${topics//,/ }; do
        for ((p = 0; p < parts; p++)); do echo "$t:$p"; done
    done | sort)
    [[ $(ct_status_parts "$topics" "$@") == "$want" ]]
}

# ct_wait_for SECONDS COMMAND...: run COMMAND every 0.25 s until it succeeds; prints the
# milliseconds it took; 1 when SECONDS passed first.
ct_wait_for() {
    local limit=$1 t0 now
    shift
    t0=$(date +%s%N)
    while :; do
        if "$@" >/dev/null 2>&1; then
            now=$(date +%s%N)
            echo "$(((now - t0) / 1000000))"
            return 0
        fi
        now=$(date +%s%N)
        (((now - t0) / 1000000000 >= limit)) && return 1
        sleep 0.25
    done
}

ct_redis() { redis-cli -p "$REDIS_PORT" --no-raw "$@"; }
ct_redis_raw() { redis-cli -p "$REDIS_PORT" --raw "$@"; }

# ct_python: the tools venv's python (made by ct_venv).
ct_python() { "$CT_VENV/bin/python" "$@"; }

# The validators come from PyPI, pinned; the venv lives outside the work tree (so a fresh clone
# reuses it) and is made again when the pins change.
CT_PY_REQS=(kubernetes-validate==1.37.0 cloudcoil-models-keda==2.16.1.0 check-jsonschema==0.39.0)
ct_venv() {
    local cache=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/evfleet key py
    key=$(printf '%s\n' "${CT_PY_REQS[@]}" | md5sum | cut -c1-10)
    CT_VENV=${EVF_CT_VENV:-$cache/ct-venv-$key}
    [[ -x $CT_VENV/bin/python && -f $CT_VENV/.complete ]] && return 0
    mkdir -p "$cache"
    exec {venvlock}>"$cache/ct-venv.lock"
    flock -w 300 "$venvlock" || return 1
    if [[ ! -f $CT_VENV/.complete ]]; then
        rm -rf "$CT_VENV"
        py=$(command -v python3)
        if ! "$py" -m venv "$CT_VENV" >/dev/null 2>&1; then
            # Debian's python3 needs python3-venv for this.
            rm -rf "$CT_VENV"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
            /usr/bin/python3 -m venv "$CT_VENV" || return 1
        fi
        "$CT_VENV/bin/pip" install -q --disable-pip-version-check "${CT_PY_REQS[@]}" || return 1
        touch "$CT_VENV/.complete"
    fi
    exec {venvlock}>&-
}

# ---------------------------------------------------------------------------- cleanup

CT_IMAGES=()        # images this run built (removed with their untagged parents)
CT_TOPIC_REGEXES=() # Kafka topics (TopicCommand --topic regex)
CT_GROUPS=()        # Kafka consumer groups
CT_REDIS_PATTERNS=() # SCAN patterns
CT_PAUSE_EXISTED=${CT_PAUSE_EXISTED:-}

ct_kafka_tool() { # CLASS ARGS...: one of Kafka's own admin tools, from the jars services.sh fetched
    local libs=${KAFKA_LIBS_DIR:-$EVF_CT_ROOT/deploy/local/.state/kafka-libs}
    [[ -d $libs ]] || return 1
    java -cp "$libs/*" "$@"
}

ct_cleanup() {
    local ids=() rc=0 x
    ct_stage "cleanup"
    # Containers and pods first (by label and by name), then images, then Kafka and Redis state.
    mapfile -t ids < <(podman ps -a -q --filter "label=evfleet.ct.run=$CT_RUN" 2>/dev/null)
    ((${#ids[@]} == 0)) || podman rm -f -t 0 "${ids[@]}" >/dev/null 2>&1 || rc=1
    mapfile -t ids < <(podman pod ps -q --filter "name=^$CT_RUN-" 2>/dev/null)
    ((${#ids[@]} == 0)) || podman pod rm -f -t 0 "${ids[@]}" >/dev/null 2>&1 || rc=1
    mapfile -t ids < <(podman ps -a -q --filter "name=^$CT_RUN-" 2>/dev/null)
    ((${#ids[@]} == 0)) || podman rm -f -t 0 "${ids[@]}" >/dev/null 2>&1 || rc=1
    for x in "${CT_IMAGES[@]}"; do
        if podman image exists "$x"; then podman rmi -f "$x" >/dev/null 2>&1 || rc=1; fi
    done
    # podman makes its pause image for kube play on first use; remove it if this run made it.
    if [[ $CT_PAUSE_EXISTED == no ]]; then
        for x in $(podman images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep '^localhost/podman-pause:' || true); do
            podman rmi "$x" >/dev/null 2>&1 || true
        done
    fi
    if ((${#CT_TOPIC_REGEXES[@]})); then
        # One JVM for all of them (each start costs seconds).
        x=$(IFS='|'; echo "${CT_TOPIC_REGEXES[*]}")
        ct_kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$CT_BROKERS" \
            --delete --if-exists --topic "($x)" >>"$CT_LOGS/cleanup.log" 2>&1 || rc=1
    fi
    if ((${#CT_GROUPS[@]})); then
        local gargs=()
        for x in "${CT_GROUPS[@]}"; do gargs+=(--group "$x"); done
        ct_kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
            --bootstrap-server "$CT_BROKERS" --delete "${gargs[@]}" >>"$CT_LOGS/cleanup.log" 2>&1 || true
    fi
    for x in "${CT_REDIS_PATTERNS[@]}"; do
        redis-cli -p "$REDIS_PORT" --scan --pattern "$x" 2>/dev/null |
            xargs -r -n 500 redis-cli -p "$REDIS_PORT" DEL >/dev/null 2>&1 || rc=1
    done
    if podman ps -a --format '{{.Names}}' | grep -q "^$CT_RUN-" ||
        podman pod ps --format '{{.Name}}' | grep -q "^$CT_RUN-"; then
        echo "  cleanup: containers or pods of $CT_RUN are left" >&2
        rc=1
    fi
    if ((rc == 0)); then
        echo "  removed every container, pod, image, topic, group and key of run $CT_RUN"
    else
        echo "  cleanup of run $CT_RUN was incomplete (see $CT_LOGS/cleanup.log)" >&2
    fi
    return $rc
}
