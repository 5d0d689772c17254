#!/usr/bin/env bash
# Builds runtime_bench (and hoody-init), makes sure the busybox image exists,
# and runs the benchmark: create-to-running of a hoody container against a
# bare `crun run` of /bin/true on the same rootfs. Root only.
#
#   bench/runtime_bench.sh [-n 50] [--state DIR] [--run DIR] [--bridge NAME] [--subnet CIDR]
#
# BUILD selects the build directory (default: build). The defaults keep the
# bench away from a real daemon: /tmp/hoody-bench, /run/hoody-bench, bridge
# hdybench, 10.198.0.0/16.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [ "$(id -u)" -ne 0 ]; then
  echo "runtime_bench: needs root (it runs real containers)" >&2
  exit 1
fi
cmake -S . -B "$BUILD" >/dev/null
cmake --build "$BUILD" --target runtime_bench hoody-init -j 2 >/dev/null
# runtime_bench builds the busybox image itself when it is missing.
exec "$BUILD/bin/runtime_bench" "$@"
