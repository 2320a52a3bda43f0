"""Pass `maxpool`: run max pooling (`linalg.pooling_nchw_max`, e.g. ResNet's 3x3/2 after the
stem) on spiree's NCHW max-pooling kernel, so the -inf padding copy and IREE's pooling dispatch
become one pass over the input.

Matches `linalg.pooling_nchw_max` with unit dilations, equal strides of 1 to 4, a window of at
most 8x8, whose input is a `tensor.pad` of -inf on H and W (or unpadded) and whose accumulator
is a `linalg.fill` of -inf; a following clamp (ReLU, ReLU6) moves into the kernel.

Before:
    %p = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] { tensor.yield %ninf } : tensor<1x8x16x16xf32> to tensor<1x8x18x18xf32>
    %f = linalg.fill ins(%ninf : f32) outs(%e : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
    %0 = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>}
           ins(%p, %w : tensor<1x8x18x18xf32>, tensor<3x3xf32>) outs(%f : tensor<1x8x8x8xf32>) -> tensor<1x8x8x8xf32>
After:
    %0 = flow.dispatch @spiree_maxpool_kernels::@maxpool_0(%x) : (tensor<1x8x16x16xf32>) -> tensor<1x8x8x8xf32>
    (+ the stream.executable with @maxpool_0 calling @spiree_maxpool3x3s2_f32_v{L})

Left alone: dilated pooling, unequal strides, pads of other values, accumulators other than a
-inf fill, other pooling ops (sum, min).
"""
from __future__ import annotations

import math

from . import ir as mir
from .dispatch import Export, KernelSet, replace_with_dispatch
from .epilogue import Epilogue, constant_array, match_epilogue, scalar_constant, unpadded
from .kernels.maxpool import MaxpoolVariant
from .options import PassOptions
from .report import PassReport

EXECUTABLE = "spiree_maxpool_kernels"
POOL = "linalg.pooling_nchw_max"


def _is_ninf_fill(init) -> bool:
    owner = init.owner
    if getattr(owner, "name", None) == "linalg.fill":
        return scalar_constant(owner.operands[0]) == -math.inf
    a = constant_array(init)
    return a is not None and a.size > 0 and bool((a == -math.inf).all())


def pool_ops(module) -> list:
    return mir.function_ops(module, lambda op: op.name == POOL)


def run(module, options: PassOptions, report: PassReport) -> None:
    target = options.target
    kernels = KernelSet(EXECUTABLE)
    with module.context, mir.Location.unknown():
        for op in pool_ops(module):
            kh, kw = mir.RankedTensorType(op.operands[1].type).shape
            strides = mir.int_list(op.attributes["strides"]) if "strides" in op.attributes else [1, 1]
            dilations = mir.int_list(op.attributes["dilations"]) if "dilations" in op.attributes else [1, 1]
            found = unpadded(op.operands[0], -math.inf)
            if (dilations != [1, 1] or strides[0] != strides[1] or strides[0] not in (1, 2, 3, 4)
                    or not (1 <= kh <= 8 and 1 <= kw <= 8) or found is None or not _is_ninf_fill(op.operands[2])):
                report.layer(op, op_name=f"maxpool{kh}x{kw}", decision="iree",
                             reason="not a -inf padded max pooling with unit dilation and equal strides 1-4")
                continue
            x, (pad_top, pad_left) = found
            n, c, h, w = mir.RankedTensorType(x.type).shape
            ho, wo = mir.RankedTensorType(op.results[0].type).shape[2:]
            epi = match_epilogue(op.results[0], allow_residual=False)
            if epi.act != "minmax":
                epi = Epilogue()  # the kernel clamps only; other activations stay as they are
            variant = MaxpoolVariant((kh, kw), strides[0], target.vector_f32_lanes)
            export = Export(f"maxpool_{len(kernels.exports)}", variant.name, (("f32", n * c * h * w), ("f32", n * c * ho * wo)),
                            (n, c, h, w, ho, wo, pad_top, pad_left), c, epi.vmin, epi.vmax)
            kernels.add(export, variant)
            report.layer(op, op_name=f"maxpool{kh}x{kw}", stride=strides[0], decision="kernel", reason=variant.name,
                         kernel=variant.name, epilogue=epi.describe())
            replace_with_dispatch(op, list(epi.ops), EXECUTABLE, export.name, [x])
        kernels.insert(module, target)


if __name__ == "__main__":
    import sys

    from .command import main_for

    sys.exit(main_for(sys.modules[__name__]))
