#!/usr/bin/env python3
"""Assertions for scripts/smoke-cli.sh on what `glip` printed or wrote. Standard library only.

    smoke_checks.py synth DIR IMAGES SIZE | train RUN STEPS | eval EVAL.json | predict PREDICT.json OUT SIZE
                    | report REPORT.html | screenshot FILE.png
"""
import json
import math
import pathlib
import struct
import sys
import zlib

COCO_NAMES = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def fail(message):
    sys.exit(f"smoke: {message}")


def expect(condition, message):
    if not condition:
        fail(message)


def png_size(path):
    """Decodes a PNG's chunks (CRCs checked, image data inflated to the size its header implies); returns (w, h)."""
    data = pathlib.Path(path).read_bytes()
    expect(data[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG")
    position, header, compressed = 8, None, b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        crc = struct.unpack(">I", data[position + 8 + length:position + 12 + length])[0]
        expect(zlib.crc32(kind + body) == crc, f"{path}: bad CRC in {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
        position += 12 + length
    expect(header is not None, f"{path}: no IHDR")
    width, height, depth, colour, _, _, interlace = header
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    expect(interlace == 0 and depth == 8, f"{path}: unexpected PNG format {header}")
    pixels = zlib.decompress(compressed)
    expect(len(pixels) == height * (1 + width * channels), f"{path}: image data does not match {width}x{height}")
    return width, height


def synth(directory, images, size):
    root = pathlib.Path(directory)
    for name in ["instances_shapes.json", "instances_phrases.json"]:
        coco = json.loads((root / name).read_text())
        expect(len(coco["images"]) == int(images), f"{name}: {len(coco['images'])} images, not {images}")
        expect(coco["annotations"] and coco["categories"], f"{name}: no annotations or categories")
    expect((root / "grounding.odvg.jsonl").is_file(), "no grounding.odvg.jsonl")
    expect(png_size(root / "images" / "000000.png") == (int(size), int(size)), "synthetic image has the wrong size")


def train(run, steps):
    run = pathlib.Path(run)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    losses = [line["loss"] for line in lines if "loss" in line]
    expect(len(losses) == int(steps), f"metrics.jsonl has {len(losses)} step lines, not {steps}")
    expect(all(math.isfinite(loss) for loss in losses), "a non-finite loss")
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    expect(last < first, f"the loss did not fall: first 10 steps {first:.4f}, last 10 {last:.4f}")
    final = run / "checkpoints" / "final.safetensors"
    header_length = struct.unpack("<Q", final.read_bytes()[:8])[0]
    header = json.loads(final.read_bytes()[8:8 + header_length])
    expect(any(key.startswith("head.") for key in header), "final.safetensors has no head parameters")
    expect((run / "config.yaml").is_file(), "no config.yaml")
    print(f"smoke: loss {first:.3f} -> {last:.3f} over {steps} steps", file=sys.stderr)


def evaluate(path):
    result = json.loads(pathlib.Path(path).read_text())
    expect(set(result) >= {"detection", "grounding"}, f"eval --json keys: {sorted(result)}")
    for name, metrics in result["detection"].items():
        expect(set(metrics) == set(COCO_NAMES), f"detection.{name}: keys {sorted(metrics)}")
        expect(all(v == -1 or 0 <= v <= 1 for v in metrics.values()), f"detection.{name} out of range: {metrics}")
    expect({"shapes", "phrases"} <= set(result["detection"]), f"category sets: {sorted(result['detection'])}")
    recall = result["grounding"]
    expect(set(recall) == {"R@1", "R@5", "R@10"}, f"grounding keys: {sorted(recall)}")
    expect(all(0 <= v <= 1 for v in recall.values()), f"recall out of range: {recall}")
    expect(recall["R@1"] <= recall["R@5"] <= recall["R@10"], f"recall not monotonic: {recall}")


def predict(path, out, size):
    results = json.loads(pathlib.Path(path).read_text())
    expect(isinstance(results, list) and len(results) == 2, "predict --json: not a list of the 2 images")
    expect(json.loads((pathlib.Path(out) / "detections.json").read_text()) == results, "detections.json differs")
    phrases = ["red circle", "blue square", "green triangle"]
    for entry in results:
        scores = [d["score"] for d in entry["detections"]]
        expect(scores == sorted(scores, reverse=True), f"{entry['image']}: detections not best first")
        for detection in entry["detections"]:
            x1, y1, x2, y2 = detection["box"]
            expect(0 <= x1 <= x2 <= int(size) and 0 <= y1 <= y2 <= int(size), f"box outside the image: {detection}")
            expect(0.01 <= detection["score"] <= 1, f"score out of range: {detection}")
            expect(phrases[detection["phrase_index"]] == detection["phrase"], f"phrase and index differ: {detection}")
        stem = pathlib.Path(entry["image"]).stem
        expect(png_size(pathlib.Path(out) / f"{stem}.png") == (int(size), int(size)), f"annotated {stem}.png")


def report(path):
    html = pathlib.Path(path).read_text()
    expect("<svg" in html, "report.html has no chart")
    expect("data:image/png;base64," in html, "report.html has no embedded prediction")
    expect("<script src=" not in html and "<link " not in html, "report.html depends on other files")


def screenshot(path):
    width, height = png_size(path)
    expect(width >= 800 and height >= 800, f"screenshot is {width}x{height}")
    expect(pathlib.Path(path).stat().st_size > 20_000, "the screenshot is nearly blank")


if __name__ == "__main__":
    checks = {"synth": synth, "train": train, "eval": evaluate, "predict": predict, "report": report,
              "screenshot": screenshot}
    if len(sys.argv) < 2 or sys.argv[1] not in checks:
        fail(__doc__)
    checks[sys.argv[1]](*sys.argv[2:])
