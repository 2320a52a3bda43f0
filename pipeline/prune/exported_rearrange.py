"""Channel rearrangement of a torch.export program: `rearrange.py`'s idea on an aten graph.

The same three steps as for an nn.Module (see rearrange.py), with the channel spaces found by
walking the program's aten calls instead of tracing modules:

- a convolution with groups=1 (`aten.conv2d`/`aten.convolution`) or a linear layer
  (`aten.linear`, `aten.addmm`/`aten.mm` of a transposed weight) consumes its input's space
  (weight columns, dim 1) and starts a space (weight rows and bias, dim 0);
- a depthwise convolution and an inference batch norm carry the space (their per-channel
  tensors, dim 0); channel-wise activations, pooling, dropout and copies carry it unchanged;
  a global mean (`mean` over H, W, `adaptive_avg_pool2d` to 1x1) followed by `flatten`/`view`
  to [N, C] carries it to a 2-D value;
- add/sub/mul/div of two values of the same shape merge their spaces;
- anything else freezes the spaces of its inputs (and so does the network's input and output,
  and a stored tensor used more than once or by an op not listed above).

A frozen space keeps its channel order and is logged with the reason. Grouping is
`rearrange.group_channels`, and a space is permuted only when that keeps more magnitude at the
target sparsity (`rearrange._kept`, the masks of masks.py), as for modules.
"""
from __future__ import annotations

import logging
import operator
from collections import Counter
from dataclasses import dataclass

import torch
from torch import fx

from . import masks
from .exported import GraphLayer, ProgramView, stored_weight, weight_call
from .rearrange import SpaceReport, _kept, _Spaces, group_channels

log = logging.getLogger("spiree")

aten = torch.ops.aten

_CHANNELWISE = {
    aten.relu, aten.relu_, aten.hardtanh, aten.hardtanh_, aten.clamp, aten.clamp_, aten.clamp_min,
    aten.clamp_max, aten.silu, aten.silu_, aten.sigmoid, aten.tanh, aten.gelu, aten.hardswish,
    aten.hardswish_, aten.hardsigmoid, aten.leaky_relu, aten.elu, aten.dropout, aten.clone,
    aten.contiguous, aten.alias, aten.detach, aten.avg_pool2d, aten.max_pool2d, aten.neg,
    aten._to_copy, aten.to,
}
_BINARY = {aten.add, aten.sub, aten.mul, aten.div}
# Inference batch norms: (input, weight, bias, running_mean, running_var, ...); -> tuple or tensor.
_BATCH_NORMS = {aten.batch_norm: False, aten._native_batch_norm_legit_no_training: True,
                aten._batch_norm_no_update: True, aten.native_batch_norm: True}
_TUPLE_FIRST = {aten.max_pool2d_with_indices}  # item 0 is the channel-wise result
_GLOBAL_POOLS = {aten.mean, aten.adaptive_avg_pool2d, aten._adaptive_avg_pool2d}
_RESHAPES = {aten.view, aten.reshape, aten._unsafe_view, aten.flatten, aten.squeeze}


@dataclass(frozen=True)
class _Val:
    space: int
    rank: int
    spatial1: bool = False  # rank-4 value with H = W = 1


def _packet(node: fx.Node):
    return getattr(node.target, "overloadpacket", None)


def _shape(node) -> tuple[int, ...] | None:
    v = node.meta.get("val") if isinstance(node, fx.Node) else None
    return tuple(int(s) for s in v.shape) if isinstance(v, torch.Tensor) else None


