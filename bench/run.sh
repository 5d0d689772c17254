#!/usr/bin/env bash
# `make bench`: every benchmark, each against its reference measured in the
# same run (this machine is noisy). Root only; not part of `make test`.
# Installs its own references (podman, wrk) from Debian's packages, and
# rewrites the API section of docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for p in podman wrk; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
N=${BENCH_N:-50}
bench/runtime_bench.sh -n "$N"
# the API bench needs the busybox image the tests use
build/bin/hoodyd --image-dir build/test-state/images --state-dir build/test-state/image-builder \
  images ensure busybox
python3 bench/api_bench.py -n "$N" --update-doc docs/PERFORMANCE.md
# what response signing costs on the same GETs (docs/PERFORMANCE.md quotes it)
python3 bench/signing_bench.py
# what user-namespace mode adds to a create (docs/SECURITY.md quotes it)
python3 bench/userns_bench.py -n "$N"
# what resource limits and network rules add to a create, each against the
# same run without them (docs/PERFORMANCE.md "Limits and network rules")
python3 bench/limits_bench.py -n "$N"
# how much another user's slow work delays a restart (docs/PERFORMANCE.md "Fairness")
python3 bench/fairness.py -n 10
# API latency among stuck event readers and slowloris connections (docs/PERFORMANCE.md
# "Hostile clients"; the tests check only that every call is answered)
python3 bench/hostile_bench.py -n 250
# the 2,000-cycle soak with its RSS bound, against the release build (make
# test runs it under ASan, where RSS means nothing: docs/SECURITY.md "Soak")
PYTHONPATH=tests/e2e python3 tests/e2e/test_soak.py
# the Kit through the proxy (docs/PERFORMANCE.md "Kit"); KIT_DENSITY=500 gives
# issue 14's figure of 500 Kit containers beyond 500 plain ones (~15 min)
python3 bench/kit_bench.py --density "${KIT_DENSITY:-20}"
# the SSH front door (docs/PERFORMANCE.md "SSH front door")
python3 bench/ssh_bench.py -n 30
