#!/usr/bin/env bash
# The schema-driven fuzz's tool: schemathesis at a pinned version, with the Hypothesis it
# works with, in a virtual environment under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
exec bash tools/pinned-venv.sh "${API_FUZZ_VENV:-target/api-fuzz-venv}" \
  schemathesis==3.39.16 hypothesis==6.119.4
