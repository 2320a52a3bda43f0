"""Pruning a torch.export program: its layers found through the graph, pruned like modules.

A `.pt2` (`torch.export.save`) keeps no nn.Conv2d/nn.Linear modules: its layers are aten calls
in a graph, their weights parameters, buffers or constants of the program. This module finds
them and prunes them with the very `GroupSparsifier` used for nn.Modules (same options, config,
ranking, masks and report):

- convolutions: `aten.conv2d` / `aten.convolution` (2-D, not transposed) with a stored weight;
- linear layers: `aten.linear`, and `aten.addmm` / `aten.mm` of a transposed stored weight (a
  program after `run_decompositions()`);
- a weight the graph computes (e.g. `w * mask`) is not a stored tensor and stays dense.

Both forms of a program are read: an `ExportedProgram` (weights are placeholders named by its
graph signature) and the module `ExportedProgram.module()` returns (weights are `get_attr`
nodes), which is what `spiree` loads from a `.pt2`. A layer is named by its module path when
the weight is a module's own `.weight` (`blocks.0.conv` for `blocks.0.conv.weight`), else by
the tensor's name (`blocks.0.w`, a buffer or constant). Config entries may also name a layer by
the module path of the call in the export's `nn_module_stack` metadata, or its tensor by name.

Each layer gets a stand-in module (a Conv2d/Linear on the meta device whose weight *is* the
program's tensor), placed at the layer's name in a stand-in model; `GroupSparsifier` prepares,
steps and squashes that model, and the pruned weights are copied into the program's tensors.
Rearrangement works on the graph (`exported_rearrange.py`).
"""
from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

log = logging.getLogger("spiree")

aten = torch.ops.aten
_CONVS = (aten.conv2d.default, aten.conv2d.padding, aten.convolution.default)
_TRANSPOSES = (aten.t.default, aten.permute.default, aten.transpose.int)


@dataclass
class GraphLayer:
    """One convolution or linear layer of a program (one stored weight, one or more calls)."""

    name: str
    fqn: str  # the weight tensor's name in the program (state_dict or constants key)
    kind: str  # "conv" or "linear"
    weight: torch.Tensor  # the program's own tensor (pruning writes into it)
    groups: int = 1
    module_path: str = ""  # innermost nn_module_stack path of the (first) call
    bias: list[str] = field(default_factory=list)  # bias tensors' names, one per call that has one
    calls: list[fx.Node] = field(default_factory=list)


class ProgramView:
    """The graph of a program and the tensors its nodes stand for, for either form."""

    def __init__(self, program: "torch.export.ExportedProgram | fx.GraphModule"):
        self.program = program
        if isinstance(program, torch.export.ExportedProgram):
            sig = program.graph_signature
            self.graph = program.graph
            self._names = {**sig.inputs_to_parameters, **sig.inputs_to_buffers,
                           **sig.inputs_to_lifted_tensor_constants}
            self._ph = True
        elif isinstance(program, fx.GraphModule):
            self.graph = program.graph
            self._names = {}
            self._ph = False
        else:
            raise TypeError(f"expected an ExportedProgram or the fx.GraphModule of one, got {type(program).__name__}")

    def name_of(self, node: Any) -> str | None:
        """The stored tensor a node stands for (its state_dict/constants key), or None."""
        if not isinstance(node, fx.Node):
            return None
        if self._ph:
            return self._names.get(node.name) if node.op == "placeholder" else None
        if node.op == "get_attr":
            return node.target if isinstance(self.tensor(node.target), torch.Tensor) else None
        return None

    def tensor(self, name: str) -> torch.Tensor | None:
        if self._ph:
            p = self.program
            t = p.state_dict.get(name)
            return t if t is not None else p.constants.get(name)
        try:
            return functools.reduce(getattr, name.split("."), self.program)
        except AttributeError:
            return None

    def is_user_input(self, node: fx.Node) -> bool:
        return node.op == "placeholder" and (not self._ph or node.name not in self._names)


