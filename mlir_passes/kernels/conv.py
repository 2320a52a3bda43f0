"""The KxK / strided convolution microkernel (dense and group-sparse), generated per variant.

A convolution becomes the pointwise kernel's loop over *offsets*. The input is first rearranged
by the prep kernel (kernels/convprep.py) into planes in which every output pixel q (flattened
with the planes' pitch) reads position p = (ci, ky, kx) at `offset[p] + q`, so a kept position
is one int32 offset and the inner loop is:

    per kept position j: one load of MR consecutive q's (at x + off[j] + q0) feeds G broadcast
    FMAs (acc[r] += xv * w[j, r]), MR x G accumulators in registers.

`spiree_conv_f32_{MR}x{G}_v{L}_{dense|sparse}_{act}[_add]` computes, for output-channel groups
[g_begin, g_end) over q in [0, q_count):

    out[n, g*G + r, oy, ox] = clamp(act(bias[g*G + r] + sum_j vals[g, j, r] * x[n*x_image + off[g, j] + q]
                                        (+ residual[n, g*G + r, oy, ox])), vmin, vmax)
    with oy = q / pitch, ox = q % pitch; q with ox >= wo are computed and dropped.

- values [NG, K, G] f32 (mlir_passes/pattern.py layout); offsets [NG, K] int32 (sparse) or
  [K] int32 shared by every group (dense: all positions, K = P);
- pitch == wo (prep mode "columns"): q is the output pixel itself, stores are whole vectors;
  pitch > wo (prep mode "pitch"): the columns ox >= wo are garbage, stores skip them;
- reads past q_count stay inside the prep buffer (it carries slack), so the last tile of q's
  is a vector tile whose extra lanes are dropped; tail tiles use fewer vectors and may end
  with a half vector (8 lanes of a 16-lane target: 7x7 images are 3 x 16 + 1 q's).
"""
from __future__ import annotations

from dataclasses import dataclass

from . import check_activation
from .xngen import render_file


@dataclass(frozen=True)
class ConvVariant:
    mr: int  # q's (output pixels) per register tile: a multiple of `lanes`
    group: int  # output channels per group (G)
    lanes: int  # f32 lanes of one vector
    sparse: bool  # per-group offset table (sparse) or one shared table (dense)
    activation: str = "minmax"  # kernels.ACTIVATIONS
    residual: bool = False  # add a same-shape tensor before the activation

    def __post_init__(self):
        if self.lanes not in (4, 8, 16):
            raise ValueError(f"lanes must be 4, 8 or 16, got {self.lanes}")
        if self.mr <= 0 or self.mr % self.lanes:
            raise ValueError(f"MR must be a positive multiple of lanes={self.lanes}, got {self.mr}")
        if self.group not in (1, 2, 4, 8):
            raise ValueError(f"G must be 1, 2, 4 or 8, got {self.group}")
        check_activation(self.activation)

    @property
    def vectors(self) -> int:
        return self.mr // self.lanes

    @property
    def name(self) -> str:
        return (f"spiree_conv_f32_{self.mr}x{self.group}_v{self.lanes}_{'sparse' if self.sparse else 'dense'}"
                f"_{self.activation}{'_add' if self.residual else ''}")

    @property
    def half(self) -> int:
        """Lanes of the half vector that tail tiles may end with (0: none, for 4-lane targets)."""
        return self.lanes // 2 if self.lanes >= 8 else 0

    def tiles(self) -> list[tuple[int, int]]:
        """(full vectors, half vector 0/1) of every tile size: the main tile (MR q's) and the
        tails, so the last tile of a row computes at most half a vector of q's it drops."""
        full = [(t, 0) for t in range(self.vectors, 0, -1)]
        return full + ([(t, 1) for t in range(self.vectors - 1, -1, -1)] if self.half else [])

    def render(self) -> str:
        return render_file("conv.c.in", NAME=self.name, MR=self.mr, G=self.group, L=self.lanes,
                           HALF=self.half, TILES=self.tiles(), SPARSE=self.sparse, ACT=self.activation,
                           ADD=self.residual)
