import pytest

from spiree.targets import TARGETS, get_target


def test_targets_are_data():
    assert set(TARGETS) >= {"host", "arm64", "arm64-linux", "wasm32"}
    arm = get_target("arm64")
    assert arm.triple == "aarch64-linux-android30" and arm.cpu_features == "+neon"
    assert arm.vector_f32_lanes == 4 and arm.executable_format == "embedded-elf-arm_64"
    assert "--iree-llvmcpu-target-triple=aarch64-linux-android30" in arm.iree_flags()
    w = get_target("wasm32")
    assert w.triple == "wasm32-unknown-emscripten" and w.cpu_features == "+simd128"
    assert w.executable_format == "system-wasm-wasm_32"


def test_unknown_target_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown target 'riscv': choose one of host, arm64, arm64-linux, wasm32"):
        get_target("riscv")
