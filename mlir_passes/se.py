"""Pass `se`: run a squeeze-and-excitation gate (global average pooling -> 1x1 conv with bias
-> activation -> 1x1 conv with bias -> gate activation) as one dispatch of spiree's SE kernel
(kernels/se.py) instead of three (pooling, two pointwise layers on one pixel). Runs after
`detect` and before `materialize`: the gate keeps feeding the `y * gate` product that
`materialize` folds into the next pointwise layer.

Before:
    %s = linalg.generic {... "reduction", "reduction"} ins(%x : tensor<1x8x5x5xf32>) outs(%zeros) { addf }
    %m = linalg.generic {...} ins(%s : tensor<1x8x1x1xf32>) outs(%e) { divf %in, %c25 }
    %b1 = linalg.broadcast ins(%bias1 : tensor<2xf32>) outs(%e1 : tensor<1x2x1x1xf32>) dimensions = [0, 2, 3]
    %r = linalg.conv_2d_nchw_fchw {spiree.dense = "..."} ins(%m, %w1 : tensor<1x8x1x1xf32>, tensor<2x8x1x1xf32>) outs(%b1 : ...)
    %h = linalg.generic {...} ins(%r, ...) { ... }                          // SiLU
    %b2 = linalg.broadcast ins(%bias2 : tensor<8xf32>) outs(%e2 : tensor<1x8x1x1xf32>) dimensions = [0, 2, 3]
    %t = linalg.conv_2d_nchw_fchw {spiree.dense = "..."} ins(%h, %w2 : tensor<1x2x1x1xf32>, tensor<8x2x1x1xf32>) outs(%b2 : ...)
    %g = linalg.generic {...} ins(%t) { negf, exp, addf, divf }             // sigmoid
After:
    %g = flow.dispatch @spiree_se_kernels::@se_0(%x, %v1, %i1, %bias1, %v2, %i2, %bias2, %clamp1)
           : (tensor<1x8x5x5xf32>, tensor<1x8x2xf32>, tensor<1x8xi32>, tensor<2xf32>, tensor<1x2x8xf32>,
              tensor<1x2xi32>, tensor<8xf32>, tensor<2xf32>) -> tensor<1x8x1x1xf32>
    (+ the stream.executable with @se_0 calling @spiree_se_f32_g2g8_v{L}_silu_sigmoid)

(%v1, %i1) and (%v2, %i2) are the two weights packed as `pattern.pack` packs pointwise
weights, each with the largest group size its pattern holds with (a pruned SE layer stays
small; in the dense baseline build, `exploit_sparsity=False`, every position); %clamp1 the
(lo, hi) bounds after the reduce activation.

Left alone (to `materialize` and `pool`): pooling not followed by a 1x1 convolution over one
pixel with a constant weight and bias, a reduce activation the kernels do not have, a chain
whose intermediate values have other users, more than SQ_MAX squeeze channels.

The convolutions' report rows say "sparse" when the packed weight skips input positions
(pruned), "dense" when it reads them all, with G and K; the pooling gets an "avgpool" row.
"""
from __future__ import annotations

import numpy as np

from . import ir as mir
from . import kinds, pattern
from .detect import is_pointwise_conv, weight_value
from .dispatch import Export, KernelSet, constant, replace_with_dispatch
from .epilogue import bias_of, constant_array, match_epilogue
from .kernels.se import SQ_MAX, SeVariant
from .options import PassOptions
from .pool import plane_means
from .report import PassReport

EXECUTABLE = "spiree_se_kernels"


def _one_pixel_conv(value):
    """The 1x1 convolution that is the only user of `value` ([N, C, 1, 1]) as its input, with a
    constant weight and a bias init: (op, weight [O, C], bias [O]), or None."""
    uses = list(value.uses)
    if len(uses) != 1:
        return None
    op = uses[0].owner
    if not is_pointwise_conv(op) or op.operands[0] != value:
        return None
    w = constant_array(weight_value(op))
    if w is None:
        return None
    bias = bias_of(op.operands[2], w.shape[0])
    if bias is None:
        return None
    return op, w[:, :, 0, 0].astype(np.float32), bias


