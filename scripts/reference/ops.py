#!/usr/bin/env python3
"""Writes PyTorch forward/backward fixtures for every TensorCore op into Tests/Fixtures/ops/<group>.safetensors.

Each group lives in scripts/reference/op_cases/<group>.py and defines `cases()`, yielding `Case` objects.
For a case named N the file holds:
  N.in.<i>    inputs (float32; integer inputs such as indices are stored as float32 too)
  N.out.<k>   outputs, computed in float64 from the float32 inputs and stored as float32
  N.gout.<k>  the seed gradient for each differentiable output (loss = sum_k sum(out_k * gout_k))
  N.grad.<i>  d loss / d input i, for inputs marked differentiable
and the metadata entry N holds JSON {"op": ..., "args": {...}} that the Swift test dispatches on.

Usage: python scripts/reference/ops.py [group ...]
"""
import importlib
import json
import pathlib
import pkgutil
import sys

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from op_cases.common import Case  # noqa: E402
import op_cases  # noqa: E402


def run_case(case: Case, tensors: dict, metadata: dict):
    generator = torch.Generator().manual_seed(case.seed)
    inputs = []
    for index, value in enumerate(case.inputs):
        value = value.to(torch.float32)
        tensors[f"{case.name}.in.{index}"] = value.contiguous().clone()
        differentiable = index in case.differentiable
        compute = value.to(case.compute_dtype) if value.is_floating_point() else value
        if case.integer_inputs and index in case.integer_inputs:
            compute = value.to(torch.int64)
        inputs.append(compute.clone().requires_grad_(differentiable))
    outputs = case.fn(*inputs)
    if not isinstance(outputs, (tuple, list)):
        outputs = (outputs,)
    loss = None
    for k, out in enumerate(outputs):
        tensors[f"{case.name}.out.{k}"] = out.detach().to(torch.float32).contiguous()
        if case.differentiable and out.is_floating_point() and out.requires_grad and k in case.grad_outputs(len(outputs)):
            gout = torch.randn(out.shape, generator=generator, dtype=torch.float32)
            tensors[f"{case.name}.gout.{k}"] = gout
            term = (out * gout.to(out.dtype)).sum()
            loss = term if loss is None else loss + term
    if loss is not None:
        loss.backward()
        for index in case.differentiable:
            grad = inputs[index].grad
            if grad is None:
                grad = torch.zeros_like(inputs[index])
            tensors[f"{case.name}.grad.{index}"] = grad.to(torch.float32).contiguous()
    metadata[case.name] = json.dumps({"op": case.op, "args": case.args}, sort_keys=True)


def write_group(name: str):
    module = importlib.import_module(f"op_cases.{name}")
    tensors, metadata = {}, {}
    seen = set()
    for case in module.cases():
        assert case.name not in seen, f"duplicate case {case.name}"
        assert "." not in case.name, f"case names may not contain '.': {case.name}"
        seen.add(case.name)
        run_case(case, tensors, metadata)
    out_dir = ROOT / "Tests" / "Fixtures" / "ops"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    print(f"{path.relative_to(ROOT)}: {len(seen)} cases, {path.stat().st_size} bytes")


def main():
    torch.manual_seed(0)
    groups = sys.argv[1:] or sorted(
        m.name for m in pkgutil.iter_modules(op_cases.__path__) if m.name != "common")
    for name in groups:
        write_group(name)


if __name__ == "__main__":
    main()
