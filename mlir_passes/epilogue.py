"""Recognizing what surrounds a convolution so a kernel can absorb it: the bias carried in the
accumulator init (`linalg.broadcast` of a constant vector, or zeros) and a following ReLU."""
from __future__ import annotations

import numpy as np

from . import ir as mir


def constant_array(value) -> np.ndarray | None:
    """The numpy value of an SSA value defined by `arith.constant` with dense elements."""
    owner = value.owner
    if getattr(owner, "name", None) != "arith.constant":
        return None
    try:
        dense = mir.DenseElementsAttr(owner.attributes["value"])
    except ValueError:
        return None
    if dense.is_splat:
        shape = mir.RankedTensorType(dense.type).shape
        return np.full(shape, mir.ir.FloatAttr(dense.get_splat_value()).value, dtype=np.float32)
    return np.array(dense, copy=True)


def scalar_constant(value) -> float | None:
    owner = value.owner
    if getattr(owner, "name", None) != "arith.constant":
        return None
    try:
        return float(mir.ir.FloatAttr(owner.attributes["value"]).value)
    except ValueError:
        return None


def bias_of(init, channels: int) -> np.ndarray | None:
    """The per-channel bias an NCHW accumulator init carries, or None if it is something else."""
    owner = init.owner
    name = getattr(owner, "name", None)
    if name == "linalg.broadcast":
        dims = [int(d) for d in owner.attributes["dimensions"]]
        b = constant_array(owner.operands[0])
        if dims == [0, 2, 3] and b is not None and b.shape == (channels,):
            return b.astype(np.float32)
        return None
    if name == "linalg.fill":
        return np.zeros(channels, np.float32) if scalar_constant(owner.operands[0]) == 0.0 else None
    a = constant_array(init)
    if a is not None and not np.any(a):
        return np.zeros(channels, np.float32)
    return None


def relu_consumer(result):
    """The elementwise ReLU generic that is the only user of `result`, or None."""
    uses = list(result.uses)
    if len(uses) != 1:
        return None
    user = uses[0].owner
    if user.name != "linalg.generic" or len(user.operands) != 2 or user.operands[0] != result:
        return None
    block = user.regions[0].blocks[0]
    body = [op.operation for op in block.operations]
    names = [op.name for op in body]
    arg = block.arguments[0]
    if names == ["arith.cmpf", "arith.select", "linalg.yield"]:
        cmp, sel = body[0], body[1]
        pred = int(mir.ir.IntegerAttr(cmp.attributes["predicate"]).value)
        if (pred in (int(mir.arith.CmpFPredicate.OGT), int(mir.arith.CmpFPredicate.UGT))
                and cmp.operands[0] == arg and scalar_constant(cmp.operands[1]) == 0.0
                and sel.operands[0] == cmp.results[0] and sel.operands[1] == arg
                and scalar_constant(sel.operands[2]) == 0.0 and body[2].operands[0] == sel.results[0]):
            return user
    if names in (["arith.maximumf", "linalg.yield"], ["arith.maxnumf", "linalg.yield"]):
        mx = body[0]
        others = [v for v in mx.operands if v != arg]
        if len(others) == 1 and scalar_constant(others[0]) == 0.0 and body[1].operands[0] == mx.results[0]:
            return user
    return None
