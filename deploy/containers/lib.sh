# deploy/containers/lib.sh — sourced by make-base.sh, build.sh and tests/containers/*.sh.
#
# Sets up podman the way this machine needs it (ENVIRONMENT.md, "Containers"): writes
# containers.conf from containers.conf.in into $EVF_CT_STATE and exports CONTAINERS_CONF, and
# defines small helpers. Touches nothing outside $EVF_CT_STATE and podman's own storage.
#
# Variables (all optional):
#   EVF_CT_STATE   scratch directory (default: <repo>/build/containers)
#   BASE_IMAGE     the local base made by make-base.sh (default: localhost/debian-base:bookworm)
#   EVF_CT_INSTALL 1 (default) installs podman, runc, catatonit, debootstrap with apt-get when
#                  missing; 0 only reports what is missing

EVF_CT_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EVF_CT_ROOT=$(cd "$EVF_CT_LIB_DIR/../.." && pwd)
EVF_CT_STATE=${EVF_CT_STATE:-$EVF_CT_ROOT/build/containers}
BASE_IMAGE=${BASE_IMAGE:-localhost/debian-base:bookworm}
EVF_CT_INSTALL=${EVF_CT_INSTALL:-1}

ct_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
ct_die() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# ct_need_tools: podman (with runc and catatonit for --init) and debootstrap, from Debian's
# packages. podman's recommended crun is not wanted: it fails on this host's cgroups.
ct_need_tools() {
    local missing=() bin
    for bin in podman runc debootstrap; do
        command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
    done
    [[ -x /usr/libexec/podman/catatonit ]] || missing+=(catatonit)
    ((${#missing[@]} == 0)) && return 0
    if [[ $EVF_CT_INSTALL != 1 ]]; then
        ct_die "missing: ${missing[*]} (apt-get install podman runc catatonit debootstrap)"
    fi
    [[ $(id -u) == 0 ]] || ct_die "missing ${missing[*]} and not root: install podman runc catatonit debootstrap"
    ct_log "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends podman runc catatonit debootstrap >/dev/null ||
        ct_die "apt-get install podman runc catatonit debootstrap failed"
}

# ct_conf: write containers.conf and export CONTAINERS_CONF.
ct_conf() {
    local nofile
    mkdir -p "$EVF_CT_STATE"
    nofile=$(ulimit -Hn)
    [[ $nofile == unlimited ]] && nofile=1048576
    sed "s/@NOFILE@/$nofile/g" "$EVF_CT_LIB_DIR/containers.conf.in" >"$EVF_CT_STATE/containers.conf.tmp"
    mv "$EVF_CT_STATE/containers.conf.tmp" "$EVF_CT_STATE/containers.conf"
    export CONTAINERS_CONF=$EVF_CT_STATE/containers.conf
}

# ct_image_age_days IMAGE: days since IMAGE was created (empty if it does not exist).
ct_image_age_days() {
    local created
    created=$(podman image inspect --format '{{.Created.Unix}}' "$1" 2>/dev/null) || return 0
    echo $((($(date +%s) - created) / 86400))
}

ct_need_tools
ct_conf
