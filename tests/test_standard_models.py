"""The standard architectures (MobileNetV2, MobileNetV3-Large, EfficientNet-B0, ResNet) through
the CLI at 64x64 on host, dense and pruned to 70% (G=4): `spiree run --check` against PyTorch
(slow; CI runs them). The published figures at 224 are checked in test_models.py."""
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

FAMILIES = ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "resnet18")


def spiree(*args):
    return subprocess.run([sys.executable, "-m", "spiree", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse70"])
@pytest.mark.parametrize("model", FAMILIES)
def test_standard_model_matches_pytorch_on_host(tmp_path, model, sparse):
    out = tmp_path / f"{model}.vmfb"
    prune = ["--sparsity", "0.7", "--group", "4"] if sparse else []
    p = spiree("-q", "compile", model, "--resolution", 64, "--target", "host", "-o", out, "--report", *prune)
    assert p.returncode == 0, p.stderr
    assert "dwconv" in p.stdout or model.startswith("resnet")  # the --report table was printed
    p = spiree("run", out, "--check", "--atol", "1e-4")
    assert p.returncode == 0, p.stdout + p.stderr
    line = next(l for l in p.stdout.splitlines() if l.startswith("check output0"))
    err = float(line.split("max abs error ")[1].split()[0])
    rel = float(line.split("max rel error ")[1].split(",")[0])
    assert err <= 1e-4 and rel <= 1e-4, line
    assert "top-5 identical" in line, line
