"""Where models come from: the built-in registry, a `.pt2` file, or a `package.module:factory`.

A :class:`ModelSpec` says how to rebuild a model exactly (source, options, weights, seed). It is
stored in every artifact's manifest so that `spiree run --check` can rebuild the PyTorch
reference.
"""
from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from .init import calibrate_batchnorm_, randomize_
from .efficientnet_b0 import EfficientNetB0
from .mobilenet_v1 import MobileNetV1
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3Large
from .resnet import ResNet
from .tiny import TinyResidualCNN, TinySeparableCNN

__all__ = ["eval_mode", "ModelSpec", "LoadedModel", "REGISTRY", "load_model", "parse_model_source", "ModelError"]


class ModelError(ValueError):
    """A model could not be found, loaded or built; the message says what to do."""


@dataclass(frozen=True)
class RegistryEntry:
    build: Callable[..., nn.Module]
    description: str
    # Default options; `resolution`, `batch` and `in_channels` shape the example input.
    defaults: dict[str, Any]
    # Random weights: BatchNorm statistics measured on a random batch (init.calibrate_batchnorm_)
    # instead of drawn at random. The standard networks below need it (residual adds grow the
    # activations otherwise); MobileNet-v1 and the tiny nets keep their earlier weights.
    calibrate_batchnorm: bool = False


def _channels(width) -> int:
    """The tiny nets' `width` is a channel count (MobileNet-v1's is a multiplier)."""
    if float(width) != int(float(width)) or int(float(width)) < 1:
        raise ModelError(f"width {width} of a tiny net is its base channel count: pass a whole number >= 1")
    return int(float(width))


def _resnet_entry(depth: int) -> RegistryEntry:
    return RegistryEntry(
        lambda width, num_classes, **_: ResNet(depth, width=width, num_classes=num_classes),
        f"ResNet-{depth} (He et al. 2016), ImageNet head; width multiplies every channel count "
        f"(not in the paper: 1.0 is the published network)",
        {"width": 1.0, "num_classes": 1000, "resolution": 224, "batch": 1},
        calibrate_batchnorm=True,
    )


