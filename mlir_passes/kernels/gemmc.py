"""The channel-vectorized dense pointwise kernel (templates/gemmc.c.in), for small planes.

spiree's pointwise kernel (spmm.py) keeps pixels in the vector lanes, so a plane whose pixel
count is not a multiple of the tile leaves lanes idle: 7x7 = 49 pixels run as 32 + 16 + 1, 64
lanes of work for 49 (77%) on AVX-512. This kernel puts CB output channels in the lanes
instead and broadcasts pixels: per input channel, CB/L vector loads of the packed weights
(`[blocks, C_in, CB]`, the dense kernel's packing with G = CB) feed TILES[0] broadcast pixels,
and pixel tiles TILES[0], ..., 1 cover any plane with every lane busy. The tile returns to the
NCHW planes through a T x CB buffer (T * CB scalar copies per tile, small against C_in x
T * CB / L FMAs: it is for small planes of deep layers only, see `prefer`).
It takes the same arguments as the dense pointwise kernel, so `materialize` swaps one for the
other per layer.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import check_activation
from .xngen import render_file

# Pixels per register tile: 7 divides every plane of a 224x224 network (112^2 ... 7^2), and
# 2 x 7 accumulator vectors leave room for the weights on 32 registers.
PIXELS = 7
# Weights stream in from memory while the FMAs run: the tiles of a block prefetch the next
# block's weights between them (a slice each, one prefetch per input channel), and the first
# tile of a workgroup's range its own weights PREFETCH_BYTES ahead (2, 6, 12, 24 KB tried: 6
# best). The 7x7 layers' weights (2-4 MB) otherwise come from memory in a whole network and
# stall each block's first tile. Measured in IREE, one thread: twelve 1024->1024 7x7 layers
# (48 MB of weights, beyond the L3) 91 -> 111 GFLOP/s (first-tile prefetch alone: 97), one such
# layer with warm caches 114 either way; in MobileNet-v1 dense (alternating) the two 7x7
# layers 1.111 / 0.561 -> 0.929 / 0.472 ms (ONNX Runtime: 0.956 / 0.491). The same prefetch in
# the pixel-vectorized dense kernel (spmm.c.in) made every layer 1-20% slower: not there.
PREFETCH_BYTES = 6144


@dataclass(frozen=True)
class GemmcVariant:
    block: int  # output channels per block (CB), a multiple of `lanes`
    lanes: int  # f32 lanes of the target's SIMD register
    act: str = "minmax"  # epilogue activation (kernels.ACTIVATIONS)
    add: bool = False  # residual input added before the activation
    scale: bool = False  # per-input-channel scale of the input (SE gate)
    pixels: int = PIXELS  # pixels per register tile (T)

    def __post_init__(self):
        if self.lanes not in (4, 8, 16) or self.block <= 0 or self.block % self.lanes:
            raise ValueError(f"lanes must be 4, 8 or 16 and divide the block {self.block}, got {self.lanes}")
        if not 1 <= self.pixels <= 16:
            raise ValueError(f"pixels per tile must be 1..16, got {self.pixels}")
        check_activation(self.act)

    @property
    def name(self) -> str:
        return (f"spiree_gemmc_f32_{self.block}x{self.pixels}_v{self.lanes}"
                + ("" if self.act == "minmax" else f"_{self.act}")
                + ("_add" if self.add else "") + ("_scale" if self.scale else ""))

    def tile_sizes(self) -> list[int]:
        """Pixel tiles tried in order: T, then every smaller size down to 1 (so any plane is
        covered by fixed-size tiles with at most one of each smaller size)."""
        return list(range(self.pixels, 0, -1))

    @property
    def group(self) -> int:
        """Output channels per packed weight block (the dense packing's G)."""
        return self.block

    @property
    def mr(self) -> int:
        """Pixels per tile: where workgroups cut the plane (`Export.span_align`)."""
        return self.pixels

    def render(self) -> str:
        return render_file("gemmc.c.in", NAME=self.name, CB=self.block, L=self.lanes,
                           TILES=self.tile_sizes(), ACT=self.act, ADD=self.add, SCALE=self.scale,
                           PF=max(1, PREFETCH_BYTES // (4 * self.block)))

    def chunk(self, kept_rows: int) -> int:
        """The pointwise kernel's `chunk` argument (unused here)."""
        return self.pixels


# Weights from which a 14x14-class plane (fewer than 8 pixel tiles) runs on this kernel too.
LARGE_WEIGHTS_BYTES = 1 << 20


def prefer(hw: int, c_in: int, c_out: int, mr: int, lanes: int) -> bool:
    """Whether a dense layer runs on this kernel rather than the pixel-vectorized one: wide
    vectors (8+ lanes), C_in >= 64, and a plane of fewer than two pixel tiles (7x7 at MR = 32),
    or of fewer than eight with weights of LARGE_WEIGHTS_BYTES or more.
    Measured on AVX-512 (C microbenchmark, alternating): 7x7 layers 91 -> 99-104 GFLOP/s at
    C_in 512-1024 and 85 -> 94-103 at C_in 160-960. 14x14 (IREE, one layer, warm caches):
    even at 512->512 (112 vs 111 GFLOP/s) and 576->96, slower at 256->512 (108 vs 110) and
    where C_in or C_out is under ~128 (64->384 91 vs 103, 480->80 93 vs 111); but in a whole
    network a 1 MB weight set comes from memory, which this kernel prefetches and the pixel
    kernel does not: MobileNet-v1's 14x14 512->512 layers 0.957 -> 0.932 ms each."""
    if lanes < 8 or c_in < 64:
        return False
    return hw < 2 * mr or (hw < 8 * mr and c_in * c_out * 4 >= LARGE_WEIGHTS_BYTES)
