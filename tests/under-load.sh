#!/usr/bin/env bash
# Runs the end-to-end suites RUNS times (3 by default) with one CPU hog per core running
# beside them at normal priority, as on a developer's laptop or a shared CI runner.
# `make test-under-load` builds what they need first.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
hogs=()
stop_hogs() { kill "${hogs[@]}" 2>/dev/null || true; }
trap stop_hogs EXIT
for _ in $(seq "$(nproc)"); do
  # Each hog also stops by itself after three hours.
  timeout 3h sh -c 'while :; do :; done' &
  hogs+=($!)
done
for i in $(seq "$runs"); do
  echo "== run $i of $runs, with ${#hogs[@]} CPU hogs beside"
  cargo test --release -p e2e -p spin3-compat
done
