"""The group-sparse 1x1-convolution microkernel (SpMM) and its dense twin, one template
(templates/spmm.c.in) with the parameters in the name, as XNNPACK's `f32-spmm/*.c.in`:

    spiree_spmm_f32_{MR}x{G}_v{L}_i{B}[_{act}][_add][_scale]   (sparse, B-bit input-channel indices)
    spiree_gemm_f32_{MR}x{G}_v{L}[_{act}][_add][_scale]        (dense: every input channel)

For output-channel groups [g_begin, g_end) of a packed weight (mlir_passes/pattern.py layout),
over NCHW activations:

    out[n, g*G + r, p] = clamp(act(bias[g*G + r] + sum_j vals[g, j, r] * x[n, idx[g, j], p] * s[n, idx[g, j]]
                                   + res[n, g*G + r, p]), vmin, vmax)

vectorized along pixels: a tile of MR contiguous pixels x G output channels stays in registers;
per kept position it loads MR pixels of one input row once and does G broadcast FMAs (one
activation load feeds G multiply-adds). `act` is an epilogue of templates/prelude.c.in (no
suffix: minmax, i.e. none/ReLU/ReLU6 by vmin/vmax); `_add` adds a residual tensor of the
output's shape before it; `_scale` multiplies each loaded input row by a per-(image, input channel) scale
(the squeeze-and-excitation gate of the layer's input): K x MR/L vector multiplies per pixel
tile, the weights and the FMAs unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import check_activation
from .xngen import render_file

INDEX_TYPES = {8: "int8_t", 16: "int16_t", 32: "int32_t"}
DENSE = 0  # index_bits of the dense variant: every input channel, no index table
# Bytes of input rows per pixel chunk (the kernel's outer loop, `chunk`): small enough to stay in
# L1/L2 while every output-channel group of a workgroup reads them (16 KiB measured best of
# 8/16/32 KiB on AVX-512, warm cache).
BLOCK_BYTES = 16384


@dataclass(frozen=True)
class SpmmVariant:
    mr: int  # pixels per register tile
    group: int  # output channels per group (G)
    index_bits: int  # 8, 16 or 32; DENSE (0) for the dense variant
    lanes: int = 4  # f32 lanes of the target's SIMD register
    act: str = "minmax"  # epilogue activation (kernels.ACTIVATIONS)
    add: bool = False  # residual input added before the activation
    scale: bool = False  # per-input-channel scale of the input rows (SE gate)

    def __post_init__(self):
        if self.mr <= 0 or self.mr % 4:
            raise ValueError(f"MR must be a positive multiple of 4, got {self.mr}")
        if self.group not in (1, 2, 4, 8):
            raise ValueError(f"G must be 1, 2, 4 or 8, got {self.group}")
        if self.index_bits not in INDEX_TYPES and self.index_bits != DENSE:
            raise ValueError(f"index bits must be 8, 16 or 32 (or 0 for dense), got {self.index_bits}")
        if self.lanes not in (4, 8, 16) or self.mr % self.lanes:
            raise ValueError(f"lanes must be 4, 8 or 16 and divide MR={self.mr}, got {self.lanes}")
        check_activation(self.act)

    @property
    def dense(self) -> bool:
        return self.index_bits == DENSE

    @property
    def name(self) -> str:
        base = (f"spiree_gemm_f32_{self.mr}x{self.group}_v{self.lanes}" if self.dense else
                f"spiree_spmm_f32_{self.mr}x{self.group}_v{self.lanes}_i{self.index_bits}")
        return (base + ("" if self.act == "minmax" else f"_{self.act}")
                + ("_add" if self.add else "") + ("_scale" if self.scale else ""))

    def tile_sizes(self) -> list[int]:
        """Pixel tiles tried in order: MR, MR/2, ... down to 4, then 1 (no runtime-bounded loop,
        so every tile is a fixed-size, fully vectorized block)."""
        sizes, t = [], self.mr
        while t >= 4:
            sizes.append(t)
            t //= 2
        return sizes + [1]

    def render(self) -> str:
        return render_file("spmm.c.in", NAME=self.name, MR=self.mr, G=self.group, L=self.lanes,
                           IDX=None if self.dense else INDEX_TYPES[self.index_bits],
                           TILES=self.tile_sizes(), ACT=self.act, ADD=self.add, SCALE=self.scale)

    def chunk(self, kept_rows: int) -> int:
        """Pixels per chunk of the kernel's outer loop: BLOCK_BYTES of the kept input rows."""
        return max(self.mr, BLOCK_BYTES // (4 * max(1, kept_rows)) // self.mr * self.mr)
