#!/usr/bin/env bash
# pinned-venv.sh DIR PIN...: a Python virtual environment at DIR holding exactly the pinned
# packages (from PyPI), made once and remade when the pins change.
set -euo pipefail
venv=$1
shift
pins="$*"
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$pins" >"$venv/.pins"
fi
