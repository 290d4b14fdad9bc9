#!/usr/bin/env python3
"""PyTorch checkpoint fixtures for the .pth reader.

Writes Tests/Fixtures/checkpoints/:
  zip.pth, legacy.pth      the same nested checkpoint in torch.save's zip and legacy formats (float, half, bfloat16,
                           double and int64 tensors, a 0-d tensor, a transposed view and a slice sharing storage)
  expected.safetensors     those tensors as float32, keys flattened with "."
  evil.pth                 a pickle that would call os.system: the reader must refuse it by name
  mobilenet_v2_sums.json   per-key shape and sum of torchvision's mobilenet_v2-b0353104.pth (if given as argv[1])
"""
import json
import pathlib
import pickle
import sys

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests" / "Fixtures" / "checkpoints"


class Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo this must never run",))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    base = torch.randn(4, 3)
    checkpoint = {"model": {
        "conv.weight": torch.randn(2, 3, 1, 1),
        "conv.bias": torch.randn(2),
        "bn.num_batches_tracked": torch.tensor(7),
        "half": torch.randn(5).half(),
        "bf16": torch.randn(3).bfloat16(),
        "double": torch.randn(2, 2).double(),
        "scalar": torch.tensor(1.25),
        "transposed": base.t(),
        "rows": base[1:3],
    }, "epoch": 3}
    torch.save(checkpoint, OUT / "zip.pth")
    torch.save(checkpoint, OUT / "legacy.pth", _use_new_zipfile_serialization=False)
    expected = {f"model.{k}": v.float().contiguous().clone() for k, v in checkpoint["model"].items()}
    save_file(expected, str(OUT / "expected.safetensors"))
    (OUT / "evil.pth").write_bytes(pickle.dumps(Evil(), protocol=2))
    if len(sys.argv) > 1:
        state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
        sums = {k: {"shape": list(v.shape), "sum": float(v.double().sum())} for k, v in state.items()}
        (OUT / "mobilenet_v2_sums.json").write_text(json.dumps(sums, indent=0))
    print("wrote", sorted(p.name for p in OUT.iterdir()))


if __name__ == "__main__":
    main()
