"""The squeeze-and-excitation gate microkernel (templates/se.c.in), one variant per SIMD width
group sizes and pair of activations: `spiree_se_f32_g{G1}g{G2}_v{L}_{act1}_{act2}` computes,
for batch elements [n_begin, n_end),

    m[c]      = mean(x[n, c, :, :])                                   (squeeze)
    h[r]      = clamp(act1(b1[r] + sum_c w1[r, c] * m[c]), lo1, hi1)  (reduce, r < SQ)
    out[n, c] = clamp(act2(b2[c] + sum_r w2[c, r] * h[r]), vmin, vmax)  (expand: the gate)

over NCHW activations: the global average pooling and the two 1x1 convolutions of an SE block
(EfficientNet: SiLU, sigmoid; MobileNetV3: ReLU, hard sigmoid as a clamp) in one dispatch
instead of three. w1 and w2 come packed as the pointwise kernels pack them
(mlir_passes/pattern.py `pack`: values [NG, K, G], here with int32 indices [NG, K]), G1 and G2
the group sizes their patterns hold with: a pruned SE layer stays as small as it was, a dense
one is G=8 with every position. The means live in `out` until the gate overwrites them, h on the
stack (SQ <= SQ_MAX). (lo1, hi1) is a 2-float operand: the kernel interface has one (vmin, vmax)."""
from __future__ import annotations

from dataclasses import dataclass

from . import check_activation
from .xngen import render_file

SQ_MAX = 1024  # squeeze channels the stack array h holds (4 KiB)


@dataclass(frozen=True)
class SeVariant:
    lanes: int  # f32 lanes of the target's SIMD register (the squeeze's sums)
    g1: int  # group size of the packed reduce weight
    g2: int  # group size of the packed expand weight
    act1: str = "minmax"  # after the reduce 1x1 (kernels.ACTIVATIONS)
    act2: str = "sigmoid"  # after the expand 1x1: the gate

    def __post_init__(self):
        if self.lanes not in (4, 8, 16):
            raise ValueError(f"lanes must be 4, 8 or 16, got {self.lanes}")
        for g in (self.g1, self.g2):
            if g not in (1, 2, 4, 8):
                raise ValueError(f"group sizes must be 1, 2, 4 or 8, got {g}")
        check_activation(self.act1)
        check_activation(self.act2)

    @property
    def name(self) -> str:
        return f"spiree_se_f32_g{self.g1}g{self.g2}_v{self.lanes}_{self.act1}_{self.act2}"

    def render(self) -> str:
        return render_file("se.c.in", NAME=self.name, L=self.lanes, G1=self.g1, G2=self.g2, ACT1=self.act1, ACT2=self.act2, SQ_MAX=SQ_MAX)
