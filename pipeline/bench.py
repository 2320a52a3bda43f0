"""`spiree bench MODEL|ARTIFACT`: how much faster is the pruned model, and where does the time go.

For a model (registry name, `.pt2`, `package.module:factory`) it compiles, for one target:

- `iree`: IREE alone (`--kernels iree`),
- `dense`: spiree's kernels, every layer dense (`--kernels dense`, the dense baseline),
- `sparse S` for each sparsity S: the model pruned one-shot to S with G=`group` (S=0: not
  pruned), spiree's kernels exploiting the zeros (`--kernels sparse`; a build byte-identical to
  an earlier one, e.g. `sparse 0` = `dense`, is timed once and reported for both).

For an artifact (`.vmfb`, its manifest beside it) the artifact itself is one build, and the
`iree` and `dense` builds are compiled for its target from the model its manifest names (pruned
the same way), so they have the same weights.

Timing: every build is loaded once on the chosen device (`--threads N`: 1 = local-sync, N > 1 =
local-task with N workers), then the builds are timed alternately, round after round (a round
times each build for at least `min_time_s`), the first `warmup` rounds discarded; a build's time
is the median of its rounds. Builds run where `spiree.load` runs them: in-process for host and
wasm32 (wasm32 also reports the time inside wasm, the bridge's clock, apart from the copies in
and out of wasm memory), `iree-benchmark-module` under qemu for arm64 on a non-arm64 machine.
ONNX Runtime runs the same dense weights with the same thread count in the same rounds, when it
is installed and the target runs natively.

Where the time goes: one per-dispatch profile of each build (`benchmark.dispatch_profile`),
summed by the kind of layer (`benchmark.dispatch_kind`: spiree's `pointwise`, `dwconv`,
`linear`, ... kernels, `iree` for IREE's own dispatches). The per-layer sparse/dense decisions
come from each build's manifest (the passes' report).

arm64 on a non-arm64 machine runs under emulation: its times measure qemu, not an arm64 CPU;
`bench_measure.instruction_counts` is where per-build dynamic instruction counts come from.

This file runs the rounds; the builds are made in `bench_builds.py`, measured by
`bench_measure.py`, returned as the types of `bench_types.py` (with their JSON), and printed or
plotted by `bench_report.py`.
"""
from __future__ import annotations

import logging
import time

from ..targets import Target, get_target
from . import benchmark
from .artifact import Artifact
from .bench_builds import prepare_builds
from .bench_measure import InProcessTimer, InstructionCountsUnavailable, instruction_counts, make_timer
from .bench_types import BenchOptions, BenchResult, BuildResult, Reference
from .device import resolve_device

log = logging.getLogger("spiree.bench")

# Pause after timing ONNX Runtime: its intra-op threads spin after a run (its default), which
# would take cores from the build timed next.
COOL_DOWN_S = 0.05


def bench(source: "str | Artifact", options: BenchOptions = BenchOptions(), *,
          model_options: dict | None = None, weights: str | None = None, seed: int = 0) -> BenchResult:
    """Compile (or load) the builds, time them side by side, profile them; see the module doc."""
    if isinstance(source, str) and source.endswith(".vmfb"):
        source = Artifact.load(source)
    target = get_target(options.target or (source.target.name if isinstance(source, Artifact) else "host"))
    device = resolve_device(threads=options.threads)
    emulated = target.runner == "qemu" and not target.is_native
    notes: list[str] = []
    if emulated:
        notes.append(f"{target.name} runs under qemu emulation on this {_machine()} machine: its times measure "
                     f"the emulator, not the speed of an arm64 CPU; compare instruction counts instead")
    if target.runner == "wasm" and device.name != "local-sync":
        notes.append("wasm32: each dispatch runs on one thread inside wasm (the bridge runs its whole grid); "
                     "extra workers only overlap IREE's own work with it")

    label, builds, loaded, inputs = prepare_builds(source, target, options, model_options=model_options,
                                                   weights=weights, seed=seed)
    timed = [b for b in builds if b.same_binary_as is None]
    log.info("bench: loading %d build(s) on %s (%s) ...", len(timed), target.name, device)
    timers = {b.name: make_timer(b, inputs, target, device) for b in timed}

    ort = None
    version = _onnxruntime_version(options, target, loaded, notes)
    if version:
        from .onnx_reference import OnnxRuntimeModel

        log.info("bench: exporting the dense model to ONNX for ONNX Runtime %s (%d thread(s)) ...",
                 version, options.threads)
        ort_model = OnnxRuntimeModel(loaded.module, loaded.example_inputs, threads=options.threads)
        timers["onnxruntime"] = InProcessTimer(ort_model, inputs)
        ort = Reference("onnxruntime", version, options.threads, [])

    samples = {k: [] for k in timers}
    rounds = options.warmup + options.repeats
    for r in range(rounds):
        log.info("bench: round %d/%d%s: timing %s ...", r + 1, rounds, " (warm-up)" if r < options.warmup else "",
                 ", ".join(timers))
        for name, t in timers.items():
            s = t.sample(options.min_time_s)
            if r >= options.warmup:
                samples[name].append(s)
            if name == "onnxruntime":
                time.sleep(COOL_DOWN_S)  # ONNX Runtime's idle threads spin a while before they sleep

    results = []
    for b in builds:
        src = samples[b.same_binary_as or b.name]
        res = BuildResult(b, [s[0] for s in src])
        if target.runner == "wasm":
            res.wasm_ms, res.copy_ms = [s[1] for s in src], [s[2] for s in src]
        results.append(res)
    if ort is not None:
        ort.times_ms = [s[0] for s in samples["onnxruntime"]]

    if options.profile:
        profiles = {}
        for b in timed:
            log.info("bench: per-dispatch profile of %s ...", b.name)
            profiles[b.name] = benchmark.dispatch_profile(b.artifact.vmfb, inputs, target, entry=b.artifact.entry,
                                                          device=device)
        for res in results:
            res.profile_ms = profiles[res.build.same_binary_as or res.build.name]

    instructions = None
    if target.arch == "aarch64":
        try:
            log.info("bench: counting instructions under qemu ...")
            counts = instruction_counts({b.name: b.artifact.vmfb for b in timed}, inputs, target)
            instructions = {b.name: counts[b.same_binary_as or b.name] for b in builds}
        except InstructionCountsUnavailable as e:
            instructions = {"unavailable": str(e)}
    return BenchResult(label, target, device, options, results, ort, notes, instructions)


def _onnxruntime_version(options: BenchOptions, target: Target, loaded, notes: list[str]) -> str | None:
    from .onnx_reference import available

    if not options.onnxruntime:
        return None
    version = available()
    if version is None:
        notes.append("ONNX Runtime is not installed (pip install -e .[bench]): no reference column")
    elif not target.is_native or target.runner == "wasm":
        notes.append(f"ONNX Runtime runs natively on this machine, not on {target.name}: no reference column")
    elif loaded is None:
        notes.append("the artifact's manifest cannot rebuild its PyTorch model: no ONNX Runtime reference")
    else:
        return version
    return None


def _machine() -> str:
    from ..targets import host_arch

    return host_arch()
