"""Shared machinery of the kernel passes: one `stream.executable` per pass whose exports call
spiree's C microkernels (linked from `hal.executable.objects`), and the `flow.dispatch` ops that
use them.

Each export binds its operands and result as flat 1-D memrefs (so one kernel declaration serves
every layer shape; the C side receives each memref expanded as base, aligned, offset, size,
stride), splits the work over up to MAX_WORKGROUPS workgroups along its first "unit" dimension
(output-channel groups, channels, ...), and passes the layer's constants as scalars:

    kernel(bindings..., scalars..., unit_begin, unit_end, vmin, vmax)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import ir as mir
from .kernels import build_object

MAX_WORKGROUPS = 8


@dataclass(frozen=True)
class Export:
    name: str  # export symbol
    kernel: str  # C function name
    bindings: tuple[tuple[str, int], ...]  # (element type, element count): operands..., result
    scalars: tuple[int, ...]  # index arguments after the bindings
    units: int  # work units split across workgroups
    vmin: float
    vmax: float


def mlir_float(v: float) -> str:
    if math.isinf(v):
        return "0x7F800000" if v > 0 else "0xFF800000"
    return repr(float(v))


def _export_text(e: Export) -> tuple[str, str, str]:
    types = [f"memref<?x{t}>" for t, _ in e.bindings]
    workgroups = max(1, min(e.units, MAX_WORKGROUPS))
    per_wg = -(-e.units // workgroups)
    sig = ", ".join(types + ["index"] * (len(e.scalars) + 2) + ["f32", "f32"])
    subspans = "\n".join(
        f"        %s{i} = arith.constant {size} : index\n"
        f"        %m{i} = stream.binding.subspan %b{i}[%c0] : !stream.binding -> memref<?x{t}>{{%s{i}}}"
        for i, (t, size) in enumerate(e.bindings))
    scalars = "\n".join(f"        %a{i} = arith.constant {v} : index" for i, v in enumerate(e.scalars))
    args = ", ".join([f"%m{i}" for i in range(len(e.bindings))] + [f"%a{i}" for i in range(len(e.scalars))]
                     + ["%u0", "%u1", "%lo", "%hi"])
    export = f"""
    stream.executable.export public @{e.name} workgroups() -> (index, index, index) {{
      %x = arith.constant {workgroups} : index
      %c1 = arith.constant 1 : index
      stream.return %x, %c1, %c1 : index, index, index
    }}"""
    func = f"""
      func.func @{e.name}({", ".join(f"%b{i}: !stream.binding" for i in range(len(e.bindings)))}) {{
        %c0 = arith.constant 0 : index
        %wg = stream.dispatch.workgroup.id[0] : index
{subspans}
{scalars}
        %per = arith.constant {per_wg} : index
        %units = arith.constant {e.units} : index
        %u0 = arith.muli %wg, %per : index
        %u1a = arith.addi %u0, %per : index
        %u1 = arith.minui %u1a, %units : index
        %lo = arith.constant {mlir_float(e.vmin)} : f32
        %hi = arith.constant {mlir_float(e.vmax)} : f32
        func.call @{e.kernel}({args}) : ({sig}) -> ()
        return
      }}"""
    decl = f"""
      func.func private @{e.kernel}({sig}) attributes {{hal.import.static}}"""
    return export, func, decl


def executable_text(symbol: str, exports: list[Export], target, object_path: str) -> str:
    parts = [_export_text(e) for e in exports]
    decls = {e.kernel: p[2] for e, p in zip(exports, parts)}
    key = f'#hal.executable.target<"llvm-cpu", "{target.executable_format}">'
    return f"""
module {{
  stream.executable private @{symbol} attributes {{hal.executable.objects = #hal.executable.objects<{{
      {key} = [#hal.executable.object<{{path = "{object_path}"}}>]}}>}} {{{"".join(p[0] for p in parts)}
    builtin.module {{{"".join(decls[k] for k in sorted(decls))}{"".join(p[1] for p in parts)}
    }}
  }}
}}
"""


def insert_executable(module, symbol: str, exports: list[Export], source: str, target) -> None:
    """Build the kernels' object for `target` and put the executable at the top of `module`."""
    obj = build_object(source, target)
    exe_module = mir.Module.parse(executable_text(symbol, exports, target, str(obj)), module.context)
    exe_module.body.operations[0].operation.move_before(module.body.operations[0])


def constant(values: np.ndarray, before):
    """An `arith.constant` of `values` inserted before op `before`."""
    with mir.InsertionPoint(before):
        attr = mir.DenseElementsAttr.get(np.ascontiguousarray(values))
        return mir.arith.ConstantOp(attr.type, attr).result


def dispatch(symbol: str, export: str, operands: list, result_type, before):
    """`flow.dispatch @symbol::@export(operands)` inserted before op `before`."""
    with mir.InsertionPoint(before):
        return mir.Operation.create(
            "flow.dispatch",
            results=[result_type],
            operands=operands,
            attributes={
                "entry_points": mir.Attribute.parse(f"[@{symbol}::@{export}]"),
                "operandSegmentSizes": mir.Attribute.parse(f"array<i32: 0, {len(operands)}, 0, 0>"),
                "tied_operands": mir.Attribute.parse("[-1 : index]"),
            },
        ).results[0]


def replace_with_dispatch(op, absorbed, symbol: str, export: str, operands: list) -> None:
    """Replace `op` and the ops `absorbed` after it (None, one op such as a ReLU, or an
    epilogue's ops in topological order: the last one's result is what the dispatch replaces)
    by a dispatch of `@symbol::@export(operands)`, then erase what only they used."""
    if absorbed is None:
        absorbed = ()
    elif not isinstance(absorbed, (list, tuple)):
        absorbed = (absorbed,)
    last = absorbed[-1] if absorbed else op
    result = dispatch(symbol, export, operands, last.results[0].type, last)
    last.results[0].replace_all_uses_with(result)
    block = op.block
    for a in reversed(absorbed):
        a.erase()
    op.erase()
    erase_dead(block)


_PURE = ("arith.constant", "tensor.empty", "linalg.broadcast", "linalg.fill", "linalg.transpose", "tensor.pad")


def erase_dead(block) -> None:
    """Erase the constants, broadcasts, fills, pads and empties nothing uses any more."""
    changed = True
    while changed:
        changed = False
        for op in list(block.operations):
            op = op.operation
            if op.name in _PURE and not any(list(r.uses) for r in op.results):
                op.erase()
                changed = True
