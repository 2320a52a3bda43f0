"""Sparsity schedules: the sparsity a layer should have after `step()` number t.

A schedule is a callable `(step, target) -> sparsity`, step = 1 after the first `step()` call.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OneShot:
    """The target at the first step (prune once, then fine-tune with the mask fixed)."""

    def __call__(self, step: int, target: float) -> float:
        return target if step >= 1 else 0.0


@dataclass(frozen=True)
class Cubic:
    """Gradual pruning (Zhu & Gupta 2017, "To prune, or not to prune"):
    s_t = s_f + (s_i - s_f) * (1 - t/n)^3 for t = 1..n, then s_f; fast at first, slow at the end.
    Call `step()` every few hundred training iterations; after `steps` calls the target holds."""

    steps: int
    initial: float = 0.0

    def __post_init__(self):
        if int(self.steps) < 1:
            raise ValueError(f"a cubic schedule needs steps >= 1, got {self.steps}")
        if not 0.0 <= self.initial < 1.0:
            raise ValueError(f"initial sparsity {self.initial} is outside [0, 1)")

    def __call__(self, step: int, target: float) -> float:
        if step <= 0:
            return 0.0
        t = min(step, self.steps) / self.steps
        return target + (min(self.initial, target) - target) * (1.0 - t) ** 3
