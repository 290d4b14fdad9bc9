#!/usr/bin/env python3
"""Decoding fixtures for EXIF orientation and CMYK JPEGs, with PIL's pixels as the expected result.

Writes Tests/Fixtures/images/: exif_<n>.png (orientations 2-8 in a PNG eXIf chunk, 5x3 stored), exif_6.jpg
(orientation 6 in a JPEG APP1 Exif segment, 16x8 stored), cmyk_adobe.jpg (Pillow's CMYK: an Adobe marker, inverted
inks), cmyk_plain.jpg (the same without its Adobe marker: plain inks) and expected_exif_cmyk.safetensors (uint8
[H, W, 3] per file name, dot replaced by underscore) — the image as displayed (ImageOps.exif_transpose) in RGB.
"""
import io
import pathlib

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "images"


def gradient(width, height, channels):
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * 47 + y * 13) % 256, (x * 7 + y * 61) % 256, (x * y * 19) % 256, ((x + y) * 23) % 256]
    return np.stack(planes[:channels], axis=-1).astype(np.uint8)


def with_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


def without_adobe_marker(data):
    """The JPEG bytes with their APP14 (Adobe) segments removed."""
    out, offset = bytearray(data[:2]), 2
    while offset < len(data):
        marker = data[offset + 1]
        if marker == 0xDA:
            out += data[offset:]
            break
        length = int.from_bytes(data[offset + 2:offset + 4], "big")
        if marker != 0xEE:
            out += data[offset:offset + 2 + length]
        offset += 2 + length
    return bytes(out)


def main():
    expected = {}
    stored = Image.fromarray(gradient(5, 3, 3))
    for value in range(2, 9):
        name = f"exif_{value}.png"
        stored.save(OUT / name, exif=with_orientation(value))
        expected[name] = ImageOps.exif_transpose(Image.open(OUT / name)).convert("RGB")
    Image.fromarray(gradient(16, 8, 3)).save(OUT / "exif_6.jpg", quality=95, exif=with_orientation(6))
    expected["exif_6.jpg"] = ImageOps.exif_transpose(Image.open(OUT / "exif_6.jpg")).convert("RGB")

    Image.fromarray(gradient(12, 10, 4), "CMYK").save(OUT / "cmyk_adobe.jpg", quality=95)
    expected["cmyk_adobe.jpg"] = Image.open(OUT / "cmyk_adobe.jpg").convert("RGB")
    (OUT / "cmyk_plain.jpg").write_bytes(without_adobe_marker((OUT / "cmyk_adobe.jpg").read_bytes()))
    # Pillow assumes Adobe's inverted inks for every CMYK JPEG; without the marker the stored inks are plain, so the
    # expected pixels un-invert what Pillow read before converting.
    plain = 255 - np.array(Image.open(OUT / "cmyk_plain.jpg"))
    expected["cmyk_plain.jpg"] = Image.fromarray(plain, "CMYK").convert("RGB")

    tensors = {name.replace(".", "_"): torch.from_numpy(np.array(image)).contiguous() for name, image in expected.items()}
    save_file(tensors, str(OUT / "expected_exif_cmyk.safetensors"))
    print(f"{len(tensors)} images -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
