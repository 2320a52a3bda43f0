"""The one place spiree imports the MLIR Python bindings (those shipped in `iree.compiler`)."""
from iree.compiler import ir, passmanager  # noqa: F401
from iree.compiler.dialects import arith, func, linalg, tensor  # noqa: F401
from iree.compiler.ir import (  # noqa: F401
    Attribute,
    Context,
    DenseElementsAttr,
    F32Type,
    InsertionPoint,
    IntegerAttr,
    IntegerType,
    Location,
    Module,
    Operation,
    RankedTensorType,
    StringAttr,
    Type,
    Value,
)


def new_context() -> Context:
    ctx = Context()
    ctx.allow_unregistered_dialects = False
    return ctx


def parse_module(source: "str | bytes", context: Context | None = None) -> Module:
    """Parse IR text or bytecode in a (new) context."""
    return Module.parse(source, context or new_context())


def to_bytecode(module: Module) -> bytes:
    import io

    buf = io.BytesIO()
    module.operation.write_bytecode(buf)
    return buf.getvalue()


def function_ops(module: Module, keep) -> list:
    """The ops of every function body in `module`, in order, for which `keep(op)` holds."""
    return [op.operation for top in module.body.operations if top.operation.name == "func.func"
            for block in top.regions[0].blocks for op in block.operations if keep(op.operation)]


def int_list(attr) -> list[int]:
    """The values of a dense integer elements attribute (strides, dilations, ...)."""
    import numpy as np

    return [int(v) for v in np.array(DenseElementsAttr(attr))]
