#!/usr/bin/env bash
# The schema-driven fuzz's tool: schemathesis at a pinned version (with the Hypothesis it
# works with) in a virtual environment under target/, made once, remade when the pins change.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${API_FUZZ_VENV:-target/api-fuzz-venv}
pins="schemathesis==3.39.16 hypothesis==6.119.4"
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
  echo "$pins" >"$venv/.pins"
fi
