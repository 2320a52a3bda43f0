"""Dynamic instruction counts of one inference of an arm64 artifact, per dispatch function:
arm64 evidence on a machine without arm64 hardware.

The artifact runs in the real aarch64 `iree-benchmark-module` under `qemu-aarch64` with spiree's
instruction-count plugin (`pipeline/insn_count.py`), on IREE's local-sync device (one thread),
twice: with `--benchmark_min_time=1x` and `=2x` (exactly 1 and 2 calls of the entry function).
The difference of the two runs is one inference; process start, module loading and exit cancel.

- `dispatch`: instructions inside the model's executable code (all dispatch functions and the
  kernels they call). The plugin records where IREE's loader makes code executable and dumps
  those bytes; each region is matched byte for byte to an embedded ELF of the vmfb, and each
  place where the runtime called into the region to a function (DWARF names of the dispatch
  functions, `.symtab` for the rest). This part is exact: the same artifact and input give the
  same numbers, and two inferences count exactly twice one.
- `runtime`: everything else per inference (IREE's VM, HAL, command buffers, the benchmark
  loop); it can vary by a few instructions between runs (timing code).

An instruction count is not time: it says nothing about the memory hierarchy, stalls, issue
width or instruction latencies (see README, "arm64 evidence").
"""
from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from ..targets import Target, get_target
from .embedded_elf import EM_AARCH64, embedded_elfs, locate
from .errors import RunError
from .insn_count import CountReport, run_counted
from .runtime import aarch64_tool

DEVICE = "local-sync"
ITERATIONS = (1, 2)


def instruction_counts(vmfb: bytes, inputs: Sequence[np.ndarray], target: "str | Target" = "arm64", *,
                       entry: str = "main", iterations: tuple[int, int] = ITERATIONS) -> dict:
    """Instructions one call of `entry` executes on arm64 (emulated), in total and per dispatch.

    `vmfb`: an artifact compiled for an aarch64 target (`arm64`, `arm64-linux`); `inputs`: the
    entry function's arguments. Returns

        {"target": "arm64", "device": "local-sync", "iterations": [1, 2],
         "per_inference": {"total": int, "dispatch": int, "runtime": int},
         "by_kind": {"pointwise": int, "dwconv": int, "iree": int, ...},   # dispatch instructions
         "dispatches": [{"name": "pointwise_3", "kind": "pointwise",
                         "instructions": int, "calls": int}, ...],         # most first
         "startup": int}    # instructions of a 1-call run besides the inference (load, exit)

    `calls` is how often the runtime called the dispatch function per inference (once per
    workgroup). `kind` is spiree's export name without its number (`pointwise`, `linear`,
    `dwconv`, ...) or `iree` for IREE's own dispatches (`main_dispatch_*`).
    Raises RunError if qemu or the tools are missing or the run fails."""
    target = get_target(target)
    if target.arch != "aarch64":
        raise ValueError(f"instruction counts are for aarch64 targets (arm64, arm64-linux), not {target.name!r}")
    lo, hi = iterations
    if not 0 < lo < hi:
        raise ValueError(f"iterations must be two call counts 0 < lo < hi, got {iterations}")
    elfs = embedded_elfs(vmfb, machine=EM_AARCH64)
    if not elfs:
        raise RunError("the artifact holds no arm64 embedded-ELF executables: compile it with --target arm64")
    tool = aarch64_tool("iree-benchmark-module")
    with tempfile.TemporaryDirectory(prefix="spiree-arm64-count-") as tmp:
        tmpd = Path(tmp)
        (tmpd / "model.vmfb").write_bytes(vmfb)
        args = [f"--module={tmpd / 'model.vmfb'}", f"--device={DEVICE}", f"--function={entry}"]
        for i, a in enumerate(inputs):
            np.save(tmpd / f"in{i}.npy", np.ascontiguousarray(a))
            args.append(f"--input=@{tmpd / f'in{i}.npy'}")
        runs = {n: run_counted([str(tool), *args, f"--benchmark_min_time={n}x"]) for n in (lo, hi)}
    for n, r in runs.items():
        _check_run(r, n)
    per_fn = {n: attribute(r, elfs) for n, r in runs.items()}
    span = hi - lo
    dispatch_total = (runs[hi].inside - runs[lo].inside) // span
    total = round((runs[hi].total - runs[lo].total) / span)
    dispatches = []
    for name in sorted(set(per_fn[hi]) | set(per_fn[lo])):
        (i_hi, c_hi), (i_lo, c_lo) = per_fn[hi].get(name, (0, 0)), per_fn[lo].get(name, (0, 0))
        insns, calls = (i_hi - i_lo) // span, (c_hi - c_lo) // span
        if insns or calls:
            dispatches.append({"name": name, "kind": dispatch_kind(name), "instructions": insns, "calls": calls})
    dispatches.sort(key=lambda d: (-d["instructions"], d["name"]))
    by_kind: dict[str, int] = defaultdict(int)
    for d in dispatches:
        by_kind[d["kind"]] += d["instructions"]
    return {
        "target": target.name,
        "device": DEVICE,
        "iterations": [lo, hi],
        "per_inference": {"total": total, "dispatch": dispatch_total, "runtime": total - dispatch_total},
        "by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
        "dispatches": dispatches,
        "startup": runs[lo].total - lo * total,
    }


def attribute(report: CountReport, elfs) -> dict[str, tuple[int, int]]:
    """{function name: (instructions, times entered)} of a run's region code. An entry that is not
    the start of a named function is an error (the attribution would be a guess)."""
    located = {}
    for region in report.regions:
        found = locate(region.data, elfs)
        if found is not None:
            located[region.index] = found
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for e in report.entries:
        if e.region not in located:
            raise RunError(f"code region {e.region} at {report.regions[e.region].start:#x} executed {e.insns} "
                           f"instructions but matches no executable of the artifact")
        elf, region_vaddr = located[e.region]
        vaddr = e.address - report.regions[e.region].start + region_vaddr
        fn = elf.function_at(vaddr)
        if fn is None or fn.start != vaddr:
            where = f"inside {fn.name}+{vaddr - fn.start:#x}" if fn else "outside every named function"
            raise RunError(f"execution entered executable code at {vaddr:#x} ({where}), not at a function start: "
                           f"cannot attribute {e.insns} instructions to a dispatch")
        out[fn.name][0] += e.insns
        out[fn.name][1] += e.entered
    return {k: (v[0], v[1]) for k, v in out.items()}


def dispatch_kind(name: str) -> str:
    """`pointwise_12` -> `pointwise`; IREE's `main_dispatch_3_matmul_...` -> `iree`."""
    if "_dispatch_" in name:
        return "iree"
    return re.sub(r"_\d+$", "", name)


def _check_run(report: CountReport, calls: int) -> None:
    """The dispatches ran on one thread (local-sync; else per-entry counts could mix) and the
    benchmark called the function exactly `calls` times."""
    busy = [v.index for v in report.vcpus if v.inside]
    if len(busy) > 1:
        raise RunError(f"executable code ran on {len(busy)} threads ({busy}); instruction counts need the "
                       f"local-sync device (one thread)")
    rows = [l.split() for l in report.stdout.splitlines() if l.startswith("BM_")]
    ran = [int(r[5]) for r in rows if len(r) > 5 and r[5].isdigit()]
    if ran != [calls]:
        raise RunError(f"iree-benchmark-module did not run exactly {calls} iteration(s) once: {report.stdout[-300:]}")
