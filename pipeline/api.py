"""The Python API: `spiree.compile(...) -> Artifact`, `spiree.load(...) -> CompiledModel`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from torch import nn

from ..models.registry import LoadedModel, eval_mode, ModelSpec, load_model, parse_model_source
from ..targets import Target, get_target
from .artifact import Artifact
from .build import build
from .options import BuildOptions, Kernels
from .prune import PruneOptions
from .errors import ArtifactError
from .device import resolve_device
from .runtime import TensorSpec, check_inputs, make_runner


def compile(model: "str | nn.Module", example_inputs: Sequence[Any] | None = None, *,
            target: "str | Target" = "host", options: dict[str, Any] | None = None,
            weights: str | None = None, seed: int = 0,
            emit_mlir: "str | os.PathLike | None" = None, kernels: str = "sparse",
            sparsity: float | None = None, group: int = 4, balanced: bool = True,
            rearrange: bool = False) -> Artifact:
    """Compile a model for a target; what `spiree compile` does, with the same names
    (`--unbalanced` is `balanced=False`, `--width W` is `options={"width": W}`, `--report` is
    `Artifact.report()`, `-o out.vmfb` is `Artifact.save("out.vmfb")`).

    `model` is a registry name (`"mobilenet_v1"`), a `.pt2` path, `"package.module:factory"`,
    an `nn.Module` together with `example_inputs`, or a `torch.export.ExportedProgram`.
    `kernels`: "sparse" (default), "dense" or "iree" (see `BuildOptions`). With `sparsity`, the
    model is first pruned one-shot to that group-sparse pattern (G=`group`; see
    `spiree.pipeline.prune`).
    """
    build_options = BuildOptions(
        kernels=Kernels.parse(kernels),
        prune=None if sparsity is None else PruneOptions(sparsity, group, balanced, rearrange),
        emit_mlir=Path(emit_mlir) if emit_mlir else None)
    loaded = as_loaded_model(model, example_inputs, options=options, weights=weights, seed=seed)
    return build(loaded, target, options=build_options)


def as_loaded_model(model, example_inputs=None, *, options=None, weights=None, seed=0) -> LoadedModel:
    import torch

    if isinstance(model, torch.export.ExportedProgram):
        if example_inputs is None and model.example_inputs is not None:
            example_inputs = model.example_inputs[0]
        model = model.module()
    if isinstance(model, nn.Module):
        if example_inputs is None:
            raise ValueError("compiling an nn.Module needs example_inputs (a tuple of tensors)")
        import torch

        inputs = tuple(torch.as_tensor(x) for x in (example_inputs if isinstance(example_inputs, (tuple, list)) else (example_inputs,)))
        return LoadedModel(ModelSpec("module", type(model).__qualname__, {}, None, seed), eval_mode(model), inputs)
    return load_model(parse_model_source(str(model), options=options, weights=weights, seed=seed))


class CompiledModel:
    """A loaded artifact: call it with numpy arrays, get numpy arrays back.

    `device` is the IREE device name ("local-sync" or "local-task"); `threads` the number of
    threads it runs on (local-task's worker count; None: IREE's default, one per core)."""

    def __init__(self, vmfb: bytes, target: Target, entry: str = "main",
                 inputs: list[TensorSpec] | None = None, outputs: list[TensorSpec] | None = None,
                 device: str | None = None, threads: int | None = None):
        self.target = target
        self.entry = entry
        self.inputs = inputs
        self.outputs = outputs
        resolved = resolve_device(device, threads)
        self.device = resolved.name
        self.threads = 1 if resolved.name == "local-sync" else resolved.workers
        self.device_info = resolved  # runtime.Device: name and worker count, printable
        self._runner = make_runner(vmfb, entry, target, resolved)

    def __call__(self, *arrays: np.ndarray):
        if self.inputs is not None:
            arrays = tuple(check_inputs(arrays, self.inputs))
        results = self._runner(*arrays)
        return results[0] if len(results) == 1 else results


def load(artifact: "str | os.PathLike | bytes | Artifact", *, target: "str | Target | None" = None,
         device: str | None = None, threads: int | None = None) -> CompiledModel:
    """Load a compiled model for execution on this machine.

    `artifact` is a `.vmfb` path (its `.json` manifest beside it), an `Artifact`, or raw vmfb
    bytes (then `target` is required and inputs are not validated). `threads` is what the
    Android API's `Options().threads(n)` means: 1 = the calling thread (IREE's local-sync
    device), N > 1 = IREE's local-task device with N worker threads. `device` picks the IREE
    CPU device directly: "local-sync" (the default, one thread) or "local-task" (a worker per
    core unless `threads` says otherwise)."""
    if isinstance(artifact, (bytes, bytearray)):
        if target is None:
            raise ValueError("load(bytes) needs target=...: the raw vmfb does not say which target it is for")
        t = get_target(target)
        _check_vmfb_target(bytes(artifact), t)
        return CompiledModel(bytes(artifact), t, device=device, threads=threads)
    if not isinstance(artifact, Artifact):
        artifact = Artifact.load(artifact)
    built_for = artifact.target
    if target is not None and get_target(target).name != built_for.name:
        raise ArtifactError(
            f"this artifact was compiled for target {built_for.name!r}, not {get_target(target).name!r}: "
            f"run it with --target {built_for.name} or recompile with --target {get_target(target).name}"
        )
    return CompiledModel(artifact.vmfb, built_for, artifact.entry, artifact.inputs, artifact.outputs, device,
                         threads)


def _check_vmfb_target(vmfb: bytes, target: Target) -> None:
    if target.executable_format.encode() not in vmfb:
        raise ArtifactError(
            f"this vmfb contains no {target.executable_format} executable, so it was not compiled "
            f"for target {target.name!r}: recompile it with --target {target.name}"
        )
