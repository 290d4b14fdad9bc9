#!/usr/bin/env python3
"""Checks our CLI's detections against the official-GLIP reference (glip_official.py run).

Usage:
  compare_official.py REFERENCE_DIR OURS.json [--image-index 0] [--box-tol 1e-3] [--score-tol 1e-5]
                      [--ours-intermediates FILE.safetensors] [--intermediate-tol 1e-4]

REFERENCE_DIR holds detections.json (and intermediates.safetensors); OURS.json is `glip predict --json` output:
[{"image": path, "detections": [{"box": [x1, y1, x2, y2], "score": s, "phrase": "...", "phrase_index": i}]}],
with 0-based phrase indices (the reference's labels are 1-based, as in ATSSPostProcessor).
Checks: same number of detections, labels in the same order, boxes within --box-tol pixels and scores within
--score-tol. The CLI prints boxes and scores with a fixed number of decimals, so the tolerance is widened by half a
unit of the last printed digit (detected from the values, and reported). With --ours-intermediates, tensors present
in both files are compared too. Exit status 1 on any mismatch.
"""
import argparse
import json
import pathlib
import sys


def printed_decimals(values, most=8):
    """The fewest decimals d such that every value is already rounded to d places (None if none up to `most`)."""
    for decimals in range(most + 1):
        if all(abs(v - round(v, decimals)) < 1e-9 for v in values):
            return decimals
    return None


def widened(tolerance, values):
    decimals = printed_decimals(values)
    if decimals is None or decimals >= 7:
        return tolerance, decimals
    return tolerance + 0.5 * 10 ** -decimals, decimals


def compare_detections(reference, ours, box_tol, score_tol):
    failures = []
    ref_labels = [int(label) for label in reference["labels"]]
    our_labels = [int(d["phrase_index"]) + 1 for d in ours]
    print(f"reference {len(ref_labels)} detections, ours {len(our_labels)}")
    if ref_labels != our_labels:
        first = next((i for i, (a, b) in enumerate(zip(ref_labels, our_labels)) if a != b),
                     min(len(ref_labels), len(our_labels)))
        failures.append(f"labels differ from detection {first}: reference {ref_labels[first:first + 5]}, "
                        f"ours {our_labels[first:first + 5]}")
    our_boxes = [d["box"] for d in ours]
    our_scores = [d["score"] for d in ours]
    box_tol, box_decimals = widened(box_tol, [v for box in our_boxes for v in box])
    score_tol, score_decimals = widened(score_tol, our_scores)
    print(f"tolerances: boxes {box_tol:g} px (ours printed with {box_decimals} decimals), "
          f"scores {score_tol:g} (ours printed with {score_decimals} decimals)")
    box_error = max((abs(a - b) for ra, oa in zip(reference["boxes"], our_boxes) for a, b in zip(ra, oa)), default=0)
    score_error = max((abs(a - b) for a, b in zip(reference["scores"], our_scores)), default=0)
    print(f"max |Δbox| {box_error:.6g} px, max |Δscore| {score_error:.6g}")
    if box_error > box_tol:
        failures.append(f"boxes differ by {box_error:.6g} px > {box_tol:g}")
    if score_error > score_tol:
        failures.append(f"scores differ by {score_error:.6g} > {score_tol:g}")
    ref_phrases = reference.get("phrases", [])
    for index, detection in enumerate(ours):
        label = int(detection["phrase_index"])
        if label < len(ref_phrases) and detection.get("phrase") not in (None, ref_phrases[label]):
            failures.append(f"detection {index}: phrase {detection['phrase']!r}, reference {ref_phrases[label]!r}")
            break
    return failures


def compare_intermediates(reference_path, ours_path, tolerance):
    from safetensors.torch import load_file
    reference, ours = load_file(str(reference_path)), load_file(str(ours_path))
    failures = []
    for key in sorted(set(reference) & set(ours)):
        a, b = reference[key].float(), ours[key].float()
        if a.shape != b.shape:
            failures.append(f"{key}: shape {tuple(b.shape)}, reference {tuple(a.shape)}")
            continue
        error = (a - b).abs().max().item() if a.numel() else 0.0
        scale = a.abs().max().item() if a.numel() else 0.0
        flag = "" if error <= tolerance * max(1.0, scale) else "  <-- over tolerance"
        print(f"  {key:28s} max |Δ| {error:.3g} (max |ref| {scale:.3g}){flag}")
        if flag:
            failures.append(f"{key} differs by {error:.3g}")
    print(f"compared {len(set(reference) & set(ours))} intermediates; only in the reference: "
          f"{len(set(reference) - set(ours))}, only in ours: {len(set(ours) - set(reference))}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reference_dir")
    parser.add_argument("ours")
    parser.add_argument("--image-index", type=int, default=0)
    parser.add_argument("--box-tol", type=float, default=1e-3)
    parser.add_argument("--score-tol", type=float, default=1e-5)
    parser.add_argument("--ours-intermediates")
    parser.add_argument("--intermediate-tol", type=float, default=1e-4, help="relative to max(1, max |reference|)")
    args = parser.parse_args()
    reference_dir = pathlib.Path(args.reference_dir)
    reference = json.loads((reference_dir / "detections.json").read_text())
    ours = json.loads(pathlib.Path(args.ours).read_text())[args.image_index]["detections"]
    failures = compare_detections(reference, ours, args.box_tol, args.score_tol)
    if args.ours_intermediates:
        failures += compare_intermediates(reference_dir / "intermediates.safetensors", args.ours_intermediates,
                                          args.intermediate_tol)
    for failure in failures:
        print("FAIL:", failure)
    print("OK" if not failures else f"{len(failures)} check(s) failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
