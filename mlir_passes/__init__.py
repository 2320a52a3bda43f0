"""spiree's MLIR passes over linalg-on-tensors IR.

Each pass is a module with one public entry `run(module, options, report)` (options.py: the
inputs; report.py: one row per layer, what the passes decided, which `run` fills in).
`PIPELINE` lists the passes in the order the pipeline's `passes` stage runs them; `run_pipeline`
runs them and returns the report. Passes import neither torch nor the CLI, nor this package's
`__init__`; they read targets as data (`options.target`).
"""
from __future__ import annotations

from .options import PassOptions
from .report import LayerReport, PassReport

__all__ = ["PIPELINE", "PassOptions", "PassReport", "LayerReport", "run_pipeline"]


def _pipeline() -> tuple:
    from . import conv, detect, dwconv, materialize, maxpool, pool, se

    return (detect, se, materialize, dwconv, conv, maxpool, pool)


# The passes the pipeline runs, in order (modules with `run(module, options, report)`).
PIPELINE: tuple = _pipeline()


def run_pipeline(module, options: PassOptions, passes=None) -> PassReport:
    """Run `passes` (default: PIPELINE) on `module` in place; return their per-layer report."""
    report = PassReport()
    for p in PIPELINE if passes is None else passes:
        p.run(module, options, report)
    return report
