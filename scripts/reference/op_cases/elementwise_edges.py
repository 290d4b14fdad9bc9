"""Edge cases of the elementwise and reduction ops that random inputs never reach.

Inputs sit exactly on the kinks of piecewise ops (relu at 0, relu6 at 6, hardsigmoid at +-3, clamp bounds), on
softplus's threshold, at saturating magnitudes, on ties of maximum/minimum and of max/argmax, and on 0-d tensors
broadcast against higher ranks. Reductions use negative, unsorted and empty axis lists, keepdim both ways and 0-d
inputs. Expected values stay finite here: infinities and NaNs are checked by explicit unit tests in Swift, because a
tolerance comparison cannot tell two infinities apart.
"""
import torch
import torch.nn.functional as F

from .common import Case, randn, rand

KINKS = torch.tensor([[-6.0, -3.0, -1.0, -0.5, 0.0, 0.5], [1.0, 3.0, 6.0, 7.5, -7.5, 2.0]])
SATURATING = torch.tensor([[-100.0, -30.0, -12.0, -1e-3, 0.0, 1e-3], [12.0, 30.0, 100.0, -5.0, 5.0, 0.25]])

UNARY = {
    "relu": torch.relu,
    "relu6": F.relu6,
    "hardsigmoid": F.hardsigmoid,
    "abs": torch.abs,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "softplus": F.softplus,
}

COMPARISONS = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}


def unary_cases():
    for name, fn in UNARY.items():
        yield Case(f"{name}_kinks", name, fn, [KINKS.clone()], args={"slope": 0.1}, differentiable=[0])
        if name not in ("relu", "relu6", "hardsigmoid", "abs", "leaky_relu"):
            yield Case(f"{name}_saturating", name, fn, [SATURATING.clone()], args={"slope": 0.1},
                       differentiable=[0])
    # beta * x lands exactly on, just below and just above the threshold, and far on both sides.
    at_threshold = torch.tensor([3.0, 2.9990, 3.0010, -40.0, 40.0, 0.0])
    yield Case("softplus_threshold", "softplus", lambda x: F.softplus(x, beta=2.0, threshold=6.0), [at_threshold],
               args={"beta": 2.0, "threshold": 6.0}, differentiable=[0])
    yield Case("softplus_default_threshold", "softplus", F.softplus, [torch.tensor([19.99, 20.0, 20.01, 25.0])],
               args={"beta": 1.0, "threshold": 20.0}, differentiable=[0])
    yield Case("exp_zero_dim", "exp", torch.exp, [randn()], differentiable=[0])
    yield Case("log_zero_dim", "log", torch.log, [rand(low=0.5, high=2.0)], differentiable=[0])
    yield Case("sqrt_tiny", "sqrt", torch.sqrt, [torch.tensor([1e-6, 1e-3, 1.0, 100.0])], differentiable=[0])
    yield Case("rsqrt_tiny", "rsqrt", torch.rsqrt, [torch.tensor([1e-4, 1e-2, 1.0, 100.0])], differentiable=[0])


