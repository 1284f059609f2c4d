#!/usr/bin/env bash
# deploy/local/deps.sh — install the Debian packages evfleet builds, tests and runs with
# (`make deps`). Runs apt-get as root, or through sudo when not root. Idempotent: packages that
# are already installed are skipped without touching apt.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  librdkafka-dev libhiredis-dev libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev
  check libsubunit-dev libjansson-dev
  kcat redis-server redis-tools
  maven default-jre-headless
  python3 python3-venv curl ca-certificates procps iproute2
  clang libclang-rt-14-dev valgrind
  podman runc catatonit debootstrap
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Java 17+ may come from elsewhere (a JDK already on PATH): then skip the JRE package.
if command -v java >/dev/null 2>&1; then
  tmp=()
  for p in "${missing[@]}"; do [[ $p == default-jre-headless ]] || tmp+=("$p"); done
  missing=("${tmp[@]}")
fi
if command -v mvn >/dev/null 2>&1; then
  tmp=()
  for p in "${missing[@]}"; do [[ $p == maven ]] || tmp+=("$p"); done
  missing=("${tmp[@]}")
fi

if [[ ${#missing[@]} == 0 ]]; then
  echo "deps: all packages present"
  exit 0
fi
SUDO=
if [[ $(id -u) != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts redis-server as a service where systemd runs; evfleet starts its own on loopback.
echo "deps: done"
