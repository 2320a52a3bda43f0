#!/usr/bin/env python
"""ResNet-18 (224, batch 1, one thread): IREE alone, spiree before its KxK kernels, spiree with
them (dense and G=4 group-sparse), ONNX Runtime dense, timed alternately in one run.

    .venv/bin/python bench/resnet18.py [--sparsities 0,0.7,0.9] [--repeats 5] [--clock cpu|real] [--json out.json]

The model is tests/resnet18.py (from the paper, random variance-preserving weights, BatchNorm
folded); sparse builds are pruned one-shot with G=4 balanced (`--sparsity S --group 4`).
Builds:
- `iree`: IREE alone (spiree's dense preprocessing flags, no spiree passes);
- `before`: spiree's passes without `conv` and `maxpool` (every KxK/strided conv and the max
  pooling on IREE's codegen: spiree as it was before them);
- `spiree S`: all of spiree's passes on the weights pruned to sparsity S (S=0: the dense kernels).
Each repeat times every build (iree-benchmark-module, local-sync) and ONNX Runtime (1 intra-op
thread) once, in turn; the table has the medians. `--clock cpu` (default) measures the CPU time of
the executing thread (google-benchmark's cpu_time, `time.thread_time` for ONNX Runtime), which
other processes on a shared machine inflate far less than wall time; `--clock real` wall time.
The per-dispatch profile (IREE's statistics, wall time) groups dispatches by kind of layer.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/resnet18.py

from spiree import mlir_passes  # noqa: E402
from spiree.pipeline.api import as_loaded_model  # noqa: E402
from spiree.pipeline.benchmark import dispatch_profile, time_once  # noqa: E402
from spiree.pipeline.build import BuildOptions, build  # noqa: E402
from spiree.pipeline.prune import PruneOptions  # noqa: E402
from spiree.targets import get_target  # noqa: E402
from tests.resnet18 import factory  # noqa: E402

KINDS = (  # dispatch name pattern -> kind of layer
    (r"^conv_\d+$", "KxK/strided conv (spiree)"),
    (r"^convprep_", "conv input planes (spiree)"),
    (r"^maxpool_", "max pooling (spiree)"),
    (r"^(pointwise|linear)_|matmul", "1x1 / classifier"),
    (r"^gap_|reduction", "global average pool"),
    (r"conv", "conv (IREE)"),
    (r"pooling|slow_memcpy", "max pooling + pad (IREE)"),
)


def kind_of(name: str) -> str:
    return next((k for pat, k in KINDS if re.search(pat, name)), "other")


@contextlib.contextmanager
def without_passes(*names: str):
    """mlir_passes.PIPELINE without the named passes, for the `before` build."""
    saved = mlir_passes.PIPELINE
    mlir_passes.PIPELINE = tuple(p for p in saved if p.__name__.rsplit(".", 1)[-1] not in names)
    try:
        yield
    finally:
        mlir_passes.PIPELINE = saved


def onnxruntime_runner(model, x, clock: str):
    """A function timing ONNX Runtime (dense, 1 thread) for about a second: ms per run."""
    import onnxruntime as ort

    tmp = tempfile.mkdtemp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(x),), f"{tmp}/m.onnx", input_names=["x"], dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(f"{tmp}/m.onnx", so, providers=["CPUExecutionProvider"])
    timer = time.thread_time if clock == "cpu" else time.perf_counter
    for _ in range(3):
        sess.run(None, {"x": x})

    def run() -> float:
        n, t0 = 0, timer()
        while timer() - t0 < 1.0 or n < 2:
            sess.run(None, {"x": x})
            n += 1
        return (timer() - t0) / n * 1e3

    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sparsities", default="0,0.7,0.9")
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--clock", choices=("cpu", "real"), default="cpu")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-dispatch profiles")
    ap.add_argument("--json", help="write the results as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    target = get_target("host")
    model, (xt,) = factory(resolution=args.resolution)
    x = xt.numpy()
    loaded = as_loaded_model(model, (xt,))

    builds = {"iree": build(loaded, target, options=BuildOptions(kernels="iree"))}
    with without_passes("conv", "maxpool"):
        builds["before"] = build(loaded, target, options=BuildOptions(kernels="dense"))
    for s in (float(v) for v in args.sparsities.split(",")):
        opts = (BuildOptions(kernels="sparse", prune=PruneOptions(s, args.group)) if s > 0
                else BuildOptions(kernels="dense"))
        builds[f"spiree {s:g}"] = build(loaded, target, options=opts)
    ort = onnxruntime_runner(model, x, args.clock)

    times: dict[str, list[float]] = {k: [] for k in [*builds, "onnxruntime"]}
    print(f"ResNet-18 {args.resolution}, batch 1, 1 thread, host, {args.clock} time, "
          f"{args.repeats} alternating repeats (+1 warm-up)", flush=True)
    for r in range(args.repeats + 1):
        for name, art in builds.items():
            t = time_once(art.vmfb, [x], target, min_time_s=1.0, clock=args.clock)
            if r:
                times[name].append(t)
        t = ort()
        if r:
            times["onnxruntime"].append(t)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["onnxruntime"]
    print(f"{'build':<14} {'median ms':>10} {'vs ORT':>7}  repeats")
    for k, v in times.items():
        print(f"{k:<14} {med[k]:>10.2f} {med[k] / base:>6.2f}x  {' '.join(f'{t:.1f}' for t in v)}")

    profiles = {}
    if not args.no_profile:
        for name, art in builds.items():
            prof = dispatch_profile(art.vmfb, [x], target, min_time_s=1.0)
            kinds: dict[str, float] = {}
            for d, ms in prof.items():
                kinds[kind_of(d)] = kinds.get(kind_of(d), 0.0) + ms
            profiles[name] = {"kinds_ms": kinds, "dispatches_ms": prof}
            print(f"profile {name} (wall ms per inference): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])), flush=True)
    if args.json:
        decisions = {k: [(r["op"], r["decision"], r.get("kernel", "")) for r in a.manifest["passes"]]
                     for k, a in builds.items()}
        Path(args.json).write_text(json.dumps({
            "model": "resnet18", "resolution": args.resolution, "clock": args.clock, "repeats": args.repeats,
            "median_ms": med, "vs_onnxruntime": {k: v / base for k, v in med.items()}, "times_ms": times,
            "profiles": profiles, "decisions": decisions, "vmfb_bytes": {k: len(a.vmfb) for k, a in builds.items()},
        }, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
