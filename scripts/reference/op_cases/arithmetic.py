"""add, sub, mul, div (tensor and scalar operands, with broadcasting) and negation."""
import torch

from .common import Case, randn, rand

SHAPES = [
    ("same", (2, 3), (2, 3)),
    ("row", (2, 3), (3,)),
    ("column", (4, 1, 3), (2, 1)),
    ("zero_dim", (2, 3), ()),
    ("both", (1, 3, 1), (2, 1, 4)),
]


def cases():
    for tag, left, right in SHAPES:
        yield Case(f"add_{tag}", "add", torch.add, [randn(*left), randn(*right)], differentiable=[0, 1])
        yield Case(f"sub_{tag}", "sub", torch.sub, [randn(*left), randn(*right)], differentiable=[0, 1])
        yield Case(f"mul_{tag}", "mul", torch.mul, [randn(*left), randn(*right)], differentiable=[0, 1])
        yield Case(f"div_{tag}", "div", torch.div, [randn(*left), rand(*right, low=0.5, high=2.0)],
                   differentiable=[0, 1])
    yield Case("neg", "neg", torch.neg, [randn(3, 4)], differentiable=[0])
    yield Case("add_scalar", "add_scalar", lambda x: x + 1.5, [randn(3, 4)], args={"value": 1.5}, differentiable=[0])
    yield Case("mul_scalar", "mul_scalar", lambda x: x * -2.5, [randn(3, 4)], args={"value": -2.5},
               differentiable=[0])
    yield Case("rsub_scalar", "rsub_scalar", lambda x: 3.0 - x, [randn(3, 4)], args={"value": 3.0},
               differentiable=[0])
    yield Case("rdiv_scalar", "rdiv_scalar", lambda x: 2.0 / x, [rand(3, 4, low=0.5, high=2.0)],
               args={"value": 2.0}, differentiable=[0])
