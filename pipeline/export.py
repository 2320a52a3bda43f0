"""Stage `export`: PyTorch module -> linalg-on-tensors MLIR (as bytecode).

Eval mode, BatchNorm folded into the preceding convolution, `torch.export`, then
`torch_mlir.fx.export_and_import(..., output_type="linalg-on-tensors")`. Weights are imported as
inline `dense<...>` constants (not `dense_resource` blobs) so that the MLIR passes can read them
through the Python bindings.
"""
from __future__ import annotations

import copy
import logging
import re
import warnings

import numpy as np
import torch
from torch import nn

from torch_mlir import fx
from torch_mlir import ir as tm_ir
from torch_mlir.dialects import torch as torch_dialect
from torch_mlir.extras.fx_importer import FxImporter, FxImporterHooks

from ..models.registry import eval_mode
from .errors import ExportError
from .ir_module import MlirModule

log = logging.getLogger(__name__)


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """A copy of `module` in eval mode with Conv+BatchNorm pairs folded (torch.fx fusion, or
    pipeline/bn_fold.py on the aten graph of a `.pt2`).

    Models torch.fx cannot trace are returned unfolded (IREE then fuses the scale/shift)."""
    module = eval_mode(copy.deepcopy(module))
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        if isinstance(module, torch.fx.GraphModule):  # unlifted from a .pt2: aten ops
            from .bn_fold import fold_aten_batchnorm

            log.info("folded %d BatchNorm(s) of the exported graph", fold_aten_batchnorm(module))
        return module
    try:
        from torch.fx.experimental.optimization import fuse

        return fuse(module, inplace=True)
    except Exception as e:  # not symbolically traceable
        log.info("BatchNorm left unfolded (%s: %s)", type(e).__name__, e)
        return module


class _InlineWeights(FxImporterHooks):
    """torch-mlir importer hooks: import float tensor literals as DenseElementsAttr."""

    def resolve_literal(self, gni, literal, info):
        if not isinstance(literal, torch.Tensor) or literal.dtype != torch.float32:
            return None
        if literal.numel() <= 1:
            return None
        attr = tm_ir.DenseElementsAttr.get(np.ascontiguousarray(_to_numpy(literal)))
        return tm_ir.Operation.create(
            name="torch.vtensor.literal",
            results=[gni._cc.tensor_to_vtensor_type(literal)],
            attributes={"value": attr},
        ).result


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    try:
        return t.detach().cpu().numpy()
    except Exception:
        return np.array(t.tolist(), dtype=np.float32)


_UNSUPPORTED_RE = re.compile(r"(?:failed to legalize operation|unsupported|not supported)[^']*'([\w.]+)'")
_OPERATOR_RE = re.compile(r'name = "([\w.]+)"')


def export(module: nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> MlirModule:
    """Export an eval-mode module to linalg-on-tensors MLIR."""
    module = eval_mode(module)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.export.export(module, tuple(example_inputs), strict=False)
    except Exception as e:
        raise ExportError(
            f"torch.export could not trace the model ({type(e).__name__}: {_first_line(e)}); "
            f"make forward() traceable (no data-dependent Python control flow)"
        ) from None
    context = tm_ir.Context()
    torch_dialect.register_dialect(context)
    diagnostics: list[str] = []

    def keep(diag) -> bool:
        diagnostics.append(str(diag.message))
        return True  # handled: not printed to stderr

    context.attach_diagnostic_handler(keep)
    importer = FxImporter(context=context, hooks=_InlineWeights())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlir = fx.export_and_import(program, output_type="linalg-on-tensors", fx_importer=importer)
    except Exception as e:
        text = "\n".join(diagnostics) or str(e)
        m = _OPERATOR_RE.search(text) or _UNSUPPORTED_RE.search(text)
        what = f"the operation {m.group(1).removeprefix('torch.')!r}" if m else "an operation"
        detail = diagnostics[0].splitlines()[0].split(": %")[0][:200] if diagnostics else _first_line(e)
        raise ExportError(
            f"torch-mlir cannot lower {what} to linalg ({detail}); "
            f"replace it with supported ops or rewrite that layer"
        ) from None
    return MlirModule(_module_bytecode(mlir), "export")


def _module_bytecode(torch_mlir_module) -> bytes:
    import io

    buf = io.BytesIO()
    torch_mlir_module.operation.write_bytecode(buf)
    return buf.getvalue()


def _first_line(e: Exception) -> str:
    s = str(e).strip()
    return s.splitlines()[0][:300] if s else type(e).__name__
