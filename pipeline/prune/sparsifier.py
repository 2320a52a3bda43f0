"""`GroupSparsifier`: group-sparse magnitude pruning with the torch.ao.pruning lifecycle.

    sparsifier = GroupSparsifier(sparsity=0.7, group=4)          # balanced, one-shot, per layer
    model = sparsifier.prepare(model, config=None)                # a masked *copy* of the model
    for ...: train(model); sparsifier.step()                      # masks follow the schedule
    model = sparsifier.squash_mask()                              # plain nn.Module, zeros baked in

Masks are `torch.nn.utils.parametrize` parametrizations of each pruned layer's `weight` (the model
stays a plain `nn.Module`; the masked weight is what forward() and the optimizer see). After
`squash_mask()` every pruned weight satisfies `mlir_passes.pattern.holds(w2d, G)`; balanced layers
keep exactly K = P - round(sparsity * P) positions in every group.

Which layers: `config=None` prunes every 1x1 Conv2d (groups=1) and every Linear layer, and every
KxK Conv2d with groups=1 that has at least `min_positions` (default 32) positions, so the 3x3
stem of an RGB network (3*3*3 = 27 positions, ~2% of MobileNet-v1's multiply-adds, and the layer
most sensitive to pruning) stays dense unless named, while narrow 1x1 layers (MobileNetV2's and
EfficientNet-B0's 16- and 24-channel expansions: 14% and 8% of their multiply-adds) are pruned
like the others. Depthwise convolutions are never pruned. `config` may instead list layers:
module names, or dicts with "module_fqn" (or "tensor_fqn", e.g. "features.1.1.0.weight") and
optional per-layer "sparsity", "group", "balanced".

Ranking: "layer" (default) prunes every layer to its own target; "global" ranks the group
magnitudes of all layers (without a per-layer "sparsity") together, so the overall fraction of
weights removed is the target, while every layer keeps at least `min_density` (default 5%) of its
positions, and at least one per group, so none collapses.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import nn
from torch.nn.utils import parametrize

from ...mlir_passes import kinds, pattern
from . import masks
from .schedule import OneShot

log = logging.getLogger("spiree")

RANKINGS = ("layer", "global")
DEFAULT_MIN_POSITIONS = 32
CONFIG_KEYS = ("module_fqn", "tensor_fqn", "sparsity", "group", "balanced")


class GroupMask(nn.Module):
    """The parametrization: weight -> weight * mask (mask is a buffer, saved with the model)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.mask


def is_depthwise(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv2d) and kinds.conv_family(m.groups, m.in_channels) == kinds.DWCONV


def is_prunable(m: nn.Module) -> bool:
    """Conv2d with groups=1 (1x1 and KxK) and Linear: the layer kinds the pattern covers."""
    return (isinstance(m, nn.Conv2d) and m.groups == 1) or isinstance(m, nn.Linear)


def positions(m: nn.Module) -> int:
    w = m.weight
    return int(w[0].numel())


def layer_kind(m: nn.Module) -> str:
    """The report's label of a layer (`kinds.op_name`, without the stride, which stand-in
    modules of exported programs do not carry): linear, conv1x1, conv3x3, dwconv3x3."""
    if isinstance(m, nn.Linear):
        return kinds.op_name(kinds.LINEAR)
    family = kinds.conv_family(m.groups, m.in_channels)
    return kinds.op_name(family, m.kernel_size)


def is_pointwise(m: nn.Module) -> bool:
    """A Linear layer or a convolution with a 1x1 window (from the weight: stand-in modules of
    exported programs carry no kernel_size)."""
    return m.weight.dim() == 2 or tuple(m.weight.shape[2:]) == (1, 1)


def default_layers(model: nn.Module, min_positions: int = DEFAULT_MIN_POSITIONS) -> list[str]:
    """Names of the layers `config=None` prunes (see the module docstring)."""
    return [n for n, m in model.named_modules()
            if is_prunable(m) and (is_pointwise(m) or positions(m) >= min_positions)]


@dataclass
class _Layer:
    name: str
    module: nn.Module
    group: int
    balanced: bool
    target: float | None  # None: the sparsifier's target (or its global share)
    sparsity: float = 0.0  # current


