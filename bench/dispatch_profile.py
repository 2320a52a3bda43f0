#!/usr/bin/env python
"""Per-dispatch profile of a MobileNet-v1 build: which dispatches take the time.

    .venv/bin/python bench/dispatch_profile.py [--kernels iree|dense|sparse] [--sparsity S] [--top 15] [--json out.json]

Compiles MobileNet-v1 224 (random weights; pruned one-shot with G=4 when --sparsity is given)
for the host and prints each dispatch's average time per inference (IREE's device statistics,
one thread), its share of the total, and the totals per kind of layer. `--kernels iree` is
IREE alone with spiree's dense flags; `dense`/`sparse` use spiree's kernels.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

from spiree.models.registry import load_model, parse_model_source
from spiree.pipeline.benchmark import dispatch_profile
from spiree.pipeline.build import build
from spiree.pipeline.options import BuildOptions, Kernels
from spiree.pipeline.prune import PruneOptions
from spiree.targets import get_target

KINDS = (  # dispatch name pattern -> kind of layer
    (r"^pointwise_|matmul_like", "1x1 conv"),
    (r"^dwconv_|conv_\d+x\d+x\d+x3x3_f32$", "depthwise"),
    (r"conv_\d+x\d+x\d+x3x3x3_f32$", "first conv 3x3"),
    (r"transpose|slow_memcpy", "layout (transpose/copy)"),
    (r"reduction|matmul_1x|^linear_", "pool + classifier"),
)


def kind_of(name: str) -> str:
    return next((k for pat, k in KINDS if re.search(pat, name)), "other (elementwise, ...)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernels", default=Kernels.DENSE.value, choices=[k.value for k in Kernels])
    ap.add_argument("--sparsity", type=float, default=None)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--json", help="write the whole profile as JSON here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    target = get_target("host")
    model = load_model(parse_model_source("mobilenet_v1"))
    art = build(model, target, options=BuildOptions(
        kernels=args.kernels, prune=None if args.sparsity is None else PruneOptions(args.sparsity, args.group)))
    prof = dispatch_profile(art.vmfb, [model.example_inputs[0].numpy()], target)
    total = sum(prof.values())
    print(f"MobileNet-v1 224 on host, kernels={args.kernels}, sparsity={args.sparsity or 0:g}: "
          f"{total:.2f} ms in {len(prof)} dispatches (1 thread)")
    print(f"{'dispatch':<48} {'ms':>7} {'share':>6}")
    for name, ms in sorted(prof.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"{name:<48} {ms:>7.3f} {ms / total:>6.1%}")
    kinds: dict[str, float] = {}
    for name, ms in prof.items():
        kinds[kind_of(name)] = kinds.get(kind_of(name), 0.0) + ms
    print("by kind:")
    for k, ms in sorted(kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {k:<30} {ms:>7.3f} ms {ms / total:>6.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps({"kernels": args.kernels, "sparsity": args.sparsity,
                                               "total_ms": total, "dispatches_ms": prof, "kinds_ms": kinds},
                                              indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
