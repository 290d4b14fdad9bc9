"""sum, mean, var/std, max/min with indices, argmax/argmin, full max/min and logsumexp over various axes."""
import torch

from .common import Case, randn


def cases():
    x = randn(2, 3, 4)
    for name, axes, keep in [("axis0", [0], False), ("last", [-1], False), ("two", [0, 2], True),
                             ("middle_keep", [1], True), ("all_listed", [0, 1, 2], False)]:
        yield Case(f"sum_{name}", "sum", lambda t, a=axes, k=keep: t.sum(dim=a, keepdim=k), [x.clone()],
                   args={"axes": axes, "keep_dim": keep}, differentiable=[0])
        yield Case(f"mean_{name}", "mean", lambda t, a=axes, k=keep: t.mean(dim=a, keepdim=k), [x.clone()],
                   args={"axes": axes, "keep_dim": keep}, differentiable=[0])
        yield Case(f"var_{name}", "var", lambda t, a=axes, k=keep: t.var(dim=a, keepdim=k, correction=1), [x.clone()],
                   args={"axes": axes, "keep_dim": keep, "correction": 1}, differentiable=[0])
        yield Case(f"var_biased_{name}", "var", lambda t, a=axes, k=keep: t.var(dim=a, keepdim=k, correction=0),
                   [x.clone()], args={"axes": axes, "keep_dim": keep, "correction": 0}, differentiable=[0])
        yield Case(f"std_{name}", "std", lambda t, a=axes, k=keep: t.std(dim=a, keepdim=k), [x.clone()],
                   args={"axes": axes, "keep_dim": keep, "correction": 1}, differentiable=[0])
        yield Case(f"logsumexp_{name}", "logsumexp", lambda t, a=axes, k=keep: torch.logsumexp(t, dim=a, keepdim=k),
                   [x.clone() * 3], args={"axes": axes, "keep_dim": keep}, differentiable=[0])
    yield Case("sum_all", "sum_all", torch.sum, [x.clone()], differentiable=[0])
    yield Case("mean_all", "mean_all", torch.mean, [x.clone()], differentiable=[0])
    for axis, keep in [(0, False), (1, True), (-1, False)]:
        yield Case(f"max_axis{axis}_{keep}", "max_axis", lambda t, a=axis, k=keep: tuple(torch.max(t, dim=a, keepdim=k)),
                   [x.clone()], args={"axis": axis, "keep_dim": keep}, differentiable=[0])
        yield Case(f"min_axis{axis}_{keep}", "min_axis", lambda t, a=axis, k=keep: tuple(torch.min(t, dim=a, keepdim=k)),
                   [x.clone()], args={"axis": axis, "keep_dim": keep}, differentiable=[0])
        yield Case(f"argmax_axis{axis}", "argmax", lambda t, a=axis, k=keep: torch.argmax(t, dim=a, keepdim=k).float(),
                   [x.clone()], args={"axis": axis, "keep_dim": keep})
        yield Case(f"argmin_axis{axis}", "argmin", lambda t, a=axis, k=keep: torch.argmin(t, dim=a, keepdim=k).float(),
                   [x.clone()], args={"axis": axis, "keep_dim": keep})
    ties = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    yield Case("max_axis_ties", "max_axis", lambda t: tuple(torch.max(t, dim=1)), [ties],
               args={"axis": 1, "keep_dim": False}, differentiable=[0])
    yield Case("max_all_ties", "max_all", torch.max, [ties], differentiable=[0])
    yield Case("min_all", "min_all", torch.min, [x.clone()], differentiable=[0])
