"""Pass `dwconv`: run depthwise convolutions (3x3, 5x5 or 7x7, stride 1 or 2, any zero padding)
on spiree's NCHW depthwise kernel (mlir_passes/kernels/dwconv.py), so they stay in the layout
of the pointwise kernels (no transposes), with the padding, the bias and the activation after
them inside the kernel.

Matches `linalg.depthwise_conv_2d_nchw_chw` on f32 with a constant [C, K, K] weight, K in 3/5/7,
unit dilations and equal strides of 1 or 2. The input is either a `tensor.pad` with zeros and
static padding on H and W only (top/bottom/left/right may all differ), which moves into the
kernel, or any other tensor (no padding). The bias comes from the accumulator init
(`epilogue.bias_of`); the elementwise ops after the convolution that `epilogue.match_epilogue`
recognizes (ReLU, ReLU6, clamp, sigmoid, SiLU, hardswish) become the kernel's epilogue. Work
units are the N x C channel planes, split across workgroups.

In place: a stride-1 layer on the 16-lane kernels whose output has its input's shape, with rows
of IN_PLACE_WIDTHS outputs, and whose input is an op's result nothing else reads, writes its
output over its input (the dispatch's result tied to it, `-> %x`; the export then binds no
result and passes the input's memref as the output). IREE packs every intermediate of an
inference into one transient buffer, reusing offsets as tensors die, and the late layers only
touch its start: a 112x112 layer's own output buffer is memory last touched an inference ago,
its input is what the layer before has just written. Measured on MobileNet-v1 dense
(alternating, one thread): its 112x112 depthwise layer 0.196 -> 0.115 ms and the 1x1 layer after
it 0.571 -> 0.517 (the network 11.34 -> 11.21 ms); MobileNetV2 6.83 -> 6.73, EfficientNet-B0
10.51 -> 10.47. The 56x56 and 28x28 layers in place as well measured slower (the stride-2 layer
after MobileNet-v1's 56x56 one 0.062 -> 0.088 and 0.063 -> 0.092 ms in two runs, the network
even and 11.32 -> 11.50 ms), hence rows of 64 or more.

Before:
    %p = tensor.pad %x low[0, 0, 1, 2] high[0, 0, 2, 1] { tensor.yield %zero } : tensor<1x8x9x9xf32> to tensor<1x8x12x12xf32>
    %b = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x4x4xf32>) dimensions = [0, 2, 3]
    %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
           ins(%p, %w : tensor<1x8x12x12xf32>, tensor<8x5x5xf32>) outs(%b : tensor<1x8x4x4xf32>) -> tensor<1x8x4x4xf32>
    %1 = linalg.generic ... sigmoid(%0) ...
    %2 = linalg.generic ... %0 * %1 ...                                        // SiLU
After:
    %2 = flow.dispatch @spiree_dwconv_kernels::@dwconv_0(%x, %w25, %bias) : (tensor<1x8x9x9xf32>, tensor<8x25xf32>, tensor<8xf32>) -> tensor<1x8x4x4xf32>
    (in place, e.g. 3x3 stride 1 on a 1x8x112x112 %x:  ... : (tensor<1x8x112x112xf32>, tensor<8x9xf32>, tensor<8xf32>) -> %x)
    (+ the stream.executable whose @dwconv_0 calls @spiree_dwconv_k5s2_v{L}_silu with the layer's
     channels, h, w and paddings top 1, bottom 2, left 2, right 1)

Left alone (IREE compiles them; each gets a report row with decision "iree" and the reason):
dilated convolutions, unequal strides or strides other than 1/2, windows other than 3x3, 5x5,
7x7, weights that are not constants, accumulator inits that are not a bias, non-f32 types.
"""
from __future__ import annotations

import numpy as np

from . import ir as mir
from . import kinds
from .dispatch import Export, KernelSet, constant, replace_with_dispatch
from .epilogue import bias_of, constant_array, match_epilogue, scalar_constant
from .kernels.dwconv import KERNEL_SIZES, STRIDES, DwconvVariant
from .options import PassOptions
from .report import PassReport

EXECUTABLE = "spiree_dwconv_kernels"
# Output rows of the layers written in place (see the module docstring: measured for 112, slower
# for 56 and 28). The kernel's in-place path takes 17 to 256 (templates/dwconv.c.in: its direct
# path, rows wider than one vector, at most INPLACE_MAX_WO; tested over that whole range).
IN_PLACE_WIDTHS = (64, 256)
DWCONV = "linalg.depthwise_conv_2d_nchw_chw"


