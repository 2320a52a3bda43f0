"""The input-planes kernel of a KxK / strided convolution (the conv kernel's prep), per stride.

`spiree_convprep_f32_s{S}` rewrites an NCHW input x [N, C, H, W] for channels [c_begin, c_end)
into planes out[n, c, py, cx, r, j] (row_phases x col_phases planes of rows x pitch floats):

    out[n, c, py, cx, r, j] = xpad[n, c, S*r + py, S*j + cx]

where xpad is x with `pad_top` zero rows above and `pad_left` zero columns to the left (and
zeros wherever the index falls outside x). The workgroup holding the last channel also zeroes
the buffer's slack after the last image (the conv kernel's last tiles read into it).

With it a convolution of stride S reads position (ci, ky, kx) at one offset + q
(mlir_passes/conv.py chooses the planes per layer):
- "pitch" mode: col_phases = S, pitch = padded width / S (rounded up): output pixel (oy, ox) is
  q = oy*pitch + ox, position (ci, ky, kx) is plane (ky % S, kx % S) at row ky // S, column
  kx // S; columns ox >= wo of q are garbage (the pass's issue sketch);
- "columns" mode: col_phases = KW (one plane per kx, already shifted), pitch = wo: q is the
  output pixel itself, position (ci, ky, kx) is plane (ky % S, kx) at row ky // S; no garbage
  columns, KW copies of the input.
"""
from __future__ import annotations

from dataclasses import dataclass

from .xngen import render_file


@dataclass(frozen=True)
class ConvPrepVariant:
    stride: int  # S: row and column step (1 or 2)

    def __post_init__(self):
        if self.stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {self.stride}")

    @property
    def name(self) -> str:
        return f"spiree_convprep_f32_s{self.stride}"

    def render(self) -> str:
        return render_file("convprep.c.in", NAME=self.name, S=self.stride)


MODES = ("pitch", "columns")


@dataclass(frozen=True)
class ConvPlanes:
    """Where the prep kernel puts a layer's input and where each position (ci, ky, kx) is then
    read from: the scalars of both kernels and the offset table, computed once here (numpy
    only) for the pass and the tests."""

    batch: int
    channels: int
    height: int
    width: int
    kernel: tuple[int, int]  # KH, KW
    stride: int
    pad: tuple[int, int]  # zero rows above, zero columns to the left
    out: tuple[int, int]  # Ho, Wo
    mode: str  # "pitch" or "columns"
    lanes: int  # the conv kernel's vector width (slack for its last tile)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        ConvPrepVariant(self.stride)

    @property
    def row_phases(self) -> int:
        return min(self.stride, self.kernel[0])

    @property
    def col_phases(self) -> int:
        return min(self.stride, self.kernel[1]) if self.mode == "pitch" else self.kernel[1]

    @property
    def rows(self) -> int:
        return self.out[0] + (self.kernel[0] - 1) // self.stride

    @property
    def pitch(self) -> int:
        return self.out[1] + (self.kernel[1] - 1) // self.stride if self.mode == "pitch" else self.out[1]

    @property
    def plane(self) -> int:
        return self.rows * self.pitch

    @property
    def per_channel(self) -> int:
        return self.row_phases * self.col_phases * self.plane

    @property
    def image(self) -> int:
        """Floats of one image's planes (the conv kernel's x_image)."""
        return self.channels * self.per_channel

    @property
    def q_count(self) -> int:
        """q's the conv kernel computes per output channel (output pixels + garbage columns)."""
        return (self.out[0] - 1) * self.pitch + self.out[1]

    def offsets(self) -> "np.ndarray":
        """int32 [P]: offset of position p = (ci*KH + ky)*KW + kx (pattern.positions_view order)."""
        import numpy as np

        kh, kw = self.kernel
        s = self.stride
        ci, ky, kx = np.meshgrid(np.arange(self.channels), np.arange(kh), np.arange(kw), indexing="ij")
        if self.mode == "pitch":
            cx, shift = kx % s, kx // s
        else:
            cx, shift = kx, 0
        off = ci * self.per_channel + ((ky % s) * self.col_phases + cx) * self.plane + (ky // s) * self.pitch + shift
        return off.reshape(-1).astype(np.int32)

    @property
    def size(self) -> int:
        """Floats of the prep buffer: the planes of every image, then slack so the conv kernel's
        last (whole-vector) tile never reads past the end."""
        kh, kw = self.kernel
        s = self.stride
        max_off = ((self.channels - 1) * self.per_channel + self.per_channel - self.plane
                   + ((kh - 1) // s) * self.pitch + (((kw - 1) // s) if self.mode == "pitch" else 0))
        last_read = max_off + -(-self.q_count // self.lanes) * self.lanes
        return max(self.batch * self.image, (self.batch - 1) * self.image + last_read)

    def prep_scalars(self) -> tuple[int, ...]:
        """The prep kernel's size_t arguments (after its two bindings)."""
        return (self.batch, self.channels, self.height, self.width, self.pad[0], self.pad[1],
                self.row_phases, self.col_phases, self.rows, self.pitch)

    def conv_scalars(self, c_out: int, k: int) -> tuple[int, ...]:
        """The conv kernel's size_t arguments (after its bindings) for C_out channels, K positions."""
        return (self.batch, self.image, c_out, self.q_count, self.pitch, self.out[0], self.out[1], k)
