#!/usr/bin/env bash
# One GPU check, under 5 minutes on one GPU (docs/guide.md#gpus):
#   1. the test suite's CUDA-marked tests (pytest -m cuda);
#   2. benchmarks/gpu_check.py: the demo's Bi-NFA runs trained on the GPU, cached decoding vs
#      recomputation in float32, training tokens/s of rope and bipe_rope beside HF Llama.
# Usage: benchmarks/gpu_check.sh            (on a machine with a GPU)
#        benchmarks/gpu_check.sh --cpu      (checks the script itself on a CPU, tiny runs)
# PY selects the Python (default: python3). The repository root is the package `bipe`; the
# script makes it importable whatever the checkout's folder is called.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-python3}"
SHIM="$(mktemp -d)"
trap 'rm -rf "$SHIM"' EXIT
ln -s "$ROOT" "$SHIM/bipe"
export PYTHONPATH="$SHIM${PYTHONPATH:+:$PYTHONPATH}"
if [[ "${1:-}" == "--cpu" ]]; then
  ARGS=(--device cpu --quick)
else
  ARGS=(--device cuda)
fi
cd "$ROOT"
echo "== CUDA-marked tests"
"$PY" -m pytest -q -m cuda -p no:cacheprovider tests/models/test_cuda.py
echo "== demo Bi-NFA runs, cached decoding, tokens/s"
"$PY" benchmarks/gpu_check.py "${ARGS[@]}"
if [[ "${1:-}" != "--cpu" ]]; then
  echo "== ensemble of 8 seeds vs the same runs one after another (target >= 4x)"
  "$PY" benchmarks/bench_ensemble.py --device cuda --k 8 --steps 300
fi