REGISTRY: dict[str, RegistryEntry] = {
    "mobilenet_v1": RegistryEntry(
        lambda width, num_classes, **_: MobileNetV1(width=width, num_classes=num_classes),
        "MobileNet-v1 (Howard et al. 2017), ImageNet head",
        {"width": 1.0, "num_classes": 1000, "resolution": 224, "batch": 1},
    ),
    "mobilenet_v2": RegistryEntry(
        lambda width, num_classes, **_: MobileNetV2(width=width, num_classes=num_classes),
        "MobileNetV2 (Sandler et al. 2018), ImageNet head",
        {"width": 1.0, "num_classes": 1000, "resolution": 224, "batch": 1},
        calibrate_batchnorm=True,
    ),
    "mobilenet_v3_large": RegistryEntry(
        lambda width, num_classes, **_: MobileNetV3Large(width=width, num_classes=num_classes),
        "MobileNetV3-Large (Howard et al. 2019), ImageNet head",
        {"width": 1.0, "num_classes": 1000, "resolution": 224, "batch": 1},
        calibrate_batchnorm=True,
    ),
    "efficientnet_b0": RegistryEntry(
        lambda width, num_classes, **_: EfficientNetB0(width=width, num_classes=num_classes),
        "EfficientNet-B0 (Tan & Le 2019), ImageNet head",
        {"width": 1.0, "num_classes": 1000, "resolution": 224, "batch": 1},
        calibrate_batchnorm=True,
    ),
    "resnet18": _resnet_entry(18),
    "resnet34": _resnet_entry(34),
    "resnet50": _resnet_entry(50),
    "tiny_cnn": RegistryEntry(
        lambda width, num_classes, **_: TinySeparableCNN(num_classes=num_classes, width=_channels(width)),
        "small separable CNN (MobileNet-v1 layer kinds) for tests",
        {"width": 16, "num_classes": 10, "resolution": 32, "batch": 1},
    ),
    "tiny_resnet": RegistryEntry(
        lambda width, num_classes, **_: TinyResidualCNN(num_classes=num_classes, width=_channels(width)),
        "small separable CNN with residual adds, for tests",
        {"width": 16, "num_classes": 10, "resolution": 32, "batch": 1},
    ),
}


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild a model. `kind` is "registry", "pt2" or "factory"."""

    kind: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ModelSpec":
        return cls(**d)

    @property
    def display_name(self) -> str:
        return os.path.basename(self.source) if self.kind == "pt2" else self.source


@dataclass
class LoadedModel:
    spec: ModelSpec
    module: nn.Module
    example_inputs: tuple[torch.Tensor, ...]


def parse_model_source(source: str, *, options: dict[str, Any] | None = None,
                       weights: str | None = None, seed: int = 0) -> ModelSpec:
    """Turn what a user typed (registry name, `x.pt2`, `pkg.mod:factory`) into a ModelSpec."""
    options = dict(options or {})
    if source.endswith(".pt2") or os.sep in source and os.path.exists(source):
        return ModelSpec("pt2", os.path.abspath(source), options, _abs(weights), seed)
    if ":" in source:
        return ModelSpec("factory", source, options, _abs(weights), seed)
    if source in REGISTRY:
        entry = REGISTRY[source]
        unknown = sorted(set(options) - set(entry.defaults))
        if unknown:
            raise ModelError(
                f"model {source!r} has no option {', '.join(map(repr, unknown))}: "
                f"valid options are {', '.join(entry.defaults)}"
            )
        return ModelSpec("registry", source, {**entry.defaults, **options}, _abs(weights), seed)
    raise ModelError(
        f"unknown model {source!r}: use one of {', '.join(REGISTRY)}, a .pt2 file "
        f"(torch.export.save), or package.module:factory"
    )


def _abs(path: str | None) -> str | None:
    return os.path.abspath(path) if path else None


def load_model(spec: ModelSpec) -> LoadedModel:
    """Build (or load) the model in eval mode, with its example inputs."""
    torch.manual_seed(spec.seed)
    if spec.kind == "registry":
        module, inputs = _from_registry(spec)
    elif spec.kind == "pt2":
        module, inputs = _from_pt2(spec.source)
    elif spec.kind == "factory":
        module, inputs = _from_factory(spec.source, spec.options)
    else:
        raise ModelError(f"unknown model spec kind {spec.kind!r}")
    if spec.weights:
        _load_weights(module, spec.weights)
    return LoadedModel(spec, eval_mode(module), inputs)


def eval_mode(module: nn.Module) -> nn.Module:
    """`module.eval()`; a module unlifted from a `.pt2` has its mode fixed at export already."""
    try:
        return module.eval()
    except NotImplementedError:
        return module


def _from_registry(spec: ModelSpec) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    o = spec.options
    entry = REGISTRY[spec.source]
    module = entry.build(**o)
    in_channels = o.get("in_channels", 3)
    if not spec.weights:
        randomize_(module, spec.seed)
        if entry.calibrate_batchnorm:
            calibrate_batchnorm_(module, (in_channels, int(o["resolution"]), int(o["resolution"])), spec.seed)
    gen = torch.Generator().manual_seed(spec.seed + 1)
    x = torch.randn(int(o["batch"]), in_channels, int(o["resolution"]), int(o["resolution"]),
                    generator=gen)
    return module, (x,)


def _from_pt2(path: str) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    if not os.path.exists(path):
        raise ModelError(f"model file {path} does not exist: pass a .pt2 written by torch.export.save")
    try:
        ep = torch.export.load(path)
    except Exception as e:  # torch raises several types for damaged archives
        raise ModelError(
            f"cannot read {path} as a torch.export program ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'corrupted archive'}): re-create it with torch.export.save"
        ) from None
    args, kwargs = ep.example_inputs if ep.example_inputs is not None else ((), {})
    if kwargs:
        raise ModelError(f"{path}: keyword example inputs are not supported; export with positional inputs")
    if not args:
        args = tuple(
            torch.randn(*node.meta["val"].shape)
            for node in ep.graph.nodes
            if node.op == "placeholder" and node.name in ep.graph_signature.user_inputs
        )
    return ep.module(), tuple(args)


def _from_factory(ref: str, options: dict[str, Any]) -> tuple[nn.Module, tuple[torch.Tensor, ...]]:
    mod_name, _, fn_name = ref.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ModelError(f"cannot import {mod_name!r} for factory {ref!r}: {e}") from None
    fn = getattr(mod, fn_name, None)
    if not callable(fn):
        raise ModelError(f"{mod_name!r} has no callable {fn_name!r} (factory {ref!r})")
    try:
        result = fn(**options) if options else fn()
    except Exception as e:
        raise ModelError(f"factory {ref} raised {type(e).__name__}: {e}") from None
    if (not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[0], nn.Module)):
        raise ModelError(f"factory {ref} must return (model, example_inputs), got {type(result).__name__}")
    model, inputs = result
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
    return model, inputs


def _load_weights(module: nn.Module, path: str) -> None:
    if not os.path.exists(path):
        raise ModelError(f"weights file {path} does not exist: pass a state_dict saved with torch.save")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelError(f"cannot read weights {path} ({type(e).__name__}): save a state_dict with torch.save") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        raise ModelError(f"weights {path} do not fit the model: {str(e).splitlines()[0]}") from None
