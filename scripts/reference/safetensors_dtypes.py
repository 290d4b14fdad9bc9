#!/usr/bin/env python3
"""Writes Tests/Fixtures/safetensors/dtypes.safetensors with the Python safetensors library: every dtype the reader
converts to Float32 (F32, F16, BF16, F64, I64, I32, U8, BOOL), a 0-d tensor, an empty tensor and string metadata.
The expected Float32 values are stored beside each as <name>.expected (F32)."""
import pathlib

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]


def main():
    values = torch.tensor([[1.5, -2.25, 0.0], [3.0, 65504.0, -0.125]])
    tensors = {
        "f32": values.clone(),
        "f16": values.to(torch.float16),
        "bf16": values.to(torch.bfloat16),
        "f64": values.to(torch.float64),
        "i64": torch.tensor([0, -3, 7, 123456], dtype=torch.int64),
        "i32": torch.tensor([5, -6], dtype=torch.int32),
        "u8": torch.tensor([0, 255, 17], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(4.5),
        "empty": torch.zeros(0, 3),
        "bn.num_batches_tracked": torch.tensor(42, dtype=torch.int64),
    }
    for name in list(tensors):
        tensors[f"{name}.expected"] = tensors[name].to(torch.float32).clone()
    out = ROOT / "Tests" / "Fixtures" / "safetensors" / "dtypes.safetensors"
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata={"format": "pt", "note": "written by safetensors"})
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
