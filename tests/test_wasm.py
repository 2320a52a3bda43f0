"""wasm32 artifacts executed here: IREE's wasm code in Wasmtime via the host twin."""
import json
import struct
import subprocess
import sys

import numpy as np
import pytest

import spiree
from spiree.pipeline.wasm import binding
from spiree.pipeline.wasm import bridge as wasm_bridge
from spiree.pipeline.wasm.binding import BridgeLib
from spiree.pipeline.wasm.module import read_wasm_executable
from spiree.pipeline.wasm.runner import WasmToolRunner
from spiree.pipeline.wasm.twin import cached_twin, export_twin, host_twin
from spiree.pipeline.wasm.vmfb import parse_vmfb
from spiree.pipeline.artifact import Artifact
from spiree.pipeline.errors import RunError

from .conftest import have_qemu, torch_reference

ATOL = 1e-4


def _input(seed, shape=(1, 3, 32, 32)):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _wasm_segment(vmfb: bytes):
    layout = parse_vmfb(vmfb)
    return next(s for s in layout.segments if vmfb[s.data_offset:s.data_offset + 4] == b"\0asm")


def test_tiny_cnn_wasm32_matches_pytorch_over_several_calls(tiny_artifacts):
    model = spiree.load(tiny_artifacts["wasm32"])
    for seed in range(4):  # repeated calls reuse resident weights and transient buffers
        x = _input(seed)
        y = model(x)
        ref = torch_reference("tiny_cnn", x)
        err = np.abs(y - ref).max()
        assert y.shape == (1, 10)
        assert err <= ATOL, f"tiny_cnn on wasm32 (input seed {seed}): max abs error {err} > {ATOL}"


def test_tiny_cnn_wasm32_local_task_matches_pytorch(tiny_artifacts):
    # local-task runs IREE's fills on one worker while a wasm dispatch runs on another, on
    # other bytes of the same transient buffer: the bridge must read each binding once and
    # write back only what the dispatch changed.
    model = spiree.load(tiny_artifacts["wasm32"], device="local-task")
    assert model.device == "local-task"
    for seed in range(6):
        x = _input(seed)
        err = np.abs(model(x) - torch_reference("tiny_cnn", x)).max()
        assert err <= ATOL, f"tiny_cnn on wasm32/local-task (input seed {seed}): max abs error {err} > {ATOL}"


def test_sparse_pointwise_wasm32_local_task_matches_pytorch():
    import torch
    from torch import nn

    from spiree.pipeline.prune import PruneOptions, prune

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 48, 1), nn.ReLU(),
                        nn.Conv2d(48, 48, 3, padding=1, groups=48), nn.ReLU(), nn.Conv2d(48, 24, 1)).eval()
    net = prune(net, PruneOptions(0.7, 4, min_positions=1)).model
    x = torch.randn(1, 16, 28, 28, generator=torch.Generator().manual_seed(5))
    art = spiree.compile(net, (x,), target="wasm32")
    assert [r["decision"] for r in art.manifest["passes"]].count("sparse") == 3, art.manifest["passes"]  # 2 x 1x1 + the 3x3 (KxK kernel)
    with torch.no_grad():
        ref = net(x).numpy()
    for device in ("local-sync", "local-task"):
        model = spiree.load(art, device=device)
        for _ in range(3):
            err = float(np.abs(model(x.numpy()) - ref).max())
            assert err <= ATOL * max(1.0, float(np.abs(ref).max())), f"wasm32/{device}: max abs error {err}"


def test_unknown_device_is_refused(tiny_artifacts):
    with pytest.raises(RunError, match=r"^unknown device 'gpu': choose local-sync \(one thread\) or local-task \(a worker per core\)$"):
        spiree.load(tiny_artifacts["wasm32"], device="gpu")


