"""Pass `materialize`: packed weights + a group-sparse kernel dispatch for each layer that
`detect` marked sparse.

For each `linalg.conv_2d_nchw_fchw {spiree.sparse = {group = G, k = K, ...}}` it
- packs the constant weight into values [NG, K, G] f32 and indices [NG, K] (narrowest signed
  integer type), per mlir_passes/pattern.py;
- takes the bias from the accumulator init (`linalg.broadcast` of a constant vector, or a
  zero constant / `linalg.fill` 0) and a following ReLU (`cmpf ugt/ogt` + `select`, or
  `maximumf` with 0) into the kernel's epilogue;
- replaces the op by a `flow.dispatch` of an export of one `stream.executable` whose objects
  are spiree's C microkernels (mlir_passes/kernels) built for the target's executable format.

Before:
    %b = linalg.broadcast ins(%bias : tensor<64xf32>) outs(%e : tensor<1x64x8x8xf32>) dimensions = [0, 2, 3]
    %0 = linalg.conv_2d_nchw_fchw {spiree.sparse = {group = 4 : i64, k = 8 : i64, ...}}
           ins(%x, %w : tensor<1x32x8x8xf32>, tensor<64x32x1x1xf32>) outs(%b : ...) -> ...
    %1 = linalg.generic {...} ins(%0 : ...) { arith.cmpf ugt ... arith.select ... }   // ReLU
After:
    stream.executable private @spiree_sparse_kernels attributes {hal.executable.objects = ...} {
      stream.executable.export public @spmm_0 workgroups() -> (index, index, index) {...}
      builtin.module {
        func.func private @spiree_spmm_f32_32x4_i8(...) attributes {hal.import.static, llvm.bareptr = true}
        func.func @spmm_0(%x: !stream.binding, ...) { ... func.call @spiree_spmm_f32_32x4_i8(...) }
      }
    }
    %v = arith.constant dense<...> : tensor<16x8x4xf32>
    %i = arith.constant dense<...> : tensor<16x8xi8>
    %1 = flow.dispatch @spiree_sparse_kernels::@spmm_0(%x, %v, %i, %bias) : (...) -> tensor<1x64x8x8xf32>

Left alone: ops without `spiree.sparse`, and sparse ops whose accumulator init is not a bias
broadcast or zeros (they are marked `spiree.dense` with the reason instead).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import PassOptions
from . import ir as mir
from . import pattern
from .detect import constant_array, pointwise_convs
from .kernels import build_object
from .kernels.spmm import SpmmVariant, render_source

EXECUTABLE = "spiree_sparse_kernels"
MAX_WORKGROUPS = 8


@dataclass(frozen=True)
class _Layer:
    export: str
    variant: SpmmVariant
    batch: int
    c_in: int
    c_out: int
    h: int
    w: int
    k: int
    vmin: float
    vmax: float

    @property
    def groups(self) -> int:
        return pattern.num_groups(self.c_out, self.variant.group)


def tile_pixels(target, group: int) -> int:
    """MR: pixels per register tile, from the target's SIMD width and register count.
    Half the registers hold the G x MR accumulators, at most 4 vectors per output channel."""
    lanes = target.vector_f32_lanes
    vectors_per_row = max(1, min(4, (target.vector_registers // 2) // group))
    return lanes * vectors_per_row


def _bias(init, c_out: int) -> np.ndarray | None:
    owner = init.owner
    name = getattr(owner, "name", None)
    if name == "linalg.broadcast":
        dims = [int(d) for d in owner.attributes["dimensions"]]
        b = constant_array(owner.operands[0])
        if dims == [0, 2, 3] and b is not None and b.shape == (c_out,):
            return b.astype(np.float32)
        return None
    if name == "linalg.fill":
        scalar = _scalar_constant(owner.operands[0])
        return np.zeros(c_out, np.float32) if scalar == 0.0 else None
    a = constant_array(init)
    if a is not None and not np.any(a):
        return np.zeros(c_out, np.float32)
    return None


def _scalar_constant(value) -> float | None:
    owner = value.owner
    if getattr(owner, "name", None) != "arith.constant":
        return None
    try:
        return float(mir.ir.FloatAttr(owner.attributes["value"]).value)
    except ValueError:
        return None


def _relu_consumer(result):
    """The single ReLU generic consuming `result`, if that is its only use."""
    uses = list(result.uses)
    if len(uses) != 1:
        return None
    user = uses[0].owner
    if user.name != "linalg.generic" or len(user.operands) != 2 or user.operands[0] != result:
        return None
    body = [op for op in user.regions[0].blocks[0].operations]
    names = [op.operation.name for op in body]
    arg = user.regions[0].blocks[0].arguments[0]
    if names == ["arith.cmpf", "arith.select", "linalg.yield"]:
        cmp, sel = body[0].operation, body[1].operation
        pred = int(mir.ir.IntegerAttr(cmp.attributes["predicate"]).value)
        if pred in (int(mir.arith.CmpFPredicate.OGT), int(mir.arith.CmpFPredicate.UGT)) and cmp.operands[0] == arg and _scalar_constant(cmp.operands[1]) == 0.0 \
                and sel.operands[1] == arg and _scalar_constant(sel.operands[2]) == 0.0:
            return user
    if names == ["arith.maximumf", "linalg.yield"] or names == ["arith.maxnumf", "linalg.yield"]:
        mx = body[0].operation
        if arg in (mx.operands[0], mx.operands[1]) and 0.0 in (_scalar_constant(mx.operands[0]), _scalar_constant(mx.operands[1])):
            return user
    return None


_PURE = ("arith.constant", "tensor.empty", "linalg.broadcast", "linalg.fill")


def _erase_dead(block) -> None:
    """Erase the weight constants, bias broadcasts and empties nothing uses any more."""
    changed = True
    while changed:
        changed = False
        for op in list(block.operations):
            op = op.operation
            if op.name in _PURE and not any(list(r.uses) for r in op.results):
                op.erase()
                changed = True


def _constant(values: np.ndarray, loc_op):
    with mir.InsertionPoint(loc_op), loc_op.location:
        attr = mir.DenseElementsAttr.get(np.ascontiguousarray(values))
        return mir.arith.ConstantOp(attr.type, attr).result


def _mlir_float(v: float) -> str:
    if math.isinf(v):
        return "0x7F800000" if v > 0 else "0xFF800000"
    return repr(float(v))


def _export_text(layer: _Layer) -> str:
    v = layer.variant
    ng, k, g = layer.groups, layer.k, v.group
    idx_t = f"i{v.index_bits}"
    # Bindings as flat dynamic memrefs, so one kernel declaration serves every layer shape.
    hw = layer.h * layer.w
    flat = [("f32", layer.batch * layer.c_in * hw), ("f32", ng * k * g), (idx_t, ng * k),
            ("f32", layer.c_out), ("f32", layer.batch * layer.c_out * hw)]
    types = [f"memref<?x{t}>" for t, _ in flat]
    workgroups = min(ng, MAX_WORKGROUPS)
    per_wg = -(-ng // workgroups)
    sig = ", ".join(types + ["index"] * 7 + ["f32", "f32"])
    subspans = "\n".join(
        f"        %s{i} = arith.constant {size} : index\n"
        f"        %m{i} = stream.binding.subspan %b{i}[%c0] : !stream.binding -> memref<?x{t}>{{%s{i}}}"
        for i, (t, size) in enumerate(flat))
    return f"""
    stream.executable.export public @{layer.export} workgroups() -> (index, index, index) {{
      %x = arith.constant {workgroups} : index
      %c1 = arith.constant 1 : index
      stream.return %x, %c1, %c1 : index, index, index
    }}""", f"""
      func.func @{layer.export}({", ".join(f"%b{i}: !stream.binding" for i in range(5))}) {{
        %c0 = arith.constant 0 : index
        %wg = stream.dispatch.workgroup.id[0] : index
{subspans}
        %per = arith.constant {per_wg} : index
        %ng = arith.constant {ng} : index
        %g0 = arith.muli %wg, %per : index
        %g1a = arith.addi %g0, %per : index
        %g1 = arith.minui %g1a, %ng : index
        %n = arith.constant {layer.batch} : index
        %cin = arith.constant {layer.c_in} : index
        %cout = arith.constant {layer.c_out} : index
        %hw = arith.constant {layer.h * layer.w} : index
        %k = arith.constant {k} : index
        %lo = arith.constant {_mlir_float(layer.vmin)} : f32
        %hi = arith.constant {_mlir_float(layer.vmax)} : f32
        func.call @{v.name}(%m0, %m1, %m2, %m3, %m4, %n, %cin, %cout, %hw, %k, %g0, %g1, %lo, %hi) : ({sig}) -> ()
        return
      }}""", f"""
      func.func private @{v.name}({sig}) attributes {{hal.import.static}}"""


def _executable_text(layers: list[_Layer], target, object_path: str) -> str:
    exports, funcs, decls = [], [], {}
    for layer in layers:
        e, f, d = _export_text(layer)
        exports.append(e)
        funcs.append(f)
        decls[layer.variant.name] = d
    key = f'#hal.executable.target<"llvm-cpu", "{target.executable_format}">'
    return f"""
