"""The depthwise convolution microkernel family (NCHW), generated per variant from
templates/dwconv.c.in.

`spiree_dwconv_k{K}s{S}_v{L}_{act}` computes, for work units (channel planes of the batch)
[u_begin, u_end), unit u being channel c = u % channels:

    out[u, oy, ox] = clamp(act(bias[c] + sum_{ky,kx} w[c, ky, kx] * xpad[u, S*oy + ky, S*ox + kx]), vmin, vmax)

where xpad is the plane with pad_top/pad_bottom zero rows and pad_left/pad_right zero columns
(any sizes, asymmetric allowed). Per plane and per tile of rows (so the stack scratch stays
under SCRATCH_FLOATS whatever the plane size), the input is copied once into a zero-padded
scratch (for stride 2 split into 4 even/odd-row x even/odd-column planes). With the scratch's
row pitch P every output, flattened as q = oy*P + ox, reads tap (ky, kx) at q + a constant
offset: the inner loop is K*K unaligned L-lane loads and broadcast FMAs into NA independent
accumulator vectors, with no bounds checks; the epilogue (bias, activation, clamp) is vector
code, and the columns ox >= wo of the flattened rows are dropped when the tile is copied out.

On 16 lanes (AVX-512), the 3x3 variants of stride 2, and the 3x3 and 5x5 ones of stride 1 with a
sigmoid/SiLU/hardswish epilogue, read the planes in place instead (the direct path): each block
of output rows takes pointers to its input rows (a shared zero row of ZERO_FLOATS for padding
rows), the first and last vector of a row mask the lanes that would read padding columns, and
stride 2 splits each pair of loaded vectors even/odd in registers. Rows of at most L/2 outputs
(7x7 planes) hold two output rows per vector there, when that takes fewer blocks of rows. The
planes at the ends of x (whose reads would leave it) and rows wider than the zero row still go
through the scratch. Chosen by measurement on x86-64 AVX-512
(bench/dwconv_layers.py): there the scratch's even/odd copy cost as much as the arithmetic of
stride 2, while with a minmax epilogue (none/ReLU/ReLU6) the scratch path of stride 1 was faster
and 5x5 stride 2 measured even. The 4-lane variants (arm64 NEON, wasm32 SIMD128) keep the scratch:
llvm-mca gives NEON's direct stride-2 block 1.8x the cycles of the scratch one, and there is no
timing on those targets to decide on.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import check_activation

KERNEL_SIZES = (3, 5, 7)
STRIDES = (1, 2)
LANES = (4, 8, 16)
SCRATCH_FLOATS = 7168  # 28 KiB of stack per call: two padded input tiles
ZERO_FLOATS = 1024  # the direct path's zero row: input rows up to ~1000 floats wide


def accumulators(kernel: int, stride: int, lanes: int) -> int:
    """Output rows per block = independent accumulator vectors: they hide the FMA latency and
    share the input rows' loads. 8 for 3x3 stride 1 on 16 lanes (AVX-512: the 9 weights, 8
    accumulators and the 10 input rows of a block fit in its 32 registers), else 4 (NEON and
    SIMD128 have 4 lanes and 32 or 16 registers; stride 2 keeps 4 planes of NA - 1 slack rows
    each in the scratch, so taller blocks would leave fewer rows per tile)."""
    return 8 if (kernel, stride, lanes) == (3, 1, 16) else 4


@dataclass(frozen=True)
class DwconvVariant:
    kernel: int  # K: KxK window, 3, 5 or 7
    stride: int  # S: 1 or 2 (both directions)
    lanes: int  # L: f32 lanes of the target's SIMD register
    act: str = "minmax"  # epilogue activation (kernels.ACTIVATIONS)

    def __post_init__(self):
        if self.kernel not in KERNEL_SIZES:
            raise ValueError(f"kernel size must be one of {KERNEL_SIZES}, got {self.kernel}")
        if self.stride not in STRIDES:
            raise ValueError(f"stride must be 1 or 2, got {self.stride}")
        if self.lanes not in LANES:
            raise ValueError(f"lanes must be 4, 8 or 16, got {self.lanes}")
        check_activation(self.act)

    @property
    def name(self) -> str:
        return f"spiree_dwconv_k{self.kernel}s{self.stride}_v{self.lanes}_{self.act}"

    def render(self) -> str:
        from .xngen import render_file

        return render_file("dwconv.c.in", NAME=self.name, K=self.kernel, S=self.stride, L=self.lanes,
                           ACT=self.act, NA=accumulators(self.kernel, self.stride, self.lanes), SCRATCH=SCRATCH_FLOATS,
                           ZERO=ZERO_FLOATS)
