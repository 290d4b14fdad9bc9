#!/usr/bin/env python3
"""Layer parity fixture: PyTorch modules with their state dicts, inputs, outputs and gradients.

Writes Tests/Fixtures/nn/layers.safetensors. For a case named N:
  N.state.<key>    the module's state_dict (PyTorch key names: the Swift layer must load it strictly)
  N.input.<i>      inputs
  N.output         output (train or eval mode per the metadata)
  N.gout           seed gradient; N.grad.input.<i> and N.grad.<key> the gradients it produces
  N.after.<key>    buffers after the forward pass (BatchNorm running statistics in training)
Metadata N = JSON {"layer": ..., "args": {...}, "training": bool}.
"""
import json
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_cases():
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    padding = torch.zeros(2, 5)
    padding[1, 3:] = 1
    frozen = torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        frozen.weight.normal_(); frozen.bias.normal_()
        frozen.running_mean.normal_(); frozen.running_var.uniform_(0.5, 2.0)
    frozen.eval()
    return [
        ("linear", "linear", {"in": 4, "out": 3, "bias": True}, torch.nn.Linear(4, 3), [torch.randn(2, 5, 4)], True),
        ("linear_no_bias", "linear", {"in": 4, "out": 2, "bias": False}, torch.nn.Linear(4, 2, bias=False),
         [torch.randn(3, 4)], True),
        ("conv", "conv2d", {"in": 4, "out": 6, "kernel": 3, "stride": 2, "padding": 1, "groups": 2, "bias": True},
         torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), [torch.randn(2, 4, 7, 6)], True),
        ("batch_norm_train", "batch_norm", {"channels": 3}, torch.nn.BatchNorm2d(3), [torch.randn(4, 3, 2, 2) * 2 + 1],
         True),
        ("batch_norm_eval", "batch_norm", {"channels": 3}, frozen, [torch.randn(2, 3, 2, 2)], False),
        ("group_norm", "group_norm", {"groups": 2, "channels": 4}, torch.nn.GroupNorm(2, 4), [torch.randn(2, 4, 3, 3)],
         True),
        ("layer_norm", "layer_norm", {"features": 6}, torch.nn.LayerNorm(6), [torch.randn(2, 3, 6)], True),
        ("embedding", "embedding", {"count": 7, "dim": 4, "padding": 0}, torch.nn.Embedding(7, 4, padding_idx=0),
         [torch.tensor([[1.0, 0.0, 6.0], [3.0, 3.0, 2.0]])], True),
        ("mha", "multihead_attention", {"embed": 8, "heads": 2}, mha,
         [torch.randn(2, 4, 8), torch.randn(2, 5, 8), torch.randn(2, 5, 8), padding], True),
    ]


def run(layer, module, inputs, training):
    module.train(training)
    inputs = [x.clone() for x in inputs]
    if layer == "embedding":
        differentiable = []
        output = module(inputs[0].long())
    elif layer == "multihead_attention":
        differentiable = [0, 1, 2]
        for index in differentiable:
            inputs[index].requires_grad_(True)
        output, _ = module(inputs[0], inputs[1], inputs[2], key_padding_mask=inputs[3].bool(), need_weights=False)
    else:
        differentiable = [0]
        inputs[0].requires_grad_(True)
        output = module(inputs[0])
    return inputs, differentiable, output


def main():
    tensors, metadata = {}, {}
    for name, layer, args, module, inputs, training in build_cases():
        for key, value in module.state_dict().items():
            tensors[f"{name}.state.{key}"] = value.detach().clone().float()
        inputs, differentiable, output = run(layer, module, inputs, training)
        for index, value in enumerate(inputs):
            tensors[f"{name}.input.{index}"] = value.detach().clone().float()
        gout = torch.randn(output.shape)
        tensors[f"{name}.output"] = output.detach().clone()
        tensors[f"{name}.gout"] = gout
        (output * gout).sum().backward()
        for index in differentiable:
            tensors[f"{name}.grad.input.{index}"] = inputs[index].grad.clone()
        for key, parameter in module.named_parameters():
            if parameter.grad is not None:
                tensors[f"{name}.grad.{key}"] = parameter.grad.clone()
        for key, value in module.named_buffers():
            tensors[f"{name}.after.{key}"] = value.detach().clone().float()
        metadata[name] = json.dumps({"layer": layer, "args": args, "training": training}, sort_keys=True)
    path = ROOT / "Tests" / "Fixtures" / "nn" / "layers.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    print(f"{path.relative_to(ROOT)}: {len(metadata)} cases, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
