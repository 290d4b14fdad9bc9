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
    "both_broadcast": ((3, 1, 2, 4), (1, 5, 4, 3)),
    "batch_of_one_rhs": ((2, 3, 3, 4), (1, 4, 2)),
    "rank_4_times_rank_3": ((2, 2, 3, 4), (2, 4, 3)),
    "vector_rank_4": ((3,), (2, 1, 3, 2)),
    "rank_4_vector": ((1, 2, 2, 3), (3,)),
    "inner_one": ((3, 1), (1, 4)),
    "single_row_column": ((1, 5), (5, 1)),
    "large_inner": ((2, 70), (70, 3)),
}


def cases():
    for name, (left, right) in MATMUL_SHAPES.items():
        yield Case(f"matmul_{name}", "matmul", torch.matmul, [randn(*left), randn(*right)], differentiable=[0, 1])
    yield Case("linear_bias", "linear", F.linear, [randn(2, 3, 4), randn(5, 4), randn(5)], differentiable=[0, 1, 2])
    yield Case("linear_no_bias", "linear", F.linear, [randn(6, 4), randn(3, 4)], differentiable=[0, 1])
    yield Case("linear_vector", "linear", F.linear, [randn(4), randn(2, 4), randn(2)], differentiable=[0, 1, 2])
    yield Case("linear_4d_no_bias", "linear", F.linear, [randn(2, 1, 3, 5), randn(2, 5)], differentiable=[0, 1])
    yield Case("linear_one_feature", "linear", F.linear, [randn(3, 1), randn(4, 1), randn(4)],
               differentiable=[0, 1, 2])
    yield Case("linear_no_features", "linear", F.linear, [randn(3, 0), randn(2, 0), randn(2)],
               differentiable=[0, 1, 2])
