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
    yield Case("pad_last", "pad", lambda t: F.pad(t, (1, 2), value=0.5), [x.clone()],
               args={"pads": [1, 2], "value": 0.5}, differentiable=[0])
    yield Case("pad_two_axes", "pad", lambda t: F.pad(t, (0, 1, 2, 0)), [randn(2, 3, 4, 5)],
               args={"pads": [0, 1, 2, 0], "value": 0.0}, differentiable=[0])
    yield Case("gather_axis1", "gather", lambda t, i: torch.gather(t, 1, i),
               [x.clone(), randint(0, 3, (2, 5, 4))], args={"axis": 1}, differentiable=[0], integer_inputs=[1])
    yield Case("gather_last_smaller", "gather", lambda t, i: torch.gather(t, -1, i),
               [x.clone(), randint(0, 4, (1, 2, 6))], args={"axis": -1}, differentiable=[0], integer_inputs=[1])
    yield Case("index_select_repeat", "index_select", lambda t, i: torch.index_select(t, 1, i),
               [x.clone(), torch.tensor([2.0, 0.0, 2.0, 1.0])], args={"axis": 1}, differentiable=[0],
               integer_inputs=[1])
    yield Case("index_select_last", "index_select", lambda t, i: torch.index_select(t, -1, i),
               [x.clone(), torch.tensor([3.0, 3.0])], args={"axis": -1}, differentiable=[0], integer_inputs=[1])
    ids = torch.tensor([[1.0, 4.0, 0.0], [4.0, 2.0, 1.0]])
    yield Case("embedding", "embedding", lambda w, i: F.embedding(i, w), [randn(5, 3), ids],
               args={}, differentiable=[0], integer_inputs=[1])
    yield Case("embedding_padding", "embedding", lambda w, i: F.embedding(i, w, padding_idx=1), [randn(5, 3), ids],
               args={"padding_index": 1}, differentiable=[0], integer_inputs=[1])
    yield from more_cases()


