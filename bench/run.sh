#!/usr/bin/env bash
# `make bench`: every benchmark, each against its reference measured in the
# same run (this machine is noisy). Root only; not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bench/runtime_bench.sh -n "${BENCH_N:-50}"
