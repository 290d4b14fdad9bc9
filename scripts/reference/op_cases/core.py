"""Creation and reshape: arange and reshape (with an inferred axis)."""
import torch

from .common import Case, randn


def cases():
    for name, (start, end, step) in {"arange_int": (0, 5, 1), "arange_float": (-1.5, 2.0, 0.25),
                                     "arange_negative_step": (3.0, -2.0, -0.5), "arange_empty": (2, 2, 1)}.items():
        yield Case(name, "arange", lambda s=start, e=end, st=step: torch.arange(s, e, st, dtype=torch.float64), [],
                   args={"start": start, "end": end, "step": step})
    yield Case("reshape_2d", "reshape", lambda x: x.reshape(3, 4), [randn(2, 6)], args={"shape": [3, 4]},
               differentiable=[0])
    yield Case("reshape_inferred", "reshape", lambda x: x.reshape(-1, 2, 3), [randn(4, 3)],
               args={"shape": [-1, 2, 3]}, differentiable=[0])
    yield Case("reshape_to_scalar", "reshape", lambda x: x.reshape(()), [randn(1, 1)], args={"shape": []},
               differentiable=[0])
