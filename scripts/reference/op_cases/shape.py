"""permute, transpose, flatten, squeeze/unsqueeze, expand, slicing with steps, cat, stack, split, chunk, pad,
gather, index_select and embedding."""
import torch
import torch.nn.functional as F

from .common import Case, randn, randint


def cases():
    x = randn(2, 3, 4)
    yield Case("permute", "permute", lambda t: t.permute(2, 0, 1), [x.clone()], args={"axes": [2, 0, 1]},
               differentiable=[0])
    yield Case("permute_negative", "permute", lambda t: t.permute(-1, -3, -2), [x.clone()], args={"axes": [-1, -3, -2]},
               differentiable=[0])
    yield Case("transpose", "transpose", lambda t: t.transpose(0, 2), [x.clone()], args={"first": 0, "second": 2},
               differentiable=[0])
    yield Case("flatten_middle", "flatten", lambda t: t.flatten(1, 2), [randn(2, 3, 4, 5)], args={"start": 1, "end": 2},
               differentiable=[0])
    yield Case("flatten_all", "flatten", lambda t: t.flatten(), [x.clone()], args={"start": 0, "end": -1},
               differentiable=[0])
    yield Case("unsqueeze_negative", "unsqueeze", lambda t: t.unsqueeze(-1), [x.clone()], args={"axis": -1},
               differentiable=[0])
    yield Case("squeeze_axis", "squeeze", lambda t: t.squeeze(1), [randn(2, 1, 3)], args={"axis": 1},
               differentiable=[0])
    yield Case("expand", "expand", lambda t: t.expand(2, 3, 4), [randn(3, 1)], args={"shape": [2, 3, 4]},
               differentiable=[0])
    slices = {"basic": (1, 0, 3, 1), "step": (2, 0, 4, 2), "negative": (1, -2, None, 1),
              "step3_offset": (2, 1, None, 3), "clamped": (0, -10, 10, 1), "empty": (1, 2, 1, 1)}
    for name, (axis, start, end, step) in slices.items():
        index = [slice(None)] * 3
        index[axis] = slice(start, end, step)
        yield Case(f"slice_{name}", "slice", lambda t, i=tuple(index): t[i], [x.clone()],
                   args={"axis": axis, "start": start, "end": end, "step": step}, differentiable=[0])
    yield Case("cat", "cat", lambda a, b, c: torch.cat([a, b, c], 1), [randn(2, 1, 3), randn(2, 4, 3), randn(2, 2, 3)],
               args={"axis": 1}, differentiable=[0, 1, 2])
    yield Case("cat_negative", "cat", lambda a, b: torch.cat([a, b], -1), [randn(2, 2), randn(2, 3)],
               args={"axis": -1}, differentiable=[0, 1])
    yield Case("stack", "stack", lambda a, b: torch.stack([a, b], 1), [randn(2, 3), randn(2, 3)], args={"axis": 1},
               differentiable=[0, 1])
    yield Case("stack_last", "stack", lambda a, b: torch.stack([a, b], -1), [randn(2, 3), randn(2, 3)],
               args={"axis": -1}, differentiable=[0, 1])
    yield Case("split", "split", lambda t: tuple(torch.split(t, [1, 3, 2], dim=2)), [randn(2, 3, 6)],
               args={"sizes": [1, 3, 2], "axis": 2}, differentiable=[0])
    yield Case("chunk", "chunk", lambda t: tuple(torch.chunk(t, 3, dim=0)), [randn(7, 2)],
               args={"count": 3, "axis": 0}, differentiable=[0])
    yield Case("pad_last", "pad", lambda t: F.pad(t, (1, 2), value=0.5), [x.clone()], args={"pads": [1, 2], "value": 0.5},
               differentiable=[0])
    yield Case("pad_two_axes", "pad", lambda t: F.pad(t, (0, 1, 2, 0)), [randn(2, 3, 4, 5)],
               args={"pads": [0, 1, 2, 0], "value": 0.0}, differentiable=[0])
    yield Case("gather_axis1", "gather", lambda t, i: torch.gather(t, 1, i),
               [x.clone(), randint(0, 3, (2, 5, 4))], args={"axis": 1}, differentiable=[0], integer_inputs=[1])
    yield Case("gather_last_smaller", "gather", lambda t, i: torch.gather(t, -1, i),
               [x.clone(), randint(0, 4, (1, 2, 6))], args={"axis": -1}, differentiable=[0], integer_inputs=[1])
    yield Case("index_select_repeat", "index_select", lambda t, i: torch.index_select(t, 1, i),
               [x.clone(), torch.tensor([2.0, 0.0, 2.0, 1.0])], args={"axis": 1}, differentiable=[0], integer_inputs=[1])
    yield Case("index_select_last", "index_select", lambda t, i: torch.index_select(t, -1, i),
               [x.clone(), torch.tensor([3.0, 3.0])], args={"axis": -1}, differentiable=[0], integer_inputs=[1])
    ids = torch.tensor([[1.0, 4.0, 0.0], [4.0, 2.0, 1.0]])
    yield Case("embedding", "embedding", lambda w, i: F.embedding(i, w), [randn(5, 3), ids],
               args={}, differentiable=[0], integer_inputs=[1])
    yield Case("embedding_padding", "embedding", lambda w, i: F.embedding(i, w, padding_idx=1), [randn(5, 3), ids],
               args={"padding_index": 1}, differentiable=[0], integer_inputs=[1])
