#!/usr/bin/env python
"""arm64 dynamic instruction counts of dense vs sparse builds, per registry model (no arm64
hardware needed: the real aarch64 IREE runtime under qemu with spiree's counting plugin).

    .venv/bin/python bench/arm64_counts.py [--models mobilenet_v1,...] [--sparsities 0.7,0.9]
                                           [--json bench/results/arm64_counts.json]

Per model, batch 1, random weights pruned one-shot with G=4 balanced, these builds for arm64:
`iree` (IREE alone, dense weights), `dense` (spiree's kernels, dense weights) and `sparse S` for
each sparsity. Each is counted with `spiree.pipeline.arm64_counts.instruction_counts` (one
inference on IREE's local-sync device, the difference of a 1-call and a 2-call run): all
instructions per inference, those inside the model's dispatch code, and that code split into
the 1x1 layers (`pointwise`, `linear`), depthwise (`dwconv`) and IREE's own dispatches (`iree`:
first conv, pooling, ...). `vs dense` is the build's total over the dense build's total.
Counts are not time (no caches, no issue width): see the README section "arm64 evidence".
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path

from spiree.models.registry import REGISTRY, load_model, parse_model_source
from spiree.pipeline.arm64_counts import instruction_counts
from spiree.pipeline.build import BuildOptions, build
from spiree.pipeline.prune import PruneOptions

LAYER_KINDS = ("1x1", "depthwise", "classifier", "other")


def layer_kind(dispatch: dict) -> str:
    """The layer kind of a dispatch, from spiree's export kind or IREE's dispatch name."""
    kind, name = dispatch["kind"], dispatch["name"]
    if kind == "pointwise" or "matmul_like" in name:
        return "1x1"
    if kind == "dwconv" or re.search(r"_conv_\d+x\d+x\d+x3x3_f32$", name):
        return "depthwise"
    if kind == "linear" or re.search(r"_matmul_1x\d+x\d+_f32$", name):
        return "classifier"
    return "other"


def count_builds(model: str, sparsities: list[float], group: int, *, target: str = "arm64") -> list[dict]:
    base = load_model(parse_model_source(model))
    x = base.example_inputs[0].numpy()
    builds = [("iree", BuildOptions(kernels="iree")), ("dense", BuildOptions(kernels="dense"))]
    builds += [(f"sparse {s:g}", BuildOptions(kernels="sparse", prune=PruneOptions(s, group))) for s in sparsities]
    rows = []
    for label, opts in builds:
        t0 = time.perf_counter()
        art = build(base, target, options=opts)
        counts = instruction_counts(art.vmfb, [x], target)
        kinds = dict.fromkeys(LAYER_KINDS, 0)
        for d in counts["dispatches"]:
            kinds[layer_kind(d)] += d["instructions"]
        rows.append({
            "model": model, "build": label, "kernels": str(opts.kernels), "sparsity": opts.prune.sparsity if opts.prune else 0.0,
            "group": group if opts.prune else None,
            "total": counts["per_inference"]["total"], "dispatch": counts["per_inference"]["dispatch"],
            "runtime": counts["per_inference"]["runtime"],
            **{k: kinds[k] for k in LAYER_KINDS},
            "sparse_layers": sum(1 for r in art.manifest.get("passes", []) if r.get("decision") == "sparse"),
            "vmfb_bytes": len(art.vmfb), "counts": counts, "seconds": round(time.perf_counter() - t0, 1),
        })
        print(f"  {model} {label}: {rows[-1]['total'] / 1e6:.1f}M instructions per inference "
              f"({rows[-1]['seconds']} s)", file=sys.stderr, flush=True)
    dense = next(r for r in rows if r["build"] == "dense")
    for r in rows:
        r["vs_dense"] = round(r["total"] / dense["total"], 4)
        r["1x1_vs_dense"] = round(r["1x1"] / dense["1x1"], 4) if dense["1x1"] else None
    return rows


def table(rows: list[dict]) -> str:
    head = ("| model | build | instructions / inference | in dispatch code | 1x1 conv | depthwise | classifier "
            "| other layers | runtime | vs dense | 1x1 vs dense |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        m = lambda v: f"{v / 1e6:.1f}M"  # noqa: E731
        pv = "-" if r["1x1_vs_dense"] is None else f"{r['1x1_vs_dense']:.3f}x"
        lines.append(f"| {r['model']} | {r['build']} | {m(r['total'])} | {m(r['dispatch'])} | {m(r['1x1'])} "
                     f"| {m(r['depthwise'])} | {m(r['classifier'])} | {m(r['other'])} | {m(r['runtime'])} "
                     f"| {r['vs_dense']:.3f}x | {pv} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v1",
                    help=f"comma-separated registry models (known: {', '.join(REGISTRY)})")
    ap.add_argument("--sparsities", default="0.7,0.9")
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--json", help="write the rows (with per-dispatch counts) as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in REGISTRY]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(REGISTRY)}")
    sparsities = [float(s) for s in args.sparsities.split(",") if s.strip()]
    rows = []
    for model in models:
        rows += count_builds(model, sparsities, args.group)
    print("arm64 (qemu + counting plugin), batch 1, local-sync, G=%d; instructions per inference" % args.group)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
