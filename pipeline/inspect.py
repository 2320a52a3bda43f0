"""Per-layer view of a model: op, shapes, multiply-adds, parameters, weight sparsity, and the
group-sparsity pattern (mlir_passes/pattern.py) each weight carries: G found, K, balanced,
multiply-adds saved, and whether the compiler will use it (`pattern.compiler_uses`).

Works on the `torch.export` graph, so registry models, factories and `.pt2` files are read the
same way. Only convolutions and linear layers carry weights worth counting; their MACs are
out_h * out_w * out_c * (in_c / groups) * kh * kw (times batch).
"""
from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..mlir_passes import kinds, pattern
from ..models.registry import eval_mode


@dataclass(frozen=True)
class LayerInfo:
    name: str
    op: str  # the layer family (mlir_passes/kinds.py): conv, dwconv, linear
    kernel: str  # "3x3/2", "1x1", ""
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    macs: int
    params: int
    sparsity: float  # fraction of zero weights
    # The group pattern (conv with groups=1 and linear layers; 0 / "" when not applicable).
    group: int = 0  # largest G in pattern.SUPPORTED_GROUPS that holds (0: dense or not covered)
    k: int = 0  # positions kept per group (the largest K_g when unbalanced)
    balanced: bool = True
    macs_saved: int = 0  # multiply-adds the sparse kernel skips (0 when the compiler keeps it dense)
    compiler: str = "dense"  # "sparse", "dense", "dense (depthwise)"

    def to_json(self) -> dict:
        return asdict(self)


def exported_program(module: nn.Module, example_inputs) -> torch.export.ExportedProgram:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.export.export(eval_mode(module), tuple(example_inputs), strict=False)


def parameter_count(module: nn.Module) -> int:
    """All trainable parameters (BatchNorm's scale and shift included, as published)."""
    return sum(p.numel() for p in module.parameters())


def layer_table(module: nn.Module, example_inputs) -> list[LayerInfo]:
    ep = exported_program(module, example_inputs)
    sig = ep.graph_signature
    params = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    state = ep.state_dict
    layers: list[LayerInfo] = []

    def tensor_of(node) -> torch.Tensor | None:
        if node is None:
            return None
        key = params.get(node.name)
        if key is not None:
            return state[key] if key in state else ep.constants[key]  # non-persistent buffers
        key = sig.inputs_to_lifted_tensor_constants.get(node.name)
        return ep.constants.get(key) if key is not None else None

    for node in ep.graph.nodes:
        if node.op != "call_function":
            continue
        if node.target in (torch.ops.aten.conv2d.default, torch.ops.aten.linear.default):
            w = tensor_of(node.args[1])
            if w is None:
                continue
            b = tensor_of(node.args[2]) if len(node.args) > 2 else None
            in_shape = tuple(node.args[0].meta["val"].shape)
            out_shape = tuple(node.meta["val"].shape)
            if node.target == torch.ops.aten.linear.default:
                op, kernel = kinds.LINEAR, ""
                kind = kinds.LINEAR
                macs = w.numel() * (out_shape[0] if len(out_shape) > 1 else 1)
            else:
                stride = node.args[3][0] if len(node.args) > 3 else 1
                dilation = node.args[5][0] if len(node.args) > 5 else 1
                groups = node.args[6] if len(node.args) > 6 else 1
                kh, kw = w.shape[2], w.shape[3]
                op = kinds.conv_family(groups, in_shape[1])
                kind = kinds.layer_kind(op, (kh, kw), stride=stride, dilation=dilation, groups=groups)
                kernel = f"{kh}x{kw}" + (f"/{stride}" if stride != 1 else "")
                macs = out_shape[0] * out_shape[2] * out_shape[3] * w.numel()
            n = w.numel() + (b.numel() if b is not None else 0)
            layers.append(LayerInfo(
                name=_layer_name(node, params, sig), op=op, kernel=kernel, in_shape=in_shape,
                out_shape=out_shape, weight_shape=tuple(w.shape), macs=int(macs), params=int(n),
                sparsity=float((w == 0).sum()) / w.numel(),
                **pattern_columns(kind, w.detach().numpy(), int(macs)),
            ))
    return layers


def pattern_columns(kind: str, weight, macs: int) -> dict:
    """LayerInfo's pattern fields for one weight (numpy) of a layer of `kind`."""
    if kind == kinds.DWCONV:
        return {"compiler": "dense (depthwise)"}
    if kind == kinds.GROUPED:
        return {"compiler": "dense (grouped)"}
    pat = pattern.detect(weight)
    if pat.sparsity == 0.0:
        return {"compiler": "dense"}
    sparse = pattern.compiler_uses(kind, pat)
    return {
        "group": pat.group, "k": pat.k, "balanced": pat.balanced,
        "macs_saved": int(round(macs * pat.sparsity)) if sparse else 0,
        "compiler": "sparse" if sparse else "dense",
    }


def _layer_name(node, params, sig) -> str:
    """The name `spiree prune --layers` takes: the module path for a module's own `.weight`, else
    the weight tensor's name (a buffer or constant); see prune/exported.py."""
    from .prune.exported import layer_name

    key = params.get(node.args[1].name) or sig.inputs_to_lifted_tensor_constants.get(node.args[1].name)
    return layer_name(key) if key else _module_path(node)


def _module_path(node) -> str:
    stack = node.meta.get("nn_module_stack")
    if stack:
        path = list(stack.values())[-1][0]
        if path:
            return path.replace("L['self'].", "").replace("L__self__.", "")
    return node.name


def format_table(layers: list[LayerInfo]) -> str:
    rows = [("layer", "op", "weight", "output", "MACs", "params", "sparsity", "G", "K", "balanced",
             "MACs saved", "compiler")]
    for l in layers:
        has = l.group > 0
        rows.append((
            l.name, f"{l.op} {l.kernel}".strip(), "x".join(map(str, l.weight_shape)),
            "x".join(map(str, l.out_shape)), f"{l.macs / 1e6:.2f}M", f"{l.params:,}",
            f"{l.sparsity:.1%}", str(l.group) if has else "-", str(l.k) if has else "-",
            ("yes" if l.balanced else "no") if has else "-",
            f"{l.macs_saved / 1e6:.2f}M" if l.macs_saved else "-", l.compiler,
        ))
    total_macs = sum(l.macs for l in layers)
    total_params = sum(l.params for l in layers)
    saved = sum(l.macs_saved for l in layers)
    rows.append(("total", "", "", "", f"{total_macs / 1e6:.1f}M", f"{total_params:,}", "", "", "", "",
                 f"{saved / 1e6:.1f}M" if saved else "-", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if j < 4 or j == len(r) - 1 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(r, widths))).rstrip())
        if i == 0 or i == len(rows) - 2:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
