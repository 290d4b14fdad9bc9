"""Modulated deformable convolution (DCNv2).

torchvision's compiled ops cannot be loaded in this reference environment (its wheels link CUDA libraries), so this
module reimplements `torchvision.ops.deform_conv2d` in plain PyTorch, following its CPU kernel
(torchvision/csrc/ops/cpu/deform_conv2d_kernel.cpp):
  - offset channel g*2K + 2k is dy and g*2K + 2k + 1 is dx for tap k = i*kw + j of offset group g;
    mask channel g*K + k;
  - bilinear sampling returns 0 when y <= -1, y >= H, x <= -1 or x >= W; corners outside the image contribute 0;
  - the sampled value is multiplied by the mask, then convolved with the (grouped) weight.
The forward is built from differentiable torch ops, so autograd yields the same input, offset, mask, weight and bias
gradients as torchvision's backward kernel (which differentiates the same bilinear form; the two differ only where a
sample sits exactly on an integer coordinate, which the random offsets here avoid). Offsets are random, non-integer
and up to ~2 pixels (4 in `far_offsets`), so some samples fall partly or wholly outside the image.
As a check, `cases()` asserts that zero offsets with a unit mask reproduce F.conv2d and that a constant integer offset
reproduces F.conv2d of the shifted input.
"""
import torch
import torch.nn.functional as F

from .common import Case, randn, rand


def bilinear(image, y, x):
    """image [N, H, W]; y, x [N, Ho, Wo] -> samples [N, Ho, Wo]."""
    n, height, width = image.shape
    inside = ((y > -1) & (y < height) & (x > -1) & (x < width)).to(image.dtype)
    y0, x0 = torch.floor(y), torch.floor(x)
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    y0i, x0i = y0.long(), x0.long()
    flat = image.reshape(n, -1)

    def corner(yi, xi):
        valid = ((yi >= 0) & (yi < height) & (xi >= 0) & (xi < width)).to(image.dtype)
        index = (yi.clamp(0, height - 1) * width + xi.clamp(0, width - 1)).reshape(n, -1)
        return torch.gather(flat, 1, index).reshape(y.shape) * valid

    value = (hy * hx * corner(y0i, x0i) + hy * lx * corner(y0i, x0i + 1)
             + ly * hx * corner(y0i + 1, x0i) + ly * lx * corner(y0i + 1, x0i + 1))
    return value * inside


