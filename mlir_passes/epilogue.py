"""Recognizing what surrounds a convolution so a kernel can absorb it: the bias carried in the
accumulator init (`linalg.broadcast` of a constant vector, or zeros), and the elementwise ops
after it (`match_epilogue`: a residual add and an activation)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

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


def unpadded(value, fill: float):
    """(input, (top, left)) through a `tensor.pad` of the constant `fill` on H and W only of an
    NCHW tensor; (value, (0, 0)) when it is not padded; None for any other pad."""
    pad = value.owner
    if getattr(pad, "name", None) != "tensor.pad":
        return value, (0, 0)
    low, high = list(pad.attributes["static_low"]), list(pad.attributes["static_high"])
    if low[:2] != [0, 0] or high[:2] != [0, 0] or min(low + high) < 0:
        return None
    yields = [op.operation for op in pad.regions[0].blocks[0].operations]
    if len(yields) != 1 or scalar_constant(yields[0].operands[0]) != fill:
        return None
    return pad.operands[0], (int(low[2]), int(low[3]))


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
    if a is None:
        return None
    if not np.any(a):
        return np.zeros(channels, np.float32)
    # A folded broadcast: a constant [N, C, H, W] (or [N, C]) init equal across all but C.
    if a.ndim in (2, 4) and a.shape[1] == channels:
        b = a[(0, slice(None)) + (0,) * (a.ndim - 2)].astype(np.float32)
        if np.array_equal(a, np.broadcast_to(b.reshape((1, channels) + (1,) * (a.ndim - 2)), a.shape)):
            return b
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


# ---------------------------------------------------------------------------------------------
# Fused epilogues: the elementwise ops after a convolution that its kernel can absorb.

ACTIVATIONS = ("minmax", "sigmoid", "silu", "hswish")  # = kernels.ACTIVATIONS (the C epilogues)


@dataclass(frozen=True)
class Epilogue:
    """y = clamp(act(conv + residual), vmin, vmax), and the ops that computed it in the IR.

    `ops` are the absorbed `linalg.generic` ops in topological order; the last one's result is
    what the kernel's dispatch replaces. No ops: the plain convolution (minmax, -inf, inf)."""

    act: str = "minmax"
    vmin: float = -math.inf
    vmax: float = math.inf
    residual: Any = None  # an SSA tensor value of the conv result's shape, or None
    ops: tuple = ()

    @property
    def last(self):
        return self.ops[-1] if self.ops else None

    def describe(self) -> str:
        parts = (["residual add"] if self.residual is not None else []) + [_act_name(self)]
        return ", ".join(p for p in parts if p) or "none"


def _act_name(e: "Epilogue") -> str:
    if e.act != "minmax":
        return e.act
    if (e.vmin, e.vmax) == (-math.inf, math.inf):
        return ""
    if (e.vmin, e.vmax) == (0.0, math.inf):
        return "relu"
    if (e.vmin, e.vmax) == (0.0, 6.0):
        return "relu6"
    return f"clamp({e.vmin:g}, {e.vmax:g})"


def _is_identity(map_attr, rank: int) -> bool:
    m = mir.ir.AffineMapAttr(map_attr).value
    return m.n_dims == rank and [str(r) for r in m.results] == [f"d{i}" for i in range(rank)]


def _is_scalar_map(map_attr) -> bool:
    return len(mir.ir.AffineMapAttr(map_attr).value.results) == 0


def _elementwise_inputs(op, shape) -> list | None:
    """The inputs of `op` if it is an all-parallel, single-result `linalg.generic` over `shape`
    whose tensor inputs have identity maps (rank-0 constant inputs allowed) and whose body does
    not read its output; else None."""
    if op.name != "linalg.generic" or len(op.results) != 1:
        return None
    res_type = mir.RankedTensorType(op.results[0].type)
    if list(res_type.shape) != list(shape):
        return None
    if any("parallel" not in str(t) for t in op.attributes["iterator_types"]):
        return None
    maps = list(op.attributes["indexing_maps"])
    n_in = len(op.operands) - 1
    block = op.regions[0].blocks[0]
    if list(block.arguments[n_in].uses):
        return None
    inputs = []
    for i in range(n_in):
        v = op.operands[i]
        rank = len(mir.RankedTensorType(v.type).shape)
        if rank == 0 and _is_scalar_map(maps[i]):
            if constant_array(v) is None:
                return None
        elif not (list(mir.RankedTensorType(v.type).shape) == list(shape) and _is_identity(maps[i], len(shape))):
            return None
        inputs.append(v)
    return inputs


def _users(value) -> list:
    return [u.owner for u in value.uses]


