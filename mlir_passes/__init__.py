"""spiree's MLIR passes over linalg-on-tensors IR.

Each pass is a module with one public entry `run(module, options)`. `PIPELINE` lists them in
the order the pipeline's `passes` stage runs them. Passes import neither torch nor the CLI;
they read targets as data (`options.target`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..targets import Target, get_target
from . import pattern


@dataclass(frozen=True)
class PassOptions:
    target: Target
    # Layers whose weights are less sparse than this stay dense (measured crossover, see
    # bench/sparse_vs_dense.py; the rule itself is pattern.compiler_uses).
    min_sparsity: float = pattern.COMPILER_MIN_SPARSITY
    # False: every layer runs the dense kernels (the dense baseline of the same weights).
    exploit_sparsity: bool = True
    # Per-layer decisions and findings the passes report back (filled in while they run).
    report: list[dict[str, Any]] = field(default_factory=list)


def _pipeline() -> tuple:
    from . import conv, detect, dwconv, materialize, maxpool, pool

    return (detect, materialize, dwconv, conv, maxpool, pool)


# The passes the pipeline runs, in order (modules with `run(module, options)`).
PIPELINE: tuple = _pipeline()


def run_pipeline(module, options: PassOptions, passes=None) -> None:
    """Run `passes` (default: PIPELINE) on `module` in place."""
    for p in PIPELINE if passes is None else passes:
        p.run(module, options)


def main_for(pass_module, argv=None) -> int:
    """Command line of a pass file: `python -m spiree.mlir_passes.NAME IN.mlir [--target T]`
    prints the IR after the pass (and its per-layer report on stderr)."""
    import argparse
    import json
    import sys

    from . import ir as mir

    ap = argparse.ArgumentParser(prog=f"python -m {pass_module.__name__}", description=pass_module.__doc__.splitlines()[0])
    ap.add_argument("input", help=".mlir text or .mlirbc bytecode ('-' for stdin)")
    ap.add_argument("--target", default="host")
    args = ap.parse_args(argv)
    data = sys.stdin.read() if args.input == "-" else open(args.input, "rb").read()
    module = mir.parse_module(data)
    options = PassOptions(target=get_target(args.target))
    pass_module.run(module, options)
    print(module.operation.get_asm(large_elements_limit=64))
    for row in options.report:
        print(json.dumps(row), file=sys.stderr)
    return 0
