"""max_pool2d, avg_pool2d, adaptive_avg_pool2d and interpolate (nearest, bilinear with and without align_corners)."""
import torch.nn.functional as F

from .common import Case, randn


def pair(value):
    return list(value) if isinstance(value, tuple) else [value, value]


def cases():
    max_pools = {
        "k2": (2, 2, 0, 1, False), "k3s2p1": (3, 2, 1, 1, False), "ceil": (3, 2, 0, 1, True),
        "ceil_padded": (3, 2, 1, 1, True), "dilated": (2, 1, 0, 2, False), "rect": ((2, 3), (1, 2), (1, 1), 1, False),
    }
    for name, (kernel, stride, padding, dilation, ceil) in max_pools.items():
        yield Case(f"max_{name}", "max_pool2d",
                   lambda x, k=kernel, s=stride, p=padding, d=dilation, c=ceil:
                   F.max_pool2d(x, k, s, p, d, ceil_mode=c),
                   [randn(2, 3, 7, 6)],
                   args={"kernel": pair(kernel), "stride": pair(stride), "padding": pair(padding),
                         "dilation": pair(dilation), "ceil_mode": ceil}, differentiable=[0])
    avg_pools = {
        "k2": (2, 2, 0, False, True), "k3s2p1_include": (3, 2, 1, False, True),
        "k3s2p1_exclude": (3, 2, 1, False, False), "ceil_include": (3, 2, 1, True, True),
        "ceil_exclude": (3, 2, 1, True, False), "rect": ((3, 2), (2, 1), (1, 0), False, True),
    }
    for name, (kernel, stride, padding, ceil, include) in avg_pools.items():
        yield Case(f"avg_{name}", "avg_pool2d",
                   lambda x, k=kernel, s=stride, p=padding, c=ceil, i=include:
                   F.avg_pool2d(x, k, s, p, ceil_mode=c, count_include_pad=i),
                   [randn(2, 3, 7, 6)],
                   args={"kernel": pair(kernel), "stride": pair(stride), "padding": pair(padding),
                         "ceil_mode": ceil, "count_include_pad": include}, differentiable=[0])
    for name, size in {"1x1": (1, 1), "3x2": (3, 2), "5x4": (5, 4), "same": (7, 6)}.items():
        yield Case(f"adaptive_{name}", "adaptive_avg_pool2d", lambda x, s=size: F.adaptive_avg_pool2d(x, s),
                   [randn(2, 3, 7, 6)], args={"size": list(size)}, differentiable=[0])
    modes = {"nearest": ("nearest", None), "bilinear": ("bilinear", False), "bilinear_aligned": ("bilinear", True)}
    for mode_name, (mode, align) in modes.items():
        for name, size in {"up": (9, 11), "down": (3, 4), "mixed": (8, 3), "one": (1, 1)}.items():
            yield Case(f"interp_{mode_name}_{name}", "interpolate_size",
                       lambda x, s=size, m=mode, a=align: F.interpolate(x, size=s, mode=m, align_corners=a),
                       [randn(2, 2, 5, 6)], args={"size": list(size), "mode": mode_name}, differentiable=[0])
        # (1.1, ·) keeps the height (PyTorch copies such an axis); 2.1 doubles it exactly (nearest then takes y / 2).
        scales = {"x2": (2.0, 2.0), "x1_5": (1.5, 1.5), "half": (0.5, 0.5), "same_height": (1.1, 1.5),
                  "double_height": (2.1, 0.7)}
        for name, factors in scales.items():
            yield Case(f"interp_{mode_name}_scale_{name}", "interpolate_scale",
                       lambda x, f=factors, m=mode, a=align: F.interpolate(x, scale_factor=f, mode=m, align_corners=a),
                       [randn(1, 2, 5, 6)], args={"scale": list(factors), "mode": mode_name}, differentiable=[0])
    # Sizes where index * (in / out) lands on an integer in float64 but just below it in float32, which PyTorch uses.
    for name, (shape, size) in {"down": ((1, 1, 2, 26), (2, 22)), "up": ((1, 1, 6, 1), (74, 1))}.items():
        yield Case(f"interp_nearest_float_boundary_{name}", "interpolate_size",
                   lambda x, s=size: F.interpolate(x, size=s, mode="nearest"), [randn(*shape)],
                   args={"size": list(size), "mode": "nearest"}, differentiable=[0])