def pow_and_clamp_cases():
    yield Case("pow_exponent_zero", "pow_scalar", lambda x: x ** 0.0, [torch.tensor([0.0, -2.0, 3.0])],
               args={"exponent": 0.0}, differentiable=[0])
    yield Case("pow_negative_exponent", "pow_scalar", lambda x: x ** -1.0, [rand(2, 3, low=0.5, high=2.0)],
               args={"exponent": -1.0}, differentiable=[0])
    yield Case("pow_square_negative_base", "pow_scalar", lambda x: x ** 2.0, [torch.tensor([-2.0, 0.0, 1.5])],
               args={"exponent": 2.0}, differentiable=[0])
    yield Case("pow_cube_at_zero", "pow_scalar", lambda x: x ** 3.0, [torch.tensor([-1.5, 0.0, 2.0])],
               args={"exponent": 3.0}, differentiable=[0])
    # Base 0 with a non-negative exponent: PyTorch masks the exponent gradient 0^y·log 0 to 0.
    yield Case("pow_tensor_zero_base", "pow_tensor", torch.pow,
               [torch.tensor([[0.0, 0.0, 0.5], [2.0, 0.0, 1.0]]), torch.tensor([2.0, 0.0, 1.5])],
               differentiable=[0, 1])
    yield Case("pow_tensor_base_broadcast", "pow_tensor", torch.pow, [rand(2, 1, low=0.5, high=2.0), randn(3)],
               differentiable=[0, 1])
    yield Case("pow_tensor_zero_dim_base", "pow_tensor", torch.pow, [rand(low=0.5, high=2.0), randn(2, 3)],
               differentiable=[0, 1])
    yield Case("pow_tensor_zero_dim_exponent", "pow_tensor", torch.pow, [rand(2, 3, low=0.5, high=2.0), randn()],
               differentiable=[0, 1])
    bounds = torch.tensor([-2.0, -1.0, -0.5, 0.0, 1.0, 1.5])
    yield Case("clamp_on_bounds", "clamp", lambda x: x.clamp(-1.0, 1.0), [bounds.clone()],
               args={"min": -1.0, "max": 1.0}, differentiable=[0])
    yield Case("clamp_min_on_bound", "clamp", lambda x: x.clamp(min=0.0), [bounds.clone()], args={"min": 0.0},
               differentiable=[0])
    yield Case("clamp_max_on_bound", "clamp", lambda x: x.clamp(max=-0.5), [bounds.clone()], args={"max": -0.5},
               differentiable=[0])
    # min > max: every value becomes max and no gradient passes.
    yield Case("clamp_crossed_bounds", "clamp", lambda x: x.clamp(1.0, 0.0), [bounds.clone()],
               args={"min": 1.0, "max": 0.0}, differentiable=[0])
    yield Case("clamp_zero_dim", "clamp", lambda x: x.clamp(-0.25, 0.25), [torch.tensor(0.1)],
               args={"min": -0.25, "max": 0.25}, differentiable=[0])


def selection_cases():
    grid = torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.5, 0.0]])
    for name, fn in {"maximum": torch.maximum, "minimum": torch.minimum}.items():
        # A 0-d operand ties with several elements; its gradient sums the halves.
        yield Case(f"{name}_zero_dim_ties", name, fn, [grid.clone(), torch.tensor(0.0)], differentiable=[0, 1])
        yield Case(f"{name}_zero_dim_left", name, fn, [torch.tensor(0.5), grid.clone()], differentiable=[0, 1])
        yield Case(f"{name}_column_ties", name, fn, [torch.tensor([[0.0], [0.5]]), grid.clone()],
                   differentiable=[0, 1])
        yield Case(f"{name}_identical", name, fn, [grid.clone(), grid.clone()], differentiable=[0, 1])
    where = lambda c, a, b: torch.where(c.bool(), a, b)
    yield Case("where_zero_dim_condition", "where", where, [torch.tensor(1.0), randn(2, 3), randn(3)],
               differentiable=[1, 2])
    yield Case("where_zero_dim_values", "where", where,
               [torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]), randn(), randn()], differentiable=[1, 2])
    # The condition has the largest shape, so both value gradients sum over broadcast axes.
    yield Case("where_condition_widest", "where", where, [(randn(2, 3, 4) > 0).float(), randn(4), randn(3, 1)],
               differentiable=[1, 2])
    yield Case("where_nonbinary_condition", "where", where,
               [torch.tensor([2.0, -1.0, 0.0, 0.5]), randn(4), randn(4)], differentiable=[1, 2])
    fill = lambda x, m, v=-3.0: x.masked_fill(m.bool(), v)
    yield Case("masked_fill_zero_dim_mask", "masked_fill", fill, [randn(2, 3), torch.tensor(1.0)],
               args={"value": -3.0}, differentiable=[0])
    yield Case("masked_fill_same_shape", "masked_fill", fill, [randn(2, 3), (randn(2, 3) > 0).float()],
               args={"value": -3.0}, differentiable=[0])
    yield Case("masked_fill_leading_broadcast", "masked_fill", fill,
               [randn(2, 2, 3), torch.tensor([1.0, 0.0, 1.0])], args={"value": -3.0}, differentiable=[0])
    yield Case("masked_fill_zero_dim_input", "masked_fill", fill, [randn(), torch.tensor(0.0)],
               args={"value": -3.0}, differentiable=[0])
    column = torch.tensor([[1.0], [2.0]])
    row = torch.tensor([2.0, 1.0, 3.0])
    for name, fn in COMPARISONS.items():
        yield Case(f"compare_{name}_outer", "compare", lambda a, b, f=fn: f(a, b).float(), [column, row],
                   args={"op": name})
        yield Case(f"compare_{name}_zero_dim_right", "compare", lambda a, b, f=fn: f(a, b).float(),
                   [row, torch.tensor(2.0)], args={"op": name})
        yield Case(f"compare_{name}_zero_dim_left", "compare", lambda a, b, f=fn: f(a, b).float(),
                   [torch.tensor(2.0), column], args={"op": name})
        yield Case(f"compare_{name}_scalar_zero_dim", "compare_scalar", lambda a, f=fn: f(a, 1.0).float(),
                   [torch.tensor(1.0)], args={"op": name, "value": 1.0})


