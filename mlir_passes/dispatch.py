"""Shared machinery of the kernel passes: one `stream.executable` per pass whose exports call
spiree's C microkernels (linked from `hal.executable.objects`), and the `flow.dispatch` ops that
use them.

Each export binds its operands and result as flat 1-D memrefs (so one kernel declaration serves
every layer shape; the C side receives each memref expanded as base, aligned, offset, size,
stride), splits the work over a grid of workgroups, and passes the layer's constants as scalars:

    kernel(bindings..., scalars..., unit_begin, unit_end, vmin, vmax)
    kernel(bindings..., scalars..., unit_begin, unit_end, span_begin, span_end, vmin, vmax)

The first form splits one dimension of "units" (output-channel groups, channels, ...) along
the grid's x; the second, for kernels that also take a range of a second dimension (`span`,
e.g. output pixels, cut at multiples of `span_align`), splits that along y. Every workgroup
gets a contiguous range, balanced: the ranges of a dimension differ by at most one unit (one
`span_align` block), so no workgroup is left with a short tail while another does double work.
`grid` fixes the workgroups per dimension; by default units are split into
min(units, MAX_WORKGROUPS) workgroups and the span is not split.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import ir as mir
from .kernels import build_object, render_sources

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
    # Optional second dimension, for kernels that take [span_begin, span_end) after the unit
    # range: its extent (e.g. pixels) and the multiple its workgroup ranges are cut at. None:
    # the kernel takes no second range.
    span: int | None = None
    span_align: int = 1
    # Workgroups along (units, span); None: default_grid(units, span).
    grid: tuple[int, int] | None = None
    # The result is operand 0 updated in place (the dispatch's `tied_operands`): it has no
    # binding of its own, and the kernel gets operand 0's memref for it.
    tied: bool = False

    def __post_init__(self):
        if self.units < 1:
            raise ValueError(f"export {self.name}: units must be >= 1, got {self.units}")
        if self.span is not None and (self.span < 1 or self.span_align < 1):
            raise ValueError(f"export {self.name}: span {self.span} and span_align {self.span_align} must be >= 1")
        gx, gy = self.workgroups
        if not 1 <= gx <= self.units or not 1 <= gy <= self.span_blocks:
            raise ValueError(f"export {self.name}: grid {self.grid} must be within 1..{self.units} units "
                             f"x 1..{self.span_blocks} span blocks")

    @property
    def span_blocks(self) -> int:
        """Blocks of `span_align` along the span (1 without a span)."""
        return 1 if self.span is None else -(-self.span // self.span_align)

    @property
    def workgroups(self) -> tuple[int, int]:
        return self.grid if self.grid is not None else default_grid(self.units)


def default_grid(units: int) -> tuple[int, int]:
    return (max(1, min(units, MAX_WORKGROUPS)), 1)


def split(total: int, parts: int) -> list[tuple[int, int]]:
    """The balanced ranges the workgroups of one dimension get (what the generated IR computes):
    part i covers [i * total // parts, (i + 1) * total // parts)."""
    return [(i * total // parts, (i + 1) * total // parts) for i in range(parts)]


def mlir_float(v: float) -> str:
    if math.isinf(v):
        return "0x7F800000" if v > 0 else "0xFF800000"
    return repr(float(v))


def _export_text(e: Export) -> tuple[str, str, str]:
    types = [f"memref<?x{t}>" for t, _ in e.bindings]
    bound = e.bindings[:-1] if e.tied else e.bindings
    gx, gy = e.workgroups
    ranges = 2 if e.span is None else 4
    sig = ", ".join(types + ["index"] * (len(e.scalars) + ranges) + ["f32", "f32"])
    subspans = "\n".join(
        f"        %s{i} = arith.constant {size} : index\n"
        f"        %m{i} = stream.binding.subspan %b{i}[%c0] : !stream.binding -> memref<?x{t}>{{%s{i}}}"
        for i, (t, size) in enumerate(bound))
    scalars = "\n".join(f"        %a{i} = arith.constant {v} : index" for i, v in enumerate(e.scalars))
    memrefs = [f"%m{i}" for i in range(len(bound))] + (["%m0"] if e.tied else [])
    args = ", ".join(memrefs + [f"%a{i}" for i in range(len(e.scalars))]
                     + ["%u0", "%u1"] + ([] if e.span is None else ["%r0", "%r1"]) + ["%lo", "%hi"])
    export = f"""
    stream.executable.export public @{e.name} workgroups() -> (index, index, index) {{
      %x = arith.constant {gx} : index
      %y = arith.constant {gy} : index
      %c1 = arith.constant 1 : index
      stream.return %x, %y, %c1 : index, index, index
    }}"""
    # Balanced ranges: workgroup i of n gets [i * total / n, (i + 1) * total / n).
    units = f"""        %wgx = stream.dispatch.workgroup.id[0] : index
        %units = arith.constant {e.units} : index
        %gx = arith.constant {gx} : index
        %ux = arith.muli %wgx, %units : index
        %u0 = arith.divui %ux, %gx : index
        %wgx1 = arith.addi %wgx, %c1 : index
        %ux1 = arith.muli %wgx1, %units : index
        %u1 = arith.divui %ux1, %gx : index"""
    span = "" if e.span is None else f"""
        %wgy = stream.dispatch.workgroup.id[1] : index
        %blocks = arith.constant {e.span_blocks} : index
        %gy = arith.constant {gy} : index
        %align = arith.constant {e.span_align} : index
        %extent = arith.constant {e.span} : index
        %by = arith.muli %wgy, %blocks : index
        %k0 = arith.divui %by, %gy : index
        %wgy1 = arith.addi %wgy, %c1 : index
        %by1 = arith.muli %wgy1, %blocks : index
        %k1 = arith.divui %by1, %gy : index
        %r0a = arith.muli %k0, %align : index
        %r0 = arith.minui %r0a, %extent : index
        %r1a = arith.muli %k1, %align : index
        %r1 = arith.minui %r1a, %extent : index"""
    func = f"""
      func.func @{e.name}({", ".join(f"%b{i}: !stream.binding" for i in range(len(bound)))}) {{
        %c0 = arith.constant 0 : index
        %c1 = arith.constant 1 : index
{subspans}
{scalars}
{units}{span}
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


@dataclass
class KernelSet:
    """What one pass dispatches to: the exports it creates and the kernel variants they call,
    put into the module as one executable `symbol` (`insert`) after the pass's last layer."""
    symbol: str
    exports: list[Export] = field(default_factory=list)
    variants: list = field(default_factory=list)

    def add(self, export: Export, variant) -> Export:
        self.exports.append(export)
        self.variants.append(variant)
        return export

    def insert(self, module, target) -> None:
        if self.exports:
            insert_executable(module, self.symbol, self.exports, render_sources(self.variants), target)


def constant(values: np.ndarray, before):
    """An `arith.constant` of `values` inserted before op `before`."""
    with mir.InsertionPoint(before):
        attr = mir.DenseElementsAttr.get(np.ascontiguousarray(values))
        return mir.arith.ConstantOp(attr.type, attr).result


def dispatch(symbol: str, export: str, operands: list, result_type, before, tied: bool = False):
    """`flow.dispatch @symbol::@export(operands)` inserted before op `before`; `tied`: its result
    is operand 0 updated in place (same type)."""
    with mir.InsertionPoint(before):
        return mir.Operation.create(
            "flow.dispatch",
            results=[result_type],
            operands=operands,
            attributes={
                "entry_points": mir.Attribute.parse(f"[@{symbol}::@{export}]"),
                "operandSegmentSizes": mir.Attribute.parse(f"array<i32: 0, {len(operands)}, 0, 0>"),
                "tied_operands": mir.Attribute.parse(f"[{0 if tied else -1} : index]"),
            },
        ).results[0]


def replace_with_dispatch(op, absorbed, symbol: str, export: str, operands: list, tied: bool = False) -> None:
    """Replace `op` and the ops `absorbed` after it (None, one op such as a ReLU, or an
    epilogue's ops in topological order: the last one's result is what the dispatch replaces)
    by a dispatch of `@symbol::@export(operands)` (`tied`: see `dispatch`), then erase what
    only they used."""
    if absorbed is None:
        absorbed = ()
    elif not isinstance(absorbed, (list, tuple)):
        absorbed = (absorbed,)
    last = absorbed[-1] if absorbed else op
    result = dispatch(symbol, export, operands, last.results[0].type, last, tied)
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
