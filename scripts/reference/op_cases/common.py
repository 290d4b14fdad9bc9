"""Shared helpers for op fixture groups."""
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch


@dataclass
class Case:
    name: str                      # unique within the group; no dots
    op: str                        # the Swift test dispatches on this
    fn: Callable                   # torch implementation taking the inputs in order
    inputs: Sequence[torch.Tensor]
    args: dict = field(default_factory=dict)   # JSON-serialisable op arguments, read by the Swift test
    differentiable: Sequence[int] = ()         # indices of inputs whose gradients are checked
    integer_inputs: Sequence[int] = ()         # inputs passed to fn as int64 (stored as float32)
    compute_dtype: torch.dtype = torch.float64
    seed: int = 0
    outputs_with_grad: Sequence[int] | None = None  # default: every floating output

    def grad_outputs(self, count):
        return range(count) if self.outputs_with_grad is None else self.outputs_with_grad


_generator = torch.Generator().manual_seed(1234)


def randn(*shape, scale=1.0):
    return torch.randn(tuple(shape), generator=_generator, dtype=torch.float32) * scale


def rand(*shape, low=0.0, high=1.0):
    return low + (high - low) * torch.rand(tuple(shape), generator=_generator, dtype=torch.float32)


def randint(low, high, shape):
    return torch.randint(low, high, tuple(shape), generator=_generator).to(torch.float32)
