#!/usr/bin/env python
"""spiree against ONNX Runtime on the registry's networks, one `spiree bench` per model.

    .venv/bin/python bench/models.py [--models mobilenet_v1,mobilenet_v2,efficientnet_b0,resnet18]
        [--sparsities 0,0.7,0.9] [--threads 1] [--repeats 7] [--target host]
        [--json bench/results/models.json] [--markdown]

For each model (224x224, batch 1, random weights, G=4 balanced one-shot pruning): IREE alone,
spiree dense, spiree sparse at each sparsity and ONNX Runtime dense on the same weights, timed
alternately in one process with a warm-up round (pipeline/bench.py). Prints one summary row per
model with the times and the ratios to ONNX Runtime dense, and writes every model's full
`spiree bench` JSON (per-build medians, per-kind split, decisions) into one file.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from spiree.pipeline.bench import BenchOptions, bench, to_json

DEFAULT_MODELS = "mobilenet_v1,mobilenet_v2,efficientnet_b0,resnet18"


def summary_rows(results: list[dict]) -> list[str]:
    """A markdown table: per model, ms per inference and the ratio to ONNX Runtime dense."""
    sparsities = sorted({b["sparsity"] for j in results for b in j["builds"] if b["kernels"] == "sparse" and b["sparsity"] > 0})
    head = ["model", "threads", "ONNX Runtime dense", "IREE alone", "spiree dense"] + [f"spiree {s:.0%}" for s in sparsities]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for j in results:
        ort = (j.get("onnxruntime") or {}).get("median_ms")
        by = {b["build"]: b for b in j["builds"]}

        def cell(name):
            b = by.get(name)
            if b is None:
                return "-"
            ratio = f" ({b['median_ms'] / ort:.2f}x)" if ort else ""
            return f"{b['median_ms']:.2f}{ratio}"

        row = [j["model"], str(j["threads"]), f"{ort:.2f}" if ort else "-", cell("iree"), cell("dense")]
        row += [cell(f"sparse {s:g}") for s in sparsities]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--sparsities", default="0,0.7,0.9")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--target", default="host")
    ap.add_argument("--no-profile", action="store_true", help="skip the per-dispatch profiles")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--markdown", action="store_true", help="print the summary as a markdown table only")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[bench] %(message)s", stream=sys.stderr)
    options = BenchOptions(target=args.target, sparsities=tuple(float(s) for s in args.sparsities.split(",")),
                           threads=args.threads, repeats=args.repeats, profile=not args.no_profile)
    results = []
    for model in args.models.split(","):
        res = bench(model, options)
        if not args.markdown:
            print(f"== {model}\n{res.format()}\n", flush=True)
        results.append(to_json(res))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"format": "spiree-bench-models/1", "models": results}, indent=1))
    print("\n".join(summary_rows(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
