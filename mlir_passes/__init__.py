"""spiree's MLIR passes over linalg-on-tensors IR.

Each pass is a module with one public entry `run(module, options)`. `PIPELINE` lists them in
the order the pipeline's `passes` stage runs them. Passes import neither torch nor the CLI;
they read targets as data (`options.target`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..targets import Target


@dataclass(frozen=True)
class PassOptions:
    target: Target
    # Layers whose weights are less sparse than this stay dense (measured crossover, see
    # bench/sparse_vs_dense.py).
    min_sparsity: float = 0.2
    # Per-layer decisions and findings the passes report back (filled in while they run).
    report: list[dict[str, Any]] = field(default_factory=list)


def _pipeline() -> tuple:
    from . import detect, materialize

    return (detect, materialize)


# The passes the pipeline runs, in order (modules with `run(module, options)`).
PIPELINE: tuple = _pipeline()


def run_pipeline(module, options: PassOptions, passes=None) -> None:
    """Run `passes` (default: PIPELINE) on `module` in place."""
    for p in PIPELINE if passes is None else passes:
        p.run(module, options)
