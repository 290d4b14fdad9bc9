#!/usr/bin/env bash
# Copies the twelve scikit-image sample photos that Tests/Fixtures/real_photos/instances.json annotates into DIR, with
# the annotations beside them as instances.json: a small COCO-format set of real photos of different sizes (384×303 to
# 1411×1411) and orientations (landscape, square, portrait), colour and grayscale, PNG and JPEG; 20 categories, 60 boxes.
#
# Sources and licences, as the skimage.data docstrings state them (also in the fixture's "licenses"):
#   astronaut.png          Eileen Collins, NASA                                 public domain
#   rocket.jpg             DSCOVR launch on Falcon 9, SpaceX                    public domain
#   clock_motion.png       motion-blurred wall clock, Stefan van der Walt       public domain
#   hubble_deep_field.jpg  Hubble eXtreme Deep Field, NASA (HubbleSite)         public domain
#   camera.png             Lav Varshney                                         CC0
#   chelsea.png            Chelsea the cat, Stefan van der Walt                 CC0
#   coffee.png             Rachel Michetti (Pikolo Espresso Bar)                CC0
#   retina.jpg             fundus photograph, Mikael Häggström (Wikimedia)      CC0 1.0
#   cell.png               cell in saline, quantitative phase image from a
#                          digital hologram (Müller et al., Opt. Express 2018)  CC0
#   coins.png              Greek coins from Pompeii, Brooklyn Museum            no known copyright restrictions
#   motorcycle_left.png,   Middlebury 2014 stereo benchmark (Scharstein et al.,
#   motorcycle_right.png   GCPR 2014), down-sampled 4× by scikit-image          no licence stated
# Left out: horse.png (clip-art silhouette, not a photo), moon.png and page.png (no source or licence stated), and the
# textures and test patterns.
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
for name in astronaut.png camera.png chelsea.png coffee.png motorcycle_left.png rocket.jpg \
  motorcycle_right.png coins.png clock_motion.png hubble_deep_field.jpg retina.jpg cell.png; do
  cp "$data/$name" "$out/$name"
done
cp Tests/Fixtures/real_photos/instances.json "$out/instances.json"
echo "wrote $out: 12 photos and instances.json (20 categories, 60 boxes)"
