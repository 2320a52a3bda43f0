"""Layer kinds: the one vocabulary the pruner, `spiree inspect`, the compiler's per-layer rule
(`pattern.compiler_uses`) and the passes' reports use for "what kind of layer is this".

Plain Python (no numpy, torch or MLIR), so every side imports it.

A layer's *family* is what the model calls it (`spiree inspect`'s op column): "conv" (a
convolution that is not depthwise), "dwconv" (depthwise), "linear". Its *kind* is what the compiler's rule and the pruner tell apart:
- "conv1x1": 1x1 convolution, stride 1, no dilation, groups=1 (the `detect`/`materialize` passes);
- "conv": any other groups=1 convolution with unit dilation and equal strides of 1 or 2 (KxK,
  and strided 1x1; the `conv` pass);
- "conv_other": dilated, or other strides (IREE compiles it);
- "linear": a Linear layer (the pointwise kernel over one pixel);
- "dwconv": depthwise (always dense: the pattern does not cover it);
- "grouped": other grouped convolutions (always dense).
Its *op name* is the short label of reports and logs: conv1x1, conv3x3, conv3x3s2, dwconv5x5,
linear (`op_name`).
"""
from __future__ import annotations

CONV1X1 = "conv1x1"
CONV = "conv"
CONV_OTHER = "conv_other"
LINEAR = "linear"
DWCONV = "dwconv"
GROUPED = "grouped"
KINDS: tuple[str, ...] = (CONV1X1, CONV, CONV_OTHER, LINEAR, DWCONV, GROUPED)
# The kinds spiree's sparse kernels cover (`pattern.compiler_uses`).
SPARSE_KINDS: tuple[str, ...] = (CONV1X1, LINEAR, CONV)
# Families: "conv" (not depthwise), "dwconv", "linear".
FAMILIES: tuple[str, ...] = (CONV, DWCONV, LINEAR)


def conv_family(groups: int, in_channels: int) -> str:
    """"dwconv" for a depthwise convolution (groups == input channels > 1), else "conv"."""
    return DWCONV if groups > 1 and groups == in_channels else CONV


def layer_kind(family: str, kernel: tuple[int, ...] = (1, 1), *, stride: int = 1, dilation: int = 1,
               groups: int = 1) -> str:
    """The kind of a layer of `family` ("conv", "dwconv" or "linear") with this kernel size,
    stride, dilation and groups."""
    if family not in FAMILIES:
        raise ValueError(f"layer family {family!r} is not one of {', '.join(FAMILIES)}")
    if family == LINEAR:
        return LINEAR
    if family == DWCONV:
        return DWCONV
    if groups != 1:
        return GROUPED
    if tuple(kernel) == (1, 1) and stride == 1 and dilation == 1:
        return CONV1X1
    return CONV if dilation == 1 and stride in (1, 2) else CONV_OTHER


def op_name(family: str, kernel: tuple[int, ...] = (1, 1), stride: int = 1) -> str:
    """The report/log label: "linear", "conv3x3", "conv3x3s2", "dwconv5x5" (the stride only
    when it is not 1; depthwise layers are named without it)."""
    if family == LINEAR:
        return LINEAR
    kh, kw = kernel
    if family == DWCONV:
        return f"dwconv{kh}x{kw}"
    return f"conv{kh}x{kw}" + (f"s{stride}" if stride != 1 else "")
