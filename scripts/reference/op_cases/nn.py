"""softmax, log_softmax, layer_norm, group_norm, batch_norm (training with running-statistics update, and eval) and
scaled dot-product attention with an additive mask."""
import torch
import torch.nn.functional as F

from .common import Case, randn, rand


def batch_norm_train(x, w, b, rm, rv, momentum=0.1, eps=1e-5):
    rm, rv = rm.clone(), rv.clone()
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=momentum, eps=eps)
    return y, rm, rv


def cases():
    x = randn(2, 3, 4, scale=2.0)
    for axis in (0, 1, -1):
        yield Case(f"softmax_axis{axis}", "softmax", lambda t, a=axis: torch.softmax(t, a), [x.clone()],
                   args={"axis": axis}, differentiable=[0])
        yield Case(f"log_softmax_axis{axis}", "log_softmax", lambda t, a=axis: torch.log_softmax(t, a), [x.clone()],
                   args={"axis": axis}, differentiable=[0])
    yield Case("softmax_masked_row", "softmax", lambda t: torch.softmax(t, -1),
               [torch.tensor([[0.0, -1e9, 1.0], [2.0, 2.0, -1e9]])], args={"axis": -1}, differentiable=[0])
    inf = float("inf")
    yield Case("softmax_infinite_entries", "softmax", lambda t: torch.softmax(t, -1),
               [torch.tensor([[0.0, -inf, 1.0], [-inf, 3.0, -inf]])], args={"axis": -1}, differentiable=[0])
    yield Case("log_softmax_large_logits", "log_softmax", lambda t: torch.log_softmax(t, 1),
               [torch.tensor([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]])], args={"axis": 1},
               differentiable=[0])
    wide = randn(2, 3, 4, 5, scale=3.0)
    for axis in (2, -2, -3):
        yield Case(f"softmax_4d_axis{axis}".replace("-", "neg"), "softmax", lambda t, a=axis: torch.softmax(t, a),
                   [wide.clone()], args={"axis": axis}, differentiable=[0])
        yield Case(f"log_softmax_4d_axis{axis}".replace("-", "neg"), "log_softmax",
                   lambda t, a=axis: torch.log_softmax(t, a), [wide.clone()], args={"axis": axis}, differentiable=[0])
    yield Case("layer_norm_affine", "layer_norm", lambda t, w, b: F.layer_norm(t, (4,), w, b, 1e-5),
               [x.clone(), randn(4), randn(4)], args={"axes": 1, "eps": 1e-5}, differentiable=[0, 1, 2])
    yield Case("layer_norm_two_axes", "layer_norm", lambda t, w, b: F.layer_norm(t, (3, 4), w, b, 1e-12),
               [x.clone(), randn(3, 4), randn(3, 4)], args={"axes": 2, "eps": 1e-12}, differentiable=[0, 1, 2])
    yield Case("layer_norm_plain", "layer_norm", lambda t: F.layer_norm(t, (4,)), [x.clone()],
               args={"axes": 1, "eps": 1e-5}, differentiable=[0])
    yield Case("layer_norm_two_axes_plain", "layer_norm", lambda t: F.layer_norm(t, (3, 4)), [x.clone()],
               args={"axes": 2, "eps": 1e-5}, differentiable=[0])
    yield Case("layer_norm_weight_only", "layer_norm", lambda t, w: F.layer_norm(t, (5,), w, None, 1e-6),
               [randn(3, 5, scale=4.0) + 2.0, randn(5)], args={"axes": 1, "eps": 1e-6}, differentiable=[0, 1])
    image = randn(2, 4, 3, 3, scale=1.5)
    for groups in (1, 2, 4):
        yield Case(f"group_norm_{groups}", "group_norm", lambda t, w, b, g=groups: F.group_norm(t, g, w, b, 1e-5),
                   [image.clone(), randn(4), randn(4)], args={"groups": groups, "eps": 1e-5}, differentiable=[0, 1, 2])
    yield Case("group_norm_plain_2d", "group_norm", lambda t: F.group_norm(t, 3, eps=1e-5), [randn(2, 6, scale=2.0)],
               args={"groups": 3, "eps": 1e-5}, differentiable=[0])
    yield Case("batch_norm_train_plain_3d", "batch_norm_train",
               lambda t, rm, rv: batch_norm_train(t, None, None, rm, rv, 0.3, 1e-3),
               [randn(3, 2, 4, scale=3.0), randn(2), rand(2, low=0.5, high=2.0)],
               args={"momentum": 0.3, "eps": 1e-3, "affine": False}, differentiable=[0], outputs_with_grad=[0])
    yield Case("batch_norm_eval_plain_3d", "batch_norm_eval",
               lambda t, rm, rv: F.batch_norm(t, rm, rv, training=False, eps=1e-3),
               [randn(3, 2, 4), randn(2), rand(2, low=0.5, high=2.0)], args={"eps": 1e-3, "affine": False},
               differentiable=[0])
    for name, shape in {"2d": (5, 3), "4d": (2, 3, 4, 3)}.items():
        yield Case(f"batch_norm_train_{name}", "batch_norm_train", batch_norm_train,
                   [randn(*shape, scale=2.0), randn(3), randn(3), randn(3), rand(3, low=0.5, high=2.0)],
                   args={"momentum": 0.1, "eps": 1e-5}, differentiable=[0, 1, 2], outputs_with_grad=[0])
        yield Case(f"batch_norm_eval_{name}", "batch_norm_eval",
                   lambda t, w, b, rm, rv: F.batch_norm(t, rm, rv, w, b, training=False, eps=1e-5),
                   [randn(*shape), randn(3), randn(3), randn(3), rand(3, low=0.5, high=2.0)],
                   args={"eps": 1e-5}, differentiable=[0, 1, 2])
    q, k, v = randn(2, 3, 4, 8), randn(2, 3, 5, 8), randn(2, 3, 5, 6)
    yield Case("attention", "attention", lambda a, b, c: F.scaled_dot_product_attention(a, b, c),
               [q, k, v], differentiable=[0, 1, 2])
    mask = torch.zeros(2, 1, 1, 5)
    mask[0, :, :, 3:] = -1e4
    yield Case("attention_mask", "attention_mask",
               lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m),
               [q.clone(), k.clone(), v.clone(), mask], differentiable=[0, 1, 2])
    full_mask = torch.zeros(4, 5)
    full_mask[1, :] = -float("inf")
    full_mask[2, 1:] = -float("inf")
    yield Case("attention_mask_rows", "attention_mask",
               lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m),
               [q.clone(), k.clone(), v.clone(), full_mask], differentiable=[0, 1, 2])
    yield Case("attention_mask_per_head", "attention_mask",
               lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, attn_mask=m, scale=0.5),
               [q.clone(), k.clone(), v.clone(), randn(3, 1, 5, scale=2.0)], args={"scale": 0.5},
               differentiable=[0, 1, 2])
    yield Case("attention_broadcast_batch", "attention",
               lambda a, b, c: F.scaled_dot_product_attention(a, b, c),
               [randn(2, 1, 3, 4), randn(1, 2, 5, 4), randn(2, 5, 3)], differentiable=[0, 1, 2])
    yield Case("attention_scale", "attention", lambda a, b, c: F.scaled_dot_product_attention(a, b, c, scale=0.3),
               [randn(3, 4), randn(5, 4), randn(5, 2)], args={"scale": 0.3}, differentiable=[0, 1, 2])