def match_epilogue(result, *, allow_residual: bool = True) -> Epilogue:
    """The longest chain of elementwise ops after `result` (a convolution's value) that a
    kernel epilogue computes: an optional residual add, then one activation (ReLU, ReLU6,
    clamp, sigmoid, SiLU, hardswish, however torch-mlir spells it), recognized by what the ops
    compute (the bodies are evaluated on probe points), not by their spelling.

    Intermediate values must have no uses outside the chain; the conv result neither."""
    shape = list(mir.RankedTensorType(result.type).shape)
    inside: list = [result]  # values computed by the chain (conv result first)
    accepted: list = []  # (op, inputs)
    residual = None

    def in_chain(v):
        return any(v == w for w in inside)

    def grow(with_residual: bool) -> bool:
        nonlocal residual
        for v in list(inside):
            for user in _users(v):
                if any(user == a for a, _ in accepted):
                    continue
                ins = _elementwise_inputs(user, shape)
                if ins is None:
                    continue
                outside = [x for x in ins if not in_chain(x) and len(mir.RankedTensorType(x.type).shape) > 0]
                if not outside:
                    accepted.append((user, ins))
                    inside.append(user.results[0])
                    return True
                if (with_residual and residual is None and len(outside) == 1 and len(ins) == 2
                        and [o.operation.name for o in user.regions[0].blocks[0].operations] == ["arith.addf", "linalg.yield"]):
                    residual = outside[0]
                    accepted.append((user, ins))
                    inside.append(user.results[0])
                    return True
        return False

    while len(accepted) < 16 and (grow(False) or (allow_residual and grow(True))):
        pass

    best = Epilogue()
    for n in range(len(accepted), 0, -1):
        chain = accepted[:n]
        ops = [op for op, _ in chain]
        values = [result] + [op.results[0] for op in ops[:-1]]
        if any(not any(u == op for op in ops) for v in values for u in _users(v)):
            continue
        uses_res = residual is not None and any(any(x == residual for x in ins) for _, ins in chain)
        act = _classify(result, chain, residual if uses_res else None)
        if act is not None:
            best = Epilogue(act[0], act[1], act[2], residual if uses_res else None, tuple(ops))
            break
    return best


# Probe points: activations are told apart by what the chain computes at these inputs.
_PROBES = (-30.0, -7.5, -3.0, -2.5, -1.0, -0.3, 0.0, 0.2, 1.0, 2.9, 3.0, 5.5, 6.0, 7.25, 40.0)
_RESIDUALS = (0.0, 0.75, -1.5)


def _classify(result, chain, residual):
    def f(a, r):
        return _evaluate(result, chain, residual, a, r)

    try:
        samples = [(a, r, f(a, r)) for a in _PROBES for r in (_RESIDUALS if residual is not None else (0.0,))]
        lo, hi = f(-1e30, 0.0), f(1e30, 0.0)
    except _Unknown:
        return None
    lo = -math.inf if lo <= -1e29 else lo
    hi = math.inf if hi >= 1e29 else hi

    def fits(fn) -> bool:
        return all(abs(y - fn(a + r)) <= 1e-5 * max(1.0, abs(y)) for a, r, y in samples)

    if fits(lambda x: min(max(x, lo), hi)):
        return "minmax", lo, hi
    sig = lambda x: 1.0 / (1.0 + math.exp(-x)) if x > -80 else 0.0  # noqa: E731
    for name, fn in (("sigmoid", sig), ("silu", lambda x: x * sig(x)),
                     ("hswish", lambda x: x * min(max(x + 3.0, 0.0), 6.0) / 6.0)):
        if fits(fn):
            return name, -math.inf, math.inf
    return None


class _Unknown(Exception):
    pass


def _cmp(pred: int, a: float, b: float) -> bool:
    P = mir.arith.CmpFPredicate
    table = {int(P.OEQ): a == b, int(P.UEQ): a == b, int(P.OGT): a > b, int(P.UGT): a > b,
             int(P.OGE): a >= b, int(P.UGE): a >= b, int(P.OLT): a < b, int(P.ULT): a < b,
             int(P.OLE): a <= b, int(P.ULE): a <= b, int(P.ONE): a != b, int(P.UNE): a != b}
    if pred not in table:
        raise _Unknown(pred)
    return table[pred]


def _exp(x: float) -> float:
    return math.inf if x > 700 else math.exp(x)


_BINARY = {
    "arith.addf": lambda a, b: a + b, "arith.subf": lambda a, b: a - b, "arith.mulf": lambda a, b: a * b,
    "arith.divf": lambda a, b: a / b if b != 0 else math.copysign(math.inf, a) * math.copysign(1.0, b),
    "arith.maximumf": max, "arith.maxnumf": max, "arith.minimumf": min, "arith.minnumf": min,
}


def _evaluate(result, chain, residual, a: float, r: float) -> float:
    env: list = [(result, a)]
    if residual is not None:
        env.append((residual, r))

    def lookup(v):
        for k, x in env:
            if k == v:
                return x
        c = scalar_constant(v)
        if c is None:
            arr = constant_array(v)
            if arr is None or arr.size != 1:
                raise _Unknown("operand")
            c = float(arr.reshape(-1)[0])
        return c

    for op, ins in chain:
        block = op.regions[0].blocks[0]
        local = [(block.arguments[i], lookup(v)) for i, v in enumerate(ins)]

        def val(v):
            for k, x in local:
                if k == v:
                    return x
            return lookup(v)

        out = None
        for body_op in block.operations:
            o = body_op.operation
            name = o.name
            if name == "linalg.yield":
                out = val(o.operands[0])
                break
            if name in _BINARY:
                y = _BINARY[name](val(o.operands[0]), val(o.operands[1]))
            elif name == "arith.negf":
                y = -val(o.operands[0])
            elif name == "math.exp":
                y = _exp(val(o.operands[0]))
            elif name == "math.tanh":
                y = math.tanh(val(o.operands[0]))
            elif name == "arith.cmpf":
                y = _cmp(int(mir.ir.IntegerAttr(o.attributes["predicate"]).value),
                         val(o.operands[0]), val(o.operands[1]))
            elif name == "arith.select":
                y = val(o.operands[1]) if val(o.operands[0]) else val(o.operands[2])
            elif name == "arith.constant":
                y = scalar_constant(o.results[0])
                if y is None:
                    raise _Unknown(name)
            else:
                raise _Unknown(name)
            local.append((o.results[0], y))
        if out is None:
            raise _Unknown("no yield")
        env.append((op.results[0], out))
    return env[-1][1]
