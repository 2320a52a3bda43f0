"""The pipeline, top to bottom: model -> (prune) -> fold BatchNorm -> export -> MLIR passes ->
IREE compile -> Artifact.

Each stage is a function in its own module with a typed input and output; `build` runs them in
order, logs one progress line per stage with its time, and with `emit_mlir` saves the IR after
each MLIR stage.
"""
from __future__ import annotations

import contextlib
import logging
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import mlir_passes
from ..models.registry import LoadedModel
from ..targets import Target, get_target
from .artifact import MANIFEST_FORMAT, Artifact
from .compile import CompileOptions, compile_flags, compile_module
from .export import export, fold_batchnorm
from .inspect import layer_table, parameter_count
from .options import BuildOptions, Kernels
from .prune import PruneOptions, prune
from .ir_module import MlirModule
from .runtime import TensorSpec

log = logging.getLogger("spiree")


@contextlib.contextmanager
def _stage(name: str, what: str):
    log.info("%s: %s ...", name, what)
    t0 = time.perf_counter()
    yield
    log.info("%s: done in %.1f s", name, time.perf_counter() - t0)


def build(model: LoadedModel, target: "str | Target", *, options: BuildOptions = BuildOptions()) -> Artifact:
    target = get_target(target)
    dumps: list[MlirModule] = []
    module, pruned = model.module, None

    if options.prune is not None:
        po = options.prune
        with _stage("prune", f"sparsity {po.sparsity:g}, G={po.group}"
                    f"{', unbalanced' if not po.balanced else ''}{', rearranged' if po.rearrange else ''}"):
            pruned = prune_stage(module, po)
            module = pruned.model

    with _stage("fold", "folding BatchNorm into convolutions"):
        module = fold_batchnorm(module)
        with torch.no_grad():
            outputs = module(*model.example_inputs)

    with _stage("export", "torch.export + torch-mlir to linalg-on-tensors"):
        ir = export(module, model.example_inputs)
        dumps.append(ir)

    passes = mlir_passes.PIPELINE if options.kernels != Kernels.IREE else ()
    with _stage("passes", f"{len(passes)} spiree MLIR pass(es), kernels {options.kernels}"):
        ir, pass_report = run_passes(ir, target, passes, exploit_sparsity=options.kernels == Kernels.SPARSE)
        dumps.append(ir)

    if options.emit_mlir:
        for i, m in enumerate(dumps):
            log.info("emit-mlir: wrote %s", m.save(Path(options.emit_mlir), i))

    with _stage("compile", f"iree-compile for {target.name} ({target.triple})"):
        vmfb = compile_module(ir, target, options.compile)

    manifest = _manifest(model, module, outputs, target, options, pass_report)
    manifest["sparsity"] = None if pruned is None else {
        **options.prune.to_json(), "layers_pruned": len(pruned.layers),
        "zeros": round(pruned.zeros, 6), "energy_kept": round(pruned.energy_kept, 6)}
    return Artifact(vmfb, manifest)


def prune_stage(module: torch.nn.Module, options: PruneOptions):
    """Stage `prune`: a pruned copy of the model (deterministic: same weights, same result)."""
    result = prune(module, options)
    log.info("prune: %d layer(s), %.1f%% of their weights zero, %.1f%% of their magnitude kept",
             len(result.layers), 100 * result.zeros, 100 * result.energy_kept)
    return result


def run_passes(ir: MlirModule, target: Target, passes=mlir_passes.PIPELINE, *,
               exploit_sparsity: bool = True) -> tuple[MlirModule, mlir_passes.PassReport]:
    """Stage `passes`: spiree's MLIR passes (default mlir_passes.PIPELINE) on the exported IR,
    and what they decided per layer."""
    if not passes:
        return MlirModule(ir.bytecode, "passes"), mlir_passes.PassReport()
    module = ir.parse()
    report = mlir_passes.run_pipeline(module, mlir_passes.PassOptions(target=target, exploit_sparsity=exploit_sparsity),
                                      passes)
    return MlirModule.from_module(module, "passes"), report


def _manifest(model: LoadedModel, module, outputs, target: Target, options: BuildOptions,
              pass_report: mlir_passes.PassReport) -> dict[str, Any]:
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    layers = layer_table(module, model.example_inputs)
    return {
        "format": MANIFEST_FORMAT,
        "entry": "main",
        "inputs": [TensorSpec(f"input{i}", tuple(x.shape), str(np.dtype(x.numpy().dtype))).to_json()
                   for i, x in enumerate(model.example_inputs)],
        "outputs": [TensorSpec(f"output{i}", tuple(y.shape), str(np.dtype(y.numpy().dtype))).to_json()
                    for i, y in enumerate(outputs)],
        "target": target.name,
        "triple": target.triple,
        "cpu_features": target.cpu_features,
        "executable_format": target.executable_format,
        "compile_flags": compile_flags(target, options.compile),
        "versions": {p: _version(p) for p in ("spiree", "iree-base-compiler", "iree-base-runtime", "torch", "torch-mlir")},
        "model": model.spec.to_json(),
        "parameters": parameter_count(model.module),
        "macs": sum(l.macs for l in layers),
        "layers": [l.to_json() for l in layers],
        "kernels": str(options.kernels),
        "passes": pass_report.to_json(),
    }


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "unknown"
