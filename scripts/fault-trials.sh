#!/usr/bin/env bash
# Faults during training: kill -9 at random points of a tiny run (some while a checkpoint is being written), then
# glip train --resume until it finishes. Every finished run must equal an uninterrupted one bit for bit
# (final.safetensors and metrics.jsonl), and every checkpoint on disk must be readable after every kill. Then, as
# root, a full disk (a small tmpfs) during a checkpoint write must fail with a clear error and leave the previous
# checkpoint intact.
#
#   scripts/fault-trials.sh [TRIALS] [GLIP]       default: FAULT_TRIALS (20) trials, .build/release/glip
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-${FAULT_TRIALS:-20}}
GLIP=${2:-${GLIP:-.build/release/glip}}
[ -x "$GLIP" ] || { echo "fault-trials: $GLIP not found (make build)" >&2; exit 1; }
work=$(mktemp -d)
cleanup() { mountpoint -q "$work/full" 2>/dev/null && umount "$work/full"; rm -rf "$work"; }
trap cleanup EXIT

"$GLIP" data synth --out "$work/data" --images 8 --seed 3 --size 64 > /dev/null
cat > "$work/run.yaml" <<YAML
_base_: [$PWD/configs/_base_/tiny_cnn.yaml, $PWD/configs/_base_/fcos_head.yaml]
model:
  backbone: {channels: [8, 16, 16, 16]}
  neck: {type: none}
  text_encoder: {type: class_embedding, classes: 5, hidden: 16, names: [circle, square, triangle, star, ring]}
  fusion: {type: none}
  head: {channels: 16, blocks: 1}
data:
  train: {format: coco, annotations: $work/data/instances_shapes.json, images: $work/data}
  image_size: 64
train: {batch_size: 2, iterations: 24, warmup: 2, checkpoint_every: 2, keep_checkpoints: 2, log_every: 100}
YAML
train() { "$GLIP" train --config "$work/run.yaml" --out "$1" "${@:2}" > /dev/null 2>&1; }

# Every safetensors file must parse: header length, JSON header, data offsets tiling the payload.
check_readable() {
  python3 - "$@" <<'PY'
import json, struct, sys
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    end = max([v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"] + [0])
    assert 8 + n + end == len(data), f"{path}: {len(data)} bytes, header describes {8 + n + end}"
PY
}

start=$(date +%s.%N)
train "$work/reference"
seconds=$(python3 -c "import time; print(max(0.5, time.time() - $start))")
echo "fault-trials: uninterrupted run takes ${seconds} s"

during_write=0
for trial in $(seq 1 "$trials"); do
  run="$work/trial$trial"
  # Every third trial aims at a checkpoint write: it kills as soon as a temporary checkpoint file appears (polled
  # from Python, fast enough to land inside a write of a few hundred microseconds); the others at a random time.
  aim=$([ $((trial % 3)) -eq 0 ] && echo write || echo time)
  python3 - "$aim" "$trial" "$seconds" "$run" "$GLIP" "$work/run.yaml" <<'PY'
import os, random, signal, subprocess, sys, time
aim, trial, seconds, run, glip, config = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:]
process = subprocess.Popen([glip, "train", "--config", config, "--out", run],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
checkpoints = os.path.join(run, "checkpoints")
if aim == "write":
    while process.poll() is None:
        try:
            if any(".tmp-" in name for name in os.listdir(checkpoints)):
                break
        except FileNotFoundError:
            pass
else:
    time.sleep(random.Random(trial).uniform(0.05, seconds))
process.send_signal(signal.SIGKILL)
process.wait()
PY
  if compgen -G "$run/checkpoints/*.tmp-*" > /dev/null; then during_write=$((during_write + 1)); fi
  shopt -s nullglob
  files=("$run"/checkpoints/*.safetensors)
  shopt -u nullglob
  [ ${#files[@]} -eq 0 ] || check_readable "${files[@]}"
  steps=$(ls "$run/checkpoints" 2> /dev/null | grep -c '^step_[0-9]*\.safetensors$' || true)
  if [ "$steps" -gt 0 ]; then train "$run" --resume; else train "$run"; fi
  cmp -s "$work/reference/checkpoints/final.safetensors" "$run/checkpoints/final.safetensors" \
    || { echo "fault-trials: trial $trial: final.safetensors differs from the uninterrupted run" >&2; exit 1; }
  cmp -s "$work/reference/metrics.jsonl" "$run/metrics.jsonl" \
    || { echo "fault-trials: trial $trial: metrics.jsonl differs from the uninterrupted run" >&2; exit 1; }
  rm -rf "$run"
done
echo "fault-trials: $trials kill -9 trials ($during_write during a checkpoint write) resumed to bit-identical runs"

if [ "$(id -u)" -ne 0 ] || ! mkdir -p "$work/full" || ! mount -t tmpfs -o size=160k tmpfs "$work/full" 2> /dev/null; then
  echo "fault-trials: full-disk trial skipped (needs root to mount a tmpfs)"
  exit 0
fi
status=0
"$GLIP" train --config "$work/run.yaml" --out "$work/full/run" > "$work/full.txt" 2>&1 || status=$?
[ "$status" -eq 1 ] || { echo "fault-trials: a full disk gave exit status $status, not 1" >&2; cat "$work/full.txt"; exit 1; }
grep -q "No space left on device" "$work/full.txt" \
  || { echo "fault-trials: no clear full-disk error:" >&2; cat "$work/full.txt" >&2; exit 1; }
shopt -s nullglob
kept=("$work"/full/run/checkpoints/*.safetensors)
shopt -u nullglob
[ ${#kept[@]} -gt 0 ] || { echo "fault-trials: no checkpoint survived the full disk" >&2; exit 1; }
check_readable "${kept[@]}"
echo "fault-trials: full disk: exit 1, '$(grep -o 'error: .*' "$work/full.txt" | head -1 | cut -c1-160)'," \
  "${#kept[@]} earlier checkpoint(s) intact"
