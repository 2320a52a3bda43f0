"""Whole-network channel rearrangement: permute output channels so that channels with similar
importance profiles share a group, without changing the function the network computes.

A group keeps one set of positions for all its G channels, so the magnitude it can keep depends
on which channels are grouped together. Channel order inside a layer is arbitrary, though:
permuting a layer's output channels, and everything indexed by them, gives the same network.

1. *Channel spaces* (torch.fx trace): the output channels of a Conv2d (groups=1) or Linear start
   a space; BatchNorm, depthwise convolutions, activations, pooling and `flatten` after a global
   pool carry it through; an elementwise add/mul of two tensors merges the spaces of its inputs
   (channels that meet at a residual add share one permutation). A space is *frozen* (left
   alone) when it reaches the network's input or output, or anything not listed above.
2. *Grouping*, per space with at least one pruned producer: each channel's profile is its row of
   squared weights in every pruned producer (each layer normalized to unit total). Seeds in order
   of decreasing energy each pick the G-1 unassigned channels of highest summed cosine similarity
   to the group so far (average linkage); leftovers form the smaller last group. If the greedy
   grouping would keep less magnitude than the current order at the target sparsity, the space
   keeps its order (rearrangement never makes pruning worse).
3. *Apply*: rows of the producers' weights and biases, BatchNorm's four vectors, depthwise
   weights and biases, and the input channels (columns) of every consumer are permuted.

Deterministic: stable sorts and first-index argmax only.
"""
from __future__ import annotations

import copy
import logging
import operator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch import fx

from . import masks
from .sparsifier import default_layers, is_depthwise

log = logging.getLogger("spiree")

# Modules that act on each channel independently and have no per-channel parameters.
_CHANNELWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.SiLU, nn.Sigmoid,
    nn.Tanh, nn.GELU, nn.ELU, nn.Identity, nn.Dropout, nn.Dropout2d,
    nn.AvgPool2d, nn.MaxPool2d,
)
_CHANNELWISE_FUNCTIONS = {
    torch.relu, torch.nn.functional.relu, torch.nn.functional.relu6, torch.nn.functional.hardtanh,
    torch.nn.functional.hardswish, torch.nn.functional.silu, torch.sigmoid, torch.tanh,
    torch.nn.functional.gelu, torch.nn.functional.dropout, torch.nn.functional.avg_pool2d,
    torch.nn.functional.max_pool2d,
}
_CHANNELWISE_METHODS = {"relu", "relu_", "sigmoid", "tanh", "contiguous", "clone"}
_ELEMENTWISE_BINARY = {operator.add, operator.iadd, operator.mul, operator.imul, torch.add, torch.mul}


@dataclass
class Space:
    """One set of channels that must be permuted together."""

    channels: int | None = None
    producers: list[str] = field(default_factory=list)  # rows permuted (Conv2d groups=1, Linear)
    carriers: list[str] = field(default_factory=list)  # per-channel vectors permuted (BN, depthwise)
    consumers: list[str] = field(default_factory=list)  # input channels permuted
    frozen: list[str] = field(default_factory=list)  # reasons it cannot be permuted


class _Spaces:
    """Union-find over channel spaces."""

    def __init__(self):
        self.parent: list[int] = []
        self.info: list[Space] = []

    def new(self, channels=None, frozen: str | None = None) -> int:
        self.parent.append(len(self.parent))
        self.info.append(Space(channels, frozen=[frozen] if frozen else []))
        return len(self.parent) - 1

    def find(self, s: int) -> int:
        while self.parent[s] != s:
            self.parent[s] = self.parent[self.parent[s]]
            s = self.parent[s]
        return s

    def union(self, a: int, b: int) -> int:
        a, b = self.find(a), self.find(b)
        if a == b:
            return a
        lo, hi = min(a, b), max(a, b)
        self.parent[hi] = lo
        x, y = self.info[lo], self.info[hi]
        for f in ("producers", "carriers", "consumers", "frozen"):
            getattr(x, f).extend(getattr(y, f))
        if x.channels is None:
            x.channels = y.channels
        elif y.channels is not None and y.channels != x.channels:
            x.frozen.append(f"channel counts {x.channels} and {y.channels} meet")
        return lo

    def freeze(self, s: int, why: str) -> None:
        self.info[self.find(s)].frozen.append(why)

    def roots(self) -> list[Space]:
        return [self.info[i] for i in range(len(self.parent)) if self.find(i) == i]


@dataclass(frozen=True)
class _Val:
    """What is known about a traced value: its channel space, rank, and whether H*W == 1."""

    space: int
    rank: int | None
    spatial1: bool = False


