"""Unary math, activations, minimum/maximum, where, masked_fill and comparisons."""
import torch
import torch.nn.functional as F

from .common import Case, randn, rand

UNARY = {
    "exp": (torch.exp, lambda: randn(3, 4)),
    "log": (torch.log, lambda: rand(3, 4, low=0.2, high=3.0)),
    "sqrt": (torch.sqrt, lambda: rand(3, 4, low=0.2, high=3.0)),
    "rsqrt": (torch.rsqrt, lambda: rand(3, 4, low=0.2, high=3.0)),
    "square": (torch.square, lambda: randn(3, 4)),
    "sin": (torch.sin, lambda: randn(3, 4)),
    "cos": (torch.cos, lambda: randn(3, 4)),
    "abs": (torch.abs, lambda: randn(3, 4)),
    "relu": (torch.relu, lambda: randn(3, 4)),
    "relu6": (F.relu6, lambda: randn(3, 4, scale=5.0)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda: randn(3, 4)),
    "sigmoid": (torch.sigmoid, lambda: randn(3, 4, scale=3.0)),
    "tanh": (torch.tanh, lambda: randn(3, 4, scale=2.0)),
    "silu": (F.silu, lambda: randn(3, 4, scale=3.0)),
    "hardsigmoid": (F.hardsigmoid, lambda: randn(3, 4, scale=4.0)),
    "gelu": (F.gelu, lambda: randn(3, 4, scale=3.0)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda: randn(3, 4, scale=3.0)),
    "softplus": (F.softplus, lambda: randn(3, 4, scale=4.0)),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=5.0), lambda: randn(3, 4, scale=4.0)),
}


def cases():
    for name, (fn, make) in UNARY.items():
        yield Case(name, name, fn, [make()], differentiable=[0])
    yield Case("pow_scalar", "pow_scalar", lambda x: x ** 3.0, [randn(3, 4)], args={"exponent": 3.0}, differentiable=[0])
    yield Case("pow_fractional", "pow_scalar", lambda x: x ** 1.5, [rand(3, 4, low=0.1, high=2.0)],
               args={"exponent": 1.5}, differentiable=[0])
    yield Case("pow_tensor", "pow_tensor", torch.pow, [rand(3, 4, low=0.2, high=2.0), randn(4)], differentiable=[0, 1])
    yield Case("clamp_both", "clamp", lambda x: x.clamp(-0.5, 0.7), [randn(3, 4)], args={"min": -0.5, "max": 0.7},
               differentiable=[0])
    yield Case("clamp_min", "clamp", lambda x: x.clamp(min=0.1), [randn(3, 4)], args={"min": 0.1}, differentiable=[0])
    yield Case("clamp_max", "clamp", lambda x: x.clamp(max=0.2), [randn(3, 4)], args={"max": 0.2}, differentiable=[0])
    ties = torch.tensor([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    yield Case("maximum_ties", "maximum", torch.maximum, [ties, torch.tensor([1.0, 0.0, 3.0])], differentiable=[0, 1])
    yield Case("minimum_ties", "minimum", torch.minimum, [ties, torch.tensor([1.0, 0.0, 3.0])], differentiable=[0, 1])
    yield Case("maximum_broadcast", "maximum", torch.maximum, [randn(2, 1, 3), randn(4, 1)], differentiable=[0, 1])
    yield Case("minimum_broadcast", "minimum", torch.minimum, [randn(2, 3), randn()], differentiable=[0, 1])
    cond = (randn(2, 1, 4) > 0).float()
    yield Case("where_broadcast", "where", lambda c, a, b: torch.where(c.bool(), a, b), [cond, randn(3, 4), randn(2, 3, 1)],
               differentiable=[1, 2])
    yield Case("masked_fill", "masked_fill", lambda x, m: x.masked_fill(m.bool(), -7.0),
               [randn(2, 3, 4), (randn(3, 1) > 0).float()], args={"value": -7.0}, differentiable=[0])
    left, right = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), torch.tensor([2.0, 2.0, 2.0])
    for name, fn in {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt,
                     "ge": torch.ge}.items():
        yield Case(f"compare_{name}", "compare", lambda a, b, f=fn: f(a, b).float(), [left, right], args={"op": name})
        yield Case(f"compare_{name}_scalar", "compare_scalar", lambda a, f=fn: f(a, 2.0).float(), [left],
                   args={"op": name, "value": 2.0})
