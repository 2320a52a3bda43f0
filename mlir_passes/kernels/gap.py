"""The global-average-pooling microkernel (templates/gap.c.in), one variant per SIMD width and
epilogue activation: `spiree_gap_f32_v{L}[_{act}]` computes, for channels [c_begin, c_end),

    out[n, c] = clamp(act(sum_p x[n, c, p] / HW), vmin, vmax)

over NCHW activations (the squeeze of squeeze-and-excitation, and the pooling before a
classifier)."""
from __future__ import annotations

from dataclasses import dataclass

from . import check_activation
from .xngen import render_file


@dataclass(frozen=True)
class GapVariant:
    lanes: int  # f32 lanes of the target's SIMD register
    act: str = "minmax"

    def __post_init__(self):
        if self.lanes not in (4, 8, 16):
            raise ValueError(f"lanes must be 4, 8 or 16, got {self.lanes}")
        check_activation(self.act)

    @property
    def name(self) -> str:
        return f"spiree_gap_f32_v{self.lanes}" + ("" if self.act == "minmax" else f"_{self.act}")

    def render(self) -> str:
        return render_file("gap.c.in", NAME=self.name, L=self.lanes, ACT=self.act)