def channel_spaces(model: nn.Module) -> list[Space]:
    """The channel spaces of `model` (see the module docstring), found by torch.fx tracing."""
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:
        raise ValueError(f"channel rearrangement needs a model torch.fx can trace ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}): prune without rearrangement") from None
    modules = dict(gm.named_modules())
    sp = _Spaces()
    val: dict[fx.Node, _Val] = {}
    roles: dict[str, int] = {}  # parameterized module -> times used

    def opaque(node: fx.Node, why: str) -> None:
        for a in node.all_input_nodes:
            if a in val:
                sp.freeze(val[a].space, why)
        val[node] = _Val(sp.new(frozen=why), None)

    for node in gm.graph.nodes:
        ins = [val[a] for a in node.all_input_nodes if a in val]
        if node.op == "placeholder":
            val[node] = _Val(sp.new(frozen="network input"), None)
        elif node.op == "output":
            for v in ins:
                sp.freeze(v.space, "network output")
        elif node.op == "get_attr":
            val[node] = _Val(sp.new(frozen=f"tensor attribute {node.target}"), None)
        elif node.op == "call_module":
            m = modules[node.target]
            name = node.target
            if any(True for _ in m.parameters(recurse=False)) or list(m.buffers(recurse=False)):
                roles[name] = roles.get(name, 0) + 1
            x = val.get(node.args[0]) if node.args and isinstance(node.args[0], fx.Node) else None
            if x is None:
                opaque(node, f"module {name} without a traced input")
            elif isinstance(m, nn.Conv2d) and m.groups == 1:
                sp.info[sp.find(x.space)].consumers.append(name)
                s = sp.new(m.out_channels)
                sp.info[s].producers.append(name)
                val[node] = _Val(s, 4)
            elif is_depthwise(m) and m.out_channels == m.in_channels:
                sp.info[sp.find(x.space)].carriers.append(name)
                val[node] = _Val(x.space, 4)
            elif isinstance(m, nn.Linear) and x.rank == 2:
                sp.info[sp.find(x.space)].consumers.append(name)
                s = sp.new(m.out_features)
                sp.info[s].producers.append(name)
                val[node] = _Val(s, 2)
            elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) and m.affine and m.track_running_stats:
                sp.info[sp.find(x.space)].carriers.append(name)
                val[node] = x
            elif isinstance(m, _CHANNELWISE_MODULES):
                val[node] = x
            elif isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1)):
                val[node] = _Val(x.space, x.rank, True)
            elif isinstance(m, nn.Flatten) and m.start_dim == 1 and x.rank == 4 and x.spatial1:
                val[node] = _Val(x.space, 2)
            else:
                opaque(node, f"module {name} ({type(m).__name__})")
        elif node.op == "call_function" and node.target in _ELEMENTWISE_BINARY:
            tensors = [a for a in node.args if isinstance(a, fx.Node)]
            if len(tensors) == 2 and all(a in val for a in tensors):
                a, b = val[tensors[0]], val[tensors[1]]
                if a.rank is not None and a.rank == b.rank and a.spatial1 == b.spatial1:
                    val[node] = _Val(sp.union(a.space, b.space), a.rank, a.spatial1)
                else:
                    opaque(node, f"broadcasting {node.target}")
            elif len(tensors) == 1 and tensors[0] in val:
                val[node] = val[tensors[0]]  # tensor op scalar
            else:
                opaque(node, f"{node.target}")
        elif node.op == "call_function" and node.target in _CHANNELWISE_FUNCTIONS and ins:
            val[node] = val[node.args[0]] if isinstance(node.args[0], fx.Node) and node.args[0] in val else ins[0]
        elif node.op == "call_method" and node.target in _CHANNELWISE_METHODS and ins:
            val[node] = ins[0]
        elif _is_flatten1(node) and ins and ins[0].rank == 4 and ins[0].spatial1:
            val[node] = _Val(ins[0].space, 2)
        elif (node.op == "call_function" and node.target is torch.nn.functional.adaptive_avg_pool2d
              and _arg(node, 1, "output_size") in (1, (1, 1)) and ins):
            val[node] = _Val(ins[0].space, ins[0].rank, True)
        else:
            opaque(node, f"{node.op} {getattr(node.target, '__name__', node.target)}")
    for name, n in roles.items():
        if n > 1:
            for s in sp.roots():
                if name in s.producers + s.carriers + s.consumers:
                    s.frozen.append(f"module {name} is called {n} times")
    return sp.roots()


def _arg(node: fx.Node, i: int, key: str) -> Any:
    return node.args[i] if len(node.args) > i else node.kwargs.get(key)


