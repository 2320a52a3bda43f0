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

On 16 lanes (AVX-512), the 3x3 variants of stride 2 and the 3x3 and 5x5 ones of stride 1 read
the planes in place instead (the direct path): each block of output rows takes pointers to its
input rows (a shared zero row of ZERO_FLOATS for padding rows), the first and last vector of a
row mask the lanes that would read padding columns (for 3x3, only the taps whose reads reach
padding in a stored output, e.g. kx = 0 on the left with "same" padding: the sets of "same"
padding have their own copies of the loop; 5x5 masks every tap), and stride 2 splits each pair
of loaded vectors even/odd in registers. Rows of at most L/2 outputs (7x7 planes) hold two output rows per
vector there, when that takes fewer blocks of rows. With a minmax epilogue (none/ReLU/ReLU6)
stride 1 takes the direct path only for rows wider than one vector (wo > L); narrower rows, the
planes at the ends of x (whose reads would leave it) and rows wider than the zero row go through
the scratch. The direct path is its own out-of-line function and the scratch path is inlined
once beside it; the exact copy loops (zero row, stores at the end of the outputs) are out of
line in the direct path. That is what made the minmax direct path measure slower than the
scratch before (14x14x512: 0.064 vs 0.037 ms): built freestanding (-fno-builtin, so no
memcpy/memset calls) those loops were inlined into it, and the profile showed the time in
per-plane scalar bookkeeping and spilled pointers rather than in the blocks; with builtins
allowed the same source measured 0.044. Out of line, 0.038 ms.

In place (the dwconv pass ties the dispatch's result to x for some stride-1 layers: the output
pointer is the input's): the 16-lane stride-1 variants keep every access on the input's
pointer; the direct path computes a block of rows into a stack buffer and stores it only after
the next block has read the rows it overwrites (rows of at most 256 outputs); the scratch path is
safe as it is when its tiles are whole rows (each tile's input is in the scratch before its
outputs are stored). Other shapes trap.

Chosen by measurement on x86-64 AVX-512 (Zen 4, bench/dwconv_layers.py, one thread): the
scratch's even/odd copy cost as much as the arithmetic of stride 2; for stride 1 with minmax the
direct path is faster on rows of 28 to 112 outputs (MobileNet-v1 112x112x32 0.112 -> 0.086 ms,
56x56x128 0.122 -> 0.091, 28x28x256 0.074 -> 0.054, 7 rows per block in both) and slower on
14x14 and 7x7 planes (14x14x512 0.038 vs 0.034, 7x7x1024 0.050 vs 0.041), which keep the
scratch; 5x5 stride 2
measured even. The 4-lane variants (arm64 NEON, wasm32 SIMD128) keep the scratch: llvm-mca gives
NEON's direct stride-2 block 1.8x the cycles of the scratch one, and there is no timing on
those targets to decide on.
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
    share the input rows' loads. 7 for 3x3 stride 1 on 16 lanes (AVX-512: the 9 weights, 7
    accumulators and the 9 input rows of a block fit in its 32 registers; 7 divides the 112,
    56, 28, 14 and 7 rows of the MobileNets' and EfficientNets' planes, where 8 computed 32, 16
    and 8 rows for 28, 14 and 7: MobileNet-v1's stride-1 layers 0.547 -> 0.515 ms, 6 measured
    0.66), else 4 (NEON and SIMD128 have 4 lanes and 32 or 16 registers; stride 2 keeps 4
    planes of NA - 1 slack rows each in the scratch, so taller blocks would leave fewer rows per
    tile; on 16 lanes 5 to 8 measured slower for stride 2)."""
    return 7 if (kernel, stride, lanes) == (3, 1, 16) else 4


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
