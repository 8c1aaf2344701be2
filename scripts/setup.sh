#!/usr/bin/env bash
# Create .venv and install Olive Lab with the stack for this machine: `gpu` extras where an NVIDIA GPU answers,
# `cpu` extras otherwise. torch comes first and explicitly, so pip never pulls a multi-GB CUDA build by accident.
# Usage: scripts/setup.sh [extra ...]   (e.g. `scripts/setup.sh test azure`)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q -U pip
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  profile=gpu; torch_spec=${TORCH_SPEC:-torch}
else
  profile=cpu; torch_spec=${TORCH_SPEC:-torch==2.13.0}
fi
extras=$(IFS=,; echo "$profile${*:+,$*}")
echo "olive-lab setup: profile $profile, extras [$extras]"
.venv/bin/python -m pip install -q "$torch_spec"
.venv/bin/python -m pip install -q -e ".[$extras]"
