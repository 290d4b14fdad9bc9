#!/usr/bin/env python3
"""Turns the results written by scripts/bench.sh into docs/PERFORMANCE.md (printed on stdout).

Reads OUT/{glip,torch}-{pinned,unpinned}.jsonl (one `glip bench --json` / bench_torch.py line per case),
OUT/environment, and OUT/<case>-{pinned,unpinned}.safetensors (each case's result tensors). Exits with status 1 when
the unpinned kernel's results differ from the pinned ones beyond float tolerance. A section of docs/PERFORMANCE.md
starting at "## Analysis" is kept: it is copied below the regenerated tables.
"""
import json
import os
import pathlib
import platform
import subprocess
import sys

import numpy as np
import torch
from safetensors.numpy import load_file

ANALYSIS = "## Analysis"
# Targets, as ratios ours / PyTorch: forward passes at most 0.6×, training steps at most 0.8×.
FORWARD_TARGET, TRAIN_TARGET = 0.6, 0.8
# The unpinned kernel's results must match the pinned ones: max |a − b| ≤ tolerance · max |a| per tensor. Different
# sgemm kernels sum in different orders; deep random-weight networks amplify that a little, and a training step's
# first-layer gradient (through every layer's backward and batch statistics) more: a wrong kernel is off by O(1).
RELATIVE, RELATIVE_TRAIN = 2e-3, 1e-2
IDS = {"gemm": "gemm", "conv3x3": "conv3x3", "resnet50": "resnet50", "resnet18": "resnet18",
       "mobilenet_v2": "mobilenet_v2", "swin_t": "swin_t", "bert_base 256 tokens": "bert_base",
       "minilm 64 tokens": "minilm_64", "minilm 256 tokens": "minilm_256", "glip_t_b": "glip_t_b",
       "xmha 800×1344, 256 tokens": "xmha",
       "conv3x3 train": "conv3x3_train", "resnet18 train": "resnet18_train",
       "mobilenet_v2 train": "mobilenet_v2_train", "swin_t train": "swin_t_train", "demo train": "demo_train"}
SHAPES = {"gemm": "1024×1024×1024", "conv3x3": "1×256×64×64, 3×3, 256→256", "resnet50": "1×3×512×512",
          "resnet18": "1×3×512×512", "mobilenet_v2": "1×3×512×512", "swin_t": "1×3×512×512",
          "bert_base 256 tokens": "1×256", "minilm 64 tokens": "1×64", "minilm 256 tokens": "1×256",
          "glip_t_b": "1×3×512×512, 32 tokens", "xmha 800×1344, 256 tokens": "22,400 positions × 256 tokens",
          "conv3x3 train": "1×256×64×64",
          "resnet18 train": "2×3×320×320", "mobilenet_v2 train": "4×3×320×320", "swin_t train": "2×3×320×320",
          "demo train": "4×3×160×160, 16 tokens"}


def load(path):
    path = pathlib.Path(path)
    if not path.exists():
        return {}
    return {row["case"]: row for row in map(json.loads, path.read_text().splitlines()) if row}


def cpu_details():
    model, flags = platform.processor(), set()
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni") if f in flags]
    return model, simd


def memory_gb():
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return int(line.split()[1]) / 1024 ** 2
    return 0


def swift_version():
    try:
        return subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def check(out, case_id):
    """(verdict, worst relative difference) of the unpinned results against the pinned ones."""
    pinned_path, unpinned_path = out / f"{case_id}-pinned.safetensors", out / f"{case_id}-unpinned.safetensors"
    if not (pinned_path.exists() and unpinned_path.exists()):
        return "not run", None
    pinned, unpinned = load_file(str(pinned_path)), load_file(str(unpinned_path))
    if pinned.keys() != unpinned.keys():
        return "different outputs", None
    worst = 0.0
    for key, reference in pinned.items():
        other = unpinned[key]
        if reference.shape != other.shape or not np.all(np.isfinite(other)):
            return "mismatch", float("inf")
        scale = float(np.max(np.abs(reference))) or 1.0
        worst = max(worst, float(np.max(np.abs(reference - other))) / scale)
    return ("ok" if worst <= (RELATIVE_TRAIN if case_id.endswith("train") else RELATIVE) else "mismatch"), worst


def measured_peak(ours, theirs):
    """The highest rate either side reached on any case of one mode's run (GFLOP/s, over PyTorch's count), or None.

    On the 2-core AVX-512 machine this is a 3×3 convolution or sgemm at about 400–420 GFLOP/s, close to the cores'
    FMA peak, so it is the ceiling that a case's rate is a share of."""
    rates = [ref["gflop"] / row["median_ms"] * 1e3 for case, ref in theirs.items() if ref.get("gflop")
             for row in (ours.get(case), ref) if row]
    return max(rates) if rates else None


def rates(row, ref, ceiling):
    """Both sides' GFLOP/s over PyTorch's operation count, with our share of the ceiling."""
    gflop = ref.get("gflop")
    if not gflop:
        return ""
    ours, theirs = gflop / row["median_ms"] * 1e3, gflop / ref["median_ms"] * 1e3
    share = f" ({100 * ours / ceiling:.0f}%)" if ceiling else ""
    return f"{ours:.0f} / {theirs:.0f}{share}"