class GroupSparsifier:
    def __init__(self, *, sparsity: float = 0.5, group: int = 4, balanced: bool = True,
                 ranking: str = "layer", schedule: Callable[[int, float], float] | None = None,
                 min_positions: int = DEFAULT_MIN_POSITIONS, min_density: float = 0.05):
        self.sparsity = pattern.check_sparsity(sparsity)
        self.group = pattern.check_group(group)
        self.balanced = bool(balanced)
        if ranking not in RANKINGS:
            raise ValueError(f"ranking {ranking!r} is not supported: choose one of {', '.join(RANKINGS)}")
        self.ranking = ranking
        self.schedule = schedule if schedule is not None else OneShot()
        self.min_positions = int(min_positions)
        if not 0.0 < min_density <= 1.0:
            raise ValueError(f"min_density {min_density} is outside (0, 1]: it is the fraction of positions every layer keeps")
        self.min_density = float(min_density)
        self.model: nn.Module | None = None
        self.layers: list[_Layer] = []
        self.steps = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def prepare(self, model: nn.Module, config: Iterable[Any] | None = None, *, inplace: bool = False) -> nn.Module:
        """Attach all-ones masks to the configured layers and return the model to train.

        By default this is a deep copy (the caller's model is left untouched): train the returned
        model. `inplace=True` masks `model` itself."""
        if not inplace:
            model = copy.deepcopy(model)
        layers = self.select_layers(model, config)
        for l in layers:
            parametrize.register_parametrization(l.module, "weight", self.make_mask(l))
        self.model, self.layers, self.steps = model, layers, 0
        log.debug("prune: prepared %d layer(s)", len(layers))
        return model

    def make_mask(self, layer: _Layer) -> nn.Module:
        """The parametrization `prepare` attaches to a layer's weight: all ones at first (a
        subclass may compute its mask differently, e.g. `pdp.PDPSparsifier`'s soft masks)."""
        return GroupMask(torch.ones_like(layer.module.weight))

    def step(self) -> None:
        """Advance the schedule by one and recompute every mask from the masked weights."""
        self._require_prepared("step")
        self.steps += 1
        with torch.no_grad():
            targets = self._targets(self.steps)
            for l, s in zip(self.layers, targets):
                self.update_mask(l, s)

    def update_mask(self, layer: _Layer, sparsity: float) -> None:
        """The mask of one layer at `sparsity`, from the group magnitudes of its masked weight
        (pruned positions score 0, so a growing sparsity never revives them)."""
        p = layer.module.parametrizations.weight
        mask = p[0].mask
        w = p.original * mask
        mask.copy_(masks.layer_mask(w, layer.group, sparsity, balanced=layer.balanced))
        layer.sparsity = sparsity

    def squash_mask(self) -> nn.Module:
        """Bake the masks into the weights, remove the parametrizations, return the plain model."""
        self._require_prepared("squash_mask")
        for l in self.layers:
            parametrize.remove_parametrizations(l.module, "weight", leave_parametrized=True)
        model, self.model = self.model, None
        return model

    # -- reporting -----------------------------------------------------------------------------

    def report(self) -> list[dict[str, Any]]:
        """Per pruned layer: name, kind, shape, G, balanced, sparsity, fraction of zeros,
        fraction of the squared weight magnitude kept."""
        self._require_prepared("report")
        rows = []
        for l in self.layers:
            p = l.module.parametrizations.weight
            kept, total = masks.energy_kept(p.original, p[0].mask)
            w = p.original * p[0].mask
            rows.append({
                "name": l.name, "kind": layer_kind(l.module), "shape": list(w.shape), "group": l.group,
                "balanced": l.balanced, "sparsity": l.sparsity, "zeros": float((w == 0).sum()) / w.numel(),
                "energy_kept": kept / total if total else 1.0, "energy_total": total,
            })
        return rows

    # -- internals -----------------------------------------------------------------------------

    def _require_prepared(self, what: str) -> None:
        if self.model is None:
            raise RuntimeError(f"call prepare(model) before {what}()")

    def select_layers(self, model: nn.Module, config) -> list[_Layer]:
        modules = dict(model.named_modules())
        if config is None:
            names = default_layers(model, self.min_positions)
            if not names:
                raise ValueError(_no_prunable_layers(model, self.min_positions))
            return [_Layer(n, modules[n], self.group, self.balanced, None) for n in names]
        layers: list[_Layer] = []
        seen = set()
        for entry in config:
            entry = {"module_fqn": entry} if isinstance(entry, str) else dict(entry)
            unknown = sorted(set(entry) - set(CONFIG_KEYS))
            if unknown:
                raise ValueError(f"unknown config key(s) {', '.join(map(repr, unknown))}: "
                                 f"a layer entry takes {', '.join(CONFIG_KEYS)}")
            name = entry.get("module_fqn")
            if name is None and "tensor_fqn" in entry:
                fqn = entry["tensor_fqn"]
                if not fqn.endswith(".weight"):
                    raise ValueError(f"tensor_fqn {fqn!r} must name a layer's weight, e.g. 'features.1.1.0.weight'")
                name = fqn.removesuffix(".weight")
            if name is None:
                raise ValueError(f"config entry {entry} names no layer: give 'module_fqn' or 'tensor_fqn'")
            m = modules.get(name)
            if m is None or not name:
                examples = default_layers(model, 0)
                raise ValueError(
                    f"no layer {name!r} in the model: name one of its Conv2d (groups=1) or Linear modules"
                    + (f", e.g. {', '.join(map(repr, examples[:3]))} ({len(examples)} in all)" if examples else ""))
            if is_depthwise(m):
                raise ValueError(f"layer {name!r} is a depthwise convolution (groups={m.groups}): "
                                 f"depthwise convolutions stay dense, prune the 1x1 convolutions around it")
            if not is_prunable(m):
                raise ValueError(f"layer {name!r} is a {type(m).__name__}"
                                 + (f" with groups={m.groups}" if isinstance(m, nn.Conv2d) else "")
                                 + ": only Conv2d with groups=1 and Linear layers can be pruned")
            if name in seen:
                raise ValueError(f"layer {name!r} is configured twice")
            seen.add(name)
            target = pattern.check_sparsity(entry["sparsity"]) if "sparsity" in entry else None
            layers.append(_Layer(name, m, pattern.check_group(entry.get("group", self.group)),
                                 bool(entry.get("balanced", self.balanced)), target))
        if not layers:
            raise ValueError(_no_prunable_layers(model, self.min_positions))
        return layers

    def _targets(self, step: int) -> list[float]:
        targets = [self.schedule(step, l.target if l.target is not None else self.sparsity) for l in self.layers]
        if self.ranking == "global":
            shared = [i for i, l in enumerate(self.layers) if l.target is None]
            if shared:
                ws = [(masks.positions_view(self.layers[i].module.weight), self.layers[i].group) for i in shared]
                for i, s in zip(shared, global_sparsities(ws, self.schedule(step, self.sparsity), self.min_density)):
                    targets[i] = s
        return targets


