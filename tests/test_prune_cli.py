"""Pruning through inspect and the command line: prune -> compile -> run --check."""
import json
import os
import subprocess

import numpy as np
import pytest
import torch
from torch import nn

from spiree.mlir_passes import pattern
from spiree.pipeline.inspect import format_table, layer_table

from .test_cli import SPIREE, error_line, spiree


class HandMade(nn.Module):
    """A 1x1 conv with a hand-made G=4 K=8 pattern, a Linear with an unbalanced G=2 one, and a
    depthwise conv."""

    def __init__(self):
        super().__init__()
        self.pw = nn.Conv2d(32, 12, 1, bias=False)
        self.dw = nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False)
        self.fc = nn.Linear(12, 6)
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            w = torch.randn(12, 32, generator=gen) + 3.0  # no accidental zeros
            for g in range(3):  # groups of 4 channels, each keeps 8 of 32 input channels
                keep = torch.zeros(32)
                keep[torch.arange(8) * 4 + g] = 1
                w[4 * g:4 * g + 4] *= keep
            self.pw.weight.copy_(w[:, :, None, None])
            f = torch.randn(6, 12, generator=gen) + 3.0
            f[0:2, 5:] = 0  # group 0 keeps 5, group 1 keeps 12, group 2 keeps 3
            f[4:6, 3:] = 0
            self.fc.weight.copy_(f)

    def forward(self, x):
        return self.fc(self.dw(self.pw(x)).mean((2, 3)))


def test_inspect_detects_a_hand_made_pattern():
    rows = {l.name: l for l in layer_table(HandMade(), (torch.randn(1, 32, 4, 4),))}
    pw, dw, fc = rows["pw"], rows["dw"], rows["fc"]
    assert (pw.group, pw.k, pw.balanced, pw.compiler) == (4, 8, True, "sparse")
    assert pw.sparsity == 0.75 and pw.macs_saved == pw.macs * 3 // 4
    # Linear layers run on the pointwise kernel too: 32 of 72 weights are zero (44% >= 20%).
    assert (fc.group, fc.k, fc.balanced, fc.compiler, fc.macs_saved) == (2, 12, False, "sparse", 32)
    assert (dw.group, dw.compiler, dw.macs_saved) == (0, "dense (depthwise)", 0)
    table = format_table(list(rows.values()))
    assert "dense (depthwise)" in table and "G" in table.splitlines()[0]


def test_compiler_rule_is_one_function():
    pat = pattern.detect(np.kron(np.eye(4), np.ones((4, 1))).astype(np.float32))  # [16, 4], G=4, K=1
    assert pat.group == 4 and pat.sparsity == 0.75
    assert pattern.compiler_uses("conv1x1", pat) and pattern.compiler_uses("linear", pat)
    assert not pattern.compiler_uses("dwconv", pat) and not pattern.compiler_uses("conv1x1", None)
    assert not pattern.compiler_uses("conv1x1", pat, min_sparsity=0.8)


def test_prune_compile_run_check_host(tmp_path):
    pt2 = tmp_path / "pruned.pt2"
    p = spiree("prune", "tiny_cnn", "--sparsity", "0.7", "--group", "4", "--rearrange", "-o", pt2)
    assert p.returncode == 0, p.stderr
    assert "4 layer(s) pruned to G=4 balanced" in p.stdout and "without rearrangement" in p.stdout
    p = spiree("inspect", pt2)
    assert p.returncode == 0, p.stderr
    line = next(l for l in p.stdout.splitlines() if l.startswith("features.3.1.0 "))
    assert "conv 1x1" in line and " 4  19 " in line and line.endswith("sparse")
    out = tmp_path / "pruned.vmfb"
    assert spiree("-q", "compile", pt2, "-o", out).returncode == 0
    p = spiree("run", out, "--check")
    assert p.returncode == 0 and "check: PASSED" in p.stdout, p.stdout + p.stderr


def test_compile_with_sparsity_is_deterministic_and_checks(tmp_path):
    a, b = tmp_path / "a.vmfb", tmp_path / "b.vmfb"
    for out in (a, b):
        p = spiree("compile", "tiny_cnn", "--sparsity", "0.8", "--group", "4", "--rearrange", "-o", out)
        assert p.returncode == 0, p.stderr
    assert "prune: done in" in p.stderr
    assert a.read_bytes() == b.read_bytes()
    m = json.loads(a.with_suffix(".json").read_text())
    assert m["sparsity"]["sparsity"] == 0.8 and m["sparsity"]["group"] == 4 and m["sparsity"]["rearrange"]
    assert m["sparsity"]["layers_pruned"] == 4
    layers = {l["name"]: l for l in m["layers"]}
    assert layers["features.3.1.0"]["group"] == 4 and layers["features.3.1.0"]["compiler"] == "sparse"
    p = spiree("run", a, "--check")
    assert p.returncode == 0 and "check: PASSED" in p.stdout, p.stdout + p.stderr
    m["sparsity"]["sparsity"] = 0.5  # the reference is now a differently pruned network
    a.with_suffix(".json").write_text(json.dumps(m))
    assert spiree("run", a, "--check").returncode == 1


@pytest.mark.parametrize("args, message", [
    (["prune", "tiny_cnn", "--sparsity", "1.5", "-o", "{tmp}/x.pt2"],
     "spiree: error: sparsity 1.5 is outside [0, 1): it is the fraction of weights removed, e.g. 0.7"),
    (["prune", "tiny_cnn", "--sparsity", "0.5", "--group", "3", "-o", "{tmp}/x.pt2"],
     "spiree: error: group size G=3 is not supported: choose one of 1, 2, 4, 8"),
    (["prune", "tiny_cnn", "--sparsity", "0.5", "--layers", "features.9", "-o", "{tmp}/x.pt2"],
     "spiree: error: no layer 'features.9' in the model: name one of its Conv2d (groups=1) or Linear modules, "
     "e.g. 'features.0.0', 'features.1.1.0', 'features.2.1.0' (5 in all)"),
    (["prune", "tiny_cnn", "--sparsity", "0.5", "-o", "{tmp}/x.vmfb"],
     "spiree: error: output must end in .pt2, got {tmp}/x.vmfb: pass -o NAME.pt2"),
    (["compile", "tiny_cnn", "--sparsity", "-0.5", "-o", "{tmp}/x.vmfb"],
     "spiree: error: sparsity -0.5 is outside [0, 1): it is the fraction of weights removed, e.g. 0.7"),
    (["compile", "tiny_cnn", "--group", "8", "-o", "{tmp}/x.vmfb"],
     "spiree: error: --group only applies when pruning: add --sparsity S (e.g. 0.7)"),
    (["compile", "dwonly:make", "--sparsity", "0.5", "-o", "{tmp}/x.vmfb"],
     "spiree: error: the model has no prunable layers: spiree prunes 1x1 Conv2d and Linear layers, and KxK "
     "Conv2d (groups=1) with at least 32 positions (input channels x kernel area); depthwise convolutions stay dense"),
])
def test_bad_prune_input_one_clear_line(tmp_path, args, message):
    (tmp_path / "dwonly.py").write_text(
        "import torch\n"
        "def make():\n"
        "    return torch.nn.Conv2d(8, 8, 3, groups=8), (torch.rand(1, 8, 6, 6),)\n")
    p = subprocess.run([*SPIREE, *[a.format(tmp=tmp_path) for a in args]], capture_output=True, text=True,
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert p.returncode == 1, p.stderr
    assert error_line(p) == message.format(tmp=tmp_path)
    assert list(tmp_path.glob("x.*")) == []
