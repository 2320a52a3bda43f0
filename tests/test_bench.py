"""`spiree bench`: builds, table, JSON and plot on small models (nothing here asserts a time)."""
import json

import pytest

from spiree.pipeline.benchmark import dispatch_kind, split_by_kind

from .conftest import have_qemu
from .test_cli import error_line, spiree

TOP_KEYS = {"format", "model", "target", "threads", "device", "group", "sparsities", "repeats", "warmup", "timing",
            "builds", "onnxruntime", "instructions_unavailable", "notes"}
ROW_KEYS = {"build", "kernels", "sparsity", "same_binary_as", "vmfb_bytes", "median_ms", "min_ms", "times_ms",
            "time_vs_dense", "time_vs_onnxruntime", "split_ms", "dispatch_ms", "sparse_layers", "decisions"}


def test_dispatch_kinds():
    assert [dispatch_kind(n) for n in ("pointwise_3", "dwconv_0", "linear_13", "conv_2",
                                       "main_dispatch_4_conv_112x112x32x3x3x3_f32", "main_dispatch_2_reduction_1024x49_f32")] \
        == ["pointwise", "dwconv", "linear", "conv", "iree", "iree"]
    assert split_by_kind({"pointwise_0": 1.0, "pointwise_1": 2.0, "main_dispatch_0_transpose": 0.5, "dwconv_0": 0.25}) \
        == {"pointwise": 3.0, "iree": 0.5, "dwconv": 0.25}


def test_bench_tiny_cnn_json_table_plot(tmp_path):
    out, png = tmp_path / "x.json", tmp_path / "x.png"
    p = spiree("bench", "tiny_cnn", "--sparsities", "0,0.7", "--repeats", "1", "--json", out, "--plot", png)
    assert p.returncode == 0, p.stderr
    j = json.loads(out.read_text())
    assert set(j) == TOP_KEYS
    assert (j["format"], j["model"], j["target"], j["threads"], j["repeats"]) == ("spiree-bench/1", "tiny_cnn", "host", 1, 1)
    assert [r["build"] for r in j["builds"]] == ["iree", "dense", "sparse 0", "sparse 0.7"]
    for r in j["builds"]:
        assert set(r) == ROW_KEYS, r["build"]
        assert len(r["times_ms"]) == 1 and r["median_ms"] > 0
    by = {r["build"]: r for r in j["builds"]}
    assert by["dense"]["time_vs_dense"] == 1.0
    assert by["sparse 0"]["same_binary_as"] == "dense"  # nothing pruned: the dense program, timed once
    assert by["sparse 0"]["times_ms"] == by["dense"]["times_ms"]
    assert (by["sparse 0.7"]["kernels"], by["sparse 0.7"]["sparsity"], by["sparse 0.7"]["same_binary_as"]) == ("sparse", 0.7, None)
    # The decisions are the manifest's: every 1x1 conv and the Linear are pruned (the first 1x1
    # conv too, with its 16 inputs); the 3x3 stem (27 positions) is not.
    assert [d["decision"] for d in by["sparse 0.7"]["decisions"] if d["op"] in ("conv1x1", "linear")] == \
        ["sparse", "sparse", "sparse", "sparse"]
    assert by["sparse 0.7"]["sparse_layers"] == 4 and by["dense"]["sparse_layers"] == 0
    # The split comes from the dispatch names: spiree's kernels by kind, IREE's own as "iree".
    assert set(by["iree"]["split_ms"]) == {"iree"}
    assert {"pointwise", "dwconv", "linear"} <= set(by["sparse 0.7"]["split_ms"])
    # (both rounded in the JSON: split_ms to 1e-3 per kind, dispatch_ms to 1e-4 per dispatch)
    rounding = 5e-4 * len(by["dense"]["split_ms"]) + 5e-5 * len(by["dense"]["dispatch_ms"])
    assert sum(by["dense"]["dispatch_ms"].values()) == pytest.approx(sum(by["dense"]["split_ms"].values()), rel=1e-2,
                                                                        abs=rounding)
    if j["onnxruntime"] is not None:
        assert j["onnxruntime"]["threads"] == 1 and by["dense"]["time_vs_onnxruntime"] > 0
    lines = p.stdout.splitlines()
    assert lines[0].startswith("spiree bench: tiny_cnn on host, 1 thread(s) (local-sync, 1 thread)")
    header = next(l for l in lines if l.startswith("build "))
    for col in ("median ms", "vs dense", "vs ORT", "pointwise ms", "dwconv ms", "iree ms"):
        assert col in header
    assert any(l.startswith("sparse 0.7 ") for l in lines)
    assert "byte-identical builds, timed once: sparse 0 = dense" in lines
    assert any(l.startswith("per-layer decisions (sparse 0.7: 4 of 5 sparse)") for l in lines)  # + the 3x3 stem, dense
    assert "[spiree] bench: [4/4] compiling sparse 0.7 for host ..." in p.stderr  # progress
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_an_artifact_on_two_threads(tmp_path):
    art = tmp_path / "s.vmfb"
    assert spiree("-q", "compile", "tiny_cnn", "--sparsity", "0.7", "-o", art).returncode == 0
    p = spiree("bench", art, "--threads", "2", "--repeats", "1", "--json", tmp_path / "a.json")
    assert p.returncode == 0, p.stderr
    j = json.loads((tmp_path / "a.json").read_text())
    assert (j["threads"], j["device"]) == (2, "local-task, 2 worker(s)")
    assert [(r["build"], r["kernels"], r["sparsity"]) for r in j["builds"]] == \
        [("iree", "iree", 0.7), ("dense", "dense", 0.7), ("artifact", "sparse", 0.7)]
    assert j["builds"][2]["sparse_layers"] == 4
    if j["onnxruntime"] is not None:
        assert j["onnxruntime"]["threads"] == 2


