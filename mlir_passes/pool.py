"""Pass `pool`: run global average pooling (a sum over H and W, then a division by H*W, as
torch-mlir spells `mean((2, 3), keepdim=True)` and `adaptive_avg_pool2d(x, 1)`) on spiree's
pooling kernel, in the NCHW layout of the convolution kernels.

Before:
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x8x1x1xf32>) -> tensor<1x8x1x1xf32>
    %s = linalg.generic {indexing_maps = [(d0, d1, d2, d3) -> (d0, d1, d2, d3), (d0, d1, d2, d3) -> (d0, d1, 0, 0)],
           iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
           ins(%x : tensor<1x8x7x7xf32>) outs(%f : tensor<1x8x1x1xf32>) { addf %in, %out }
    %m = linalg.generic {...} ins(%s : tensor<1x8x1x1xf32>) outs(%e) { divf %in, %c49 }
After:
    %m = flow.dispatch @spiree_pool_kernels::@gap_0(%x) : (tensor<1x8x7x7xf32>) -> tensor<1x8x1x1xf32>
    (+ the stream.executable with @gap_0 calling @spiree_gap_f32_v{L})

Left alone: sums not divided by exactly H*W, sums whose accumulator is not a zero fill, other
reductions (max pooling, sums over other dimensions).
"""
from __future__ import annotations

from . import ir as mir
from .dispatch import Export, KernelSet, replace_with_dispatch
from .epilogue import match_epilogue, scalar_constant
from .kernels.gap import GapVariant
from .options import PassOptions
from .report import PassReport

EXECUTABLE = "spiree_pool_kernels"


def _body(op) -> list:
    return [o.operation for o in op.regions[0].blocks[0].operations]


def _is_plane_sum(op) -> bool:
    if op.name != "linalg.generic" or len(op.operands) != 2:
        return False
    iters = [str(t) for t in op.attributes["iterator_types"]]
    if [("reduction" in t) for t in iters] != [False, False, True, True]:
        return False
    maps = [str(m) for m in op.attributes["indexing_maps"]]
    if maps != ["affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>", "affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, 0)>"]:
        return False
    body = _body(op)
    block = op.regions[0].blocks[0]
    if [o.name for o in body] != ["arith.addf", "linalg.yield"]:
        return False
    if set(map(str, body[0].operands)) != {str(block.arguments[0]), str(block.arguments[1])}:
        return False
    fill = op.operands[1].owner
    return getattr(fill, "name", None) == "linalg.fill" and scalar_constant(fill.operands[0]) == 0.0


def _division_by(sum_value, count: int):
    """The elementwise `x / count` generic that is the only user of `sum_value`, or None."""
    uses = list(sum_value.uses)
    if len(uses) != 1:
        return None
    div = uses[0].owner
    if div.name != "linalg.generic" or len(div.operands) != 2 or div.operands[0] != sum_value:
        return None
    body = _body(div)
    arg = div.regions[0].blocks[0].arguments[0]
    if ([o.name for o in body] != ["arith.divf", "linalg.yield"] or body[0].operands[0] != arg
            or scalar_constant(body[0].operands[1]) != float(count)):
        return None
    return div


def plane_means(module) -> list:
    """(sum op, division op) pairs of every global average pooling, in order."""
    found = []
    for op in mir.function_ops(module, _is_plane_sum):
        n, c, h, w = mir.RankedTensorType(op.operands[0].type).shape
        div = _division_by(op.results[0], h * w)
        if div is not None:
            found.append((op, div))
    return found


def run(module, options: PassOptions, report: PassReport) -> None:
    target = options.target
    kernels = KernelSet(EXECUTABLE)
    with module.context, mir.Location.unknown():
        for op, div in plane_means(module):
            x = op.operands[0]
            n, c, h, w = mir.RankedTensorType(x.type).shape
            epi = match_epilogue(div.results[0], allow_residual=False)
            variant = GapVariant(target.vector_f32_lanes, epi.act)
            export = Export(f"gap_{len(kernels.exports)}", variant.name, (("f32", n * c * h * w), ("f32", n * c)),
                            (n, c, h * w), c, epi.vmin, epi.vmax)
            kernels.add(export, variant)
            report.layer(op, op_name="avgpool", shape=[n, c, h, w], decision="kernel", reason=variant.name,
                         kernel=variant.name, epilogue=epi.describe())
            replace_with_dispatch(op, [div, *epi.ops], EXECUTABLE, export.name, [x])
        kernels.insert(module, target)


if __name__ == "__main__":
    import sys

    from .command import main_for

    sys.exit(main_for(sys.modules[__name__]))
