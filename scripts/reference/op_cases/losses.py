"""Loss functions of the NN module: BCE with logits, cross entropy, L1 and smooth L1, with each reduction."""
import torch
import torch.nn.functional as F

from .common import Case, randn, rand, randint


def cases():
    for reduction in ("none", "mean", "sum"):
        yield Case(f"bce_{reduction}", "bce_with_logits",
                   lambda x, z, r=reduction: F.binary_cross_entropy_with_logits(x, z, reduction=r),
                   [randn(3, 5, scale=3.0), rand(3, 5)], args={"reduction": reduction}, differentiable=[0, 1])
        yield Case(f"l1_{reduction}", "l1", lambda x, y, r=reduction: F.l1_loss(x, y, reduction=r),
                   [randn(4, 3), randn(4, 3)], args={"reduction": reduction}, differentiable=[0, 1])
        yield Case(f"smooth_l1_{reduction}", "smooth_l1",
                   lambda x, y, r=reduction: F.smooth_l1_loss(x, y, reduction=r, beta=0.5),
                   [randn(4, 3), randn(4, 3)], args={"reduction": reduction, "beta": 0.5}, differentiable=[0, 1])
        yield Case(f"cross_entropy_{reduction}", "cross_entropy",
                   lambda x, t, r=reduction: F.cross_entropy(x, t, reduction=r),
                   [randn(5, 4, scale=2.0), randint(0, 4, (5,))], args={"reduction": reduction,
                                                                      "ignore_index": -100, "label_smoothing": 0.0},
                   differentiable=[0], integer_inputs=[1])
    yield Case("bce_weighted", "bce_with_logits_weighted",
               lambda x, z, w: F.binary_cross_entropy_with_logits(x, z, weight=w),
               [randn(3, 4), rand(3, 4), rand(4)], args={"reduction": "mean"}, differentiable=[0])
    yield Case("cross_entropy_ignore_smoothing", "cross_entropy",
               lambda x, t: F.cross_entropy(x, t, ignore_index=2, label_smoothing=0.1),
               [randn(6, 3), torch.tensor([0.0, 2.0, 1.0, 2.0, 0.0, 1.0])],
               args={"reduction": "mean", "ignore_index": 2, "label_smoothing": 0.1},
               differentiable=[0], integer_inputs=[1])