def graph_spaces(view: ProgramView, layers: list[GraphLayer]):
    """The channel spaces of a program: `rearrange.Space` records holding stored tensors' names:
    producers (layer weights, rows permuted), carriers (per-channel tensors, dim 0 permuted) and
    consumers (layer weights, columns permuted)."""
    sp = _Spaces()
    val: dict[fx.Node, _Val] = {}
    tuples: dict[fx.Node, _Val] = {}  # tuple results whose item 0 carries a space
    by_fqn = {l.fqn: l for l in layers}
    roles: Counter = Counter()  # stored tensor -> uses given a role
    touched: dict[str, list[int]] = {}  # stored tensor -> spaces it belongs to

    def role(name: str | None, space: int, kind: str, *, use: bool = True) -> None:
        if name is None:
            return
        getattr(sp.info[sp.find(space)], kind).append(name)
        roles[name] += use
        touched.setdefault(name, []).append(space)

    def opaque(node: fx.Node, why: str) -> None:
        for a in node.all_input_nodes:
            for known in (val, tuples):
                if a in known:
                    sp.freeze(known[a].space, why)
        shape = _shape(node)
        val[node] = _Val(sp.new(frozen=why), len(shape) if shape is not None else -1)

    for node in view.graph.nodes:
        if node.op == "placeholder" and view.is_user_input(node):
            val[node] = _Val(sp.new(frozen="network input"), len(_shape(node) or ()))
            continue
        if node.op in ("placeholder", "get_attr"):
            continue  # a stored tensor: its users give it roles
        if node.op == "output":
            for a in node.all_input_nodes:
                if a in val:
                    sp.freeze(val[a].space, "network output")
            continue
        packet = _packet(node) if node.op == "call_function" else None
        what = f"{getattr(node.target, '__name__', node.target)} ({node.name})"
        if node.op == "call_function" and node.target is operator.getitem:
            src = node.args[0]
            if src in tuples and node.args[1] == 0:
                val[node] = tuples[src]
            else:
                opaque(node, what)
            continue
        call = weight_call(view, node)
        first = call[4] if call is not None else node.args[0] if node.args else None
        x = val.get(first) if isinstance(first, fx.Node) else None
        if x is None:
            opaque(node, what)
            continue
        if call is not None:
            kind, fqn, groups, bias, _ = call
            layer, w = by_fqn[fqn], by_fqn[fqn].weight
            in_shape = _shape(first)
            if kind == "linear" and x.rank != 2:
                opaque(node, f"linear layer {layer.name} on a rank-{x.rank} value")
            elif groups == 1:
                role(fqn, x.space, "consumers")
                s = sp.new(int(w.shape[0]))
                role(fqn, s, "producers", use=False)  # the same use: rows of the weight
                role(view.name_of(bias), s, "carriers")
                val[node] = _Val(s, x.rank)
            elif in_shape is not None and w.shape[1] == 1 and groups == w.shape[0] == in_shape[1]:
                role(fqn, x.space, "carriers")
                role(view.name_of(bias), x.space, "carriers")
                val[node] = x
            else:
                opaque(node, f"grouped convolution {layer.name} (groups={groups})")
        elif packet in _BATCH_NORMS:
            names = [view.name_of(a) for a in node.args[1:5]]
            training = packet in (aten.batch_norm, aten.native_batch_norm) and bool(node.args[5])
            if training or any(a is not None and n is None for a, n in zip(node.args[1:5], names)):
                opaque(node, f"batch norm {node.name} in training mode or with computed statistics")
                continue
            for n in names:
                role(n, x.space, "carriers")
            (tuples if _BATCH_NORMS[packet] else val)[node] = x
        elif packet in _TUPLE_FIRST:
            tuples[node] = x
        elif packet in _BINARY:
            other = node.args[1] if len(node.args) > 1 else None
            if isinstance(other, fx.Node) and other in val:
                if _shape(node.args[0]) == _shape(other) == _shape(node) is not None:
                    y = val[other]
                    val[node] = _Val(sp.union(x.space, y.space), x.rank, x.spatial1 and y.spatial1)
                else:
                    opaque(node, f"broadcasting {what}")
            elif not isinstance(other, fx.Node) and len(node.all_input_nodes) == 1:
                val[node] = x  # value op scalar
            else:
                opaque(node, what)
        elif packet in _CHANNELWISE and len(node.all_input_nodes) == 1:
            val[node] = x
        elif packet in _GLOBAL_POOLS and x.rank == 4:
            out = _shape(node)
            if out is not None and len(out) == 4 and out[2:] == (1, 1):
                val[node] = _Val(x.space, 4, True)
            elif packet is aten.mean and out is not None and len(out) == 2 and \
                    {int(d) % 4 for d in node.args[1]} == {2, 3}:
                val[node] = _Val(x.space, 2)
            else:
                opaque(node, what)
        elif packet in _RESHAPES and x.rank == 4 and x.spatial1 and \
                _shape(node) is not None and _shape(node) == (_shape(node.args[0]) or ())[:2]:
            val[node] = _Val(x.space, 2)
        else:
            opaque(node, what)

    # A stored tensor with uses besides its one role cannot be permuted safely.
    uses: Counter = Counter()
    for node in view.graph.nodes:
        name = view.name_of(node)
        if name is not None:
            uses[name] += len(node.users)
        elif node.op == "call_function":
            sw = stored_weight(view, node)
            if sw is not None and sw[1]:
                uses[sw[0]] += len(node.users) - 1  # a transpose used twice is two uses
    for name, spaces in touched.items():
        if uses[name] != 1 or roles[name] != 1:
            for s in spaces:
                sp.freeze(s, f"tensor {name} is used {uses[name]} times")
    return sp.roots()


def rearrange_program(view: ProgramView, layers: list[GraphLayer], *, group: dict[str, int],
                      sparsity: float, balanced: bool = True) -> list[SpaceReport]:
    """Permute the channels of a program's spaces in place, for pruning the layers in `group`
    (name -> G) at `sparsity`; one report per space with a pruned producer that is permuted or
    could have been. Frozen spaces are logged with their reason."""
    by_fqn = {l.fqn: l for l in layers}
    reports = []
    with torch.no_grad():
        for space in graph_spaces(view, layers):
            prods = [by_fqn[f] for f in space.producers if by_fqn[f].name in group]
            if not prods:
                continue
            if space.frozen:
                log.info("rearrange: channels of %s keep their order (%s)", ", ".join(p.name for p in prods),
                         space.frozen[0])
                continue
            gs = [group[p.name] for p in prods]
            ws = [masks.positions_view(p.weight) for p in prods]
            profiles = torch.cat([(w.to(torch.float64) ** 2) / (w.to(torch.float64) ** 2).sum().clamp_min(1e-300)
                                  for w in ws], dim=1)
            perm = group_channels(profiles, max(gs))
            before = _kept(ws, gs, sparsity, balanced)
            after = _kept([w[perm] for w in ws], gs, sparsity, balanced)
            use = after > before and not torch.equal(perm, torch.arange(len(perm)))
            if use:
                for name in [*space.producers, *space.carriers]:
                    _take(view.tensor(name), perm, 0)
                for name in space.consumers:
                    _take(view.tensor(name), perm, 1)
            reports.append(SpaceReport([p.name for p in prods], len(perm), max(gs), before,
                                       after if use else before, use))
    return reports


def _take(t: torch.Tensor, perm: torch.Tensor, dim: int) -> None:
    t.copy_(t.index_select(dim, perm))
