"""Group masks: which (group, position) pairs a layer keeps, from group magnitudes.

Everything here works on the positions view W[C_out, P] of `mlir_passes.pattern` (a 1x1 conv or
Linear: input channels; a KxK conv: (i, kh, kw) row-major) and returns masks of the same shape
whose rows are equal within each group of G consecutive output channels, so
`pattern.holds(w2d * mask, G)` is true by construction.

Importance of a position for a group is its *group magnitude*: the L2 norm of the G weights of
the group at that position, divided by sqrt(rows in the group) so that the smaller last group
(C_out % G != 0) and layers with different G compare fairly. Ties break towards the lower
position index (stable sorts), so the masks are a deterministic function of the weights.
"""
from __future__ import annotations

import torch

from ...mlir_passes import pattern


def positions_view(weight: torch.Tensor) -> torch.Tensor:
    """W[C_out, P] for a Linear [O, I] or conv [O, I, KH, KW] weight (a view, no copy)."""
    if weight.dim() not in (2, 4):
        raise ValueError(f"expected a Linear [O, I] or conv [O, I, KH, KW] weight, got shape {tuple(weight.shape)}")
    return weight.reshape(weight.shape[0], -1)


def group_sizes(c_out: int, group: int) -> torch.Tensor:
    """Rows in each group: G, ..., G, and C_out % G for a smaller last group."""
    return torch.tensor([s.stop - s.start for s in pattern.group_slices(c_out, group)], dtype=torch.float64)


def group_scores(w2d: torch.Tensor, group: int) -> torch.Tensor:
    """float64 [NG, P]: RMS over each group's rows of the weights at each position."""
    c_out, p = w2d.shape
    ng = pattern.num_groups(c_out, group)
    sq = w2d.detach().to(torch.float64) ** 2
    pad = ng * group - c_out
    if pad:
        sq = torch.cat([sq, sq.new_zeros(pad, p)])
    return (sq.view(ng, group, p).sum(dim=1) / group_sizes(c_out, group)[:, None]).sqrt()


def kept_positions(positions: int, sparsity: float) -> int:
    """K for a balanced layer: positions kept per group at `sparsity` (at least 1)."""
    return max(1, positions - int(sparsity * positions + 0.5))


def expand(group_mask: torch.Tensor, c_out: int, group: int) -> torch.Tensor:
    """[NG, P] group mask -> [C_out, P] row mask (each group's row repeated for its channels)."""
    return group_mask.repeat_interleave(group, dim=0)[:c_out]


def balanced_mask(w2d: torch.Tensor, group: int, sparsity: float) -> torch.Tensor:
    """float32 [C_out, P]: every group keeps its K = kept_positions(P, sparsity) best positions."""
    scores = group_scores(w2d, group)
    k = kept_positions(scores.shape[1], sparsity)
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    gm = torch.zeros_like(scores, dtype=torch.bool)
    gm.scatter_(1, order[:, :k], True)
    return expand(gm, w2d.shape[0], group).to(w2d.dtype)


def unbalanced_mask(w2d: torch.Tensor, group: int, sparsity: float) -> torch.Tensor:
    """float32 [C_out, P]: the best (group, position) pairs of the whole layer, so groups keep
    different numbers of positions; the layer keeps NG*P - round(sparsity*NG*P) pairs (>= 1)."""
    scores = group_scores(w2d, group)
    n = scores.numel()
    keep = max(1, n - int(sparsity * n + 0.5))
    order = torch.sort(scores.flatten(), descending=True, stable=True).indices
    gm = torch.zeros(n, dtype=torch.bool)
    gm[order[:keep]] = True
    return expand(gm.view_as(scores), w2d.shape[0], group).to(w2d.dtype)


def layer_mask(weight: torch.Tensor, group: int, sparsity: float, *, balanced: bool = True) -> torch.Tensor:
    """Mask with the weight's own shape (conv [O, I, KH, KW] or Linear [O, I])."""
    w2d = positions_view(weight)
    if sparsity <= 0.0:
        return torch.ones_like(weight)
    m = balanced_mask(w2d, group, sparsity) if balanced else unbalanced_mask(w2d, group, sparsity)
    return m.reshape(weight.shape)


def energy_kept(weight: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """(sum of squares kept by `mask`, sum of squares of `weight`), in float64."""
    w = weight.detach().to(torch.float64)
    return float(((w * mask.to(torch.float64)) ** 2).sum()), float((w ** 2).sum())
