#!/usr/bin/env bash
# FunnelPulse in one command: embedded Kafka, simulated clickstream, the daemon, a live view.
#
#   ./scripts/demo.sh                       # until Ctrl-C
#   ./scripts/demo.sh --duration 30 --no-ui # arguments go to `funnelpulse demo` (see --help)
#
# Needs Swift 6 on Debian bookworm (or similar). Installs librdkafka-dev (the Kafka client
# library, which also carries the in-process mock cluster the demo runs on), libjemalloc-dev
# (the process allocator) and pkg-config when missing — apt-get update first, through sudo when not root — then builds the release
# binary and runs `funnelpulse demo`. Nothing else is downloaded and no broker is needed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

die() {
  echo "demo.sh: $*" >&2
  exit 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (not root and no sudo)"
  fi
}

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

command -v swift >/dev/null 2>&1 || die "swift is not on PATH; install Swift 6 first (https://www.swift.org/install/)"

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  installed librdkafka-dev || missing+=(librdkafka-dev)
  installed libjemalloc-dev || missing+=(libjemalloc-dev)
  installed pkg-config || missing+=(pkg-config)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "demo.sh: installing ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
elif ! pkg-config --exists rdkafka 2>/dev/null; then
  die "librdkafka development files not found; install librdkafka (>= 2.0) with your package manager"
elif ! pkg-config --exists jemalloc 2>/dev/null; then
  die "jemalloc development files not found; install jemalloc (>= 5) with your package manager"
fi

echo "demo.sh: building funnelpulse (release; the first build takes a few minutes)" >&2
swift build -c release --product funnelpulse

exec "$ROOT/.build/release/funnelpulse" demo "$@"
