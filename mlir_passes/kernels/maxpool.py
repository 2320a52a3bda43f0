"""The max-pooling microkernel (NCHW), generated per window and stride.

`spiree_maxpool{KH}x{KW}s{S}_f32_v{L}` computes, for channels [c_begin, c_end):

    out[n, c, oy, ox] = clamp(max over ky < KH, kx < KW of xpad[n, c, S*oy + ky, S*ox + kx], vmin, vmax)

where xpad is x with `pad_top` / `pad_left` rows / columns of -inf before it (and -inf after
it), as torch's MaxPool2d pads. Per output row: the maxima of the KH input rows, column by
column (L-lane vectors), into a row buffer with -inf borders, then the KW-wide window maxima
along it with stride S (L outputs at a time for S <= 2: stride 2 by an even-lane shuffle).
"""
from __future__ import annotations

from dataclasses import dataclass

from .xngen import render_file


@dataclass(frozen=True)
class MaxpoolVariant:
    kernel: tuple[int, int]  # KH, KW
    stride: int
    lanes: int

    def __post_init__(self):
        kh, kw = self.kernel
        if not (1 <= kh <= 8 and 1 <= kw <= 8):
            raise ValueError(f"window must be between 1x1 and 8x8, got {kh}x{kw}")
        if self.stride not in (1, 2, 3, 4):
            raise ValueError(f"stride must be 1 to 4, got {self.stride}")
        if self.lanes not in (4, 8, 16):
            raise ValueError(f"lanes must be 4, 8 or 16, got {self.lanes}")

    @property
    def name(self) -> str:
        kh, kw = self.kernel
        return f"spiree_maxpool{kh}x{kw}s{self.stride}_f32_v{self.lanes}"

    def render(self) -> str:
        return render_file("maxpool.c.in", NAME=self.name, KH=self.kernel[0], KW=self.kernel[1],
                           S=self.stride, L=self.lanes)