def module_path(node: fx.Node) -> str:
    """The innermost module of a call in the export's nn_module_stack ("" for the root)."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = list(stack.values())[-1][0] or ""
    return path.replace("L['self'].", "").replace("L__self__.", "")


def layer_name(fqn: str) -> str:
    """`blocks.0.conv.weight` -> `blocks.0.conv`; any other tensor keeps its own name."""
    return fqn.removesuffix(".weight") if fqn.endswith(".weight") else fqn


def _arg(node: fx.Node, i: int, key: str, default=None):
    return node.args[i] if len(node.args) > i else node.kwargs.get(key, default)


def stored_weight(view: ProgramView, node: Any) -> tuple[str, bool] | None:
    """(name, transposed) of the stored tensor behind a weight argument: the tensor itself, or
    its 2-D transpose (`t`, `permute(w, [1, 0])`, `transpose(w, 0, 1)`)."""
    name = view.name_of(node)
    if name is not None:
        return name, False
    if isinstance(node, fx.Node) and node.op == "call_function" and node.target in _TRANSPOSES:
        src = node.args[0]
        inner = view.name_of(src)
        if inner is None or view.tensor(inner).dim() != 2:
            return None
        if node.target == aten.permute.default and [int(d) % 2 for d in node.args[1]] != [1, 0]:
            return None
        if node.target == aten.transpose.int and int(node.args[1]) % 2 == int(node.args[2]) % 2:
            return None
        return inner, True
    return None


def weight_call(view: ProgramView, node: fx.Node) -> tuple[str, str, int, Any, Any] | None:
    """(kind, weight name, groups, bias argument, input argument) when `node` is a conv/linear
    call on a stored weight that pruning covers; None otherwise."""
    if node.op != "call_function":
        return None
    if node.target in _CONVS:
        w = stored_weight(view, node.args[1])
        if w is None or w[1] or view.tensor(w[0]).dim() != 4:
            return None
        if node.target == aten.convolution.default and node.args[6]:  # transposed
            return None
        groups = node.args[8] if node.target == aten.convolution.default else _arg(node, 6, "groups", 1)
        return "conv", w[0], int(groups), _arg(node, 2, "bias"), node.args[0]
    if node.target == aten.linear.default:
        w = stored_weight(view, node.args[1])
        if w is None or w[1] or view.tensor(w[0]).dim() != 2:
            return None
        return "linear", w[0], 1, _arg(node, 2, "bias"), node.args[0]
    if node.target in (aten.addmm.default, aten.mm.default):
        mat2 = node.args[2] if node.target == aten.addmm.default else node.args[1]
        w = stored_weight(view, mat2)
        if w is None or not w[1]:
            return None
        if node.target == aten.addmm.default:
            return "linear", w[0], 1, node.args[0], node.args[1]
        return "linear", w[0], 1, None, node.args[0]
    return None


def find_layers(view: ProgramView) -> list[GraphLayer]:
    """The program's convolution and linear layers with stored weights, in graph order."""
    layers: dict[str, GraphLayer] = {}
    for node in view.graph.nodes:
        call = weight_call(view, node)
        if call is None:
            if node.op == "call_function" and (node.target in _CONVS or node.target == aten.linear.default):
                log.debug("prune: %s (%s) has no stored weight: left dense", node.name, module_path(node))
            continue
        kind, fqn, groups, bias, _ = call
        layer = layers.get(fqn)
        if layer is None:
            layer = layers[fqn] = GraphLayer(layer_name(fqn), fqn, kind, view.tensor(fqn), groups, module_path(node))
        layer.calls.append(node)
        b = view.name_of(bias)
        if b is not None:
            layer.bias.append(b)
    return list(layers.values())


def _stand_in(layer: GraphLayer) -> nn.Module:
    w = layer.weight
    if layer.kind == "linear":
        m = nn.Linear(w.shape[1], w.shape[0], bias=False, device="meta")
    else:
        m = nn.Conv2d(w.shape[1] * layer.groups, w.shape[0], tuple(w.shape[2:]), groups=layer.groups,
                      bias=False, device="meta")
    m.weight = nn.Parameter(w.detach(), requires_grad=False)  # shares the program's storage
    return m


def stand_in_model(layers: list[GraphLayer]) -> nn.Module:
    """An nn.Module with one stand-in Conv2d/Linear at each layer's name."""
    root = nn.Module()
    for layer in layers:
        *path, leaf = layer.name.split(".")
        parent = root
        for p in path:
            child = parent._modules.get(p)
            if child is None:
                child = nn.Module()
                parent.add_module(p, child)
            parent = child
        m = _stand_in(layer)
        old = parent._modules.get(leaf)
        if old is not None:  # a container made for a deeper layer: keep its children
            for k, v in old._modules.items():
                m.add_module(k, v)
        parent.add_module(leaf, m)
    return root


def resolve_config(config, layers: list[GraphLayer]):
    """Config entries naming a layer by its call's module path or its tensor's name, rewritten to
    the layer's name (entries that already name a layer are kept)."""
    if config is None:
        return None
    names = {l.name for l in layers}
    by_tensor = {l.fqn: l.name for l in layers}
    paths: dict[str, list[str]] = {}
    for l in layers:
        paths.setdefault(l.module_path, []).append(l.name)
    by_path = {p: ns[0] for p, ns in paths.items() if p and len(ns) == 1 and p not in names}

    def fix(name: str) -> str:
        return name if name in names else by_path.get(name, by_tensor.get(name, name))

    out = []
    for entry in config:
        if isinstance(entry, str):
            out.append(fix(entry))
            continue
        entry = dict(entry)
        if "module_fqn" in entry:
            entry["module_fqn"] = fix(entry["module_fqn"])
        elif entry.get("tensor_fqn") in by_tensor:
            entry["module_fqn"] = by_tensor[entry.pop("tensor_fqn")]
        out.append(entry)
    return out


def is_exported(model: Any) -> bool:
    """True for an ExportedProgram, and for a GraphModule without Conv2d/Linear modules (the
    module `ExportedProgram.module()` returns)."""
    if isinstance(model, torch.export.ExportedProgram):
        return True
    return isinstance(model, fx.GraphModule) and not any(
        isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())


def prune_exported(program, options, *, config=None, inplace: bool = False):
    """`prune` for an ExportedProgram (or its `.module()`): the same program with pruned weights
    (a copy unless `inplace`), the sparsifier's report rows, and the rearrangement reports."""
    from .oneshot import PruneResult
    from .sparsifier import GroupSparsifier

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
        from .exported_rearrange import rearrange_program

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