def main():
    out = pathlib.Path(sys.argv[1])
    environment = dict(line.split("=", 1) for line in (out / "environment").read_text().splitlines() if "=" in line)
    model, simd = cpu_details()
    version = (out / "glip-version").read_text().strip() if (out / "glip-version").exists() else "?"
    print("# Performance\n")
    print("Generated by `make bench` (scripts/bench.sh with scripts/reference/bench_torch.py and")
    print("scripts/bench_report.py). Each case is timed by `glip bench` and by PyTorch eager (2 threads, inference mode")
    print("for forward passes) back to back in the same run; times are medians of repeated runs after a warm-up, and the")
    print("ratio is ours / PyTorch's (lower is better). Targets: forward ≤ 0.6×, training steps ≤ 0.8×. The case")
    print("definitions are in `glip bench --help` and at the top of bench_torch.py.\n")
    print("## Machine\n")
    print(f"- CPU: {model}, {os.cpu_count()} logical cores; SIMD: {', '.join(simd) or 'none reported'}")
    print(f"- Memory: {memory_gb():.0f} GB; Linux {platform.release()}")
    print(f"- glip {version}, {swift_version()}; PyTorch {torch.__version__} ({torch.get_num_threads()} threads "
          f"by default, 2 used)")
    print(f"- Environment: OPENBLAS_CORETYPE={environment.get('OPENBLAS_CORETYPE', '?')}, "
          f"OPENBLAS_L2_SIZE={environment.get('OPENBLAS_L2_SIZE', '?')}; {environment.get('repeat', '?')} timed runs "
          "per case")
    print(f"- Load average (1, 5, 15 min) before the run: {environment.get('load_before', '?')}, after: "
          f"{environment.get('load_after', '?')}. The machine may be shared: compare ratios, not absolute times.")
    failed = False
    for mode in ("pinned", "unpinned"):
        ours, theirs = load(out / f"glip-{mode}.jsonl"), load(out / f"torch-{mode}.jsonl")
        if not ours:
            continue
        core = next(iter(ours.values())).get("blas_core", "?")
        detected = next(iter(ours.values())).get("blas_core_detected", core)
        if detected != core:
            core = f"{core} (OpenBLAS took {detected}; glip chose {core} from the CPU's flags)"
        if mode == "pinned":
            title = (f"OpenBLAS as the environment sets it (OPENBLAS_CORETYPE="
                     f"{environment.get('OPENBLAS_CORETYPE', '?')})")
        else:
            title = ("OpenBLAS choosing its own kernel (both variables unset, as on a user's machine; the headline; "
                     "glip replaces a generic fallback kernel)")
        print(f"\n## {title}: kernel {core}\n")
        first = next(iter(ours.values()))
        print(
            f"Matrix products: {first.get('gemm_backend', '?')}; convolutions: {first.get('conv_backend', '?')}; "
            f"oneDNN layouts: {first.get('onednn_layout', '?')}\n"
        )
        ceiling = measured_peak(ours, theirs)
        if ceiling:
            print(f"Ceiling: {ceiling:.0f} GFLOP/s, the highest rate measured below on either side (close to the cores' "
                  "FMA peak). \"GFLOP/s\" is each side's rate over PyTorch's operation count for the case "
                  "(convolutions, matrix products, attention; element-wise work is not counted), with our share of "
                  "the ceiling.\n")
        header = ("| case | input | ours ms (min–max) | PyTorch ms (min–max) | ratio | target | GFLOP/s ours / PyTorch "
                  "(share of ceiling) | ours / PyTorch peak RSS MB |")
        if mode == "unpinned":
            header += " vs pinned |"
        print(header)
        print("|---|---|---:|---:|---:|---|---:|---:|" + ("---|" if mode == "unpinned" else ""))
        for case, row in ours.items():
            ref = theirs.get(case)
            if ref is None:
                continue
            ratio = row["median_ms"] / ref["median_ms"]
            target = TRAIN_TARGET if case.endswith("train") else FORWARD_TARGET
            verdict = "met" if ratio <= target else "**missed**"
            line = (f"| {case} | {SHAPES.get(case, '')} | {row['median_ms']:.1f} ({row['min_ms']:.1f}–{row['max_ms']:.1f})"
                    f" | {ref['median_ms']:.1f} ({ref['min_ms']:.1f}–{ref['max_ms']:.1f}) | {ratio:.2f}× | "
                    f"≤{target:.1f}× {verdict} | {rates(row, ref, ceiling)} | "
                    f"{row['peak_rss_mb']:.0f} / {ref['peak_rss_mb']:.0f} |")
            if mode == "unpinned":
                status, worst = check(out, IDS.get(case, case))
                failed |= status not in ("ok", "not run")
                line += f" {status}" + (f" ({worst:.1e})" if worst is not None else "") + " |"
            print(line)
    print(f"\n\"vs pinned\": the unpinned run's result tensors (outputs, or a training step's loss and a gradient) "
          f"against the pinned run's, as max |difference| / max |value|; ok up to {RELATIVE:.0e} for forward passes and "
          f"{RELATIVE_TRAIN:.0e} for training steps (a first-layer gradient after the whole backward).")
    print("PyTorch's peak RSS includes the interpreter and the torch library (about 300 MB before any model).")
    print("PyTorch runs with OMP_WAIT_POLICY=PASSIVE: with OpenMP's default spin-waiting it ran up to 14× slower on")
    print("this shared machine, which would flatter the ratios.")
    # A hand-written analysis below the tables survives regeneration.
    previous = pathlib.Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"
    if previous.exists():
        text = previous.read_text()
        if ANALYSIS in text:
            print("\n" + text[text.index(ANALYSIS):].rstrip())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