def global_sparsities(layers: list[tuple[torch.Tensor, int]], sparsity: float, min_density: float) -> list[float]:
    """Per-layer sparsities from one ranking of all group magnitudes of `layers` ((W[C_out, P], G)
    pairs): the top-ranked pairs fill the budget of (1 - sparsity) * all weights; a layer whose
    share falls below its floor gets exactly that, and the rest is re-ranked without it. The
    floor is `min_density`, or one position per group where that is more (a 1x1 layer with 8
    input channels keeps at least 1/8: a group never keeps zero positions), so the overall
    fraction removed stays the target."""
    if sparsity <= 0.0:
        return [0.0] * len(layers)
    scores = [masks.group_scores(w, g) for w, g in layers]
    sizes = [masks.group_sizes(w.shape[0], g)[:, None].expand_as(s) for (w, g), s in zip(layers, scores)]
    numel = [w.numel() for w, _ in layers]
    floor = [max(min_density, 1.0 / w.shape[1]) for w, _ in layers]
    budget = (1.0 - sparsity) * sum(numel)
    fixed: dict[int, float] = {}
    while True:
        free = [i for i in range(len(layers)) if i not in fixed]
        left = budget - sum((1.0 - fixed[i]) * numel[i] for i in fixed)
        if not free:
            break
        allsc = torch.cat([scores[i].flatten() for i in free])
        allsz = torch.cat([sizes[i].flatten() for i in free])
        owner = torch.cat([torch.full((scores[i].numel(),), i) for i in free])
        order = torch.sort(allsc, descending=True, stable=True).indices
        keep = torch.cumsum(allsz[order], 0) <= left
        kept = torch.zeros(len(layers), dtype=torch.float64).index_add_(0, owner[order][keep], allsz[order][keep])
        share = {i: 1.0 - float(kept[i]) / numel[i] for i in free}
        collapsed = [i for i in free if share[i] > 1.0 - floor[i]]
        if not collapsed:
            fixed.update(share)
            break
        for i in collapsed:
            fixed[i] = 1.0 - floor[i]
    return [min(max(fixed[i], 0.0), 1.0 - floor[i]) for i in range(len(layers))]


def _no_prunable_layers(model: nn.Module, min_positions: int) -> str:
    msg = (f"the model has no prunable layers: spiree prunes 1x1 Conv2d and Linear layers, and KxK Conv2d "
           f"(groups=1) with at least {min_positions} positions (input channels x kernel area); depthwise "
           f"convolutions stay dense")
    if isinstance(model, torch.fx.GraphModule):
        msg += ("; a torch.export program (.pt2) keeps no nn.Conv2d/nn.Linear modules: prune it with "
                "spiree.pipeline.prune.prune (or `spiree prune`), which finds its layers through the graph")
    return msg
