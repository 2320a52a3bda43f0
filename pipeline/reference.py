"""The PyTorch reference for an artifact, rebuilt from its manifest's model spec (and pruned
again with the manifest's "sparsity" options, when it was compiled with them: pruning is
deterministic, so this is the same pruned model)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..models.registry import ModelSpec, load_model
from .errors import RunError


def reference_model(manifest: dict) -> torch.nn.Module:
    spec = ModelSpec.from_json(manifest["model"])
    if spec.kind == "module":
        raise RunError("this artifact was compiled from an in-memory nn.Module, so --check cannot rebuild "
                       "it: compile from a registry name, .pt2 file or factory to use --check")
    module = load_model(spec).module
    if manifest.get("sparsity"):
        from .prune import PruneOptions, prune

        module = prune(module, PruneOptions.from_json(manifest["sparsity"]), inplace=True).model
    return module


def reference_outputs(manifest: dict, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    module = reference_model(manifest)
    with torch.no_grad():
        out = module(*(torch.from_numpy(np.asarray(x)) for x in inputs))
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [o.numpy() for o in out]
