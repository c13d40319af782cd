#!/usr/bin/env bash
# Creates .venv, installs torch==2.13.0 (CPU build, on local disk) first, then the project with
# its dev extras, always under constraints.txt so that no other torch is ever pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -c constraints.txt -e ".[${EXTRAS:-dev}]"