def _is_flatten1(node: fx.Node) -> bool:
    if node.op == "call_function" and node.target is torch.flatten:
        return _arg(node, 1, "start_dim") == 1 and _arg(node, 2, "end_dim") in (None, -1)
    if node.op == "call_method" and node.target == "flatten":
        return _arg(node, 1, "start_dim") == 1 and _arg(node, 2, "end_dim") in (None, -1)
    return False


# -- grouping ------------------------------------------------------------------------------------

def group_channels(profiles: torch.Tensor, group: int) -> torch.Tensor:
    """A permutation of the C rows of `profiles` ([C, F], nonnegative) such that consecutive
    blocks of `group` rows have similar profiles (greedy balanced average-linkage clustering)."""
    c = profiles.shape[0]
    if group <= 1 or c <= group:
        return torch.arange(c)
    p = profiles.to(torch.float64)
    energy = p.sum(dim=1)
    u = p / p.norm(dim=1, keepdim=True).clamp_min(1e-300)
    sim = u @ u.T
    assigned = torch.zeros(c, dtype=torch.bool)
    order = torch.sort(energy, descending=True, stable=True).indices.tolist()
    perm: list[int] = []
    full = c // group
    groups = 0
    for seed in order:
        if groups == full:
            break
        if assigned[seed]:
            continue
        assigned[seed] = True
        members = [seed]
        acc = sim[seed].clone()
        while len(members) < group:
            j = int(torch.argmax(acc.masked_fill(assigned, float("-inf"))))
            assigned[j] = True
            members.append(j)
            acc += sim[j]
        perm.extend(members)
        groups += 1
    perm.extend(i for i in order if not assigned[i])
    return torch.tensor(perm, dtype=torch.long)


@dataclass
class SpaceReport:
    producers: list[str]
    channels: int
    group: int
    energy_kept_before: float  # fraction of squared magnitude kept at the target, original order
    energy_kept_after: float  # ... after rearrangement (equal when the order was kept)
    permuted: bool


def rearrange_channels(model: nn.Module, *, group: int | dict[str, int] = 4, sparsity: float = 0.5,
                       layers: list[str] | None = None, balanced: bool = True,
                       inplace: bool = False) -> tuple[nn.Module, list[SpaceReport]]:
    """Permute channels of `model` (a copy unless `inplace`) for group pruning of `layers`
    (default: the layers `GroupSparsifier` prunes by default) with G = `group` (one int, or per
    layer name) at `sparsity`. Returns the model and one report per rearranged space."""
    if not inplace:
        model = copy.deepcopy(model)
    layers = default_layers(model) if layers is None else list(layers)
    groups = group if isinstance(group, dict) else {n: group for n in layers}
    pruned = set(layers)
    modules = dict(model.named_modules())
    reports = []
    with torch.no_grad():
        for space in channel_spaces(model):
            prods = [n for n in space.producers if n in pruned]
            if not prods:
                continue
            if space.frozen:
                log.debug("rearrange: space of %s left alone (%s)", ", ".join(space.producers), space.frozen[0])
                continue
            g = max(groups.get(n, 1) for n in prods)
            ws = [masks.positions_view(modules[n].weight) for n in prods]
            profiles = torch.cat([(w.to(torch.float64) ** 2) / (w.to(torch.float64) ** 2).sum().clamp_min(1e-300)
                                  for w in ws], dim=1)
            perm = group_channels(profiles, g)
            before = _kept(ws, [groups.get(n, 1) for n in prods], sparsity, balanced)
            after = _kept([w[perm] for w in ws], [groups.get(n, 1) for n in prods], sparsity, balanced)
            use = after > before and not torch.equal(perm, torch.arange(len(perm)))
            if use:
                _apply(modules, space, perm)
            reports.append(SpaceReport(prods, len(perm), g, before, after if use else before, use))
    return model, reports


def _kept(ws: list[torch.Tensor], gs: list[int], sparsity: float, balanced: bool) -> float:
    kept = total = 0.0
    for w, g in zip(ws, gs):
        k, t = masks.energy_kept(w, masks.layer_mask(w, g, sparsity, balanced=balanced))
        kept, total = kept + k, total + t
    return kept / total if total else 1.0


def _apply(modules: dict[str, nn.Module], space: Space, perm: torch.Tensor) -> None:
    def take(t: torch.Tensor | None, dim: int = 0) -> None:
        if t is not None:
            t.copy_(t.index_select(dim, perm))

    for n in space.producers:
        m = modules[n]
        take(m.weight)
        take(m.bias)
    for n in space.carriers:
        m = modules[n]
        take(m.weight)
        take(m.bias)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            take(m.running_mean)
            take(m.running_var)
    for n in space.consumers:
        take(modules[n].weight, 1)
