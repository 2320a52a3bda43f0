"""Timing compiled artifacts: `iree-benchmark-module` (host, arm64 under qemu) or calls through
the wasm runner (wasm32), on a `runtime.Device` (default local-sync, one thread), and the time
per dispatch function with its kind of layer.

Used by `spiree bench` (pipeline/bench.py) and bench/ scripts; performance is never asserted in
unit tests.
"""
from __future__ import annotations

import json
import re
import subprocess
import time
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from ..targets import Target
from .errors import RunError
from .runtime import Device, make_runner, resolve_device, tool_command_prefix


_UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def _benchmark_module(vmfb: bytes, inputs: Sequence[np.ndarray], target: Target, *, entry: str,
                      device: Device, min_time_s: float, extra: Sequence[str]) -> subprocess.CompletedProcess:
    """Run iree-benchmark-module on `device` with `vmfb` and `inputs`."""
    with tempfile.TemporaryDirectory(prefix="spiree-bench-") as tmp:
        tmpd = Path(tmp)
        (tmpd / "m.vmfb").write_bytes(vmfb)
        cmd = [*tool_command_prefix(target, "iree-benchmark-module"), f"--module={tmpd / 'm.vmfb'}",
               *device.tool_flags(), f"--function={entry}", f"--benchmark_min_time={min_time_s}s", *extra]
        for i, a in enumerate(inputs):
            np.save(tmpd / f"in{i}.npy", a)
            cmd.append(f"--input=@{tmpd / f'in{i}.npy'}")
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RunError(f"iree-benchmark-module failed: {proc.stderr.strip()[-400:]}")
    return proc


CLOCKS = ("real", "cpu")


def time_once(vmfb: bytes, inputs: Sequence[np.ndarray], target: Target, *, entry: str = "main",
              min_time_s: float = 0.2, device: "str | Device | None" = None, clock: str = "real") -> float:
    """Mean milliseconds per call over a run of at least `min_time_s`: iree-benchmark-module,
    or for wasm32 (no stock tool loads wasm executables) calls through the wasm runner.
    `clock="cpu"`: the CPU time of the (single) executing thread instead of wall time, which
    time slices taken by other processes on a shared machine do not inflate."""
    if clock not in CLOCKS:
        raise ValueError(f"clock {clock!r} is not one of {', '.join(CLOCKS)}")
    device = resolve_device(device)
    if target.runner == "wasm":
        return _time_in_process(vmfb, inputs, target, entry=entry, min_time_s=min_time_s, device=device, clock=clock)
    proc = _benchmark_module(vmfb, inputs, target, entry=entry, device=device, min_time_s=min_time_s,
                             extra=["--benchmark_format=json"])
    bm = json.loads(proc.stdout)["benchmarks"][0]
    return float(bm[f"{clock}_time"]) * _UNIT_MS[bm["time_unit"]]


def alternate(builds: dict[str, bytes], inputs, target: Target, *, repeats: int = 10,
              warmup: int = 1, min_time_s: float = 0.2, device: "str | Device | None" = None,
              clock: str = "real") -> dict[str, list[float]]:
    """Time several builds side by side, alternating between them on every repeat."""
    times: dict[str, list[float]] = {k: [] for k in builds}
    for r in range(warmup + repeats):
        for name, vmfb in builds.items():
            t = time_once(vmfb, inputs, target, min_time_s=min_time_s, device=device, clock=clock)
            if r >= warmup:
                times[name].append(t)
    return times


def _time_in_process(vmfb: bytes, inputs, target: Target, *, entry: str, min_time_s: float,
                     device: Device, clock: str = "real") -> float:
    n, seconds = _repeat(make_runner(vmfb, entry, target, device), inputs, min_time_s,
                         timer=time.thread_time if clock == "cpu" else time.perf_counter)
    return seconds / n * 1e3


def _repeat(run, inputs, min_time_s: float, before=lambda: None, *, warm: bool = True,
            timer=time.perf_counter) -> tuple[int, float]:
    """Warm `run` up once (loads executables, moves constants into place; `warm=False`: already
    warm), call `before`, then call `run` until at least `min_time_s` and 2 calls have passed:
    (calls, seconds by `timer`)."""
    if warm:
        run(*inputs)
    before()
    n, t0 = 0, timer()
    while True:
        run(*inputs)
        n += 1
        elapsed = timer() - t0
        if elapsed >= min_time_s and n >= 2:
            return n, elapsed


_STAT_RE = re.compile(r"host_execute (\S+)\s+count=(\d+) total=\S+ \S* ?avg=([\d.]+) (ns|us|ms|s)\b")


def dispatch_profile(vmfb: bytes, inputs: Sequence[np.ndarray], target: Target, *,
                     entry: str = "main", min_time_s: float = 0.5,
                     device: "str | Device | None" = None) -> dict[str, float]:
    """Milliseconds per inference spent in each dispatch function, by name
    (`iree-benchmark-module --print_device_statistics`; for wasm32 the bridge's time inside
    wasm per dispatch function, binding copies excluded).

    IREE reuses one dispatch function for identical layers (MobileNet-v1's five 14x14x512
    blocks), so a name's time per inference is its average time per execution times its
    executions per inference (its count over the smallest count, a dispatch run once)."""
    device = resolve_device(device)
    if target.runner == "wasm":
        return _wasm_profile(vmfb, inputs, target, entry=entry, min_time_s=min_time_s, device=device)
    proc = _benchmark_module(vmfb, inputs, target, entry=entry, device=device, min_time_s=min_time_s,
                             extra=["--print_device_statistics"])
    stats = [(m.group(1), int(m.group(2)), float(m.group(3)) * _UNIT_MS[m.group(4)])
             for m in _STAT_RE.finditer(proc.stdout + proc.stderr)]
    if not stats:
        return {}
    runs = min(count for _, count, _ in stats)
    return {name: avg * count / runs for name, count, avg in stats}


def _wasm_profile(vmfb: bytes, inputs, target: Target, *, entry: str, min_time_s: float,
                  device: Device) -> dict[str, float]:
    from . import wasm_runner

    n, _ = _repeat(make_runner(vmfb, entry, target, device), inputs, min_time_s,
                   before=lambda: wasm_runner.profile(reset=True))
    return {name: secs / n * 1e3 for name, (_, secs) in wasm_runner.profile(reset=True).items()}


IREE_KIND = "iree"


def dispatch_kind(name: str) -> str:
    """The kind of layer a dispatch function runs, from its name: spiree's kernel exports are
    `<kind>_<n>` (`pointwise_3`, `dwconv_0`, `linear_13`, `conv_2`, ...), so the kind is the
    name without its number; IREE's own dispatches (`main_dispatch_4_conv_...`) are "iree"."""
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z][A-Za-z0-9]*)*)_\d+", name)
    if m is None or "_dispatch" in name:
        return IREE_KIND
    return m.group(1)


def split_by_kind(profile: dict[str, float]) -> dict[str, float]:
    """Milliseconds per kind of layer (`dispatch_kind`), most first."""
    kinds: dict[str, float] = {}
    for name, ms in profile.items():
        kinds[dispatch_kind(name)] = kinds.get(dispatch_kind(name), 0.0) + ms
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1]))
