#!/usr/bin/env bash
# Runs `glip bench` and the PyTorch reference on the same machine, twice: with OpenBLAS pinned as the environment sets
# it (OPENBLAS_CORETYPE), and with OpenBLAS choosing its own kernel, as on a user's machine. Writes
# docs/PERFORMANCE.md with the ratios (ours / PyTorch; lower is better).
set -euo pipefail
cd "$(dirname "$0")/.."
GLIP=${GLIP:-.build/release/glip}
PYTHON=${PYTHON:-.venv-ref/bin/python}
REPEAT=${REPEAT:-10}
OUT=${OUT:-bench-results}
mkdir -p "$OUT"
echo "${OPENBLAS_CORETYPE:-unset}" > "$OUT/coretype"
for mode in pinned unpinned; do
  if [ "$mode" = unpinned ]; then run=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE); else run=(env); fi
  : > "$OUT/glip-$mode.jsonl"
  : > "$OUT/torch-$mode.jsonl"
  for benchCase in gemm conv_fwd conv_train; do
    "${run[@]}" "$GLIP" bench --json --repeat "$REPEAT" "$benchCase" >> "$OUT/glip-$mode.jsonl"
    "${run[@]}" "$PYTHON" scripts/reference/bench_torch.py --repeat "$REPEAT" "$benchCase" >> "$OUT/torch-$mode.jsonl"
  done
done
"$PYTHON" scripts/bench_report.py "$OUT" > docs/PERFORMANCE.md
cat docs/PERFORMANCE.md
