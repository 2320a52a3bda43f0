"""`PDPSparsifier`: differentiable group masks during training, sharpened to the hard pattern.

PDP ("Parameter-free Differentiable Pruning", Cho et al., NeurIPS 2023) multiplies every weight
by a soft mask computed from the weights themselves, with no extra parameters: for a weight w and
a threshold t between the magnitudes to prune and to keep at the target sparsity,
m(w) = sigmoid((w^2 - t) / tau). Gradients flow through the mask, so a weight near the boundary
is pushed to one side, and a weight masked early can still come back.

spiree's pattern prunes (group, position) pairs, so here the quantity compared with the
threshold is the *group score*: the mean square of a group's G weights at a position (the square
of `masks.group_scores`). For one layer, in the positions view W[C_out, P]:

    s[g, p] = mean_{r in group g} W[r, p]^2                         [NG, P], differentiable
    t[g]    = (K-th + (K+1)-th largest of s[g, :]) / 2                balanced: one per group,
              K = masks.kept_positions(P, sparsity)                    (unbalanced: one per layer)
    m[g, p] = sigmoid((s[g, p] - t[g]) / (tau * t[g]))               tau relative to t: scale-free
    weight  = W * m expanded to the G rows of each group              (rows of a group share m)

The sparsity follows the sparsifier's schedule (`Cubic`, by default over the first half of the
temperature steps) and tau follows `Sharpen` (geometric from `start` to `end`). At the step after
the last one of `Sharpen` the masks become hard: `masks.layer_mask` of the weights at that
moment; later steps act like `GroupSparsifier.step()` (pruned positions stay pruned; with the
default schedule the target is reached by then, so the masks stay fixed while the survivors
fine-tune). `squash_mask()` hardens any layer that is still soft. The model that comes out has
exactly the pattern `GroupSparsifier` produces: `pattern.holds(w2d, G)`, and balanced layers
keep exactly K positions in every group.

Differences from the paper: the temperature is relative to the threshold (the paper's tau is
absolute, tuned to its weight scale) and annealed to a hard mask, the threshold is per group
(like the paper's N:M variant, per block), and the sparsity ramps up with a schedule.

    sp = PDPSparsifier(sparsity=0.9, group=4, steps=10)       # step() once per epoch
    model = sp.prepare(model)
    for epoch in range(15):
        train_one_epoch(model)        # forward() applies the soft masks
        sp.step()                     # sparsity and temperature advance; hard after 10 steps
    model = sp.squash_mask()
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from ...mlir_passes import pattern
from . import masks
from .schedule import Cubic
from .sparsifier import GroupSparsifier, _Layer


@dataclass(frozen=True)
class Sharpen:
    """The temperature after `step()` number t: start * (end/start)^((t-1)/(steps-1)) for
    t = 1..steps (geometric), 0.0 (a hard mask) for t > steps; `start` before the first step."""

    steps: int
    start: float = 0.2
    end: float = 0.005

    def __post_init__(self):
        if int(self.steps) < 1:
            raise ValueError(f"a sharpening schedule needs steps >= 1, got {self.steps}")
        if not 0.0 < self.end <= self.start:
            raise ValueError(f"temperatures must satisfy 0 < end <= start, got start={self.start}, end={self.end}")

    def __call__(self, step: int) -> float:
        if step <= 0:
            return self.start
        if step > self.steps:
            return 0.0
        if self.steps == 1:
            return self.end
        return self.start * (self.end / self.start) ** ((step - 1) / (self.steps - 1))


def group_mean_squares(w2d: torch.Tensor, group: int) -> torch.Tensor:
    """[NG, P]: the mean over each group's rows of W^2 (the smaller last group by its own rows);
    differentiable, in the weight's dtype."""
    c_out, p = w2d.shape
    ng = pattern.num_groups(c_out, group)
    sq = w2d * w2d
    pad = ng * group - c_out
    if pad:
        sq = torch.cat([sq, sq.new_zeros(pad, p)])
    rows = masks.group_sizes(c_out, group).to(sq.dtype)
    return sq.view(ng, group, p).sum(dim=1) / rows[:, None]


def thresholds(scores: torch.Tensor, sparsity: float, *, balanced: bool) -> torch.Tensor | None:
    """[NG, 1] (balanced: per group) or [1, 1] (per layer): halfway between the smallest score kept
    and the largest score pruned at `sparsity`; None when nothing is pruned. Not differentiated."""
    s = scores.detach()
    if not balanced:
        s = s.reshape(1, -1)
    n = s.shape[1]
    k = masks.kept_positions(n, sparsity) if balanced else max(1, n - int(sparsity * n + 0.5))
    if k >= n:
        return None
    top = torch.topk(s, k + 1, dim=1).values  # descending
    return (top[:, k - 1:k] + top[:, k:k + 1]) / 2


