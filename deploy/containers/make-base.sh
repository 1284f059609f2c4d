#!/usr/bin/env bash
# deploy/containers/make-base.sh — a Debian base image made without any container registry.
#
#   make-base.sh            make $BASE_IMAGE unless it exists and is fresh (the cached path: <1 s)
#   make-base.sh --force    make it again
#
# debootstraps a minimal Debian rootfs (variant minbase, ~30 s) from Debian's package mirror,
# configures it as the official debian:<suite>-slim image is configured (deb822 sources with the
# -updates and -security suites, documentation excluded from packages, apt caches cleaned, no
# service starts during installs), and imports it into podman as $BASE_IMAGE. CI builds
# deploy/Containerfile on it for both stages (BUILDER_IMAGE and BASE_IMAGE); users build the same
# file on debian:bookworm and debian:bookworm-slim.
#
# Environment: BASE_IMAGE (localhost/debian-base:bookworm), BASE_SUITE (bookworm),
# BASE_MIRROR (http://deb.debian.org/debian), BASE_SECURITY_MIRROR (http://deb.debian.org/debian-security),
# BASE_MAX_AGE_DAYS (14: an older image is made again, so security updates arrive; 0 = never),
# EVF_CT_STATE (build/containers). Needs root (debootstrap, chroot).
set -euo pipefail
# shellcheck source=deploy/containers/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE_SUITE=${BASE_SUITE:-bookworm}
BASE_MIRROR=${BASE_MIRROR:-http://deb.debian.org/debian}
BASE_SECURITY_MIRROR=${BASE_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
BASE_MAX_AGE_DAYS=${BASE_MAX_AGE_DAYS:-14}
force=0
case ${1:-} in
--force) force=1 ;;
"") ;;
*) ct_die "usage: make-base.sh [--force]" ;;
esac
[[ $BASE_IMAGE == localhost/* ]] || ct_die "BASE_IMAGE must be a localhost/ name (got $BASE_IMAGE)"

# One maker at a time (two test runs may start together); the second then finds the image.
exec {lockfd}>"$EVF_CT_STATE/make-base.lock"
flock -w 600 "$lockfd" || ct_die "could not lock $EVF_CT_STATE/make-base.lock"

if ((force == 0)) && podman image exists "$BASE_IMAGE"; then
    age=$(ct_image_age_days "$BASE_IMAGE")
    if ((BASE_MAX_AGE_DAYS == 0 || ${age:-0} < BASE_MAX_AGE_DAYS)); then
        ct_log "base image $BASE_IMAGE is cached (${age:-0} days old)"
        exit 0
    fi
    ct_log "base image $BASE_IMAGE is ${age} days old: making it again"
fi
[[ $(id -u) == 0 ]] || ct_die "debootstrap needs root"

work=$(mktemp -d "$EVF_CT_STATE/rootfs.XXXXXX")
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT
root=$work/rootfs

t0=$SECONDS
ct_log "debootstrap --variant=minbase $BASE_SUITE from $BASE_MIRROR"
if ! debootstrap --variant=minbase --components=main "$BASE_SUITE" "$root" "$BASE_MIRROR" \
    >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    ct_die "debootstrap failed"
fi

# What the official slim image has, so an image built here behaves as one built on it.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $BASE_MIRROR
Suites: $BASE_SUITE $BASE_SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $BASE_SECURITY_MIRROR
Suites: $BASE_SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
printf 'Acquire::Languages "none";\n' >"$root/etc/apt/apt.conf.d/docker-no-languages"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
# Host leftovers and caches: the engine provides resolv.conf, hosts and hostname at run time.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
    "$root"/tmp/* "$root"/usr/share/doc/*/changelog* "$root"/usr/share/man/* "$root"/usr/share/locale/*
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"
: >"$root/etc/machine-id"

created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tar -C "$root" --numeric-owner -cf - . |
    podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --change "LABEL org.opencontainers.image.description=\"Debian $BASE_SUITE minbase rootfs (debootstrap), made by evfleet deploy/containers/make-base.sh\"" \
        --change "LABEL org.opencontainers.image.created=$created" \
        --quiet - "$BASE_IMAGE" >/dev/null
ct_log "made $BASE_IMAGE in $((SECONDS - t0)) s ($(podman image inspect --format '{{.Size}}' "$BASE_IMAGE" | awk '{printf "%.0f MB", $1/1e6}'))"
