"""How `spiree bench` measures one build: a timer that loads it once and times it in rounds
(in-process as `spiree.load` runs it, with the wasm bridge's clocks for wasm32; or
`iree-benchmark-module` under qemu for arm64 on another machine), and dynamic instruction counts
for aarch64 targets.
"""
from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np

from ..targets import Target
from . import benchmark
from .bench_types import Build
from .device import Device
from .runtime import make_runner
from .wasm import binding

log = logging.getLogger("spiree.bench")


class InProcessTimer:
    """A build (or the reference engine) loaded once in this process, timed in rounds."""

    def __init__(self, run: Callable, inputs, *, wasm: bool = False):
        self._run, self._inputs, self._wasm = run, inputs, wasm
        run(*inputs)  # warm: loads executables, moves constants into place

    def sample(self, min_time_s: float) -> tuple[float, float | None, float | None]:
        if not self._wasm:
            n, secs = benchmark._repeat(self._run, self._inputs, min_time_s, warm=False)
            return secs / n * 1e3, None, None
        n, secs = benchmark._repeat(self._run, self._inputs, min_time_s, warm=False,
                                    before=lambda: binding.stats(reset=True))
        st = binding.stats(reset=True)
        return secs / n * 1e3, st.wasm_s / n * 1e3, (st.copy_in_s + st.copy_out_s) / n * 1e3


class ToolTimer:
    """A build timed by `iree-benchmark-module` (arm64 under qemu)."""

    def __init__(self, vmfb: bytes, inputs, target: Target, device: Device, entry: str):
        self._args = (vmfb, inputs, target)
        self._device, self._entry = device, entry

    def sample(self, min_time_s: float) -> tuple[float, None, None]:
        ms = benchmark.time_once(*self._args, entry=self._entry, min_time_s=min_time_s, device=self._device)
        return ms, None, None


def make_timer(build: Build, inputs, target: Target, device: Device):
    a = build.artifact
    if target.runner == "qemu" and not target.is_native:
        return ToolTimer(a.vmfb, inputs, target, device, a.entry)
    return InProcessTimer(make_runner(a.vmfb, a.entry, target, device), inputs, wasm=target.runner == "wasm")


class InstructionCountsUnavailable(RuntimeError):
    """Instruction counts cannot be measured here; the message says why."""


def instruction_counts(vmfbs: dict[str, bytes], inputs: Sequence[np.ndarray], target: Target) -> dict[str, dict]:
    """Dynamic instructions per inference of each build (name -> counts) for an aarch64 target,
    counted under qemu-aarch64 with spiree's instruction-count TCG plugin
    (`pipeline.arm64_counts`: one inference = a 2-call run minus a 1-call run, per dispatch)."""
    import shutil

    from .arm64_counts import instruction_counts as count

    if shutil.which("qemu-aarch64") is None:
        raise InstructionCountsUnavailable("qemu-aarch64 is not installed (scripts/setup.sh installs it)")
    out = {}
    for name, vmfb in vmfbs.items():
        log.info("bench: counting instructions of %s under qemu ...", name)
        c = count(vmfb, inputs, target)
        out[name] = {**c["per_inference"], "by_kind": c["by_kind"]}
    return out
