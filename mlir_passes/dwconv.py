"""Pass `dwconv`: run 3x3 depthwise convolutions (padding 1, stride 1 or 2) on spiree's NCHW
depthwise kernel, so they stay in the layout of the pointwise kernels (no transposes) and
are vectorized along output columns.

Matches `linalg.depthwise_conv_2d_nchw_chw` with a constant [C, 3, 3] weight, unit dilations,
equal strides of 1 or 2, whose input is a `tensor.pad` of one zero row/column on each side;
the pad, the bias (accumulator init) and a following ReLU all move into the kernel.

Before:
    %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] { tensor.yield %zero } : tensor<1x8x5x5xf32> to tensor<1x8x7x7xf32>
    %b = linalg.broadcast ins(%bias : tensor<8xf32>) outs(%e : tensor<1x8x5x5xf32>) dimensions = [0, 2, 3]
    %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}
           ins(%p, %w : tensor<1x8x7x7xf32>, tensor<8x3x3xf32>) outs(%b : tensor<1x8x5x5xf32>) -> tensor<1x8x5x5xf32>
    %1 = linalg.generic ... ReLU ...
After:
    %1 = flow.dispatch @spiree_dwconv_kernels::@dwconv_0(%x, %w9, %bias) : (tensor<1x8x5x5xf32>, tensor<8x9xf32>, tensor<8xf32>) -> tensor<1x8x5x5xf32>
    (+ the stream.executable with @dwconv_0 calling @spiree_dwconv3x3s1_f32_v{L})

Left alone: other kernel sizes, paddings or dilations, strides other than 1 or 2, and
convolutions whose weight is not a constant or whose accumulator init is not a bias.
"""
from __future__ import annotations

import math

import numpy as np

from . import PassOptions
from . import ir as mir
from .dispatch import Export, constant, insert_executable, replace_with_dispatch
from .epilogue import bias_of, constant_array, relu_consumer, scalar_constant
from .kernels import render_sources
from .kernels.dwconv import DwconvVariant

EXECUTABLE = "spiree_dwconv_kernels"
DWCONV = "linalg.depthwise_conv_2d_nchw_chw"


def _unpadded_input(value):
    """The tensor before a `tensor.pad` of exactly one zero row/column on each side, or None."""
    pad = value.owner
    if getattr(pad, "name", None) != "tensor.pad":
        return None
    if list(pad.attributes["static_low"]) != [0, 0, 1, 1] or list(pad.attributes["static_high"]) != [0, 0, 1, 1]:
        return None
    yields = [op.operation for op in pad.regions[0].blocks[0].operations]
    if len(yields) != 1 or scalar_constant(yields[0].operands[0]) != 0.0:
        return None
    return pad.operands[0]


def depthwise_convs(module) -> list:
    ops = []
    for top in module.body.operations:
        if top.operation.name == "func.func":
            for block in top.regions[0].blocks:
                ops.extend(op.operation for op in block.operations if op.operation.name == DWCONV)
    return ops


def run(module, options: PassOptions) -> None:
    target = options.target
    exports: list[Export] = []
    variants: list[DwconvVariant] = []
    with module.context, mir.Location.unknown():
        for op in depthwise_convs(module):
            padded, w_val, init = op.operands[0], op.operands[1], op.operands[2]
            weight = constant_array(w_val)
            strides = mir.int_list(op.attributes["strides"])
            dilations = mir.int_list(op.attributes["dilations"])
            x = _unpadded_input(padded)
            if (weight is None or x is None or list(weight.shape[1:]) != [3, 3] or dilations != [1, 1]
                    or strides[0] != strides[1] or strides[0] not in (1, 2)):
                continue
            n, c, h, w = mir.RankedTensorType(x.type).shape
            ho, wo = mir.RankedTensorType(op.results[0].type).shape[2:]
            bias = bias_of(init, c)
            if bias is None:
                continue
            variant = DwconvVariant(strides[0], target.vector_f32_lanes)
            variants.append(variant)
            relu = relu_consumer(op.results[0])
            export = Export(f"dwconv_{len(exports)}", variant.name,
                            (("f32", n * c * h * w), ("f32", c * 9), ("f32", c), ("f32", n * c * ho * wo)),
                            (n, c, h, w, ho, wo), c, 0.0 if relu is not None else -math.inf, math.inf)
            exports.append(export)
            operands = [x, constant(weight.reshape(c, 9).astype(np.float32), op), constant(bias, op)]
            options.report.append({"op": "dwconv3x3", "weight": [c, 1, 3, 3], "stride": strides[0],
                                   "decision": "kernel", "reason": variant.name})
            replace_with_dispatch(op, relu, EXECUTABLE, export.name, operands)
        if exports:
            insert_executable(module, EXECUTABLE, exports, render_sources(variants), target)


if __name__ == "__main__":
    import sys

    from . import main_for

    sys.exit(main_for(sys.modules[__name__]))