def zero_padding(value):
    """(input, [top, bottom, left, right]) when `value` is a `tensor.pad` with zeros and static
    padding on H and W only; else (value, [0, 0, 0, 0])."""
    pad = value.owner
    none = (value, [0, 0, 0, 0])
    if getattr(pad, "name", None) != "tensor.pad":
        return none
    low, high = list(pad.attributes["static_low"]), list(pad.attributes["static_high"])
    if len(low) != 4 or low[:2] != [0, 0] or high[:2] != [0, 0] or min(low + high) < 0 or len(pad.operands) != 1:
        return none  # dynamic padding has operands (and a negative marker in static_low/high)
    body = [op.operation for op in pad.regions[0].blocks[0].operations]
    if len(body) != 1 or scalar_constant(body[0].operands[0]) != 0.0:
        return none
    return pad.operands[0], [low[2], high[2], low[3], high[3]]


def in_place(variant: DwconvVariant, x, result) -> bool:
    """Whether the layer's output is written over its input (the dispatch's result tied to x, so
    it lands on memory the layer before has just written instead of a buffer of its own): on
    the kernel variants with an in-place direct path (16 lanes, stride 1, 3x3 or 5x5), when the
    output has the input's shape with rows of IN_PLACE_WIDTHS, and x is an op's result that
    nothing else reads (else IREE would copy it first)."""
    if variant.lanes != 16 or variant.stride != 1 or variant.kernel not in (3, 5) or x.type != result.type:
        return False
    width = mir.RankedTensorType(x.type).shape[3]
    uses = list(x.uses)
    return (IN_PLACE_WIDTHS[0] <= width <= IN_PLACE_WIDTHS[1] and hasattr(x.owner, "name") and len(uses) == 1)


def depthwise_convs(module) -> list:
    return mir.function_ops(module, lambda op: op.name == DWCONV)


def _f32(value) -> bool:
    return str(mir.RankedTensorType(value.type).element_type) == "f32"


def run(module, options: PassOptions, report: PassReport) -> None:
    target = options.target
    kernels = KernelSet(EXECUTABLE)
    with module.context, mir.Location.unknown():
        for op in depthwise_convs(module):
            padded, w_val, init = op.operands[0], op.operands[1], op.operands[2]
            c, kh, kw = mir.RankedTensorType(w_val.type).shape
            strides = mir.int_list(op.attributes["strides"])
            dilations = mir.int_list(op.attributes["dilations"])
            row = report.layer(op, op_name=kinds.op_name(kinds.DWCONV, (kh, kw)), weight=[c, 1, kh, kw],
                               stride=strides[0])
            weight = constant_array(w_val)
            x, (top, bottom, left, right) = zero_padding(padded)
            n, _, h, w = mir.RankedTensorType(x.type).shape
            ho, wo = mir.RankedTensorType(op.results[0].type).shape[2:]
            k, s = kh, strides[0]
            # The kernel's output size is (top + h + bottom - k) / s + 1 (and so for columns); an
            # output that ends before the padded input does gets the padding it reads.
            if (top + h + bottom - k) // s + 1 != ho:
                bottom = (ho - 1) * s + k - top - h
            if (left + w + right - k) // s + 1 != wo:
                right = (wo - 1) * s + k - left - w
            bias = bias_of(init, c) if weight is not None else None
            reason = (
                "dynamic shape" if any(d < 0 for d in (n, c, h, w, ho, wo)) else
                "not f32" if not all(_f32(v) for v in (x, w_val, op.results[0])) else
                f"dilated ({dilations[0]}x{dilations[1]})" if dilations != [1, 1] else
                f"{kh}x{kw} window: the kernel takes {', '.join(f'{k}x{k}' for k in KERNEL_SIZES)}"
                if kh != kw or kh not in KERNEL_SIZES else
                f"strides {strides[0]}x{strides[1]}: the kernel takes equal strides of 1 or 2"
                if strides[0] != strides[1] or strides[0] not in STRIDES else
                "weight is not a constant" if weight is None else
                "accumulator init is not a bias broadcast or zeros" if bias is None else
                "output larger than the padded input" if min(bottom, right) < 0 else None)
            if reason is not None:
                row.update(decision="iree", reason=reason)
                continue
            epi = match_epilogue(op.results[0], allow_residual=False)
            variant = DwconvVariant(k, s, target.vector_f32_lanes, epi.act)
            tied = in_place(variant, x, op.results[0])
            export = Export(f"dwconv_{len(kernels.exports)}", variant.name,
                            (("f32", n * c * h * w), ("f32", c * k * k), ("f32", c), ("f32", n * c * ho * wo)),
                            (c, h, w, top, bottom, left, right), n * c, epi.vmin, epi.vmax, tied=tied)
            kernels.add(export, variant)
            operands = [x, constant(weight.reshape(c, k * k).astype(np.float32), op), constant(bias, op)]
            row.update(decision="kernel", reason=variant.name + (" (in place)" if tied else ""), kernel=variant.name,
                       epilogue=epi.describe())
            replace_with_dispatch(op, list(epi.ops), EXECUTABLE, export.name, operands, tied)
        kernels.insert(module, target)


if __name__ == "__main__":
    import sys

    from .command import main_for

    sys.exit(main_for(sys.modules[__name__]))
