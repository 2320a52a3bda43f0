"""Compiled outputs against the PyTorch reference: what `spiree run --check` computes and
prints, as data (`compare`), so tests and tools read numbers instead of parsing text."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


def top_k(o: np.ndarray, k: int) -> list[int]:
    """The k largest entries of the first row of `o` (stable: ties keep index order)."""
    return [int(i) for i in np.argsort(-o[0], kind="stable")[:k]]


@dataclass(frozen=True)
class OutputCheck:
    """One output against its reference."""

    index: int  # outputN
    max_abs_error: float
    max_rel_error: float  # max abs error / max |reference|
    atol: float
    # For [batch, classes] outputs: whether every batch row has the reference's top-1 / the
    # same top-5 in the same order; None for other outputs.
    top1_agrees: bool | None = None
    top5_identical: bool | None = None

    @property
    def passed(self) -> bool:
        """Within `atol`, and the same top-5 where there are classes."""
        return self.max_abs_error <= self.atol and self.top5_identical is not False

    def line(self) -> str:
        """The line `spiree run --check` prints for this output."""
        text = (f"check output{self.index}: max abs error {self.max_abs_error:.3g} (tolerance {self.atol:g}), "
                f"max rel error {self.max_rel_error:.3g}")
        if self.top5_identical is not None:
            text += (f", top-1 {'agrees' if self.top1_agrees else 'DIFFERS'}, "
                     f"top-5 {'identical' if self.top5_identical else 'DIFFERS'}")
        return text


def compare(outputs: Sequence[np.ndarray], references: Sequence[np.ndarray], *, atol: float) -> list[OutputCheck]:
    """Each output against its reference (same order); see `OutputCheck.passed`."""
    if len(outputs) != len(references):
        raise ValueError(f"{len(outputs)} output(s) but {len(references)} reference output(s): "
                         f"the artifact and its model disagree")
    checks = []
    for i, (o, r) in enumerate(zip(outputs, references)):
        if o.shape != r.shape:
            raise ValueError(f"output{i} has shape {list(o.shape)}, the reference {list(r.shape)}")
        err = float(np.max(np.abs(o - r))) if o.size else 0.0
        rel = err / max(float(np.max(np.abs(r))) if r.size else 0.0, 1e-30)
        top1 = top5 = None
        if o.ndim == 2:
            rows = range(o.shape[0])
            top1 = all(top_k(o[b:b + 1], 1) == top_k(r[b:b + 1], 1) for b in rows)
            top5 = all(top_k(o[b:b + 1], 5) == top_k(r[b:b + 1], 5) for b in rows)
        checks.append(OutputCheck(i, err, rel, atol, top1, top5))
    return checks
