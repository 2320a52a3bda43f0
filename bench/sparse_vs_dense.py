#!/usr/bin/env python
"""Sparse vs dense MobileNet-v1 on one target: `spiree bench` plus the sparsity sweep's extras.

    .venv/bin/python bench/sparse_vs_dense.py [--quick] [--threads N] [--target wasm32] [--json out.json] [--plot out.png]

The timing is `spiree.pipeline.bench` (what `spiree bench mobilenet_v1 --sparsities ...` runs:
IREE alone, spiree dense and spiree sparse builds of the same weights, alternating rounds,
medians, ONNX Runtime on the same thread count). On top of its table this prints, per sparse
build: the 1x1 layers' time (spiree's `pointwise_*` and `linear_*` dispatches; for IREE alone its
`matmul_like` dispatches) against the dense build and IREE's, and `flop_limit`, the end-to-end
speedup if the removed multiply-adds cost nothing and the rest stayed as in the dense build
(1 / (1 - removed MACs / all MACs)); and PyTorch eager on the same threads as a reference.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

from spiree.models.registry import load_model, parse_model_source
from spiree.pipeline.bench import BenchOptions, bench


def pointwise_ms(dispatch_ms: dict[str, float]) -> float:
    """Time in the 1x1 convolutions and the classifier: spiree's pointwise_*/linear_* kernels,
    or IREE's matmul-like dispatches (its classifier `matmul_1x1000` is not matmul-like)."""
    return sum(v for k, v in dispatch_ms.items()
               if k.startswith(("pointwise_", "linear_")) or "matmul_like" in k)


def eager_ms(model, x, threads: int, repeats: int) -> float:
    torch.set_num_threads(threads)
    xt = torch.from_numpy(x)
    times = []
    with torch.no_grad():
        for _ in range(3):
            model(xt)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(xt)
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="host")
    ap.add_argument("--sparsities", default="0,0.3,0.5,0.7,0.9")
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="sparsity 0.7 only, 3 repeats")
    ap.add_argument("--json", help="write the bench JSON plus the sweep's extras here")
    ap.add_argument("--plot", help="write a PNG of speedup vs sparsity here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[spiree] %(message)s")
    sparsities = (0.7,) if args.quick else tuple(float(s) for s in args.sparsities.split(","))
    options = BenchOptions(target=args.target, sparsities=sparsities, group=args.group, threads=args.threads,
                           repeats=3 if args.quick else args.repeats)
    result = bench("mobilenet_v1", options)
    print(result.format())

    j = result.to_json()
    by = {r["build"]: r for r in j["builds"]}
    dense, iree = by["dense"], by["iree"]
    base = load_model(parse_model_source("mobilenet_v1"))
    total = sum(l.macs for l in _layers(base))
    sweep = []
    for r, res in zip(j["builds"], result.results):
        if r["kernels"] != "sparse":
            continue
        removed = sum(l["macs"] * l["sparsity"] for l in res.build.artifact.manifest["layers"])
        pw = pointwise_ms(r["dispatch_ms"])
        sweep.append(dict(build=r["build"], sparsity=r["sparsity"], median_ms=r["median_ms"],
                          speedup=round(dense["median_ms"] / r["median_ms"], 3),
                          speedup_vs_iree=round(iree["median_ms"] / r["median_ms"], 3),
                          flop_limit=round(total / (total - removed), 3), pointwise_ms=round(pw, 3),
                          pointwise_speedup=_ratio(pointwise_ms(dense["dispatch_ms"]), pw),
                          pointwise_speedup_vs_iree=_ratio(pointwise_ms(iree["dispatch_ms"]), pw)))
    print(f"\n{'build':<11} {'speedup':>8} {'vs IREE':>8} {'FLOP limit':>10} {'1x1 ms':>7} {'1x1 vs dense':>12} "
          f"{'1x1 vs IREE':>11}")
    for s in sweep:
        print(f"{s['build']:<11} {s['speedup']:>7.2f}x {s['speedup_vs_iree']:>7.2f}x {s['flop_limit']:>9.2f}x "
              f"{s['pointwise_ms']:>7.2f} {_x(s['pointwise_speedup']):>12} {_x(s['pointwise_speedup_vs_iree']):>11}")
    eager = None
    if result.target.is_native and result.target.runner != "wasm":
        eager = round(eager_ms(base.module, base.example_inputs[0].numpy(), args.threads, options.repeats), 3)
        print(f"reference: PyTorch eager (dense, {args.threads} thread(s)): {eager:.2f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(j, sweep=sweep, pytorch_eager_ms=eager), indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        _plot(sweep, j, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _layers(loaded):
    from spiree.pipeline.inspect import layer_table

    return layer_table(loaded.module, loaded.example_inputs)


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b else None


def _x(v) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _plot(sweep, j, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = [r["sparsity"] for r in sweep]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(s, [r["speedup"] for r in sweep], "o-", label="end to end (vs spiree dense)")
    ax.plot(s, [r["pointwise_speedup"] for r in sweep], "s-", label="1x1 layers")
    ax.plot(s, [r["speedup_vs_iree"] for r in sweep], "^:", label="end to end vs IREE alone")
    ax.plot(s, [r["flop_limit"] for r in sweep], "k--", label="FLOP limit (end to end)")
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set_xlabel(f"sparsity (G={j['group']})")
    ax.set_ylabel("speedup over spiree dense")
    ax.set_title(f"MobileNet-v1 on {j['target']}, {j['threads']} thread(s)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