module {{
  stream.executable private @{EXECUTABLE} attributes {{hal.executable.objects = #hal.executable.objects<{{
      {key} = [#hal.executable.object<{{path = "{object_path}"}}>]}}>}} {{{"".join(exports)}
    builtin.module {{{"".join(decls[n] for n in sorted(decls))}{"".join(funcs)}
    }}
  }}
}}
"""


def run(module, options: PassOptions) -> None:
    target = options.target
    layers: list[_Layer] = []
    with module.context, mir.Location.unknown():
        for op in pointwise_convs(module):
            if "spiree.sparse" not in op.attributes:
                if "spiree.dense" in op.attributes:
                    del op.attributes["spiree.dense"]
                continue
            info = mir.ir.DictAttr(op.attributes["spiree.sparse"])
            group = int(mir.ir.IntegerAttr(info["group"]).value)
            del op.attributes["spiree.sparse"]
            x, w_val, init = op.operands[0], op.operands[1], op.operands[2]
            n, c_in, h, w = mir.RankedTensorType(x.type).shape
            c_out = mir.RankedTensorType(w_val.type).shape[0]
            bias = _bias(init, c_out)
            if bias is None:
                options.report.append({"op": "conv1x1", "weight": [c_out, c_in, 1, 1], "decision": "dense",
                                       "reason": "accumulator init is not a bias broadcast or zeros"})
                continue
            weight = constant_array(w_val)
            values, indices = pattern.pack(weight, group)
            relu = _relu_consumer(op.result)
            variant = SpmmVariant(tile_pixels(target, group), group, indices.dtype.itemsize * 8,
                                   target.vector_f32_lanes)
            layer = _Layer(f"spmm_{len(layers)}", variant, n, c_in, c_out, h, w, values.shape[1],
                           0.0 if relu is not None else -math.inf, math.inf)
            layers.append(layer)
            replaced = relu if relu is not None else op
            v_c = _constant(values, op)
            i_c = _constant(indices, op)
            b_c = _constant(bias, op)
            with mir.InsertionPoint(replaced):
                dispatch = mir.Operation.create(
                    "flow.dispatch",
                    results=[replaced.results[0].type],
                    operands=[x, v_c, i_c, b_c],
                    attributes={
                        "entry_points": mir.Attribute.parse(f"[@{EXECUTABLE}::@{layer.export}]"),
                        "operandSegmentSizes": mir.Attribute.parse("array<i32: 0, 4, 0, 0>"),
                        "tied_operands": mir.Attribute.parse("[-1 : index]"),
                    },
                )
            replaced.results[0].replace_all_uses_with(dispatch.results[0])
            block = op.block
            if relu is not None:
                relu.erase()
            op.erase()
            _erase_dead(block)
        if not layers:
            return
        source = render_source([l.variant for l in layers])
        obj = build_object(source, target)
        exe_module = mir.Module.parse(_executable_text(layers, target, str(obj)))
        exe = exe_module.body.operations[0]
        exe.operation.move_before(module.body.operations[0])


if __name__ == "__main__":
    import sys

    from . import main_for

    sys.exit(main_for(sys.modules[__name__]))
