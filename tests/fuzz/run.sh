#!/usr/bin/env bash
# Runs every libFuzzer target of BUILD/fuzz for SECONDS each, on its corpus
# (new inputs are added to it); a crasher is copied into the corpus so the
# replay test of `make test` keeps it, and the run fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
rc=0
for t in router bodies names claims websocket; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/$t/* "$work"/
  echo "fuzz: $t for ${SECONDS_EACH}s"
  if ! "$BUILD/fuzz/fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="$work/" "$work" > "$work.log" 2>&1; then
    tail -30 "$work.log"
    for c in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
      [ -e "$c" ] && cp "$c" "tests/fuzz/corpus/$t/" && echo "fuzz: kept $(basename "$c") in tests/fuzz/corpus/$t"
    done
    rc=1
  else
    grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$work.log" | tail -1 || true
  fi
  rm -rf "$work" "$work.log"
done
exit $rc