def soft_group_mask(w2d: torch.Tensor, group: int, sparsity: float, tau: float, *,
                    balanced: bool = True) -> torch.Tensor:
    """[C_out, P] soft mask in (0, 1), equal within each group; all ones when nothing is pruned."""
    scores = group_mean_squares(w2d, group)
    t = thresholds(scores, sparsity, balanced=balanced)
    if t is None:
        return torch.ones_like(w2d)
    # a threshold of 0 (many exact zeros) still needs a positive scale
    scale = tau * torch.clamp(t, min=torch.finfo(scores.dtype).tiny + 1e-12 * float(scores.detach().mean()))
    m = torch.sigmoid((scores - t) / scale)
    return masks.expand(m, w2d.shape[0], group)


class SoftGroupMask(nn.Module):
    """The parametrization: weight -> weight * mask. While soft (`hard` False, `tau` > 0,
    `sparsity` > 0) the mask is computed from the weight, with gradients; once hard it is the
    `mask` buffer. While soft, `mask` holds the hard mask of the last `step()` (what `report()`
    reads)."""

    def __init__(self, mask: torch.Tensor, group: int, balanced: bool):
        super().__init__()
        self.register_buffer("mask", mask)
        self.group = group
        self.balanced = balanced
        self.sparsity = 0.0
        self.tau = 0.0
        self.hard = False

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.hard or self.tau <= 0.0 or self.sparsity <= 0.0:
            return weight * self.mask
        w2d = masks.positions_view(weight)
        m = soft_group_mask(w2d, self.group, self.sparsity, self.tau, balanced=self.balanced)
        return weight * m.reshape(weight.shape)


class PDPSparsifier(GroupSparsifier):
    """`GroupSparsifier` with PDP's soft masks during training (see the module docstring).

    `steps`: `step()` calls with soft masks (call it once per epoch, or every few hundred
    iterations); the step after them hardens the masks, and later steps behave like
    `GroupSparsifier.step()` (magnitude, pruned positions stay pruned). `schedule`: the sparsity
    per step, default `Cubic(max(1, steps // 2))`. `tau`: (start, end) of the temperature,
    relative to each threshold. Ranking "global" shares the target across layers as in
    `GroupSparsifier`."""

    def __init__(self, *, sparsity: float = 0.5, group: int = 4, balanced: bool = True, steps: int = 10,
                 tau: tuple[float, float] = (0.2, 0.005), ranking: str = "layer",
                 schedule: Callable[[int, float], float] | None = None, **kwargs):
        self.sharpen = Sharpen(int(steps), *tau)
        super().__init__(sparsity=sparsity, group=group, balanced=balanced, ranking=ranking,
                         schedule=schedule if schedule is not None else Cubic(max(1, int(steps) // 2)), **kwargs)

    def make_mask(self, layer: _Layer) -> nn.Module:
        return SoftGroupMask(torch.ones_like(layer.module.weight), layer.group, layer.balanced)

    @property
    def hard(self) -> bool:
        """True once `step()` has been called more than `steps` times: the masks are fixed."""
        return self.sharpen(self.steps) == 0.0

    def update_mask(self, layer: _Layer, sparsity: float) -> None:
        """Soft phase: set the layer's target and temperature and keep `mask` = the hard mask of
        the weights now (a position masked at an earlier step can come back). The first hard
        step fixes that mask; later ones prune like `GroupSparsifier` (never reviving)."""
        pm = layer.module.parametrizations.weight[0]
        if pm.hard:
            super().update_mask(layer, sparsity)
            pm.sparsity = sparsity
            return
        tau = self.sharpen(self.steps)
        pm.mask.copy_(masks.layer_mask(layer.module.parametrizations.weight.original, layer.group, sparsity,
                                       balanced=layer.balanced))
        pm.sparsity, pm.tau, pm.hard = sparsity, tau, tau == 0.0
        layer.sparsity = sparsity

    def harden(self) -> None:
        """Fix every mask to the hard pattern of the current weights (squash_mask() calls it)."""
        self._require_prepared("harden")
        with torch.no_grad():
            for l in self.layers:
                p = l.module.parametrizations.weight
                if not p[0].hard:
                    p[0].mask.copy_(masks.layer_mask(p.original, l.group, p[0].sparsity, balanced=l.balanced))
                    p[0].hard = True

    def squash_mask(self) -> nn.Module:
        self.harden()
        return super().squash_mask()


def temperature_steps(epochs: int, hard_fraction: float = 1 / 3) -> int:
    """Soft steps for `epochs` epochs with one `step()` per epoch, leaving the last
    `hard_fraction` of them to fine-tune the hard pattern (at least one soft step)."""
    return max(1, int(math.floor(epochs * (1.0 - hard_fraction))))
