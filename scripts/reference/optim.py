#!/usr/bin/env python3
"""Optimizer parity fixture: a small MLP trained for a few steps with SGD and AdamW from fixed weights and data.

Writes Tests/Fixtures/nn/optim.safetensors:
  init.<key>            initial parameters (fc1.weight, fc1.bias, fc2.weight, fc2.bias)
  data.x, data.y        one fixed batch
  <run>.<key>           parameters after STEPS steps of run <run>
  <run>.loss.<step>     the loss before each step
and metadata <run> = JSON of the optimizer settings. Group rules: fc1.* gets lr_mult (and the bias decay_mult 0 when
no_decay_bias), mirroring the toolkit's ParameterGroupRule.
"""
import json
import pathlib

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
STEPS = 5
RUNS = {
    "sgd_momentum": {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0,
                     "fc1_lr_mult": 1.0, "no_decay_bias": False},
    "sgd_nesterov_decay_groups": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.8, "nesterov": True,
                                  "weight_decay": 0.01, "fc1_lr_mult": 0.5, "no_decay_bias": True},
    "adamw": {"optimizer": "adamw", "lr": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.05,
              "fc1_lr_mult": 1.0, "no_decay_bias": False},
    "adamw_groups": {"optimizer": "adamw", "lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1,
                     "fc1_lr_mult": 0.1, "no_decay_bias": True},
}


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def param_groups(model, settings):
    groups = []
    for name, param in model.named_parameters():
        lr = settings["lr"] * (settings["fc1_lr_mult"] if name.startswith("fc1.") else 1.0)
        decay = 0.0 if settings["no_decay_bias"] and name.endswith(".bias") else settings["weight_decay"]
        groups.append({"params": [param], "lr": lr, "weight_decay": decay})
    return groups


def main():
    torch.manual_seed(0)
    reference = MLP()
    x = torch.randn(6, 4)
    y = torch.randn(6, 3)
    tensors = {f"init.{k}": v.detach().clone() for k, v in reference.state_dict().items()}
    tensors["data.x"], tensors["data.y"] = x, y
    metadata = {}
    for run, settings in RUNS.items():
        model = MLP()
        model.load_state_dict(reference.state_dict())
        groups = param_groups(model, settings)
        if settings["optimizer"] == "sgd":
            optimizer = torch.optim.SGD(groups, lr=settings["lr"], momentum=settings["momentum"],
                                        nesterov=settings["nesterov"])
        else:
            optimizer = torch.optim.AdamW(groups, lr=settings["lr"], betas=tuple(settings["betas"]),
                                          eps=settings["eps"])
        for step in range(STEPS):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            tensors[f"{run}.loss.{step}"] = loss.detach().reshape(())
            loss.backward()
            optimizer.step()
        for key, value in model.state_dict().items():
            tensors[f"{run}.{key}"] = value.detach().clone()
        metadata[run] = json.dumps({**settings, "steps": STEPS}, sort_keys=True)
    path = ROOT / "Tests" / "Fixtures" / "nn" / "optim.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    print(f"{path.relative_to(ROOT)}: {len(RUNS)} runs of {STEPS} steps")


if __name__ == "__main__":
    main()
