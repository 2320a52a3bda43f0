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
# Pixels per chunk of the kernel's outer loop (`chunk`): a chunk's kept input rows stay in cache
# while every output-channel group of the workgroup reads them, and each group's weights are
# read once per chunk. 16-lane (AVX-512) targets: input rows of about 256 KiB (a quarter of a
# Zen 4 core's L2) and at least 512 pixels; measured against the earlier 16 KiB chunks on
# MobileNet 1x1 shapes with cold outputs (C microbenchmark, alternating, 1 thread): dense 4-17%
# faster (32->64 @112x112 66 -> 75 GFLOP/s, 128->128 @56x56 84 -> 98, 512->512 @14x14 102 ->
# 106), 90%-sparse 2-7% faster. Other targets keep 16 KiB chunks (smaller L2s, not timed).
CHUNK_BYTES = {16: 262144}
CHUNK_BYTES_DEFAULT = 16384
CHUNK_MIN_PIXELS = {16: 512}
# Largest K a variant is built for (`SpmmVariant.k`): beyond it the loop overhead a constant
# trip count saves is small and every distinct K would be one more kernel in the executable.
FIXED_K_MAX = 32


@dataclass(frozen=True)
class SpmmVariant:
    mr: int  # pixels per register tile
    group: int  # output channels per group (G)
    index_bits: int  # 8, 16 or 32; DENSE (0) for the dense variant
    lanes: int = 4  # f32 lanes of the target's SIMD register
    act: str = "minmax"  # epilogue activation (kernels.ACTIVATIONS)
    add: bool = False  # residual input added before the activation
    scale: bool = False  # per-input-channel scale of the input rows (SE gate)
    # Positions per group known when the kernel is built (the layer's K: kept input channels,
    # or C_in dense), so the inner loop has a constant trip count; None: K at run time. For
    # small K only (see FIXED_K_MAX): a fixed trip count of 3-16 measured 7-25% faster on
    # AVX-512 (C microbenchmark: 90%-sparse MobileNet layers with K = 3/6/10/13, dense
    # 16 -> 96 and 24 -> 144 expansions 9-10%), but 30% slower on 7x7 planes, which
    # `materialize` leaves at run-time K.
    k: int | None = None

    def __post_init__(self):
        if self.k is not None and not 1 <= self.k <= FIXED_K_MAX:
            raise ValueError(f"a fixed K must be 1..{FIXED_K_MAX}, got {self.k}")
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
        return (base + ("" if self.k is None else f"_k{self.k}") + ("" if self.act == "minmax" else f"_{self.act}")
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
                           TILES=self.tile_sizes(), ACT=self.act, ADD=self.add, SCALE=self.scale,
                           KC="k" if self.k is None else str(self.k))

    def chunk(self, kept_rows: int) -> int:
        """Pixels per chunk of the kernel's outer loop: CHUNK_BYTES of the kept input rows, at
        least CHUNK_MIN_PIXELS, a multiple of MR."""
        pixels = CHUNK_BYTES.get(self.lanes, CHUNK_BYTES_DEFAULT) // (4 * max(1, kept_rows))
        pixels = max(pixels, CHUNK_MIN_PIXELS.get(self.lanes, 0))
        return max(self.mr, pixels // self.mr * self.mr)
