#!/usr/bin/env python3
"""Pillow's bilinear resize of 8-bit RGB images, the resampling GLIP's loader (and torchvision's PIL transforms)
applies before an image reaches the model.

Writes Tests/Fixtures/images/pillow_bilinear.safetensors: a 61×47 crop of scikit-image's `chelsea` photo ("input",
uint8 [H, W, 3]) and its resizes with `Image.resize((w, h), Image.BILINEAR)` ("w{W}_h{H}", uint8 [H, W, 3]) to sizes
that shrink by non-integer factors (antialiasing widens the filter), enlarge, change one axis only, and reach 1 px.
"""
import pathlib

import numpy as np
import skimage.data
import torch
from PIL import Image
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "images" / "pillow_bilinear.safetensors"
SIZES = [(23, 17), (40, 31), (61, 20), (30, 47), (97, 83), (128, 64), (1, 1), (7, 47)]


def main():
    crop = np.ascontiguousarray(skimage.data.chelsea()[100:147, 150:211])
    image = Image.fromarray(crop, "RGB")
    tensors = {"input": torch.from_numpy(crop)}
    for width, height in SIZES:
        resized = np.array(image.resize((width, height), Image.BILINEAR))
        tensors[f"w{width}_h{height}"] = torch.from_numpy(np.ascontiguousarray(resized))
    save_file(tensors, str(OUT))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(SIZES)} resizes of a {crop.shape[1]}x{crop.shape[0]} crop")


if __name__ == "__main__":
    main()