def test_two_wasm_models_loaded_at_once(tiny_artifacts):
    a, b = spiree.load(tiny_artifacts["wasm32"]), spiree.load(tiny_artifacts["wasm32"])
    x = _input(7)
    ref = torch_reference("tiny_cnn", x)
    assert np.abs(a(x) - ref).max() <= ATOL
    del a
    assert np.abs(b(x) - ref).max() <= ATOL


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_cli_run_check_wasm32(tiny_artifacts, device):
    p = subprocess.run([sys.executable, "-m", "spiree", "run", str(tiny_artifacts["wasm32"]), "--target", "wasm32",
                        "--device", device, "--check"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "top-5 identical" in p.stdout and "check: PASSED" in p.stdout
    assert f"on target wasm32 ({device}, " in p.stderr  # e.g. "(local-task, a worker per core)"


def test_host_twin_keeps_the_wasm_and_only_renames_the_format(tiny_artifacts):
    vmfb = tiny_artifacts["wasm32"].read_bytes()
    twin = host_twin(vmfb, BridgeLib.get().stub_template)
    seg = _wasm_segment(vmfb)
    wasm = vmfb[seg.data_offset:seg.data_offset + seg.length]
    assert [e.data for e in twin.executables] == [wasm]
    assert len(twin.vmfb) > len(vmfb) and twin.vmfb[seg.data_offset:seg.data_offset + seg.length] == wasm
    assert wasm in twin.vmfb  # the real wasm bytes stay in the twin
    assert b"system-elf-x86_64" in twin.vmfb and b"system-wasm-wasm_32" in vmfb
    layout = parse_vmfb(twin.vmfb)
    stub = next(s for s in layout.segments if s.index == seg.index)
    data = twin.vmfb[stub.data_offset:stub.data_offset + stub.length]
    assert data[:4] == b"\x7fELF" and twin.executables[0].key in data


def test_corrupted_wasm_executable_gives_one_clear_error(tiny_artifacts):
    vmfb = bytearray(tiny_artifacts["wasm32"].read_bytes())
    seg = _wasm_segment(bytes(vmfb))
    mid = seg.data_offset + seg.length // 2
    vmfb[mid:mid + 64] = b"\xff" * 64
    with pytest.raises(RunError, match=r"wasm executable #0 \([\d,]+ bytes\) of this artifact (is corrupted|cannot run).*recompile it with `spiree compile --target wasm32`"):
        spiree.load(bytes(vmfb), target="wasm32")


def test_not_a_wasm_module(tiny_artifacts):
    vmfb = bytearray(tiny_artifacts["wasm32"].read_bytes())
    seg = _wasm_segment(bytes(vmfb))
    vmfb[seg.data_offset + 4:seg.data_offset + 8] = b"\x09\x00\x00\x00"  # wasm version 9
    with pytest.raises(RunError, match=r"wasm executable #0 .* is not a WebAssembly module \(bad header\)"):
        spiree.load(bytes(vmfb), target="wasm32")


def _leb(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _section(sid, payload):
    return bytes([sid]) + _leb(len(payload)) + payload


def _name(s):
    return _leb(len(s)) + s.encode()


def test_executable_importing_libm_is_refused_clearly():
    dylink = _name("dylink.0") + bytes([1]) + _leb(4) + _leb(16) + _leb(2) + _leb(0) + _leb(0)
    types = _leb(1) + b"\x60\x02\x7d\x7d\x01\x7d"
    imports = _leb(1) + _name("env") + _name("fmodf") + b"\x00" + _leb(0)
    wasm = b"\0asm\1\0\0\0" + _section(0, dylink) + _section(1, types) + _section(2, imports)
    with pytest.raises(RunError, match=r"wasm executable #0 \(\d+ bytes\) imports env\.fmodf, which the wasm bridge does not provide"):
        read_wasm_executable(0, wasm)


def test_vmfb_without_wasm_executables_is_refused(tiny_artifacts):
    with pytest.raises(Exception, match=r"contains no system-wasm-wasm_32 executable"):
        spiree.load(tiny_artifacts["host"].read_bytes(), target="wasm32")


def test_bridge_reports_copy_and_wasm_time(tiny_artifacts):
    model = spiree.load(tiny_artifacts["wasm32"])
    model(_input(2))
    binding.stats(reset=True)
    binding.profile(reset=True)
    for seed in range(3):
        model(_input(seed))
    s = binding.stats()
    prof = binding.profile()
    assert s.dispatches >= 15 and s.wasm_s > 0 and s.bytes_in > 0 and s.bytes_out > 0
    # per dispatch function: three inferences, so every count is a multiple of 3, and the
    # functions add up to the bridge's totals
    assert prof and all(calls % 3 == 0 and secs > 0 for calls, secs in prof.values()), prof
    assert sum(c for c, _ in prof.values()) == s.dispatches
    assert sum(t for _, t in prof.values()) == pytest.approx(s.wasm_s, rel=1e-6)
    assert any(name.startswith("main_dispatch_") for name in prof)


@pytest.mark.slow
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse70"])
def test_mobilenet_v1_wasm32_matches_pytorch(tmp_path, sparse):
    out = tmp_path / "mnv1_wasm32.vmfb"
    prune_args = ["--sparsity", "0.7", "--group", "4"] if sparse else []
    p = subprocess.run([sys.executable, "-m", "spiree", "compile", "mobilenet_v1", "--target", "wasm32", *prune_args,
                        "-o", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["executable_format"] == "system-wasm-wasm_32"
    decisions = [r["decision"] for r in manifest["passes"]]
    assert decisions.count("sparse") == (14 if sparse else 0), decisions  # 13 pointwise + the classifier
    for device in ("local-sync", "local-task"):
        p = subprocess.run([sys.executable, "-m", "spiree", "run", str(out), "--target", "wasm32", "--device", device,
                            "--check", "--atol", "1e-4"], capture_output=True, text=True)
        # Exit 0 is `compare` passing (tests/test_check.py): max abs error <= 1e-4, same top-5.
        assert p.returncode == 0 and p.stdout.splitlines()[-1] == "check: PASSED", f"{device}: {p.stdout}{p.stderr}"
        assert "top-5 identical" in p.stdout, f"{device}: {p.stdout}"
    if sparse and have_qemu():  # the same wasm on an arm64 host (emulated): bit-identical logits
        art = Artifact.load(out)
        x = np.random.default_rng(0).standard_normal(art.inputs[0].shape).astype(np.float32)
        here = spiree.load(art)(x)
        arm = WasmToolRunner(art.vmfb, "main", "local-task", arch="aarch64")(x)[0]
        assert np.array_equal(arm, here)


def test_bridge_cache_is_keyed_by_its_sources(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("SPIREE_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    src.mkdir()
    for name in ("bridge.c", "stub.c"):
        shutil.copy(wasm_bridge.SOURCES / name, src / name)
    first = wasm_bridge.bridge(sources=src)
    assert first.library.is_file() and first.stub.is_file()
    assert first.directory.parent == tmp_path / "cache"
    built = first.library.stat().st_mtime_ns
    again = wasm_bridge.bridge(sources=src)  # same inputs: served from the cache, not rebuilt
    assert again.directory == first.directory and again.library.stat().st_mtime_ns == built
    (src / "stub.c").write_text((src / "stub.c").read_text() + "\n// changed\n")
    changed = wasm_bridge.bridge(sources=src)  # any change: a new build in a new directory
    assert changed.directory != first.directory and changed.stub.is_file()
    assert first.library.stat().st_mtime_ns == built  # the old build is left as it was


def test_each_wasm_executable_runs_its_own_code(tmp_path):
    # Two artifacts whose wasm differs (other widths): each twin forwards to its own executable,
    # keyed by the sha256 of its wasm bytes, never to one registered earlier.
    narrow = spiree.load(spiree.compile("tiny_cnn", target="wasm32", options={"width": 8}).save(tmp_path / "n.vmfb"))
    wide = spiree.load(spiree.compile("tiny_cnn", target="wasm32").save(tmp_path / "w.vmfb"))
    keys = [
        {e.key for e in host_twin((tmp_path / f).read_bytes(), BridgeLib.get().stub_template).executables}
        for f in ("n.vmfb", "w.vmfb")
    ]
    assert keys[0].isdisjoint(keys[1])
    x = _input(11)
    assert np.abs(narrow(x) - torch_reference("tiny_cnn", x, width=8)).max() <= ATOL
    assert np.abs(wide(x) - torch_reference("tiny_cnn", x)).max() <= ATOL


def test_twin_uses_the_system_library_format_of_the_host_arch(tiny_artifacts):
    vmfb = tiny_artifacts["wasm32"].read_bytes()
    stub = BridgeLib.get().stub_template
    arm = host_twin(vmfb, stub, arch="aarch64").vmfb
    formats = [arm[s.data_offset:s.data_offset + s.length] for s in parse_vmfb(arm).segments
               if s.length < 32 and arm[s.data_offset:s.data_offset + 7] == b"system-"]
    assert formats == [b"system-elf-arm_64"]
    with pytest.raises(RunError, match=r"^wasm32 artifacts run on x86_64 or aarch64 Linux hosts only, this one is riscv64: "
                                       r"run the artifact in a browser with IREE's web runtime$"):
        host_twin(vmfb, stub, arch="riscv64")


@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_exported_twin_runs_in_iree_run_module(tiny_artifacts, device):
    # IREE's own tool loads the twin; the bridge registers each wasm executable from
    # SPIREE_WASM_DIR when IREE first queries it.
    vmfb = tiny_artifacts["wasm32"].read_bytes()
    x = _input(4)
    y = WasmToolRunner(vmfb, "main", device)(x)[0]
    assert np.abs(y - torch_reference("tiny_cnn", x)).max() <= ATOL


def test_exported_twin_without_its_directory_fails_clearly(tiny_artifacts, tmp_path):
    from spiree.pipeline.iree_tools import RunModuleToolRunner
    from spiree.targets import get_target

    path = export_twin(tiny_artifacts["wasm32"].read_bytes(), tmp_path / "twin")
    run = RunModuleToolRunner(path.read_bytes(), "main", get_target("host"), env={"SPIREE_WASM_DIR": str(tmp_path / "nowhere")})
    with pytest.raises(RunError, match=r"^iree-run-module failed: spiree wasm bridge: no readable .*/nowhere/[0-9a-f]{64}\.meta "
                                       r"\(export the twin with spiree again\)$"):
        run(_input(0))


@pytest.mark.skipif(not have_qemu(), reason="needs qemu-aarch64 (scripts/setup.sh)")
@pytest.mark.parametrize("device", ["local-sync", "local-task"])
def test_twin_for_an_arm64_host_runs_under_qemu(tiny_artifacts, device):
    # The arm64-host path, checked on x86: the bridge and stub cross-built for aarch64 against
    # the aarch64 Wasmtime library, the stock aarch64 iree-run-module, all under qemu-user.
    x = _input(5)
    run = WasmToolRunner(tiny_artifacts["wasm32"].read_bytes(), "main", device, arch="aarch64")
    y = run(x)[0]
    assert np.abs(y - torch_reference("tiny_cnn", x)).max() <= ATOL


def test_twin_cache_is_keyed_by_artifact_and_bridge(tiny_artifacts, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("SPIREE_CACHE", str(tmp_path / "cache"))
    vmfb = tiny_artifacts["wasm32"].read_bytes()
    src = tmp_path / "src"
    src.mkdir()
    for name in ("bridge.c", "stub.c"):
        shutil.copy(wasm_bridge.SOURCES / name, src / name)
    monkeypatch.setattr(wasm_bridge, "SOURCES", src)
    first = cached_twin(vmfb)
    written = first.stat().st_mtime_ns
    assert cached_twin(vmfb) == first and first.stat().st_mtime_ns == written  # built once
    other = bytearray(vmfb)
    seg = _wasm_segment(vmfb)
    other[seg.data_offset + seg.length - 1] ^= 1  # a changed artifact (its last wasm byte)
    assert cached_twin(bytes(other)).parent != first.parent
    (src / "stub.c").write_text((src / "stub.c").read_text() + "\n// changed\n")
    rebuilt = cached_twin(vmfb)  # a changed bridge: new stubs, so a new twin
    assert rebuilt.parent != first.parent and rebuilt.read_bytes() != first.read_bytes()
    assert first.stat().st_mtime_ns == written
