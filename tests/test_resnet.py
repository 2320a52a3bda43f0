"""KxK convolutions end to end: ResNet-18 (tests/resnet18.py) through `spiree compile` and
`spiree run --check` on host, arm64 (qemu) and wasm32, dense and 90% group-sparse, at a small
resolution; a user's own residual network saved with torch.export.save (.pt2) gets the KxK
kernels too. Every convolution and the max pooling must run on spiree's kernels (manifest)."""
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from spiree.targets import get_target

from .conftest import have_qemu

ROOT = Path(__file__).resolve().parents[1]
SPIREE = [sys.executable, "-m", "spiree"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # `tests.resnet18:factory` for compile and --check


def spiree(*args):
    return subprocess.run([*SPIREE, *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=ENV)


def conv_rows(manifest):
    return [r for r in manifest["passes"] if r["op"].startswith("conv") and r["op"] != "conv1x1"]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["host", "arm64", "wasm32"])
@pytest.mark.parametrize("sparsity", [None, 0.9])
def test_resnet18_compile_and_check(tmp_path, target, sparsity):
    if target == "arm64" and not have_qemu():
        pytest.skip("qemu-aarch64 not installed (scripts/setup.sh)")
    out = tmp_path / "r18.vmfb"
    prune = ["--sparsity", sparsity, "--group", 4] if sparsity else []
    p = spiree("-q", "compile", "tests.resnet18:factory", "--resolution", 32, "--target", target, *prune, "-o", out)
    assert p.returncode == 0, p.stderr
    m = json.loads(out.with_suffix(".json").read_text())
    rows = conv_rows(m)
    # stem 7x7/2, sixteen 3x3 (three with stride 2), three 1x1/2 shortcuts
    assert sorted(r["op"] for r in rows) == sorted(["conv7x7s2"] + ["conv3x3"] * 13 + ["conv3x3s2"] * 3 + ["conv1x1s2"] * 3)
    expect = "sparse" if sparsity else "dense"
    assert [r["decision"] for r in rows] == [expect] * 20, [(r["op"], r["decision"], r["reason"]) for r in rows]
    assert sum("residual add" in r["epilogue"] for r in rows) == 8  # every block's add is fused
    lanes = get_target(target).vector_f32_lanes
    assert [r["kernel"] for r in m["passes"] if r["op"] == "maxpool3x3"] == [f"spiree_maxpool3x3s2_f32_v{lanes}"]
    p = spiree("run", out, "--check")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "check: PASSED" in p.stdout and "top-1 agrees" in p.stdout


class UserBlock(nn.Module):
    """A residual block nobody's registry has: 5x5 conv + BN + SiLU, 3x3 conv, + input."""

    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, c, 5, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.b = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return x + self.b(nn.functional.silu(self.bn(self.a(x))))


class UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1)
        self.b1 = UserBlock(16)
        self.down = nn.Conv2d(16, 32, 3, 2, 1)
        self.b2 = UserBlock(32)
        self.fc = nn.Linear(32, 5)

    def forward(self, x):
        x = self.b1(torch.relu(self.stem(x)))
        x = self.b2(torch.relu(self.down(x)))
        return self.fc(x.mean((2, 3)))


@pytest.mark.parametrize("sparsity", [None, 0.7])
def test_user_residual_network_pt2(tmp_path, sparsity):
    from spiree.models.init import randomize_
    from spiree.pipeline.prune import PruneOptions, prune

    model = randomize_(UserNet(), 3).eval()
    if sparsity:
        model = prune(model, PruneOptions(sparsity, 4, min_positions=1)).model
    x = torch.randn(1, 3, 24, 24, generator=torch.Generator().manual_seed(4))
    torch.export.save(torch.export.export(model, (x,)), tmp_path / "user.pt2")
    out = tmp_path / "user.vmfb"
    p = spiree("-q", "compile", tmp_path / "user.pt2", "-o", out)
    assert p.returncode == 0, p.stderr
    rows = conv_rows(json.loads(out.with_suffix(".json").read_text()))
    assert [r["op"] for r in rows] == ["conv3x3s2", "conv5x5", "conv3x3", "conv3x3s2", "conv5x5", "conv3x3"]
    # the dense stem (3 input channels, stride 2) on the direct kernel where the host has AVX-512
    direct = not sparsity and get_target("host").vector_f32_lanes == 16 and platform.machine() == "x86_64"
    assert rows[0]["kernel"].startswith("spiree_convdirect_f32_k3s2_" if direct else "spiree_conv_f32_")
    assert all(r["kernel"].startswith("spiree_conv_f32_") for r in rows[1:])
    assert {r["decision"] for r in rows} == {"sparse" if sparsity else "dense"}
    np.save(tmp_path / "x.npy", x.numpy())
    p = spiree("run", out, "--input", tmp_path / "x.npy", "--check")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "check: PASSED" in p.stdout
