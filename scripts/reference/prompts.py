#!/usr/bin/env python3
"""Prompt and positive-map fixture, following GLIP's rules (maskrcnn_benchmark: clean_name,
create_queries_and_maps, create_positive_map) on top of HF BertTokenizerFast's char_to_token.

Usage: python scripts/reference/prompts.py MODEL_DIR
Writes Tests/Fixtures/language/prompts.json.
"""
import json
import pathlib
import re
import sys

from transformers import BertTokenizerFast

ROOT = pathlib.Path(__file__).resolve().parents[2]

COCO = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
        "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
        "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
        "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
        "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
        "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
        "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
        "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
        "hair drier", "toothbrush"]
ODD = ["bolt_(fastener)", "hair_dryer", "dining_table", "café au lait", "Ölkanne (jug) (metal)", "tv  remote",
       "x-ray_machine", "naïve (bayes)", "ring", "red_circle"]


def clean_name(name):
    name = re.sub(r"\(.*\)", "", name)
    name = re.sub(r"_", " ", name)
    name = re.sub(r"  ", " ", name)
    return name


def detection_prompt(names):
    text, spans = "", []
    for index, name in enumerate(names):
        start = len(text)
        text += clean_name(name)
        spans.append([[start, len(text)]])
        if index != len(names) - 1:
            text += ". "
    return text, spans


def phrase_tokens(encoding, spans):
    result = []
    for phrase in spans:
        covered = set()
        for begin, end in phrase:
            first = encoding.char_to_token(begin)
            if first is None:
                first = encoding.char_to_token(begin + 1)
                if first is None:
                    first = encoding.char_to_token(begin + 2)
            last = encoding.char_to_token(end - 1)
            if last is None:
                last = encoding.char_to_token(end - 2)
                if last is None:
                    last = encoding.char_to_token(end - 3)
            if first is None or last is None:
                continue
            covered.update(range(first, last + 1))
        result.append(sorted(covered))
    return result


def main():
    tokenizer = BertTokenizerFast.from_pretrained(sys.argv[1])
    cases = []
    for name, names in {"coco": COCO, "odd_names": ODD, "single": ["traffic light"]}.items():
        text, spans = detection_prompt(names)
        encoding = tokenizer(text, truncation=True, max_length=256)
        cases.append({"name": name, "kind": "detection", "classes": names, "text": text, "spans": spans,
                      "tokens": phrase_tokens(encoding, spans), "max_tokens": 256})
    captions = [
        ("The small red circle left of a blue square", [[[4, 20]], [[31, 42]]]),
        ("  a cat   on the mat  ", [[[1, 6]], [[15, 20]]]),              # edges on spaces: ±1/±2 retries
        ("two dogs, one frisbee!", [[[0, 8]], [[10, 21]], [[9, 10]]]),   # the last span is only a space
        ("supercalifragilistic bird", [[[5, 12]], [[21, 25]]]),          # spans inside a word piece
        ("东京 tower at night", [[[0, 2]], [[3, 8], [12, 17]]]),          # CJK and a two-span phrase
    ]
    for index, (text, spans) in enumerate(captions):
        encoding = tokenizer(text)
        cases.append({"name": f"caption_{index}", "kind": "caption", "text": text, "spans": spans,
                      "tokens": phrase_tokens(encoding, spans), "max_tokens": 256})
    text, spans = detection_prompt(COCO)
    encoding = tokenizer(text, truncation=True, max_length=64)
    cases.append({"name": "coco_truncated", "kind": "detection", "classes": COCO, "text": text, "spans": spans,
                  "tokens": phrase_tokens(encoding, spans), "max_tokens": 64})
    chunks, start = [], 0
    while start < len(COCO):
        end = start
        while end < len(COCO) and end - start < 40:
            candidate, _ = detection_prompt(COCO[start:end + 1])
            if len(tokenizer(candidate)["input_ids"]) > 64:
                break
            end += 1
        chunks.append(list(range(start, end)))
        start = end
    out = ROOT / "Tests" / "Fixtures" / "language" / "prompts.json"
    out.write_text(json.dumps({"cases": cases, "chunks_64": chunks}, ensure_ascii=False, indent=0))
    print(f"{out.relative_to(ROOT)}: {len(cases)} cases, {len(chunks)} chunks")


if __name__ == "__main__":
    main()
