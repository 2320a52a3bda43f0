"""Folding inference BatchNorm into the convolution before it, in a graph of aten ops (what a
`torch.export` program unlifts to: `aten.conv2d` -> `aten.batch_norm` with the statistics as
attributes). Modules with `nn.BatchNorm2d` are folded by torch.fx's module fusion instead
(pipeline/export.py `fold_batchnorm`).

    y = gamma * (conv(x, W) + b - mean) / sqrt(var + eps) + beta
      = conv(x, W * s) + (b - mean) * s + beta,   s = gamma / sqrt(var + eps)

Left alone: batch norms in training mode, whose input is not a convolution with constant
weights, or whose convolution output is used elsewhere too.
"""
from __future__ import annotations

import torch
from torch import fx

_aten = torch.ops.aten
CONVS = (_aten.conv2d.default, _aten.convolution.default)
BATCH_NORMS = (_aten.batch_norm.default, _aten._native_batch_norm_legit_no_training.default)


def _attr(gm: fx.GraphModule, node) -> torch.Tensor | None:
    if node is None:
        return None
    if not isinstance(node, fx.Node) or node.op != "get_attr":
        raise LookupError
    obj = gm
    for part in node.target.split("."):
        obj = getattr(obj, part)
    return obj.detach()


def fold_aten_batchnorm(gm: fx.GraphModule) -> int:
    """Fold every foldable conv -> batch_norm pair of `gm` in place; returns how many."""
    folded = 0
    for bn in list(gm.graph.nodes):
        if bn.op != "call_function" or bn.target not in BATCH_NORMS:
            continue
        if bn.target == _aten.batch_norm.default:
            x, gamma, beta, mean, var, training, _momentum, eps = (list(bn.args) + [None] * 9)[:8]
            if training:
                continue
            outputs = [bn]
        else:  # (input, weight, bias, running_mean, running_var, momentum, eps) -> (out, _, _)
            x, gamma, beta, mean, var, _momentum, eps = bn.args[:7]
            outputs = [u for u in bn.users if u.target is __import__("operator").getitem and u.args[1] == 0]
            if len(outputs) != 1 or len(bn.users) != 1:
                continue
        conv = x
        if (not isinstance(conv, fx.Node) or conv.op != "call_function" or conv.target not in CONVS
                or len(conv.users) != 1):
            continue
        try:
            w = _attr(gm, conv.args[1])
            b = _attr(gm, conv.args[2] if len(conv.args) > 2 else None)
            gamma_t, beta_t, mean_t, var_t = (_attr(gm, n) for n in (gamma, beta, mean, var))
        except (LookupError, AttributeError):
            continue
        if mean_t is None or var_t is None or w is None:
            continue
        eps = 1e-5 if eps is None else float(eps)
        s = torch.rsqrt(var_t.double() + eps)
        if gamma_t is not None:
            s = s * gamma_t.double()
        b0 = torch.zeros(w.shape[0], dtype=torch.float64) if b is None else b.double()
        new_b = (b0 - mean_t.double()) * s + (0.0 if beta_t is None else beta_t.double())
        new_w = (w.double() * s.reshape(-1, *([1] * (w.dim() - 1)))).to(w.dtype)
        names = []
        for suffix, t in (("weight", new_w), ("bias", new_b.to(w.dtype))):
            name = f"_spiree_bn_fold_{folded}_{suffix}"
            gm.register_buffer(name, t.contiguous())
            names.append(name)
        with gm.graph.inserting_before(conv):
            w_node, b_node = (gm.graph.get_attr(n) for n in names)
        args = list(conv.args)
        if conv.target == _aten.conv2d.default:
            defaults = [None, None, None, [1, 1], [0, 0], [1, 1], 1]
            args = args + defaults[len(args):]
        args[1], args[2] = w_node, b_node
        conv.args = tuple(args)
        outputs[0].replace_all_uses_with(conv)
        for node in ([outputs[0], bn] if outputs[0] is not bn else [bn]):
            gm.graph.erase_node(node)
        folded += 1
    if folded:
        gm.graph.eliminate_dead_code()
        gm.recompile()
    return folded
