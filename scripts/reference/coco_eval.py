#!/usr/bin/env python3
"""COCO evaluation fixtures scored by pycocotools' COCOeval (bbox).

Writes Tests/Fixtures/coco/case_<n>_gt.json, case_<n>_dt.json and expected.json ({case: [12 stats]}). The cases mix
image sizes, object sizes across the small/medium/large ranges, crowd annotations, images without annotations or
detections, categories without detections, more than 100 detections per image, tied scores and an annotation id 0.
"""
import contextlib
import io
import json
import pathlib
import random

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "coco"


def make_case(seed, images, categories, per_image, detections_per_image, crowd_rate, jitter):
    rng = random.Random(seed)
    gt = {"images": [], "annotations": [], "categories": [{"id": c, "name": f"class{c}"} for c in categories]}
    dt = []
    next_id = 1
    for image_id in range(1, images + 1):
        width, height = rng.choice([(320, 240), (640, 480), (200, 300)])
        gt["images"].append({"id": image_id, "width": width, "height": height, "file_name": f"{image_id}.png"})
        objects = []
        for _ in range(rng.randint(0, per_image)):
            w, h = rng.choice([rng.uniform(4, 30), rng.uniform(30, 95), rng.uniform(96, 200)]), rng.uniform(5, 150)
            x, y = rng.uniform(0, max(1, width - w)), rng.uniform(0, max(1, height - h))
            category = rng.choice(categories)
            crowd = 1 if rng.random() < crowd_rate else 0
            gt["annotations"].append({"id": next_id, "image_id": image_id, "category_id": category,
                                      "bbox": [x, y, w, h], "area": w * h, "iscrowd": crowd})
            next_id += 1
            objects.append((category, x, y, w, h))
        for _ in range(detections_per_image):
            if objects and rng.random() < 0.6:
                category, x, y, w, h = rng.choice(objects)
                if rng.random() < 0.2:
                    category = rng.choice(categories)
                x, y = x + rng.gauss(0, jitter * w), y + rng.gauss(0, jitter * h)
                w, h = max(1, w * rng.uniform(0.7, 1.3)), max(1, h * rng.uniform(0.7, 1.3))
            else:
                category = rng.choice(categories)
                w, h = rng.uniform(3, 150), rng.uniform(3, 150)
                x, y = rng.uniform(0, width), rng.uniform(0, height)
            score = round(rng.random(), 2)  # rounding creates ties
            dt.append({"image_id": image_id, "category_id": category, "bbox": [x, y, w, h], "score": score})
    return gt, dt


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = {
        "basic": dict(seed=1, images=6, categories=[1, 2, 3], per_image=5, detections_per_image=8, crowd_rate=0.0,
                      jitter=0.05),
        "crowd": dict(seed=2, images=8, categories=[1, 2], per_image=6, detections_per_image=10, crowd_rate=0.25,
                      jitter=0.1),
        "dense": dict(seed=3, images=3, categories=[1, 4, 7], per_image=20, detections_per_image=130,
                      crowd_rate=0.05, jitter=0.15),
        "sparse": dict(seed=4, images=10, categories=[2, 5, 9, 11], per_image=2, detections_per_image=3,
                       crowd_rate=0.1, jitter=0.2),
    }
    expected = {}
    for name, settings in cases.items():
        gt, dt = make_case(**settings)
        if name == "sparse" and gt["annotations"]:
            gt["annotations"][0]["id"] = 0  # pycocotools treats a matched id of 0 as unmatched
        (OUT / f"{name}_gt.json").write_text(json.dumps(gt))
        (OUT / f"{name}_dt.json").write_text(json.dumps(dt))
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(OUT / f"{name}_gt.json"))
            results = coco.loadRes(str(OUT / f"{name}_dt.json"))
            evaluator = COCOeval(coco, results, "bbox")
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        expected[name] = [float(v) for v in evaluator.stats]
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1))
    print({k: round(v[0], 4) for k, v in expected.items()})


if __name__ == "__main__":
    main()
