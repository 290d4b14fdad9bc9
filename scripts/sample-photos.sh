#!/usr/bin/env bash
# Copies the six scikit-image sample photos that Tests/Fixtures/real_photos/instances.json annotates (astronaut,
# camera, chelsea, coffee, motorcycle_left, rocket; public domain, CC0 or Middlebury's benchmark) into DIR, with the
# annotations beside them as instances.json: a small COCO-format set of real photos of different sizes, colour and
# grayscale, PNG and JPEG.
#
#   scripts/sample-photos.sh DIR [PYTHON]     (PYTHON: an interpreter with scikit-image; default the reference venv)
set -euo pipefail
out=${1:?usage: scripts/sample-photos.sh DIR [PYTHON]}
mkdir -p "$out" && out=$(cd "$out" && pwd)  # relative to the caller's directory, not the repository's
cd "$(dirname "$0")/.."
python=${2:-.venv-ref/bin/python}
[ -x "$python" ] || { echo "sample-photos: $python not found (make reference installs scikit-image)" >&2; exit 1; }
data=$("$python" -c 'import os, skimage.data; print(os.path.dirname(skimage.data.__file__))')
mkdir -p "$out"
for name in astronaut.png camera.png chelsea.png coffee.png motorcycle_left.png rocket.jpg; do
  cp "$data/$name" "$out/$name"
done
cp Tests/Fixtures/real_photos/instances.json "$out/instances.json"
echo "wrote $out: 6 photos and instances.json (13 categories, 18 boxes)"
