"""The builds `spiree bench` compares (see `bench.py`): compiled from a model, or an artifact plus
the `iree` and `dense` builds compiled from the model its manifest names, pruned the same way;
and the inputs they are timed on.
"""
from __future__ import annotations

import logging

import numpy as np

from ..targets import Target
from .artifact import Artifact
from .bench_types import BenchOptions, Build
from .errors import RunError

log = logging.getLogger("spiree.bench")


def _fmt_sparsity(s: float) -> str:
    return f"{s:g}"


def prepare_builds(source: "str | Artifact", target: Target, options: BenchOptions, *,
                   model_options: dict | None = None, weights: str | None = None, seed: int = 0):
    """Compile (or load) the builds to compare: (label of the model, builds, the PyTorch model
    (LoadedModel, or None when an artifact's manifest cannot rebuild it), inputs as numpy)."""
    from .api import as_loaded_model
    from .build import BuildOptions, build
    from .prune import PruneOptions

    artifact = source if isinstance(source, Artifact) else (
        Artifact.load(source) if str(source).endswith(".vmfb") else None)
    if artifact is not None:
        loaded, label = _model_of_artifact(artifact)
        if artifact.target.name != target.name:
            raise RunError(f"the artifact was compiled for target {artifact.target.name!r}, not {target.name!r}: "
                           f"bench it with --target {artifact.target.name}")
        m = artifact.manifest
        sp = (m.get("sparsity") or {}).get("sparsity", 0.0) or 0.0
        plan = [("artifact", m.get("kernels", "sparse"), sp, artifact)]
        if loaded is not None:
            plan = [("iree", "iree", sp, None), ("dense", "dense", sp, None)] + plan
    else:
        loaded = as_loaded_model(str(source), options=model_options, weights=weights, seed=seed)
        label = loaded.spec.display_name
        plan = [("iree", "iree", 0.0, None), ("dense", "dense", 0.0, None)]
        plan += [(f"sparse {_fmt_sparsity(s)}", "sparse", s, None) for s in options.sparsities]

    builds: list[Build] = []
    for i, (name, kernels, s, art) in enumerate(plan):
        if art is None:
            log.info("bench: [%d/%d] compiling %s for %s ...", i + 1, len(plan), name, target.name)
            prune = PruneOptions(s, options.group) if kernels == "sparse" and s > 0 else None
            art = _quiet(build, loaded, target, options=BuildOptions(kernels=kernels, prune=prune))
        else:
            log.info("bench: [%d/%d] %s: %s build of %s", i + 1, len(plan), name, kernels, label)
        same = next((b.name for b in builds if b.artifact.vmfb == art.vmfb), None)
        builds.append(Build(name, kernels, s, art, same))
    inputs = _inputs(builds[-1].artifact, loaded)
    return label, builds, loaded, inputs


def _model_of_artifact(artifact: Artifact):
    """The PyTorch model an artifact was compiled from (pruned as it was), or (None, label) when
    its manifest cannot rebuild it (an in-memory nn.Module)."""
    from ..models.registry import LoadedModel, ModelSpec
    from .reference import reference_model

    spec = ModelSpec.from_json(artifact.manifest["model"])
    if spec.kind == "module":
        return None, spec.display_name
    import torch

    module = reference_model(artifact.manifest)
    gen = torch.Generator().manual_seed(spec.seed + 1)
    inputs = tuple(torch.randn(*s.shape, generator=gen).to(getattr(torch, s.dtype)) for s in artifact.inputs)
    return LoadedModel(spec, module, inputs), spec.display_name


def _inputs(artifact: Artifact, loaded) -> list[np.ndarray]:
    if loaded is not None:
        return [np.ascontiguousarray(x.numpy()) for x in loaded.example_inputs]
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s.shape).astype(s.dtype) for s in artifact.inputs]


def _quiet(fn, *args, **kwargs):
    """Run a build with the pipeline's per-stage progress lines held back (bench prints its own),
    unless debug logging is on."""
    pipeline_log = logging.getLogger("spiree")
    if pipeline_log.getEffectiveLevel() <= logging.DEBUG:
        return fn(*args, **kwargs)
    level = pipeline_log.level
    pipeline_log.setLevel(logging.WARNING)
    try:
        return fn(*args, **kwargs)
    finally:
        pipeline_log.setLevel(level)
