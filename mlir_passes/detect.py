"""Pass `detect`: find group-sparse 1x1 convolutions and Linear layers and decide, per layer,
sparse or dense.

Matches `linalg.conv_2d_nchw_fchw` with a 1x1 kernel, unit strides and dilations, and
`linalg.matmul(x, linalg.transpose(W))` (a Linear layer), whose weight is an `arith.constant`; reads the weight's group pattern (mlir_passes/pattern.py) and annotates
the op with the decision. It changes no computation.

Before:
    %w = arith.constant dense<...> : tensor<64x32x1x1xf32>          // 75% zeros, G=4 groups
    %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>,
           strides = dense<1> : vector<2xi64>}
           ins(%x, %w : tensor<1x32x8x8xf32>, tensor<64x32x1x1xf32>) outs(%b : ...) -> ...
After:
    %0 = linalg.conv_2d_nchw_fchw {dilations = ..., strides = ...,
           spiree.sparse = {balanced = true, density = 2.500000e-01 : f64, group = 4 : i64, k = 8 : i64}}
           ins(...) outs(...) -> ...
A layer that stays dense gets `spiree.dense = "<reason>"` instead (too dense for the sparse
kernel to win, or no group structure).

Left alone: strided, dilated or KxK convolutions, depthwise convolutions, matmuls whose weight
is not a transposed constant.
"""
from __future__ import annotations


from . import ir as mir
from . import kinds, pattern
from .epilogue import constant_array
from .options import PassOptions
from .report import PassReport

CONV = "linalg.conv_2d_nchw_fchw"


def is_pointwise_conv(op) -> bool:
    if op.name != CONV:
        return False
    w_type = mir.RankedTensorType(op.operands[1].type)
    if list(w_type.shape[2:]) != [1, 1]:
        return False
    attrs = op.attributes
    for key in ("strides", "dilations"):
        if key in attrs and any(v != 1 for v in mir.int_list(attrs[key])):
            return False
    return True


MATMUL = "linalg.matmul"


def linear_weight(op):
    """For `linalg.matmul(x, linalg.transpose(W) [1, 0])` (a Linear layer as torch-mlir emits
    it), the value of W [out, in]; else None."""
    if op.name != MATMUL:
        return None
    t = op.operands[1].owner
    if getattr(t, "name", None) != "linalg.transpose" or list(t.attributes["permutation"]) != [1, 0]:
        return None
    return t.operands[0]


def weight_value(op):
    """The weight operand of a matched contraction: conv weight [O, I, 1, 1] or Linear W [O, I]."""
    return op.operands[1] if op.name == CONV else linear_weight(op)


def kind_of(op) -> str:
    """The layer kind (mlir_passes/kinds.py) of a matched op: conv1x1 or linear."""
    return kinds.CONV1X1 if op.name == CONV else kinds.LINEAR


def decide(pat: pattern.GroupPattern, options: PassOptions, kind: str = kinds.CONV1X1) -> tuple[bool, str]:
    """The per-layer decision (`pattern.compiler_uses`, shared with `spiree inspect`), with a reason."""
    if not pattern.compiler_uses(kind, pat, options.min_sparsity):
        return False, f"sparsity {pat.sparsity:.2f} below {options.min_sparsity:.2f}: dense is faster"
    return True, f"G={pat.group} K={pat.k} sparsity {pat.sparsity:.2f}"


def pointwise_convs(module) -> list:
    """1x1 convolutions and Linear layers (matmul with a transposed weight), in order."""
    return mir.function_ops(module, lambda op: is_pointwise_conv(op) or linear_weight(op) is not None)


def run(module, options: PassOptions, report: PassReport) -> None:
    with module.context:
        for op in pointwise_convs(module):
            w_val = weight_value(op)
            w = constant_array(w_val)
            row = report.layer(op, op_name=kind_of(op), weight=list(mir.RankedTensorType(w_val.type).shape))
            if w is None:
                op.attributes["spiree.dense"] = mir.StringAttr.get("weight is not a constant")
                row.update(decision="dense", reason="weight is not a constant")
                continue
            pat = pattern.detect(w)
            sparse, reason = decide(pat, options, kind_of(op))
            if sparse and not options.exploit_sparsity:
                sparse, reason = False, "dense baseline build (sparsity not exploited)"
            row.update(group=pat.group, k=pat.k, balanced=pat.balanced, sparsity=round(pat.sparsity, 4))
            if sparse:
                op.attributes["spiree.sparse"] = mir.Attribute.parse(
                    f"{{group = {pat.group} : i64, k = {pat.k} : i64, "
                    f"balanced = {str(pat.balanced).lower()}, density = {pat.density!r} : f64}}")
            else:
                op.attributes["spiree.dense"] = mir.StringAttr.get(reason)
            row.update(decision="sparse" if sparse else "dense", reason=reason)

if __name__ == "__main__":
    import sys

    from .command import main_for

    sys.exit(main_for(sys.modules[__name__]))