def reduction_cases():
    x = randn(2, 3, 4)
    axis_sets = [
        ("neg_pair", [-1, 0]), ("unsorted", [2, 0]), ("neg_middle", [-2]), ("empty", []),
        ("all_negative", [-3, -2, -1]),
    ]
    for tag, axes in axis_sets:
        for keep in (False, True):
            suffix = f"{tag}_{'keep' if keep else 'drop'}"
            args = {"axes": axes, "keep_dim": keep}
            yield Case(f"sum_{suffix}", "sum", lambda t, a=axes, k=keep: t.sum(dim=a, keepdim=k), [x.clone()],
                       args=args, differentiable=[0])
            yield Case(f"mean_{suffix}", "mean", lambda t, a=axes, k=keep: t.mean(dim=a, keepdim=k), [x.clone()],
                       args=args, differentiable=[0])
            # torch's var/std backward counts zero reduced elements for dim=[] (its gradient comes out N times too
            # large, or infinite), while the forward reduces every axis; dim=None gives the true reference.
            torch_axes = axes or None
            for correction in (0, 1):
                yield Case(f"var_c{correction}_{suffix}", "var",
                           lambda t, a=torch_axes, k=keep, c=correction: t.var(dim=a, keepdim=k, correction=c),
                           [x.clone()], args={**args, "correction": correction}, differentiable=[0])
                yield Case(f"std_c{correction}_{suffix}", "std",
                           lambda t, a=torch_axes, k=keep, c=correction: t.std(dim=a, keepdim=k, correction=c),
                           [x.clone()], args={**args, "correction": correction}, differentiable=[0])
            if axes:  # torch.logsumexp rejects an empty dim list
                yield Case(f"logsumexp_{suffix}", "logsumexp",
                           lambda t, a=axes, k=keep: torch.logsumexp(t, dim=a, keepdim=k), [x.clone() * 4],
                           args=args, differentiable=[0])
    # Magnitudes whose exponentials overflow Float32 unless shifted by the maximum; -inf entries contribute nothing.
    large = torch.tensor([[1000.0, 999.0, -1000.0], [-1e4, -1e4 + 2.0, float("-inf")]])
    for tag, axes, keep in [("last", [-1], False), ("both_keep", [0, 1], True), ("first", [0], False)]:
        yield Case(f"logsumexp_large_{tag}", "logsumexp",
                   lambda t, a=axes, k=keep: torch.logsumexp(t, dim=a, keepdim=k), [large.clone()],
                   args={"axes": axes, "keep_dim": keep}, differentiable=[0])
    scalar = torch.tensor(1.25)
    for axis in (0, -1):
        for keep in (False, True):
            args = {"axes": [axis], "keep_dim": keep}
            suffix = f"{'neg' if axis < 0 else 'zero'}_{'keep' if keep else 'drop'}"
            yield Case(f"sum_zero_dim_{suffix}", "sum", lambda t, a=axis, k=keep: t.sum(dim=a, keepdim=k),
                       [scalar.clone()], args=args, differentiable=[0])
            yield Case(f"mean_zero_dim_{suffix}", "mean", lambda t, a=axis, k=keep: t.mean(dim=a, keepdim=k),
                       [scalar.clone()], args=args, differentiable=[0])
            yield Case(f"var_zero_dim_{suffix}", "var",
                       lambda t, a=axis, k=keep: t.var(dim=a, keepdim=k, correction=0), [scalar.clone()],
                       args={**args, "correction": 0}, differentiable=[0])
            yield Case(f"logsumexp_zero_dim_{suffix}", "logsumexp",
                       lambda t, a=axis, k=keep: torch.logsumexp(t, dim=a, keepdim=k), [scalar.clone()], args=args,
                       differentiable=[0])
            yield Case(f"max_zero_dim_{suffix}", "max_axis", lambda t, a=axis, k=keep: tuple(torch.max(t, a, k)),
                       [scalar.clone()], args={"axis": axis, "keep_dim": keep}, differentiable=[0])
            yield Case(f"argmin_zero_dim_{suffix}", "argmin",
                       lambda t, a=axis, k=keep: torch.argmin(t, dim=a, keepdim=k).float(), [scalar.clone()],
                       args={"axis": axis, "keep_dim": keep})
    yield Case("sum_all_zero_dim", "sum_all", torch.sum, [scalar.clone()], differentiable=[0])
    yield Case("mean_all_zero_dim", "mean_all", torch.mean, [scalar.clone()], differentiable=[0])
    yield Case("sum_all_vector", "sum_all", torch.sum, [randn(7)], differentiable=[0])
    yield Case("mean_all_matrix", "mean_all", torch.mean, [randn(3, 5)], differentiable=[0])
    yield Case("max_all_zero_dim", "max_all", torch.max, [scalar.clone()], differentiable=[0])
    yield Case("min_all_three_way_tie", "min_all", torch.min, [torch.tensor([[0.0, 2.0], [0.0, 0.0]])],
               differentiable=[0])
    # Ties along the reduced axis: values, first-occurrence indices, and the gradient going to that index only.
    ties = torch.tensor([[[3.0, 1.0], [3.0, 1.0], [0.0, 1.0]], [[2.0, -1.0], [5.0, -1.0], [5.0, 4.0]]])
    for axis in (1, -1, 0):
        for keep in (False, True):
            suffix = f"{'m' if axis < 0 else ''}{abs(axis)}_{'keep' if keep else 'drop'}"
            axis_args = {"axis": axis, "keep_dim": keep}
            yield Case(f"max_ties_{suffix}", "max_axis", lambda t, a=axis, k=keep: tuple(torch.max(t, a, k)),
                       [ties.clone()], args=axis_args, differentiable=[0])
            yield Case(f"min_ties_{suffix}", "min_axis", lambda t, a=axis, k=keep: tuple(torch.min(t, a, k)),
                       [ties.clone()], args=axis_args, differentiable=[0])
            yield Case(f"argmax_ties_{suffix}", "argmax",
                       lambda t, a=axis, k=keep: torch.argmax(t, dim=a, keepdim=k).float(), [ties.clone()],
                       args=axis_args)
            yield Case(f"argmin_ties_{suffix}", "argmin",
                       lambda t, a=axis, k=keep: torch.argmin(t, dim=a, keepdim=k).float(), [ties.clone()],
                       args=axis_args)
    yield Case("max_size_one_axis", "max_axis", lambda t: tuple(torch.max(t, 1, True)), [randn(3, 1, 2)],
               args={"axis": 1, "keep_dim": True}, differentiable=[0])
    yield Case("min_vector", "min_axis", lambda t: tuple(torch.min(t, -1)), [randn(5)],
               args={"axis": -1, "keep_dim": False}, differentiable=[0])


def cases():
    yield from unary_cases()
    yield from pow_and_clamp_cases()
    yield from selection_cases()
    yield from reduction_cases()
