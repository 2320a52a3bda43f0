"""The group-sparsity pattern: the one contract between the pruner and the compiler.

See docs/sparsity-pattern.md for the prose version. numpy only (no torch, no MLIR), so both the
pruner (`spiree.pipeline.prune`) and the MLIR passes use exactly this code.

Positions. A weight is viewed as a matrix W[C_out, P]:
- 1x1 convolution ([O, I, 1, 1]) and Linear ([O, I]): P = I, positions are input channels;
- KxK convolution with groups=1 ([O, I, KH, KW]): P = I*KH*KW, position p = (i*KH + kh)*KW + kw
  (the row-major flattening of the torch weight);
- depthwise convolutions are not covered (they stay dense).

Groups. Output channels are split into groups of G consecutive channels, G in {1, 2, 4, 8};
when C_out % G != 0 the last group is smaller (and padded with zero rows when packed).
The pattern holds with G when every channel of a group has exactly the same set of nonzero
positions (the group's *kept set*). K_g = |kept set of group g|. *Balanced*: K_g is the same K
for every group.

Packed layout (what the compiler materializes):
- values  [NG, K, G] float32: values[g, j, r] = W[g*G + r, indices[g, j]] (0 for padding rows);
- indices [NG, K] signed integer, ascending within a group, of the narrowest type in
  (i8, i16, i32) that holds P-1; for unbalanced patterns K = max K_g and the missing entries of
  a group repeat its last index (or 0) with value 0, which adds nothing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kinds

SUPPORTED_GROUPS: tuple[int, ...] = (1, 2, 4, 8)


def check_group(group: int) -> int:
    if group not in SUPPORTED_GROUPS:
        raise ValueError(f"group size G={group} is not supported: choose one of {', '.join(map(str, SUPPORTED_GROUPS))}")
    return group


def check_sparsity(sparsity: float) -> float:
    if not (0.0 <= float(sparsity) < 1.0):
        raise ValueError(f"sparsity {sparsity} is outside [0, 1): it is the fraction of weights removed, e.g. 0.7")
    return float(sparsity)


def positions_view(weight: np.ndarray) -> np.ndarray:
    """W[C_out, P] for a [O, I] or [O, I, KH, KW] weight."""
    w = np.asarray(weight)
    if w.ndim not in (2, 4):
        raise ValueError(f"expected a Linear [O, I] or conv [O, I, KH, KW] weight, got shape {w.shape}")
    return w.reshape(w.shape[0], -1)


def num_groups(c_out: int, group: int) -> int:
    return -(-c_out // group)


def group_slices(c_out: int, group: int) -> list[slice]:
    return [slice(g * group, min((g + 1) * group, c_out)) for g in range(num_groups(c_out, group))]


def kept_mask(w2d: np.ndarray, group: int) -> np.ndarray:
    """bool [NG, P]: position p is kept by group g if any channel of g is nonzero there."""
    return np.stack([np.any(w2d[s] != 0, axis=0) for s in group_slices(w2d.shape[0], group)])


def holds(w2d: np.ndarray, group: int) -> bool:
    """True when every channel of every G-group has the same nonzero set."""
    nz = w2d != 0
    return all(bool(np.all(nz[s] == nz[s][:1])) for s in group_slices(w2d.shape[0], group))


@dataclass(frozen=True)
class GroupPattern:
    group: int
    k_per_group: tuple[int, ...]
    positions: int
    c_out: int

    @property
    def k(self) -> int:
        return max(self.k_per_group) if self.k_per_group else 0

    @property
    def balanced(self) -> bool:
        return len(set(self.k_per_group)) <= 1

    @property
    def density(self) -> float:
        """Fraction of weights kept (by the kept sets)."""
        kept = sum(k * (s.stop - s.start) for k, s in zip(self.k_per_group, group_slices(self.c_out, self.group)))
        return kept / (self.c_out * self.positions)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.density


def pattern_of(w2d: np.ndarray, group: int) -> GroupPattern:
    mask = kept_mask(w2d, group)
    return GroupPattern(group, tuple(int(k) for k in mask.sum(axis=1)), w2d.shape[1], w2d.shape[0])


def detect(weight: np.ndarray, groups: tuple[int, ...] = SUPPORTED_GROUPS) -> GroupPattern:
    """The pattern with the largest G in `groups` that holds (G=1 always holds); G never
    exceeds C_out (a single group wider than the layer would only pad)."""
    w2d = positions_view(weight)
    for g in sorted(groups, reverse=True):
        if g <= max(1, w2d.shape[0]) and holds(w2d, g):
            return pattern_of(w2d, g)
    return pattern_of(w2d, 1)


def index_dtype(positions: int) -> np.dtype:
    """Narrowest signed integer type holding indices 0..positions-1."""
    for dt in (np.int8, np.int16, np.int32):
        if positions - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def dense_values(weight: np.ndarray, group: int) -> np.ndarray:
    """The dense kernels' weights, [NG, P, G]: values[g, p, r] = W[g*G + r, p] for every position
    p of `positions_view` (zero rows pad the last group)."""
    w2d = positions_view(weight).astype(np.float32)
    c_out, positions = w2d.shape
    ng = num_groups(c_out, group)
    padded = np.zeros((ng * group, positions), np.float32)
    padded[:c_out] = w2d
    return np.ascontiguousarray(padded.reshape(ng, group, positions).transpose(0, 2, 1))


def pack(weight: np.ndarray, group: int) -> tuple[np.ndarray, np.ndarray]:
    """(values [NG, K, G] float32, indices [NG, K]) for a weight whose pattern holds with `group`."""
    w2d = positions_view(weight).astype(np.float32)
    c_out, p = w2d.shape
    if not holds(w2d, group):
        raise ValueError(f"weight of shape {weight.shape} does not have the group pattern with G={group}")
    mask = kept_mask(w2d, group)
    ng, k = mask.shape[0], int(mask.sum(axis=1).max()) if mask.size else 0
    k = max(k, 1)
    values = np.zeros((ng, k, group), np.float32)
    indices = np.zeros((ng, k), index_dtype(p))
    for g, s in enumerate(group_slices(c_out, group)):
        idx = np.flatnonzero(mask[g])
        if idx.size < k:
            idx = np.concatenate([idx, np.full(k - idx.size, idx[-1] if idx.size else 0)])
            kept = np.flatnonzero(mask[g]).size
        else:
            kept = k
        indices[g] = idx
        values[g, :kept, : s.stop - s.start] = w2d[s, idx[:kept]].T
    return values, indices


def unpack(values: np.ndarray, indices: np.ndarray, c_out: int, positions: int) -> np.ndarray:
    """W[C_out, P] from the packed layout (inverse of `pack`; padding adds zeros)."""
    ng, k, group = values.shape
    w = np.zeros((ng * group, positions), np.float32)
    for g in range(ng):
        for j in range(k):
            w[g * group:(g + 1) * group, int(indices[g, j])] += values[g, j]
    return w[:c_out]


# The compiler's per-layer rule, over the layer kinds of mlir_passes/kinds.py.
SPARSE_KINDS: tuple[str, ...] = kinds.SPARSE_KINDS
# Same default as `mlir_passes.PassOptions.min_sparsity` (the measured sparse/dense crossover).
COMPILER_MIN_SPARSITY = 0.2


def compiler_uses(kind: str, pat: GroupPattern | None, min_sparsity: float = COMPILER_MIN_SPARSITY) -> bool:
    """True when spiree's sparse passes will compile this layer with a sparse kernel: its kind
    is one the kernels cover (`SPARSE_KINDS`: 1x1 stride-1 convolutions and Linear layers, which
    the `detect` pass matches; KxK and strided convolutions, which the `conv` pass matches) and
    the pattern's sparsity (by kept sets, any G) is at least `min_sparsity`. For "conv" layers
    the `conv` pass also compares its cost estimates of the sparse and the dense kernel for the
    layer's shape and G (G=1 needs ~65% sparsity, G=2 ~30%) and records the outcome in the
    build's report. Everything else (depthwise, dilated, too dense) stays dense. The one place
    this rule lives: the passes and `spiree inspect` both ask here."""
    return pat is not None and kind in SPARSE_KINDS and pat.sparsity >= min_sparsity