def more_cases():
    """Wider coverage: 4-D layout permutes, negative axes everywhere, -1 in expand, edge slices, uneven chunks,
    three padded axes, and index ops on other axes with repeated indices. (The tiled transpose path needs tensors
    too large for a fixture; the Swift tests compare it with the row-by-row path.)"""
    yield Case("permute_nhwc_to_nchw", "permute", lambda t: t.permute(0, 3, 1, 2), [randn(2, 3, 4, 5)],
               args={"axes": [0, 3, 1, 2]}, differentiable=[0])
    yield Case("permute_nchw_to_nhwc", "permute", lambda t: t.permute(0, 2, 3, 1), [randn(1, 5, 2, 3)],
               args={"axes": [0, 2, 3, 1]}, differentiable=[0])
    yield Case("transpose_matrix", "transpose", lambda t: t.transpose(0, 1), [randn(7, 3)],
               args={"first": 0, "second": 1}, differentiable=[0])
    yield Case("transpose_negative", "transpose", lambda t: t.transpose(-1, -3), [randn(2, 3, 4, 5)],
               args={"first": -1, "second": -3}, differentiable=[0])
    yield Case("transpose_same_axis", "transpose", lambda t: t.transpose(1, 1), [randn(2, 3)],
               args={"first": 1, "second": 1}, differentiable=[0])
    yield Case("flatten_negative", "flatten", lambda t: t.flatten(-3, -2), [randn(2, 3, 4, 5)],
               args={"start": -3, "end": -2}, differentiable=[0])
    yield Case("flatten_single_axis", "flatten", lambda t: t.flatten(1, 1), [randn(2, 3, 4)],
               args={"start": 1, "end": 1}, differentiable=[0])
    yield Case("unsqueeze_front", "unsqueeze", lambda t: t.unsqueeze(0), [randn(3, 2)], args={"axis": 0},
               differentiable=[0])
    yield Case("unsqueeze_middle_negative", "unsqueeze", lambda t: t.unsqueeze(-2), [randn(3, 2)], args={"axis": -2},
               differentiable=[0])
    yield Case("squeeze_negative", "squeeze", lambda t: t.squeeze(-1), [randn(2, 3, 1)], args={"axis": -1},
               differentiable=[0])
    yield Case("squeeze_not_one", "squeeze", lambda t: t.squeeze(0), [randn(2, 3)], args={"axis": 0},
               differentiable=[0])
    yield Case("squeeze_all", "squeeze", lambda t: t.squeeze(), [randn(1, 3, 1, 2)], args={}, differentiable=[0])
    yield Case("expand_keep_minus_one", "expand", lambda t: t.expand(2, -1, 4), [randn(3, 1)],
               args={"shape": [2, -1, 4]}, differentiable=[0])
    yield Case("expand_middle", "expand", lambda t: t.expand(2, 5, 3), [randn(2, 1, 3)], args={"shape": [2, 5, 3]},
               differentiable=[0])
    yield Case("expand_scalar", "expand", lambda t: t.expand(2, 3), [randn(1)], args={"shape": [2, 3]},
               differentiable=[0])
    x = randn(3, 7, 2)
    slices = {"negative_axis_step": (-2, 1, None, 2), "negative_both": (1, -5, -1, 2), "past_end_step": (1, 5, 100, 4),
              "start_past_end": (1, 9, None, 1), "all_step_large": (1, None, None, 10), "first_axis": (0, -1, None, 1)}
    for name, (axis, start, end, step) in slices.items():
        index = [slice(None)] * 3
        index[axis] = slice(start, end, step)
        yield Case(f"slice_{name}", "slice", lambda t, i=tuple(index): t[i], [x.clone()],
                   args={"axis": axis, "start": start, "end": end, "step": step}, differentiable=[0])
    yield Case("cat_first_axis", "cat", lambda a, b: torch.cat([a, b], 0), [randn(1, 3), randn(2, 3)],
               args={"axis": 0}, differentiable=[0, 1])
    yield Case("cat_single", "cat", lambda a: torch.cat([a], 1), [randn(2, 3)], args={"axis": 1}, differentiable=[0])
    yield Case("cat_empty_piece", "cat", lambda a, b: torch.cat([a, b], 1), [randn(2, 0), randn(2, 3)],
               args={"axis": 1}, differentiable=[0, 1])
    yield Case("stack_front_three", "stack", lambda a, b, c: torch.stack([a, b, c], 0),
               [randn(2, 3), randn(2, 3), randn(2, 3)], args={"axis": 0}, differentiable=[0, 1, 2])
    yield Case("stack_vectors_negative", "stack", lambda a, b: torch.stack([a, b], -2), [randn(4), randn(4)],
               args={"axis": -2}, differentiable=[0, 1])
    yield Case("split_negative_with_empty", "split", lambda t: tuple(torch.split(t, [2, 0, 3], dim=-2)),
               [randn(2, 5, 3)], args={"sizes": [2, 0, 3], "axis": -2}, differentiable=[0])
    yield Case("chunk_even", "chunk", lambda t: tuple(torch.chunk(t, 2, dim=-1)), [randn(2, 6)],
               args={"count": 2, "axis": -1}, differentiable=[0])
    yield Case("chunk_fewer_pieces", "chunk", lambda t: tuple(torch.chunk(t, 4, dim=1)), [randn(2, 5)],
               args={"count": 4, "axis": 1}, differentiable=[0])
    yield Case("chunk_more_than_size", "chunk", lambda t: tuple(torch.chunk(t, 5, dim=0)), [randn(3, 2)],
               args={"count": 5, "axis": 0}, differentiable=[0])
    yield Case("pad_three_axes", "pad", lambda t: F.pad(t, (1, 0, 0, 2, 1, 1), value=-1.5), [randn(2, 2, 3, 2)],
               args={"pads": [1, 0, 0, 2, 1, 1], "value": -1.5}, differentiable=[0])
    yield Case("pad_vector", "pad", lambda t: F.pad(t, (3, 1)), [randn(4)], args={"pads": [3, 1], "value": 0.0},
               differentiable=[0])
    yield Case("pad_zero", "pad", lambda t: F.pad(t, (0, 0)), [randn(2, 3)], args={"pads": [0, 0], "value": 0.0},
               differentiable=[0])
    y = randn(4, 3)
    yield Case("gather_axis0_repeats", "gather", lambda t, i: torch.gather(t, 0, i),
               [y.clone(), torch.tensor([[3.0, 3.0, 0.0], [3.0, 1.0, 1.0]])], args={"axis": 0}, differentiable=[0],
               integer_inputs=[1])
    yield Case("gather_vector", "gather", lambda t, i: torch.gather(t, 0, i),
               [randn(5), torch.tensor([4.0, 0.0, 4.0, 2.0, 4.0, 1.0, 0.0])], args={"axis": 0}, differentiable=[0],
               integer_inputs=[1])
    yield Case("gather_4d_axis2", "gather", lambda t, i: torch.gather(t, 2, i),
               [randn(2, 3, 4, 2), randint(0, 4, (2, 2, 6, 2))], args={"axis": 2}, differentiable=[0],
               integer_inputs=[1])
    yield Case("index_select_axis0", "index_select", lambda t, i: torch.index_select(t, 0, i),
               [y.clone(), torch.tensor([1.0, 1.0, 1.0, 3.0, 0.0])], args={"axis": 0}, differentiable=[0],
               integer_inputs=[1])
    yield Case("index_select_single", "index_select", lambda t, i: torch.index_select(t, -2, i),
               [randn(2, 4, 3), torch.tensor([2.0])], args={"axis": -2}, differentiable=[0], integer_inputs=[1])
    yield Case("index_select_vector", "index_select", lambda t, i: torch.index_select(t, 0, i),
               [randn(4), torch.tensor([0.0, 3.0, 0.0])], args={"axis": 0}, differentiable=[0], integer_inputs=[1])
    vocabulary = randn(6, 4)
    yield Case("embedding_vector_ids", "embedding", lambda w, i: F.embedding(i, w), [vocabulary.clone(),
               torch.tensor([5.0, 5.0, 0.0, 2.0])], args={}, differentiable=[0], integer_inputs=[1])
    yield Case("embedding_3d_ids", "embedding", lambda w, i: F.embedding(i, w), [vocabulary.clone(),
               randint(0, 6, (2, 2, 3))], args={}, differentiable=[0], integer_inputs=[1])
    yield Case("embedding_padding_negative", "embedding", lambda w, i: F.embedding(i, w, padding_idx=-1),
               [vocabulary.clone(), torch.tensor([[5.0, 1.0], [5.0, 0.0]])], args={"padding_index": -1},
               differentiable=[0], integer_inputs=[1])
