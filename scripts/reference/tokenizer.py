#!/usr/bin/env python3
"""Tokenizer fixture: HF BertTokenizerFast ids, tokens and offsets for a varied corpus, uncased and cased.

Usage: python scripts/reference/tokenizer.py MODEL_DIR   (an HF model directory with vocab.txt, e.g.
       pretrained/all-MiniLM-L6-v2 from scripts/fetch-weights.sh)
Writes Tests/Fixtures/language/vocab.txt (a copy of the vocabulary) and Tests/Fixtures/language/tokenizer.json:
{"uncased": [...], "cased": [...], "truncated": [...]}, each entry {"text", "ids", "tokens", "offsets"}.
"""
import json
import pathlib
import random
import shutil
import sys

from transformers import BertTokenizerFast

ROOT = pathlib.Path(__file__).resolve().parents[2]

BASE = [
    "", " ", "\t\n", "a", "A photo of a cat.", "The small red circle left of a blue square",
    "person. bicycle. car. motorcycle. airplane. bus. train. truck. boat. traffic light. fire hydrant.",
    "Café naïve résumé façade coöperate Ångström", "ÉCOLE über STRASSE straße", "İstanbul ǅungla ΣΊΣΥΦΟΣ",
    "我爱北京天安门", "東京タワーに行きました", "한국어 문장입니다", "مرحبا بالعالم", "Привет, мир!",
    "emoji 😀🎉👍🏽 and 🇫🇷 flags", "punctuation!!! ??? ... ,,, ;;; --- ((())) [[]] {{}}",
    "quotes “smart” ‘single’ «guillemets» „low“", "dashes – — ‐ and bullets • ·",
    "a" * 99, "b" * 100, "c" * 101, "supercalifragilisticexpialidocious " * 3,
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u3000ideographic space",
    "zero\u200bwidth\u200dchars and soft\u00adhyphen", "control\x07bell\x1bescape\x00null",
    "replacement \ufffd char", "combining e\u0301 vs é, n\u0303 vs ñ", "math ∑∫√∞ ≤≥ ±×÷",
    "currency $5 €10 £3 ¥100 ₹50", "url https://example.com/path?q=1&r=2#frag", "email someone@example.org",
    "numbers 3.14159 1,000,000 2nd 42nd 100%", "hyphen-ated well-known state-of-the-art",
    "CamelCaseWords and snake_case_words", "O'Neill's don't won't can't", "U.S.A. e.g. i.e. etc.",
    "mixed 中文 and English 混合", "ｆｕｌｌ-width ＡＢＣ １２３", "ligatures ﬁ ﬂ ﬀ", "roman Ⅻ Ⅷ",
    "the the the the the the the the the the the the the the the the the the the the the the the the",
]


def corpus():
    generator = random.Random(0)
    words = ["red", "green", "blue", "yellow", "purple", "orange", "circle", "square", "triangle", "star", "ring",
             "small", "large", "left", "right", "of", "above", "below", "the", "a", "near", "Zebra", "giraffe",
             "naïve", "Ölfeld", "日本", "😀", "...", "!", "hot-dog", "tv", "toothbrush", "(cat)", "dining_table"]
    sentences = list(BASE)
    while len(sentences) < 300:
        count = generator.randint(1, 14)
        separator = generator.choice([" ", " ", " ", ". ", ", ", "  ", "\t"])
        sentences.append(separator.join(generator.choice(words) for _ in range(count)))
    return sentences


def encode(tokenizer, texts, max_length=None):
    rows = []
    for text in texts:
        encoded = tokenizer(text, return_offsets_mapping=True, truncation=max_length is not None,
                            max_length=max_length)
        rows.append({"text": text, "ids": encoded["input_ids"],
                     "tokens": tokenizer.convert_ids_to_tokens(encoded["input_ids"]),
                     "offsets": [list(pair) for pair in encoded["offset_mapping"]]})
    return rows


def main():
    model_dir = pathlib.Path(sys.argv[1])
    vocab = model_dir / "vocab.txt"
    out_dir = ROOT / "Tests" / "Fixtures" / "language"
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(vocab, out_dir / "vocab.txt")
    uncased = BertTokenizerFast.from_pretrained(str(model_dir), do_lower_case=True)
    cased = BertTokenizerFast.from_pretrained(str(model_dir), do_lower_case=False)
    assert uncased("A")["input_ids"] != cased("A")["input_ids"], "the cased tokenizer still lowercases"
    texts = corpus()
    fixture = {
        "uncased": encode(uncased, texts),
        "cased": encode(cased, texts[:120]),
        "truncated": encode(uncased, texts[:80], max_length=8),
    }
    (out_dir / "tokenizer.json").write_text(json.dumps(fixture, ensure_ascii=False, indent=0))
    print(f"{len(texts)} texts -> {out_dir.relative_to(ROOT)}/tokenizer.json")


if __name__ == "__main__":
    main()
