#!/usr/bin/env python
"""One thread against two, side by side in one process: spiree dense and sparse builds and
ONNX Runtime dense, each at 1 and 2 threads, alternating in every round.

    .venv/bin/python bench/thread_scaling.py [--models mobilenet_v1,mobilenet_v2]
        [--sparsity 0.9] [--threads 2] [--rounds 7] [--json bench/results/thread_scaling.json]

`spiree bench --threads N` times one thread count per run; a scaling ratio between two runs
minutes apart on this shared 2-vCPU machine moves with its state (bench/cross_core_probe.py).
Here every engine and thread count is loaded once (`spiree.load(..., threads=N)`: 1 = IREE's
local-sync device, N = local-task with N workers; ONNX Runtime with N intra-op threads) and
timed in rounds, each round visiting all of them in turn (`spiree bench`'s in-process timer:
one warm-up call when loaded, then per round the mean call over >= 0.3 s). Prints, per model: the median ms of every engine and thread
count, spiree's scaling (1-thread time / N-thread time) and its ratios to ONNX Runtime dense at
the same thread count. Models: 224x224 registry networks, random weights, G=4 balanced one-shot
pruning.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path

from spiree.models.registry import load_model, parse_model_source
from spiree.pipeline.api import load
from spiree.pipeline.bench_measure import InProcessTimer
from spiree.pipeline.build import build
from spiree.pipeline.onnx_reference import OnnxRuntimeModel
from spiree.pipeline.options import BuildOptions, Kernels
from spiree.pipeline.prune import PruneOptions
from spiree.targets import get_target

MIN_TIME_S = 0.3


def measure(name: str, sparsity: float, threads: int, rounds: int) -> dict:
    target = get_target("host")
    model = load_model(parse_model_source(name))
    x = model.example_inputs[0].numpy()
    builds = {"dense": BuildOptions(kernels=Kernels.DENSE),
              f"sparse {sparsity:g}": BuildOptions(kernels=Kernels.SPARSE, prune=PruneOptions(sparsity, 4))}
    runs = {}
    for label, opts in builds.items():
        print(f"[scaling] {name}: compiling {label} ...", file=sys.stderr, flush=True)
        vmfb = build(model, target, options=opts).vmfb
        for t in (1, threads):
            runs[(label, t)] = load(vmfb, target=target, threads=t)
    for t in (1, threads):
        ort = OnnxRuntimeModel(model.module, model.example_inputs, threads=t)
        runs[("onnxruntime", t)] = lambda a, ort=ort: ort(a)
    # spiree bench's timer: loaded and warmed once, then per round the mean call over >= MIN_TIME_S
    timers = {k: InProcessTimer(run, [x]) for k, run in runs.items()}
    samples: dict = {k: [] for k in timers}
    for r in range(rounds):
        print(f"[scaling] {name}: round {r + 1}/{rounds}", file=sys.stderr, flush=True)
        for key, timer in timers.items():
            samples[key].append(timer.sample(MIN_TIME_S)[0])
    med = {k: statistics.median(v) for k, v in samples.items()}
    rows = {}
    for label in [*builds, "onnxruntime"]:
        rows[label] = {"ms": {str(t): round(med[(label, t)], 3) for t in (1, threads)},
                       "samples_ms": {str(t): [round(s, 3) for s in samples[(label, t)]] for t in (1, threads)},
                       "scaling": round(med[(label, 1)] / med[(label, threads)], 3)}
        if label != "onnxruntime":
            rows[label]["vs_onnxruntime"] = {str(t): round(med[(label, t)] / med[("onnxruntime", t)], 3)
                                             for t in (1, threads)}
    return {"model": name, "threads": threads, "sparsity": sparsity, "rounds": rounds, "engines": rows}


def table(results: list[dict]) -> list[str]:
    t = results[0]["threads"]
    lines = [f"| model | engine | 1 thread (ms) | {t} threads (ms) | scaling | vs ONNX Runtime, 1 / {t} threads |",
             "|---|---|---|---|---|---|"]
    for r in results:
        for label, e in r["engines"].items():
            vs = e.get("vs_onnxruntime")
            lines.append(f"| {r['model']} | {label} | {e['ms']['1']:.2f} | {e['ms'][str(t)]:.2f} | {e['scaling']:.2f}x | "
                         + (f"{vs['1']:.2f}x / {vs[str(t)]:.2f}x |" if vs else "- |"))
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v1,mobilenet_v2")
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = [measure(m, args.sparsity, args.threads, args.rounds) for m in args.models.split(",")]
    print("\n".join(table(results)))
    if args.json:
        Path(args.json).write_text(json.dumps({"format": "spiree-thread-scaling/1", "results": results}, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
