"""The direct stride-2 convolution microkernel (templates/convdirect.c.in): a KxK, stride-2
convolution read straight from the NCHW input, for layers with few input channels (the stems
of MobileNets, EfficientNets and ResNets), on x86-64 AVX-512.

`spiree_convdirect_f32_k{K}s2_g{G}_v16_{act}` computes, for output-channel blocks
[g_begin, g_end) of G and output rows [r_begin, r_end):

    out[n, co, oy, ox] = clamp(act(bias[co] + sum_{ci,ky,kx} W[co, ci, ky, kx] * xpad[n, ci, 2*oy + ky, 2*ox + kx]), vmin, vmax)

with the dense kernels' weight packing [blocks, C_in*K*K, G] (`pattern.dense_values`).
Vectors of 16 output pixels along a row, G output channels in registers; each input row is
loaded as (K+1)/2 masked pairs of vectors and split even/odd by one shuffle per tap, so there
is no prep kernel: the general path (kernels/conv.py after kernels/convprep.py) first writes
the input again as polyphase planes (MobileNet-v1's stem: 0.075 ms of 0.37 in the network) and
then reads those.

Measured on x86-64 AVX-512 (Zen 4), one thread, C harness: MobileNet-v1's stem (3->32, 3x3,
224x224) 0.225 ms with G=16 (96 GFLOP/s); ResNet-18's (3->64, 7x7) 2.30 ms (103 GFLOP/s);
24 output channels 0.184 ms with G=8 against 0.221 with G=16 (a third of the last block
idle). Accumulating each tap in place matters: written as one sum of the K taps per channel,
clang emits a multiply and adds instead of FMAs (0.35 ms).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import check_activation
from .xngen import render_file

LANES = 16  # AVX-512: masked loads and stores (x86-64 only)
GROUPS = (8, 16)  # output channels per block


def group_for(c_out: int) -> int:
    """G: 16 output channels per block, or 8 when C_out is not a multiple of 16 (less of the
    last block idle)."""
    return 16 if c_out % 16 == 0 else 8


@dataclass(frozen=True)
class ConvDirectVariant:
    kernel: int  # K of a KxK window
    group: int  # G: output channels per block
    act: str = "minmax"  # epilogue activation (kernels.ACTIVATIONS)

    def __post_init__(self):
        if not 1 <= self.kernel <= 7:
            raise ValueError(f"kernel size must be 1..7, got {self.kernel}")
        if self.group not in GROUPS:
            raise ValueError(f"G must be one of {GROUPS}, got {self.group}")
        check_activation(self.act)

    @property
    def name(self) -> str:
        return f"spiree_convdirect_f32_k{self.kernel}s2_g{self.group}_v{LANES}_{self.act}"

    def render(self) -> str:
        return render_file("convdirect.c.in", NAME=self.name, K=self.kernel, G=self.group, ACT=self.act)
