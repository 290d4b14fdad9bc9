"""matmul (torch.matmul semantics, including 1-D operands and broadcast batch axes) and F.linear."""
import torch
import torch.nn.functional as F

from .common import Case, randn

MATMUL_SHAPES = {
    "dot": ((5,), (5,)),
    "matrix": ((3, 4), (4, 2)),
    "vector_matrix": ((4,), (4, 3)),
    "matrix_vector": ((3, 4), (4,)),
    "batched": ((2, 3, 4), (2, 4, 5)),
    "batch_times_matrix": ((2, 3, 3, 4), (4, 2)),
    "matrix_times_batch": ((3, 4), (2, 4, 2)),
    "broadcast_batch": ((2, 1, 3, 4), (5, 4, 2)),
    "vector_batch": ((4,), (3, 4, 2)),
    "batch_vector": ((2, 3, 4), (4,)),
}


def cases():
    for name, (left, right) in MATMUL_SHAPES.items():
        yield Case(f"matmul_{name}", "matmul", torch.matmul, [randn(*left), randn(*right)], differentiable=[0, 1])
    yield Case("linear_bias", "linear", F.linear, [randn(2, 3, 4), randn(5, 4), randn(5)], differentiable=[0, 1, 2])
    yield Case("linear_no_bias", "linear", F.linear, [randn(6, 4), randn(3, 4)], differentiable=[0, 1])
    yield Case("linear_vector", "linear", F.linear, [randn(4), randn(2, 4), randn(2)], differentiable=[0, 1, 2])
