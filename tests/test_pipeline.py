"""Export -> compile -> run on every target, against eager PyTorch."""
import numpy as np
import pytest
import torch
from torch import nn

import spiree
from spiree.pipeline.artifact import Artifact
from spiree.pipeline.errors import ArtifactError, ExportError, RunError
from spiree.pipeline.export import export

from .conftest import torch_reference

ATOL = 1e-4  # max abs error on logits, the bar


def _input(seed=0, shape=(1, 3, 32, 32)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
@pytest.mark.parametrize("target", ["host", "arm64", "wasm32"])
def test_tiny_cnn_matches_pytorch(tiny_artifacts, target, device):
    x = _input(1)
    y = spiree.load(tiny_artifacts[target], device=device)(x)
    ref = torch_reference("tiny_cnn", x)
    err = np.abs(y - ref).max()
    assert y.shape == (1, 10)
    assert err <= ATOL, f"tiny_cnn on {target}/{device}: max abs error {err} > {ATOL}"
    assert np.abs(ref).max() > 0.1  # a real signal, not all zeros


def test_wasm32_compiles_to_wasm_executables(tiny_artifacts):
    a = Artifact.load(tiny_artifacts["wasm32"])
    assert a.manifest["executable_format"] == "system-wasm-wasm_32"
    assert b"system-wasm-wasm_32" in a.vmfb
    assert b"\x00asm" in a.vmfb  # the wasm module magic of the embedded executables


def test_same_input_same_flags_byte_identical_vmfb():
    a = spiree.compile("tiny_cnn", target="arm64")
    b = spiree.compile("tiny_cnn", target="arm64")
    assert a.vmfb == b.vmfb
    assert a.manifest == b.manifest


def test_compile_an_nn_module_directly():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()
    x = torch.randn(1, 3, 9, 7)
    art = spiree.compile(m, (x,), target="host")
    y = spiree.load(art)(x.numpy())
    with torch.no_grad():
        ref = m(x).numpy()
    assert np.abs(y - ref).max() <= 1e-5


def test_emit_mlir_saves_each_stage(tmp_path):
    spiree.compile("tiny_cnn", target="host", emit_mlir=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["00-export.mlir", "00-export.mlirbc", "01-passes.mlir", "01-passes.mlirbc"]
    text = (tmp_path / "00-export.mlir").read_text()
    assert "linalg.conv_2d_nchw_fchw" in text and "linalg.depthwise_conv_2d_nchw_chw" in text
    assert "batch_norm" not in text  # folded before export


def test_unsupported_op_is_named():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.special.i0(x)

    with pytest.raises(ExportError, match=r"torch-mlir cannot lower the operation 'aten\.i0' to linalg"):
        export(Odd(), (torch.rand(2, 8),))


def test_wrong_input_shape_and_dtype(tiny_artifacts):
    m = spiree.load(tiny_artifacts["host"])
    with pytest.raises(RunError, match=r"input 'input0' must be float32\[1, 3, 32, 32\], got float32\[1, 3, 31, 32\]"):
        m(np.zeros((1, 3, 31, 32), np.float32))
    with pytest.raises(RunError, match=r"input 'input0' must be float32\[1, 3, 32, 32\], got float64\[1, 3, 32, 32\]"):
        m(np.zeros((1, 3, 32, 32), np.float64))
    with pytest.raises(RunError, match=r"the model takes 1 input\(s\) \(input0: float32\[1, 3, 32, 32\]\), got 2"):
        m(np.zeros((1, 3, 32, 32), np.float32), np.zeros(1, np.float32))


def test_artifact_for_another_target_is_refused(tiny_artifacts):
    with pytest.raises(ArtifactError, match=r"compiled for target 'arm64', not 'host': run it with --target arm64"):
        spiree.load(tiny_artifacts["arm64"], target="host")
    raw = tiny_artifacts["arm64"].read_bytes()
    with pytest.raises(ArtifactError, match=r"contains no embedded-elf-x86_64 executable"):
        spiree.load(raw, target="host")


def test_corrupted_artifact(tiny_artifacts, tmp_path):
    bad = tmp_path / "bad.vmfb"
    data = bytearray(tiny_artifacts["host"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    bad.with_suffix(".json").write_text(tiny_artifacts["host"].with_suffix(".json").read_text())
    with pytest.raises(ArtifactError, match=r"bad\.vmfb is corrupted \(its checksum does not match bad\.json\)"):
        spiree.load(bad)
    # Raw bytes that are no vmfb at all: IREE's own check.
    with pytest.raises(RunError, match=r"the \.vmfb is not a valid IREE module"):
        spiree.load(b"garbage" * 100 + b"embedded-elf-x86_64", target="host")


def test_qemu_missing(tiny_artifacts, monkeypatch):
    import shutil as _sh

    real = _sh.which
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None if "qemu" in name else real(name, *a, **k))
    with pytest.raises(RunError, match=r"qemu-aarch64 is not installed, so arm64 artifacts cannot run on this x86 machine: run scripts/setup\.sh"):
        spiree.load(tiny_artifacts["arm64"])(_input())


def test_wasm32_vmfb_is_byte_identical_too():
    # IREE's wasm linker records a random temporary file name in the module's name section;
    # spiree links wasm through a wrapper that strips it.
    a = spiree.compile("tiny_cnn", target="wasm32")
    b = spiree.compile("tiny_cnn", target="wasm32")
    assert a.vmfb == b.vmfb
    assert b"module_linked-" not in a.vmfb
