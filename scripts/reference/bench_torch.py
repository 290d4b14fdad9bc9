#!/usr/bin/env python3
"""Times the `glip bench` cases with PyTorch on this machine (2 threads) and prints one JSON object per case.

Usage: python scripts/reference/bench_torch.py [--repeat N] [CASE ...]
Cases: gemm (sgemm 1024x1024x1024), conv_fwd and conv_train (conv2d 3x3 256->256 on 1x256x64x64; train is forward +
backward for input and weight).
"""
import argparse
import json
import statistics
import time

import torch


def gemm_case():
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    return (lambda: torch.mm(a, b)), 2 * 1024 ** 3


def conv_setup():
    x = torch.randn(1, 256, 64, 64)
    w = torch.randn(256, 256, 3, 3) * 0.02
    b = torch.zeros(256)
    return x, w, b, 2 * 256 * 64 * 64 * 256 * 9


def conv_fwd_case():
    x, w, b, flops = conv_setup()

    def run():
        with torch.inference_mode():
            return torch.nn.functional.conv2d(x, w, b, padding=1)
    return run, flops


def conv_train_case():
    x, w, b, flops = conv_setup()
    x.requires_grad_(True)
    w.requires_grad_(True)
    b.requires_grad_(True)
    seed = torch.randn(1, 256, 64, 64)

    def run():
        x.grad = w.grad = b.grad = None
        out = torch.nn.functional.conv2d(x, w, b, padding=1)
        out.backward(seed)
    return run, 3 * flops


CASES = {"gemm": gemm_case, "conv_fwd": conv_fwd_case, "conv_train": conv_train_case}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("cases", nargs="*", default=list(CASES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.cases:
        run, flops = CASES[name]()
        for _ in range(3):
            run()
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1000)
        median = statistics.median(times)
        print(json.dumps({
            "case": name, "impl": "pytorch " + torch.__version__, "median_ms": round(median, 3),
            "min_ms": round(min(times), 3), "max_ms": round(max(times), 3),
            "gflops": round(flops / median / 1e6, 1), "threads": args.threads,
        }), flush=True)


if __name__ == "__main__":
    main()
