#!/usr/bin/env python3
"""Image decoding fixtures: PNG variants written with pypng and JPEGs written with PIL, each with PIL's decoded RGB
pixels as the expected result. Also copies scikit-image's public-domain `chelsea` photo (a cat).

Writes Tests/Fixtures/images/: png_*.png, jpeg_*.jpg, expected.safetensors (uint8 [H, W, 3] per file stem),
chelsea.png.
"""
import io
import pathlib
import shutil

import numpy as np
import png  # pypng
import skimage.data
import torch
from PIL import Image
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "images"


def gradient(width, height, channels, maximum=255):
    y, x = np.mgrid[0:height, 0:width]
    planes = [(x * 37 + y * 11) % (maximum + 1), (x * 5 + y * 53) % (maximum + 1), (x * y * 7) % (maximum + 1),
              ((x + y) * 29) % (maximum + 1)]
    return np.stack(planes[:channels], axis=-1).astype(np.uint16 if maximum > 255 else np.uint8)


def write_png(name, array, bitdepth=8, greyscale=False, alpha=False, interlace=False, palette=None, transparent=None):
    height, width = array.shape[:2]
    rows = array.reshape(height, -1).tolist()
    kwargs = dict(bitdepth=bitdepth, interlace=interlace)
    if palette is not None:
        writer = png.Writer(width, height, palette=palette, **kwargs)
    else:
        writer = png.Writer(width, height, greyscale=greyscale, alpha=alpha, transparent=transparent, **kwargs)
    with open(OUT / f"{name}.png", "wb") as handle:
        writer.write(handle, rows)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    write_png("png_rgb8", gradient(13, 9, 3))
    write_png("png_rgba8", gradient(13, 9, 4), alpha=True)
    write_png("png_gray8", gradient(13, 9, 1)[..., 0], greyscale=True)
    write_png("png_gray_alpha8", gradient(13, 9, 2), greyscale=True, alpha=True)
    write_png("png_rgb16", gradient(11, 7, 3, maximum=65535), bitdepth=16)
    write_png("png_gray16", gradient(11, 7, 1, maximum=65535)[..., 0], bitdepth=16, greyscale=True)
    write_png("png_gray1", (gradient(16, 5, 1)[..., 0] % 2), bitdepth=1, greyscale=True)
    write_png("png_gray4", (gradient(9, 6, 1)[..., 0] % 16), bitdepth=4, greyscale=True)
    write_png("png_rgb8_interlaced", gradient(17, 12, 3), interlace=True)
    palette = [(i * 40 % 256, i * 90 % 256, i * 150 % 256) for i in range(7)]
    write_png("png_palette", gradient(10, 8, 1)[..., 0] % 7, palette=palette)
    write_png("png_palette_alpha", gradient(10, 8, 1)[..., 0] % 7,
              palette=[(r, g, b, 128 if i == 2 else 255) for i, (r, g, b) in enumerate(palette)])
    write_png("png_rgb_trns", gradient(8, 8, 3), transparent=(0, 0, 0))
    photo = Image.fromarray(skimage.data.chelsea())
    crop = photo.crop((100, 60, 164, 108))
    crop.save(OUT / "jpeg_baseline.jpg", quality=90)
    crop.save(OUT / "jpeg_progressive.jpg", quality=85, progressive=True)
    crop.convert("L").save(OUT / "jpeg_gray.jpg", quality=90)
    crop.save(OUT / "jpeg_subsampled.jpg", quality=75, subsampling=2)
    shutil.copyfile(pathlib.Path(skimage.data.__file__).parent / "chelsea.png", OUT / "chelsea.png")
    expected = {}
    for path in sorted(OUT.glob("*")):
        if path.suffix in (".png", ".jpg") and path.stem != "chelsea":
            image = Image.open(path)
            if image.mode.startswith("I;16"):
                # PIL's convert("RGB") clamps 16-bit gray at 255; the toolkit keeps the high byte, as PIL itself does
                # for 16-bit colour, so the expected pixels are PIL's 16-bit values shifted right by 8.
                gray = (np.array(image).astype(np.uint32) >> 8).astype(np.uint8)
                expected[path.stem] = torch.from_numpy(np.stack([gray] * 3, axis=-1)).contiguous()
            else:
                expected[path.stem] = torch.from_numpy(np.array(image.convert("RGB"))).contiguous()
    save_file(expected, str(OUT / "expected.safetensors"))
    print(f"{len(expected)} images -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
