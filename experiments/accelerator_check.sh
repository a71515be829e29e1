#!/usr/bin/env bash
# The prepared accelerator check (experiments/accelerator_check.py): kernels
# on the real GPU/TPU backend, then short benchmarks. Run from anywhere:
#   bash experiments/accelerator_check.sh [--quick]
# Needs the project installed (make setup) plus jax for the accelerator, e.g.
#   .venv/bin/pip install -U "jax[cuda12]==$(.venv/bin/python -c 'import jax; print(jax.__version__)')"
#   .venv/bin/pip install -U "jax[tpu]==..."   # on a Cloud TPU VM
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
exec timeout "${CHECK_TIMEOUT_S:-540}" "$PYTHON" experiments/accelerator_check.py "$@"