def test_bench_wasm32_time_inside_wasm(tmp_path):
    p = spiree("bench", "tiny_cnn", "--target", "wasm32", "--sparsities", "0.7", "--repeats", "1",
               "--json", tmp_path / "w.json")
    assert p.returncode == 0, p.stderr
    j = json.loads((tmp_path / "w.json").read_text())
    assert [r["build"] for r in j["builds"]] == ["iree", "dense", "sparse 0.7"]
    for r in j["builds"]:
        assert 0 < r["in_wasm_ms"] <= r["median_ms"], r
        assert r["copy_ms"] >= 0
    assert j["onnxruntime"] is None  # ONNX Runtime is no wasm32 reference
    assert "in wasm" in next(l for l in p.stdout.splitlines() if l.startswith("build "))


@pytest.mark.arm64
def test_bench_arm64_says_emulation_is_not_speed(tmp_path):
    if not have_qemu():
        pytest.skip("qemu-aarch64 is not installed (scripts/setup.sh)")
    p = spiree("bench", "tiny_cnn", "--target", "arm64", "--sparsities", "0.7", "--repeats", "1",
               "--json", tmp_path / "a.json")
    assert p.returncode == 0, p.stderr
    assert ("note: arm64 runs under qemu emulation on this x86_64 machine: its times measure the emulator, "
            "not the speed of an arm64 CPU; compare instruction counts instead") in p.stdout.splitlines()
    j = json.loads((tmp_path / "a.json").read_text())
    counted = all("instructions" in r for r in j["builds"])
    assert counted or j["instructions_unavailable"], "instruction counts are neither given nor said to be missing"
    if not counted:
        assert f"instruction counts: unavailable: {j['instructions_unavailable']}" in p.stdout.splitlines()


@pytest.mark.parametrize("args, message", [
    (["--sparsities", "0,x"], "spiree: error: --sparsities must be comma-separated numbers in [0, 1), e.g. 0,0.7,0.9, got '0,x'"),
    (["--sparsities", "0,1.5"], "spiree: error: sparsity 1.5 is outside [0, 1): pass values like 0,0.7,0.9"),
    (["--threads", "0"], "spiree: error: --threads must be a whole number >= 1 (1: the calling thread, N: IREE's "
                         "local-task device with N worker threads), got 0"),
    (["--json", "out.txt"], "spiree: error: out.txt must end in .json"),
])
def test_bench_bad_input_one_error_line(args, message):
    p = spiree("bench", "tiny_cnn", *args)
    assert p.returncode == 1
    assert error_line(p) == message


def test_bench_an_artifact_defaults_to_its_target(tmp_path, tiny_artifacts):
    p = spiree("bench", tiny_artifacts["wasm32"], "--repeats", "1", "--json", tmp_path / "w.json")
    assert p.returncode == 0, p.stderr
    j = json.loads((tmp_path / "w.json").read_text())
    assert j["target"] == "wasm32"
    assert [r["build"] for r in j["builds"]] == ["iree", "dense", "artifact"]
    p = spiree("bench", tiny_artifacts["wasm32"], "--target", "host", "--repeats", "1")
    assert p.returncode == 1
    assert error_line(p) == ("spiree: error: the artifact was compiled for target 'wasm32', not 'host': "
                             "bench it with --target wasm32")
