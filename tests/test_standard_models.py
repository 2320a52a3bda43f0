"""The standard architectures (MobileNetV2, MobileNetV3-Large, EfficientNet-B0, ResNet) through
the CLI at 64x64 on host, dense and pruned to 70% (G=4): `spiree run --check` against PyTorch
(slow; CI runs them). The published figures at 224 are checked in test_models.py."""
import subprocess
import sys

import numpy as np
import pytest

from spiree.pipeline.artifact import Artifact
from spiree.pipeline.check import compare
from spiree.pipeline.reference import reference_outputs

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
    art = Artifact.load(out)
    x = np.random.default_rng(0).standard_normal(art.inputs[0].shape).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    p = spiree("run", out, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy", "--check", "--atol", "1e-4")
    # Exit 0 is `compare` passing (tests/test_check.py): max abs error <= 1e-4, same top-5.
    assert p.returncode == 0 and p.stdout.splitlines()[-1] == "check: PASSED", p.stdout + p.stderr
    [c] = compare([np.load(tmp_path / "y.npy")], reference_outputs(art.manifest, [x]), atol=1e-4)
    assert c.passed and c.max_rel_error <= 1e-4 and c.top5_identical, (model, c)
