"""Full MobileNet-v1 224 through the CLI, one run per target (slow; CI runs them)."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def spiree(*args):
    return subprocess.run([sys.executable, "-m", "spiree", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("target", ["host", "arm64"])
def test_mobilenet_v1_matches_pytorch(tmp_path, target):
    out = tmp_path / f"mnv1_{target}.vmfb"
    p = spiree("compile", "mobilenet_v1", "--target", target, "-o", out)
    assert p.returncode == 0, p.stderr
    p = spiree("run", out, "--check", "--atol", "1e-4")
    # `--check` passes when `compare` does (tests/test_check.py): max abs error <= --atol and the
    # same top-5 as PyTorch; its verdict is the exit code and the last line.
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "check: PASSED", p.stdout + p.stderr
    assert "top-5 identical" in p.stdout


def test_mobilenet_v1_wasm32_compiles(tmp_path):
    out = tmp_path / "mnv1_wasm.vmfb"
    p = spiree("compile", "mobilenet_v1", "--target", "wasm32", "-o", out)
    assert p.returncode == 0, p.stderr
    assert json.loads(out.with_suffix(".json").read_text())["executable_format"] == "system-wasm-wasm_32"
    assert b"system-wasm-wasm_32" in out.read_bytes()
