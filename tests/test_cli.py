"""The `spiree` command end to end, and its error lines for bad input."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SPIREE = [sys.executable, "-m", "spiree"]


def spiree(*args, cwd=None):
    return subprocess.run([*SPIREE, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def error_line(proc) -> str:
    lines = [l for l in proc.stderr.splitlines() if l.startswith("spiree: error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_compile_run_check_inspect_host(tmp_path):
    out = tmp_path / "t.vmfb"
    p = spiree("compile", "tiny_cnn", "--target", "host", "-o", out)
    assert p.returncode == 0, p.stderr
    assert "export: done in" in p.stderr and "compile: done in" in p.stderr  # progress lines
    m = json.loads(out.with_suffix(".json").read_text())
    assert m["target"] == "host" and m["inputs"][0]["shape"] == [1, 3, 32, 32]
    assert m["outputs"][0]["shape"] == [1, 10] and m["model"]["source"] == "tiny_cnn"
    np.save(tmp_path / "x.npy", np.ones((1, 3, 32, 32), np.float32))
    p = spiree("run", out, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy", "--check")
    assert p.returncode == 0, p.stderr
    assert "check: PASSED" in p.stdout and "top-5 identical" in p.stdout
    assert np.load(tmp_path / "y.npy").shape == (1, 10)
    p = spiree("inspect", out)
    assert p.returncode == 0 and "target host" in p.stdout and "features.1.1.0" in p.stdout


def test_check_fails_when_reference_differs(tmp_path):
    out = tmp_path / "t.vmfb"
    assert spiree("-q", "compile", "tiny_cnn", "-o", out, "--seed", "1").returncode == 0
    m = json.loads(out.with_suffix(".json").read_text())
    m["model"]["seed"] = 2  # the reference is now a different network
    out.with_suffix(".json").write_text(json.dumps(m))
    p = spiree("run", out, "--check")
    assert p.returncode == 1
    assert "check: FAILED" in p.stdout


def test_inspect_mobilenet_table():
    p = spiree("inspect", "mobilenet_v1")
    assert p.returncode == 0, p.stderr
    assert "568.7M multiply-adds, 4,231,976 parameters" in p.stdout
    assert "features.13.1.0  conv 1x1" in p.stdout


def test_inspect_list_shows_the_registry():
    from spiree.models.registry import REGISTRY

    p = spiree("inspect", "--list")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["name", "defaults", "description"]
    assert [l.split()[0] for l in lines[1:]] == list(REGISTRY)
    assert any(l.startswith("resnet50 ") and "width=1.0 num_classes=1000 resolution=224 batch=1" in l
               and "ResNet-50 (He et al. 2016)" in l for l in lines)


def test_inspect_without_model_or_with_both():
    p = spiree("inspect")
    assert p.returncode == 1
    assert error_line(p) == ("spiree: error: inspect needs a MODEL (registry name, .pt2 file, factory or .vmfb): "
                             "`spiree inspect --list` lists the registry")
    p = spiree("inspect", "--list", "resnet18")
    assert p.returncode == 1
    assert error_line(p) == "spiree: error: --list takes no model (got 'resnet18'): run `spiree inspect --list` alone"


def test_targets_lists_all():
    p = spiree("targets")
    assert p.returncode == 0
    for name in ("host", "arm64", "arm64-linux", "wasm32"):
        assert any(l.startswith(name + " ") for l in p.stdout.splitlines())


def test_help_on_every_command():
    for cmd in ([], ["compile"], ["run"], ["inspect"], ["targets"]):
        p = spiree(*cmd, "--help")
        assert p.returncode == 0 and "usage: spiree" in p.stdout


def test_usage_error_exit_code_2():
    assert spiree("compile").returncode == 2
    assert spiree("frobnicate").returncode == 2


@pytest.mark.parametrize("args, message", [
    (["compile", "mobilenet_v9", "-o", "{tmp}/x.vmfb"],
     "spiree: error: unknown model 'mobilenet_v9': use one of mobilenet_v1, mobilenet_v2, mobilenet_v3_large, efficientnet_b0, resnet18, resnet34, resnet50, tiny_cnn, tiny_resnet, a .pt2 file (torch.export.save), or package.module:factory"),
    (["compile", "tiny_cnn", "--target", "riscv", "-o", "{tmp}/x.vmfb"],
     "spiree: error: unknown target 'riscv': choose one of host, arm64, arm64-linux, wasm32 (see `spiree targets`)"),
    (["compile", "{tmp}/missing.pt2", "-o", "{tmp}/x.vmfb"],
     "spiree: error: model file {tmp}/missing.pt2 does not exist: pass a .pt2 written by torch.export.save"),
    (["run", "{tmp}/none.vmfb"],
     "spiree: error: artifact {tmp}/none.vmfb does not exist: compile one with `spiree compile`"),
])
def test_bad_input_one_clear_line(tmp_path, args, message):
    p = spiree(*[a.format(tmp=tmp_path) for a in args])
    assert p.returncode == 1
    assert error_line(p) == message.format(tmp=tmp_path)
    assert not (tmp_path / "x.vmfb").exists() and not (tmp_path / "x.json").exists()


def test_unsupported_op_leaves_no_artifact(tmp_path):
    (tmp_path / "oddmodel.py").write_text(
        "import torch\n"
        "class Odd(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.special.i0(torch.nn.functional.relu(x))\n"
        "def make():\n"
        "    return Odd(), (torch.rand(1, 4),)\n"
    )
    p = subprocess.run([*SPIREE, "compile", "oddmodel:make", "-o", str(tmp_path / "x.vmfb")],
                       capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert p.returncode == 1
    assert error_line(p).startswith("spiree: error: torch-mlir cannot lower the operation 'aten.i0' to linalg")
    assert list(tmp_path.glob("x.*")) == []


def test_wrong_input_shape_at_run_time(tmp_path, tiny_artifacts):
    np.save(tmp_path / "x.npy", np.ones((1, 3, 16, 16), np.float32))
    p = spiree("run", tiny_artifacts["host"], "--input", tmp_path / "x.npy")
    assert p.returncode == 1
    assert error_line(p) == ("spiree: error: input 'input0' must be float32[1, 3, 32, 32], got float32[1, 3, 16, 16]: "
                             "reshape/cast the array or recompile the model for this shape")


def test_run_on_the_wrong_target(tiny_artifacts):
    p = spiree("run", tiny_artifacts["arm64"], "--target", "host")
    assert p.returncode == 1
    assert "compiled for target 'arm64', not 'host'" in error_line(p)


def test_compile_report_and_kernel_modes(tmp_path):
    p = spiree("-q", "compile", "tiny_cnn", "--sparsity", "0.5", "--group", "4", "--report", "-o", tmp_path / "s.vmfb")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "  1  conv1x1    64x32x1x1        sparse    G=4 K=16 sparsity 0.50 [+ relu]" in lines
    assert "  3  linear     10x64            sparse    G=4 K=32 sparsity 0.50" in lines
    assert any(re.fullmatch(r"  4  dwconv3x3  16x1x3x3         kernel    spiree_dwconv_k3s1_v\d+_minmax \[\+ relu\]", l)
               for l in lines), p.stdout
    p = spiree("-q", "compile", "tiny_cnn", "--sparsity", "0.5", "--kernels", "dense", "--report", "-o", tmp_path / "d.vmfb")
    assert p.returncode == 0, p.stderr
    assert "dense     dense baseline build (sparsity not exploited)" in p.stdout
    p = spiree("-q", "compile", "tiny_cnn", "--kernels", "iree", "-o", tmp_path / "i.vmfb")
    assert p.returncode == 0 and json.loads((tmp_path / "i.json").read_text())["passes"] == []
    for name in ("s", "d", "i"):
        assert spiree("run", tmp_path / f"{name}.vmfb", "--check").returncode == 0
