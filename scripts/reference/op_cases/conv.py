"""conv2d (dense, grouped, depthwise, pointwise; stride, padding, dilation), pooling and interpolation."""
import torch
import torch.nn.functional as F

from .common import Case, randn

CONV = {
    # name: (input shape, weight shape, stride, padding, dilation, groups, bias)
    "basic": ((1, 3, 7, 6), (4, 3, 3, 3), 1, 0, 1, 1, True),
    "padded": ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1, 1, 1, True),
    "strided": ((2, 3, 7, 6), (5, 3, 3, 3), 2, 1, 1, 1, False),
    "dilated": ((1, 2, 9, 8), (3, 2, 3, 3), 1, 2, 2, 1, True),
    "asymmetric": ((1, 2, 6, 9), (3, 2, 2, 3), (2, 1), (1, 0), 1, 1, True),
    "grouped": ((2, 4, 6, 6), (6, 2, 3, 3), 1, 1, 1, 2, True),
    "pointwise": ((2, 5, 4, 3), (3, 5, 1, 1), 1, 0, 1, 1, True),
    "pointwise_strided": ((1, 4, 5, 5), (2, 4, 1, 1), 2, 0, 1, 1, False),
    "depthwise": ((2, 4, 7, 6), (4, 1, 3, 3), 1, 1, 1, 4, True),
    "depthwise_strided": ((1, 3, 7, 7), (3, 1, 3, 3), 2, 1, 1, 3, False),
    "depthwise_multiplier": ((1, 3, 6, 5), (6, 1, 3, 3), 1, 1, 2, 3, True),
    "large_kernel": ((1, 2, 8, 8), (2, 2, 5, 5), 1, 2, 1, 1, True),
    "pointwise_grouped": ((2, 4, 3, 3), (6, 2, 1, 1), 1, 0, 1, 2, False),
    "kernel_wider_than_input": ((1, 2, 2, 3), (3, 2, 3, 5), 2, (1, 2), 1, 1, True),
}


def pair(value):
    return list(value) if isinstance(value, tuple) else [value, value]


def cases():
    for name, (ishape, wshape, stride, padding, dilation, groups, bias) in CONV.items():
        inputs = [randn(*ishape), randn(*wshape, scale=0.5)] + ([randn(wshape[0])] if bias else [])
        yield Case(f"conv_{name}", "conv2d",
                   lambda x, w, b=None, s=stride, p=padding, d=dilation, g=groups: F.conv2d(x, w, b, s, p, d, g),
                   inputs, args={"stride": pair(stride), "padding": pair(padding), "dilation": pair(dilation),
                                 "groups": groups},
                   differentiable=list(range(len(inputs))))