def _packed(w2d: np.ndarray, exploit_sparsity: bool) -> tuple[np.ndarray, np.ndarray]:
    """(values [NG, K, G], int32 indices [NG, K]): the weight's group pattern with the largest G
    it holds with, or (the dense baseline build) every position with the largest G."""
    if not exploit_sparsity:
        group = pattern.detect(np.ones_like(w2d)).group
        values = pattern.dense_values(w2d, group)
        return values, np.tile(np.arange(w2d.shape[1], dtype=np.int32), (values.shape[0], 1))
    values, indices = pattern.pack(w2d, pattern.detect(w2d).group)
    return values, indices.astype(np.int32)


def se_blocks(module) -> list:
    """(sum, division, reduce conv, its epilogue, expand conv, its epilogue, w1, b1, w2, b2) of
    every squeeze-and-excitation gate the kernel can take, in order."""
    found = []
    for total, div in plane_means(module):
        reduce = _one_pixel_conv(div.results[0])
        if reduce is None:
            continue
        conv1, w1, b1 = reduce
        epi1 = match_epilogue(conv1.results[0], allow_residual=False)
        hidden = epi1.last.results[0] if epi1.ops else conv1.results[0]
        expand = _one_pixel_conv(hidden)
        if expand is None or w1.shape[0] > SQ_MAX:
            continue
        conv2, w2, b2 = expand
        epi2 = match_epilogue(conv2.results[0], allow_residual=False)
        found.append((total, div, conv1, epi1, conv2, epi2, w1, b1, w2, b2))
    return found


def run(module, options: PassOptions, report: PassReport) -> None:
    target = options.target
    kernels = KernelSet(EXECUTABLE)
    with module.context, mir.Location.unknown():
        for total, div, conv1, epi1, conv2, epi2, w1, b1, w2, b2 in se_blocks(module):
            x = total.operands[0]
            n, c, h, w = mir.RankedTensorType(x.type).shape
            sq = w1.shape[0]
            (v1, i1), (v2, i2) = (_packed(w, options.exploit_sparsity) for w in (w1, w2))
            variant = SeVariant(target.vector_f32_lanes, v1.shape[2], v2.shape[2], epi1.act, epi2.act)
            clamp1 = np.array([epi1.vmin, epi1.vmax], np.float32)
            export = Export(f"se_{len(kernels.exports)}", variant.name,
                            (("f32", n * c * h * w), ("f32", v1.size), ("i32", i1.size), ("f32", sq),
                             ("f32", v2.size), ("i32", i2.size), ("f32", c), ("f32", 2), ("f32", n * c)),
                            (n, c, h * w, sq, v1.shape[1], v2.shape[1]), n, epi2.vmin, epi2.vmax)
            kernels.add(export, variant)
            report.layer(total, op_name="avgpool", shape=[n, c, h, w], decision="kernel",
                         reason=f"squeeze of squeeze-and-excitation, in {variant.name}", kernel=variant.name,
                         epilogue="none")
            for conv, epi, values, role in ((conv1, epi1, v1, "reduce"), (conv2, epi2, v2, "expand")):
                row = report.layer(conv, op_name=kinds.CONV1X1, weight=list(mir.RankedTensorType(conv.operands[1].type).shape))
                positions = mir.RankedTensorType(conv.operands[1].type).shape[1]
                row.update(decision="sparse" if values.shape[1] < positions else "dense",
                           reason=f"squeeze-and-excitation {role}: G={values.shape[2]} K={values.shape[1]} of {positions}",
                           kernel=variant.name, epilogue=epi.describe())
            operands = [x, *(constant(a, total) for a in (v1, i1, b1, v2, i2, b2, clamp1))]
            replace_with_dispatch(total, [div, conv1, *epi1.ops, conv2, *epi2.ops], EXECUTABLE, export.name, operands)
        kernels.insert(module, target)


if __name__ == "__main__":
    import sys

    from .command import main_for

    sys.exit(main_for(sys.modules[__name__]))
