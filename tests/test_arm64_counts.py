"""arm64 instruction counts under qemu (no timing): spiree's TCG plugin counts a hand-made guest
program exactly, and one inference of tiny_cnn per dispatch, dense vs 90% sparse."""
import shutil
import subprocess
import textwrap

import numpy as np
import pytest

from spiree.models.registry import load_model, parse_model_source
from spiree.pipeline.arm64_counts import instruction_counts
from spiree.pipeline.build import BuildOptions, build
from spiree.pipeline.prune import PruneOptions
from spiree.pipeline.embedded_elf import embedded_elfs
from spiree.pipeline.errors import RunError
from spiree.pipeline.insn_count import parse_report, run_counted

from .conftest import have_qemu

pytestmark = [pytest.mark.arm64, pytest.mark.skipif(not have_qemu(), reason="needs qemu-aarch64 (scripts/setup.sh)")]

# A static aarch64 program without libc: maps a page, writes a 3-instruction countdown loop into
# it, makes it executable with mprotect (as IREE's loader does with an executable) and calls it
# argc times with x0 = 100: 100 x (subs, b.ne) + ret = 201 instructions per call.
GUEST = textwrap.dedent("""
    static long sys6(long n, long a, long b, long c, long d, long e, long f) {
      register long x8 __asm__("x8") = n;
      register long x0 __asm__("x0") = a;
      register long x1 __asm__("x1") = b;
      register long x2 __asm__("x2") = c;
      register long x3 __asm__("x3") = d;
      register long x4 __asm__("x4") = e;
      register long x5 __asm__("x5") = f;
      __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
      return x0;
    }
    __attribute__((used)) void guest_main(long argc) {
      unsigned* code = (unsigned*)sys6(222 /* mmap */, 0, 4096, 3 /* RW */, 0x22 /* PRIVATE|ANON */, -1, 0);
      code[0] = 0xF1000400u; /* subs x0, x0, #1 */
      code[1] = 0x54FFFFE1u; /* b.ne .-4 */
      code[2] = 0xD65F03C0u; /* ret */
      sys6(226 /* mprotect */, (long)code, 4096, 5 /* R|X */, 0, 0, 0);
      long (*f)(long) = (long (*)(long))code;
      for (long i = 0; i < argc; ++i) f(100);
      sys6(93 /* exit */, 0, 0, 0, 0, 0, 0);
    }
    __attribute__((naked)) void _start(void) { __asm__("ldr x0, [sp]\\n bl guest_main\\n"); }
""")
CODE = bytes.fromhex("000400f1" "e1ffff54" "c0035fd6")


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    if not shutil.which("clang") or not shutil.which("ld.lld"):
        pytest.skip("needs clang and lld (scripts/setup.sh)")
    d = tmp_path_factory.mktemp("guest")
    (d / "guest.c").write_text(GUEST)
    subprocess.run(["clang", "--target=aarch64-linux-gnu", "-O1", "-nostdlib", "-static", "-ffreestanding",
                    "-fuse-ld=lld", "-o", str(d / "guest"), str(d / "guest.c")], check=True)
    return str(d / "guest")


def test_plugin_counts_a_guest_program_exactly(guest):
    for args, calls in (([], 1), (["a", "b", "c"], 4)):
        r = run_counted([guest, *args])
        assert len(r.vcpus) == 1
        assert len(r.regions) == 1 and r.regions[0].data[:12] == CODE and len(r.regions[0].data) == 4096
        assert [(e.region, e.address, e.insns, e.entered) for e in r.entries] == [
            (0, r.regions[0].start, 201 * calls, calls)]
        assert r.inside == 201 * calls


def test_plugin_is_deterministic_and_more_work_counts_more(guest):
    a, b = run_counted([guest, "x"]), run_counted([guest, "x"])
    assert (a.total, a.outside, a.inside) == (b.total, b.outside, b.inside)
    more = run_counted([guest, "x", "y"])
    assert more.inside - a.inside == 201
    assert more.outside > a.outside


def test_report_errors_are_raised():
    with pytest.raises(RunError, match="not an instruction-count report"):
        parse_report("hello\n")
    with pytest.raises(RunError, match="plugin failed: more than 256 executable regions"):
        parse_report("spiree-insn-count 1\nerror more than 256 executable regions\n")


@pytest.fixture(scope="module")
def tiny_counts():
    base = load_model(parse_model_source("tiny_cnn"))
    x = base.example_inputs[0].numpy()
    dense = build(base, "arm64", options=BuildOptions(kernels="dense"))
    sparse = build(base, "arm64", options=BuildOptions(kernels="sparse", prune=PruneOptions(0.9, 4)))
    assert any(r["decision"] == "sparse" for r in sparse.manifest["passes"])
    return dense, sparse, x, instruction_counts(dense.vmfb, [x]), instruction_counts(sparse.vmfb, [x])


def test_tiny_cnn_dense_vs_sparse90_counts(tiny_counts):
    dense, sparse, x, d, s = tiny_counts
    for c in (d, s):
        per = c["per_inference"]
        assert per["total"] == per["dispatch"] + per["runtime"] and per["dispatch"] > 0 and per["runtime"] > 0
        assert sum(k["instructions"] for k in c["dispatches"]) == per["dispatch"]
        assert all(k["calls"] > 0 for k in c["dispatches"])
        assert {"pointwise", "dwconv", "iree"} <= set(c["by_kind"])
    assert s["by_kind"]["pointwise"] < 0.5 * d["by_kind"]["pointwise"]
    assert s["per_inference"]["dispatch"] < d["per_inference"]["dispatch"]
    assert s["per_inference"]["total"] < d["per_inference"]["total"]
    # Depthwise layers run the same kernel in both builds (their dispatch wrappers may differ by
    # an instruction per call); IREE's own dispatches are the same code.
    assert abs(s["by_kind"]["dwconv"] - d["by_kind"]["dwconv"]) <= 1e-3 * d["by_kind"]["dwconv"]
    assert s["by_kind"]["iree"] == d["by_kind"]["iree"]


def test_dispatch_counts_name_every_executed_export_and_repeat_exactly(tiny_counts):
    dense, _, x, d, _ = tiny_counts
    names = {f.name for elf in embedded_elfs(dense.vmfb) for f in elf.functions}
    assert {k["name"] for k in d["dispatches"]} <= names
    assert {"pointwise_0", "dwconv_0"} <= {k["name"] for k in d["dispatches"]}
    again = instruction_counts(dense.vmfb, [x], iterations=(1, 3))
    assert again["dispatches"] == d["dispatches"]
    assert again["per_inference"]["dispatch"] == d["per_inference"]["dispatch"]


def test_counts_refuse_other_targets():
    with pytest.raises(ValueError, match="aarch64 targets"):
        instruction_counts(b"", [np.zeros(1, np.float32)], "wasm32")
    with pytest.raises(RunError, match="no arm64 embedded-ELF executables"):
        instruction_counts(b"not a vmfb", [np.zeros(1, np.float32)], "arm64")
