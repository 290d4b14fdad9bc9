#!/usr/bin/env python3
"""BERT fixtures with HF transformers.

Usage: python scripts/reference/bert.py [MINILM_DIR]   (default pretrained/all-MiniLM-L6-v2)
Writes under Tests/Fixtures/language/:
  bert-tiny/                  a random 2-layer, 128-hidden BertForPreTraining saved in HF layout (bert.* and cls.*
                              keys plus the pooler, so loading exercises the remap table end to end), with a small
                              vocabulary
  bert_tiny_outputs.safetensors   input_ids, attention_mask (a padded batch) and BertModel's last_hidden_state
  minilm_outputs.safetensors      the same for all-MiniLM-L6-v2's real weights
  bert_base_keys.json         every state-dict key and shape of bert-base-uncased's BertModel (random init, same
                              shapes), with parameter counts with and without the pooler
"""
import json
import pathlib
import sys

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForPreTraining, BertModel, BertTokenizerFast

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "language"
SENTENCES = ["The small red circle left of a blue square.", "a cat", "person. bicycle. traffic light. dog."]


def batch(tokenizer):
    encoded = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    return encoded["input_ids"], encoded["attention_mask"]


def tiny_model(full_vocab_dir):
    full = BertTokenizerFast.from_pretrained(str(full_vocab_dir))
    words = [line.rstrip("\n") for line in open(full_vocab_dir / "vocab.txt", encoding="utf-8")]
    needed = {token for sentence in SENTENCES for token in full.tokenize(sentence)}
    vocab = words[:1000] + sorted(needed - set(words[:1000]))
    directory = OUT / "bert-tiny"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=256, max_position_embeddings=64)
    model = BertForPreTraining(config).eval()
    model.save_pretrained(str(directory), safe_serialization=True)
    for extra in ("generation_config.json",):
        (directory / extra).unlink(missing_ok=True)
    tokenizer = BertTokenizerFast.from_pretrained(str(full_vocab_dir))
    ids, mask = batch(tokenizer)
    ids = torch.tensor([[vocab.index(tokenizer.convert_ids_to_tokens(int(i))) for i in row] for row in ids])
    with torch.no_grad():
        hidden = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    save_file({"input_ids": ids.float(), "attention_mask": mask.float(), "hidden": hidden.contiguous()},
              str(OUT / "bert_tiny_outputs.safetensors"))


def minilm(model_dir):
    tokenizer = BertTokenizerFast.from_pretrained(str(model_dir))
    model = BertModel.from_pretrained(str(model_dir)).eval()
    ids, mask = batch(tokenizer)
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
    save_file({"input_ids": ids.float(), "attention_mask": mask.float(), "hidden": hidden.contiguous()},
              str(OUT / "minilm_outputs.safetensors"))


def bert_base_keys():
    model = BertModel(BertConfig(), add_pooling_layer=True)
    keys = [{"key": k, "shape": list(v.shape)} for k, v in model.state_dict().items()]
    total = sum(p.numel() for p in model.parameters())
    pooler = sum(p.numel() for n, p in model.named_parameters() if n.startswith("pooler."))
    (OUT / "bert_base_keys.json").write_text(json.dumps(
        {"keys": keys, "parameters_with_pooler": total, "parameters_without_pooler": total - pooler}, indent=0))


def main():
    model_dir = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "pretrained" / "all-MiniLM-L6-v2")
    OUT.mkdir(parents=True, exist_ok=True)
    tiny_model(model_dir)
    minilm(model_dir)
    bert_base_keys()
    print("wrote bert-tiny/, bert_tiny_outputs, minilm_outputs, bert_base_keys.json")


if __name__ == "__main__":
    main()
