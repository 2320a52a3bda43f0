"""`PassOptions`: what every pass of `mlir_passes.PIPELINE` reads (inputs only; what the passes
decide comes back as a `report.PassReport`)."""
from __future__ import annotations

from dataclasses import dataclass

from ..targets import Target
from . import pattern


@dataclass(frozen=True)
class PassOptions:
    """The passes' inputs, built once per build and passed to every pass whole."""

    # The target the kernels are generated and compiled for (SIMD width, registers, clang flags,
    # executable format): targets are data, the passes read these fields.
    target: Target
    # Layers whose weights are less sparse than this stay dense (the measured sparse/dense
    # crossover, see bench/sparse_vs_dense.py; the rule itself is `pattern.compiler_uses`).
    min_sparsity: float = pattern.COMPILER_MIN_SPARSITY
    # False: every layer runs the dense kernels (the dense baseline of the same weights).
    exploit_sparsity: bool = True
