#!/usr/bin/env bash
# Runs `glip bench` and the PyTorch reference on the same machine, case by case, twice: with OpenBLAS as the
# environment sets it (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, "pinned"), and with both variables unset for the benchmark
# commands alone ("unpinned"), which is how a user's machine runs. Each case saves its result tensors in both runs;
# the report checks the unpinned kernel's results against the pinned ones and writes docs/PERFORMANCE.md with the
# ratios (ours / PyTorch; lower is better).
#
# Environment: GLIP (binary), PYTHON (reference interpreter), REPEAT (timed runs per case), OUT (results directory),
# CASES (a subset of the case list below, by label, e.g. CASES="resnet18 minilm_64").
set -euo pipefail
cd "$(dirname "$0")/.."
GLIP=${GLIP:-.build/release/glip}
PYTHON=${PYTHON:-.venv-ref/bin/python}
REPEAT=${REPEAT:-7}
OUT=${OUT:-bench-results}
for tool in "$GLIP" "$PYTHON"; do
  [ -x "$tool" ] || { echo "bench: $tool not found (make build, make reference)" >&2; exit 1; }
done

# id | arguments shared by both implementations
ALL_CASES=(
  "gemm|gemm"
  "conv3x3|conv3x3"
  "resnet50|resnet50"
  "resnet18|resnet18"
  "mobilenet_v2|mobilenet_v2"
  "swin_t|swin_t"
  "bert_base|bert_base --tokens 256"
  "minilm_64|minilm --tokens 64"
  "minilm_256|minilm --tokens 256"
  "glip_t_b|glip_t_b"
  "xmha|xmha"
  "conv3x3_train|conv3x3 --train"
  "resnet18_train|resnet18 --train"
  "mobilenet_v2_train|mobilenet_v2 --train"
  "swin_t_train|swin_t --train"
  "demo_train|demo --train"
)
selected=()
for entry in "${ALL_CASES[@]}"; do
  id=${entry%%|*}
  if [ -z "${CASES:-}" ] || [[ " $CASES " == *" $id "* ]]; then selected+=("$entry"); fi
done
[ ${#selected[@]} -gt 0 ] || { echo "bench: CASES='$CASES' matches none of: ${ALL_CASES[*]%%|*}" >&2; exit 1; }

mkdir -p "$OUT"
{
  echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
  echo "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
  echo "repeat=$REPEAT"
  echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/environment"
for mode in pinned unpinned; do
  if [ "$mode" = unpinned ]; then run=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE); else run=(env); fi
  : > "$OUT/glip-$mode.jsonl"
  : > "$OUT/torch-$mode.jsonl"
  for entry in "${selected[@]}"; do
    id=${entry%%|*}
    read -r -a args <<< "${entry#*|}"
    echo "bench ($mode): $id" >&2
    "${run[@]}" "$GLIP" bench --json --repeat "$REPEAT" --output "$OUT/$id-$mode.safetensors" "${args[@]}" \
      >> "$OUT/glip-$mode.jsonl"
    "${run[@]}" "$PYTHON" scripts/reference/bench_torch.py --repeat "$REPEAT" "${args[@]}" >> "$OUT/torch-$mode.jsonl"
  done
done
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/environment"
"$GLIP" --version > "$OUT/glip-version" 2>/dev/null || true
status=0
"$PYTHON" scripts/bench_report.py "$OUT" > "$OUT/PERFORMANCE.md" || status=$?
mkdir -p docs
cp "$OUT/PERFORMANCE.md" docs/PERFORMANCE.md
cat docs/PERFORMANCE.md
[ $status -eq 0 ] || echo "bench: the unpinned kernel's results differ from the pinned ones (see the table)" >&2
exit $status
