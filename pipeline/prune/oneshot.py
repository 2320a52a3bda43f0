"""One-shot pruning, as the pipeline's `prune` stage and `spiree prune` use it."""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn

from ...mlir_passes import pattern
from .exported import ProgramView, find_layers, is_exported, resolve_config, stand_in_model
from .exported_rearrange import rearrange_program
from .rearrange import SpaceReport, rearrange_channels
from .sparsifier import DEFAULT_MIN_POSITIONS, GroupSparsifier


@dataclass(frozen=True)
class PruneOptions:
    """What to prune and how; recorded in the artifact manifest under "sparsity" (whole: `run
    --check` prunes the reference with it again)."""

    # Fraction of the weights each pruned layer loses, in [0, 1) (`--sparsity`).
    sparsity: float
    # G: consecutive output channels sharing one set of kept positions, 1/2/4/8 (`--group`).
    group: int = 4
    # Every group keeps the same number K of positions (False: `--unbalanced`).
    balanced: bool = True
    # Permute channels first so similar channels share a group; same function (`--rearrange`).
    rearrange: bool = False
    # "layer": every layer to `sparsity`; "global": one ranking across layers (`--ranking`).
    ranking: str = "layer"
    # KxK convolutions with fewer positions per output channel stay dense (default: the RGB
    # stem's 27); 1x1 and Linear layers are pruned whatever their size.
    min_positions: int = DEFAULT_MIN_POSITIONS

    def __post_init__(self):
        pattern.check_sparsity(self.sparsity)
        pattern.check_group(self.group)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "PruneOptions":
        """From a manifest's "sparsity" entry (extra keys, such as the summary, are ignored)."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass
class PruneResult:
    model: nn.Module  # or the ExportedProgram that was pruned
    layers: list[dict[str, Any]]  # GroupSparsifier.report() rows
    spaces: list[SpaceReport] = field(default_factory=list)  # rearrangement, when asked

    @property
    def energy_kept(self) -> float:
        """Fraction of the pruned layers' squared weight magnitude that survives."""
        return energy_kept(self.layers)

    @property
    def zeros(self) -> float:
        n = sum(_numel(l["shape"]) for l in self.layers)
        return sum(l["zeros"] * _numel(l["shape"]) for l in self.layers) / n if n else 0.0


def prune(model: nn.Module, options: PruneOptions, *, config=None, inplace: bool = False) -> PruneResult:
    """Rearrange channels (if asked), prune one-shot, squash: a plain model with the pattern.

    `model` may also be a torch.export program (an ExportedProgram or its `.module()`): its
    layers are found through the graph and the result is the same kind of program (exported.py)."""
    if is_exported(model):
        return prune_exported(model, options, config=config, inplace=inplace)
    if not inplace:
        model = copy.deepcopy(model)
    sp = GroupSparsifier(sparsity=options.sparsity, group=options.group, balanced=options.balanced,
                         ranking=options.ranking, min_positions=options.min_positions)
    spaces: list[SpaceReport] = []
    if options.rearrange:
        layers = sp.select_layers(model, config)
        model, spaces = rearrange_channels(
            model, group={l.name: l.group for l in layers}, sparsity=options.sparsity,
            layers=[l.name for l in layers], balanced=options.balanced, inplace=True)
    model = sp.prepare(model, config, inplace=True)
    sp.step()
    rows = sp.report()
    return PruneResult(sp.squash_mask(), rows, spaces)


def prune_exported(program, options, *, config=None, inplace: bool = False):
    """`prune` for an ExportedProgram (or its `.module()`): the same program with pruned weights
    (a copy unless `inplace`), the sparsifier's report rows, and the rearrangement reports."""
    if not inplace:
        program = copy.deepcopy(program)
    view = ProgramView(program)
    layers = find_layers(view)
    model = stand_in_model(layers)
    config = resolve_config(config, layers)
    sp = GroupSparsifier(sparsity=options.sparsity, group=options.group, balanced=options.balanced,
                         ranking=options.ranking, min_positions=options.min_positions)
    spaces = []
    if options.rearrange:
        chosen = sp.select_layers(model, config)
        spaces = rearrange_program(view, layers, group={l.name: l.group for l in chosen},
                                   sparsity=options.sparsity, balanced=options.balanced)
    sp.prepare(model, config, inplace=True)
    sp.step()
    rows = sp.report()
    model = sp.squash_mask()
    by_name = {l.name: l for l in layers}
    with torch.no_grad():
        for row in rows:
            by_name[row["name"]].weight.copy_(model.get_submodule(row["name"]).weight)
    return PruneResult(program, rows, spaces)


def prune_model(model: nn.Module, *, sparsity: float, group: int = 4, balanced: bool = True,
                rearrange: bool = False, config=None, ranking: str = "layer",
                inplace: bool = False) -> nn.Module:
    """A pruned copy of `model` (the argument is untouched unless `inplace=True`)."""
    return prune(model, PruneOptions(sparsity, group, balanced, rearrange, ranking),
                 config=config, inplace=inplace).model


def energy_kept(rows: list[dict[str, Any]]) -> float:
    """Energy-weighted mean of the rows' "energy_kept" (needs "energy_total")."""
    kept = sum(l["energy_kept"] * l.get("energy_total", 1.0) for l in rows)
    total = sum(l.get("energy_total", 1.0) for l in rows)
    return kept / total if total else 1.0


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
