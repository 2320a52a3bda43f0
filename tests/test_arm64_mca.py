"""bench/arm64_mca.py: the hot loop of an arm64 kernel, found in clang's assembly and run
through llvm-mca (no timing)."""
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from spiree.mlir_passes.kernels.spmm import SpmmVariant
from spiree.targets import get_target

pytestmark = pytest.mark.skipif(not (shutil.which("llvm-mca") and shutil.which("clang")),
                                reason="needs clang and llvm-mca (scripts/setup.sh installs llvm)")


def _bench():
    path = Path(__file__).resolve().parents[1] / "bench" / "arm64_mca.py"
    spec = importlib.util.spec_from_file_location("arm64_mca", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_instruction_flops():
    m = _bench()
    assert m.instruction_flops("fmla\tv12.4s, v11.4s, v21.s[0]") == 8
    assert m.instruction_flops("fmla v8.4s, v13.4s, v16.4s") == 8
    assert m.instruction_flops("fmadd s0, s1, s2, s3") == 2
    assert m.instruction_flops("fadd v0.4s, v1.4s, v2.4s") == 4
    assert m.instruction_flops("fmul d0, d1, d2") == 1
    assert m.instruction_flops("ldp q13, q14, [x14]") == 0
    assert m.instruction_flops("fcmgt v11.4s, v2.4s, v12.4s") == 0
    assert m.instruction_flops("add x14, x2, x14, lsl #2") == 0


def test_innermost_loops_skip_loops_holding_loops():
    m = _bench()
    lines = [".LBB0_1:", "\tadd x1, x1, #1", ".LBB0_2:", "\tfmla v0.4s, v1.4s, v2.4s", "\tsubs x0, x0, #1",
             "\tb.ne .LBB0_2", "\tcmp x1, x3", "\tb.lo .LBB0_1", "\tret"]
    loops = m.innermost_loops("f", lines)
    assert [(l.label, l.lines) for l in loops] == [
        (".LBB0_2", ("fmla v0.4s, v1.4s, v2.4s", "subs x0, x0, #1", "b.ne .LBB0_2"))]
    assert loops[0].flops == 8


def test_mca_of_the_sparse_kernel_hot_loop():
    m = _bench()
    target = get_target("arm64")
    v = SpmmVariant(16, 4, 16, target.vector_f32_lanes)  # MobileNet-v1's sparse 1x1 variant on arm64
    fns = m.functions(m.compile_to_asm([v], target))
    loop = m.hot_loop(v.name, fns[v.name])
    # One kept input channel: 16 pixels (4 vectors) x 4 output channels = 16 FMAs of 4 lanes.
    assert sum(1 for l in loop.lines if l.startswith("fmla")) == 16
    assert loop.flops == 128 and loop.branches_inside == 0
    assert any(l.startswith("ldrsh") for l in loop.lines)  # the 16-bit index load
    for cpu, model in (("cortex-a55", "CortexA55"), ("cortex-a76", "A57")):
        r = m.run_mca(loop, cpu, iterations=50)
        assert r["iterations"] == 50 and r["instructions"] == 50 * loop.instructions
        assert r["model"] == model
        # 16 FMAs cannot issue in fewer cycles than the model's FMA pipes allow, nor take forever.
        assert 4 <= r["cycles_per_iteration"] <= 200


def test_parse_mca_names_a_missing_line():
    m = _bench()
    with pytest.raises(ValueError, match="'Total Cycles'"):
        m.parse_mca("Iterations: 10\nInstructions: 20\n")