def deform_conv2d(x, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None):
    n, channels, height, width = x.shape
    out_channels, group_channels, kh, kw = weight.shape
    groups = channels // group_channels
    out_h, out_w = offset.shape[2], offset.shape[3]
    taps = kh * kw
    offset_groups = offset.shape[1] // (2 * taps)
    base_y = (torch.arange(out_h, dtype=x.dtype) * stride[0] - padding[0]).view(1, out_h, 1)
    base_x = (torch.arange(out_w, dtype=x.dtype) * stride[1] - padding[1]).view(1, 1, out_w)
    rows = []
    for c in range(channels):
        g = c // (channels // offset_groups)
        for i in range(kh):
            for j in range(kw):
                k = i * kw + j
                y = base_y + i * dilation[0] + offset[:, g * 2 * taps + 2 * k]
                xx = base_x + j * dilation[1] + offset[:, g * 2 * taps + 2 * k + 1]
                value = bilinear(x[:, c], y, xx)
                if mask is not None:
                    value = value * mask[:, g * taps + k]
                rows.append(value.reshape(n, -1))
    columns = torch.stack(rows, 1)  # [N, C*K, Ho*Wo]
    columns = columns.reshape(n, groups, group_channels * taps, out_h * out_w)
    w = weight.reshape(groups, out_channels // groups, group_channels * taps)
    out = torch.einsum("gok,ngkp->ngop", w, columns).reshape(n, out_channels, out_h, out_w)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out


def offsets(n, groups, taps, out_h, out_w, magnitude=2.0):
    """Random offsets kept away from integers, so sample positions never sit on a floor boundary."""
    raw = rand(n, 2 * groups * taps, out_h, out_w, low=-magnitude, high=magnitude)
    fraction = raw - torch.floor(raw)
    return torch.where((fraction < 0.1) | (fraction > 0.9), raw + 0.37, raw)


def out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def check_against_conv2d():
    """Hand-checkable special cases: zero offsets with a unit mask are a plain (grouped) convolution, and a constant
    integer offset (dy, dx) is a convolution of the input shifted by (dy, dx), which pins down the dy/dx order."""
    x, w, b = randn(2, 4, 6, 5).double(), randn(4, 2, 3, 3).double(), randn(4).double()
    zero = torch.zeros(2, 18, 6, 5, dtype=torch.float64)
    ones = torch.ones(2, 9, 6, 5, dtype=torch.float64)
    ours = deform_conv2d(x, zero, w, b, (1, 1), (1, 1), (1, 1), ones)
    assert torch.allclose(ours, F.conv2d(x, w, b, 1, 1, 1, 2), atol=1e-10), "reference disagrees with conv2d"
    height, width, margin = 6, 5, 2
    padded = F.pad(x, (1 + margin,) * 4)
    for dy, dx in [(1, 0), (0, -2), (-1, 1)]:
        offset = torch.tensor([dy, dx], dtype=torch.float64).repeat(9).view(1, 18, 1, 1).expand(2, 18, 6, 5)
        shifted = padded[:, :, margin + dy:margin + dy + height + 2, margin + dx:margin + dx + width + 2]
        expected = F.conv2d(shifted, w, b, 1, 0, 1, 2)
        ours = deform_conv2d(x, offset, w, b, (1, 1), (1, 1), (1, 1))
        assert torch.allclose(ours, expected, atol=1e-10), f"reference disagrees with a shifted conv2d ({dy}, {dx})"


CONFIGS = {
    # name: (input, weight, stride, padding, dilation, offset groups, mask, bias[, offset magnitude])
    "basic": ((1, 2, 5, 5), (3, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1, True, True),
    "no_mask": ((1, 2, 5, 4), (2, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1, False, True),
    "no_mask_no_bias": ((2, 4, 6, 5), (3, 4, 3, 3), (1, 1), (1, 1), (1, 1), 1, False, False),
    "strided": ((2, 2, 6, 5), (3, 2, 3, 3), (2, 2), (1, 1), (1, 1), 1, True, False),
    "dilated": ((1, 2, 7, 6), (2, 2, 3, 3), (1, 1), (2, 2), (2, 2), 1, True, True),
    "strided_dilated": ((2, 4, 6, 5), (2, 4, 3, 3), (2, 2), (2, 2), (2, 2), 1, False, True),
    "offset_groups": ((2, 4, 5, 5), (3, 4, 3, 3), (1, 1), (1, 1), (1, 1), 2, True, True),
    "weight_groups": ((1, 4, 5, 4), (4, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1, True, True),
    "both_groups": ((2, 4, 6, 5), (4, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2, True, True),
    "asymmetric": ((1, 2, 7, 6), (3, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2, True, True),
    "no_padding_2x2": ((1, 3, 5, 5), (2, 3, 2, 2), (1, 1), (0, 0), (1, 1), 3, True, False),
    "far_offsets": ((1, 2, 4, 4), (2, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1, True, True, 4.0),
}


def cases():
    check_against_conv2d()
    for name, config in CONFIGS.items():
        ishape, wshape, stride, padding, dilation, offset_groups, use_mask, use_bias, *magnitude = config
        n, _, h, w = ishape
        kh, kw = wshape[2], wshape[3]
        out_h = out_size(h, kh, stride[0], padding[0], dilation[0])
        out_w = out_size(w, kw, stride[1], padding[1], dilation[1])
        taps = kh * kw
        inputs = [randn(*ishape), offsets(n, offset_groups, taps, out_h, out_w, *magnitude), randn(*wshape, scale=0.5)]
        if use_mask:
            inputs.append(rand(n, offset_groups * taps, out_h, out_w))
        if use_bias:
            inputs.append(randn(wshape[0]))

        def fn(x, off, weight, *rest, s=stride, p=padding, d=dilation, m=use_mask, b=use_bias):
            rest = list(rest)
            mask = rest.pop(0) if m else None
            bias = rest.pop(0) if b else None
            return deform_conv2d(x, off, weight, bias, s, p, d, mask)

        yield Case(f"deform_{name}", "deform_conv2d", fn, inputs,
                   args={"stride": list(stride), "padding": list(padding), "dilation": list(dilation),
                         "mask": use_mask, "bias": use_bias, "groups": ishape[1] // wshape[1]},
                   differentiable=list(range(len(inputs))))
