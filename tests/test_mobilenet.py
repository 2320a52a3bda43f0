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
    assert p.returncode == 0, p.stdout + p.stderr
    line = next(l for l in p.stdout.splitlines() if l.startswith("check output0"))
    err = float(line.split("max abs error ")[1].split()[0])
    assert err <= 1e-4, line
    assert "top-5 identical" in line


def test_mobilenet_v1_wasm32_compiles(tmp_path):
    out = tmp_path / "mnv1_wasm.vmfb"
    p = spiree("compile", "mobilenet_v1", "--target", "wasm32", "-o", out)
    assert p.returncode == 0, p.stderr
    assert json.loads(out.with_suffix(".json").read_text())["executable_format"] == "system-wasm-wasm_32"
    assert b"system-wasm-wasm_32" in out.read_bytes()
