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
`instruction_counts` is where per-build dynamic instruction counts come from.
"""
from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..targets import Target, get_target
from . import benchmark
from .artifact import Artifact
from .errors import RunError
from .runtime import Device, make_runner, resolve_device

log = logging.getLogger("spiree.bench")

FORMAT = "spiree-bench/1"
# Pause after timing ONNX Runtime: its intra-op threads spin after a run (its default), which
# would take cores from the build timed next.
COOL_DOWN_S = 0.05


@dataclass(frozen=True)
class BenchOptions:
    target: str | None = None  # None: host for a model, the artifact's own target for a .vmfb
    sparsities: tuple[float, ...] = (0.0, 0.7, 0.9)
    group: int = 4
    threads: int = 1
    repeats: int = 10
    warmup: int = 1
    min_time_s: float = 0.2  # per build per round
    profile: bool = True  # per-dispatch profile of each build (the time split by kind)
    onnxruntime: bool = True  # time ONNX Runtime too, when installed and the target is native

    def __post_init__(self):
        if not self.sparsities:
            raise ValueError("--sparsities needs at least one value, e.g. 0,0.7,0.9")
        for s in self.sparsities:
            if not 0.0 <= s < 1.0:
                raise ValueError(f"sparsity {s:g} is outside [0, 1): pass values like 0,0.7,0.9")
        if self.repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {self.repeats}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0, got {self.warmup}")


@dataclass
class Build:
    name: str  # "iree", "dense", "sparse 0.7", or "artifact"
    kernels: str
    sparsity: float
    artifact: Artifact
    same_binary_as: str | None = None  # byte-identical to this earlier build: timed once

    @property
    def decisions(self) -> list[dict[str, Any]]:
        return list(self.artifact.manifest.get("passes", []))


@dataclass
class BuildResult:
    build: Build
    times_ms: list[float]
    wasm_ms: list[float] | None = None  # wasm32: time inside wasm per inference, per round
    copy_ms: list[float] | None = None  # wasm32: copying bindings in and out of wasm memory
    profile_ms: dict[str, float] = field(default_factory=dict)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def split_ms(self) -> dict[str, float]:
        return benchmark.split_by_kind(self.profile_ms)


@dataclass
class Reference:
    engine: str
    version: str
    threads: int
    times_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)


@dataclass
class BenchResult:
    model: str
    target: Target
    device: Device
    options: BenchOptions
    results: list[BuildResult]
    onnxruntime: Reference | None
    notes: list[str]
    instructions: dict[str, Any] | None = None  # arm64: per build, or {"unavailable": reason}

    def result(self, name: str) -> BuildResult | None:
        return next((r for r in self.results if r.build.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return to_json(self)

    def format(self) -> str:
        from .bench_report import format_result

        return format_result(self)

    def plot(self, path: "str | Path") -> Path:
        from .bench_report import plot

        return plot(self, Path(path))


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


# ------------------------------------------------------------------------------------------------
# Building
# ------------------------------------------------------------------------------------------------

def _fmt_sparsity(s: float) -> str:
    return f"{s:g}"


def prepare_builds(source: "str | Artifact", target: Target, options: BenchOptions, *,
                   model_options: dict | None = None, weights: str | None = None, seed: int = 0):
    """Compile (or load) the builds to compare: (label of the model, builds, the PyTorch model
    (LoadedModel, or None when an artifact's manifest cannot rebuild it), inputs as numpy)."""
    from .api import as_loaded_model
    from .build import BuildOptions, build
    from .prune import PruneOptions

    artifact = source if isinstance(source, Artifact) else (
        Artifact.load(source) if str(source).endswith(".vmfb") else None)
    if artifact is not None:
        loaded, label = _model_of_artifact(artifact)
        if artifact.target.name != target.name:
            raise RunError(f"the artifact was compiled for target {artifact.target.name!r}, not {target.name!r}: "
                           f"bench it with --target {artifact.target.name}")
        m = artifact.manifest
        sp = (m.get("sparsity") or {}).get("sparsity", 0.0) or 0.0
        plan = [("artifact", m.get("kernels", "sparse"), sp, artifact)]
        if loaded is not None:
            plan = [("iree", "iree", sp, None), ("dense", "dense", sp, None)] + plan
    else:
        loaded = as_loaded_model(str(source), options=model_options, weights=weights, seed=seed)
        label = loaded.spec.display_name
        plan = [("iree", "iree", 0.0, None), ("dense", "dense", 0.0, None)]
        plan += [(f"sparse {_fmt_sparsity(s)}", "sparse", s, None) for s in options.sparsities]

    builds: list[Build] = []
    for i, (name, kernels, s, art) in enumerate(plan):
        if art is None:
            log.info("bench: [%d/%d] compiling %s for %s ...", i + 1, len(plan), name, target.name)
            prune = PruneOptions(s, options.group) if kernels == "sparse" and s > 0 else None
            art = _quiet(build, loaded, target, options=BuildOptions(kernels=kernels, prune=prune))
        else:
            log.info("bench: [%d/%d] %s: %s build of %s", i + 1, len(plan), name, kernels, label)
        same = next((b.name for b in builds if b.artifact.vmfb == art.vmfb), None)
        builds.append(Build(name, kernels, s, art, same))
    inputs = _inputs(builds[-1].artifact, loaded)
    return label, builds, loaded, inputs


def _model_of_artifact(artifact: Artifact):
    """The PyTorch model an artifact was compiled from (pruned as it was), or (None, label) when
    its manifest cannot rebuild it (an in-memory nn.Module)."""
    from ..models.registry import LoadedModel, ModelSpec
    from .reference import reference_model

    spec = ModelSpec.from_json(artifact.manifest["model"])
    if spec.kind == "module":
        return None, spec.display_name
    import torch

    module = reference_model(artifact.manifest)
    gen = torch.Generator().manual_seed(spec.seed + 1)
    inputs = tuple(torch.randn(*s.shape, generator=gen).to(getattr(torch, s.dtype)) for s in artifact.inputs)
    return LoadedModel(spec, module, inputs), spec.display_name


def _inputs(artifact: Artifact, loaded) -> list[np.ndarray]:
    if loaded is not None:
        return [np.ascontiguousarray(x.numpy()) for x in loaded.example_inputs]
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s.shape).astype(s.dtype) for s in artifact.inputs]


def _quiet(fn, *args, **kwargs):
    """Run a build with the pipeline's per-stage progress lines held back (bench prints its own),
    unless debug logging is on."""
    pipeline_log = logging.getLogger("spiree")
    if pipeline_log.getEffectiveLevel() <= logging.DEBUG:
        return fn(*args, **kwargs)
    level = pipeline_log.level
    pipeline_log.setLevel(logging.WARNING)
    try:
        return fn(*args, **kwargs)
    finally:
        pipeline_log.setLevel(level)


# ------------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------------

class _InProcessTimer:
    """A build (or the reference engine) loaded once in this process, timed in rounds."""

    def __init__(self, run: Callable, inputs, *, wasm: bool = False):
        self._run, self._inputs, self._wasm = run, inputs, wasm
        run(*inputs)  # warm: loads executables, moves constants into place

    def sample(self, min_time_s: float) -> tuple[float, float | None, float | None]:
        if not self._wasm:
            n, secs = benchmark._repeat(self._run, self._inputs, min_time_s, warm=False)
            return secs / n * 1e3, None, None
        from . import wasm_runner

        n, secs = benchmark._repeat(self._run, self._inputs, min_time_s, warm=False,
                                    before=lambda: wasm_runner.stats(reset=True))
        st = wasm_runner.stats(reset=True)
        return secs / n * 1e3, st.wasm_s / n * 1e3, (st.copy_in_s + st.copy_out_s) / n * 1e3


class _ToolTimer:
    """A build timed by `iree-benchmark-module` (arm64 under qemu)."""

    def __init__(self, vmfb: bytes, inputs, target: Target, device: Device, entry: str):
        self._args = (vmfb, inputs, target)
        self._device, self._entry = device, entry

    def sample(self, min_time_s: float) -> tuple[float, None, None]:
        ms = benchmark.time_once(*self._args, entry=self._entry, min_time_s=min_time_s, device=self._device)
        return ms, None, None


def _timer(build: Build, inputs, target: Target, device: Device):
    a = build.artifact
    if target.runner == "qemu" and not target.is_native:
        return _ToolTimer(a.vmfb, inputs, target, device, a.entry)
    return _InProcessTimer(make_runner(a.vmfb, a.entry, target, device), inputs, wasm=target.runner == "wasm")


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
    timers = {b.name: _timer(b, inputs, target, device) for b in timed}

    ort = None
    version = _onnxruntime_version(options, target, loaded, notes)
    if version:
        from .onnx_reference import OnnxRuntimeModel

        log.info("bench: exporting the dense model to ONNX for ONNX Runtime %s (%d thread(s)) ...",
                 version, options.threads)
        ort_model = OnnxRuntimeModel(loaded.module, loaded.example_inputs, threads=options.threads)
        timers["onnxruntime"] = _InProcessTimer(ort_model, inputs)
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


# ------------------------------------------------------------------------------------------------
# JSON
# ------------------------------------------------------------------------------------------------

def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


def _ratio(a: float, b: float | None) -> float | None:
    return None if not b else round(a / b, 3)


def to_json(res: BenchResult) -> dict[str, Any]:
    """The documented JSON of `spiree bench --json` (README, "spiree bench")."""
    dense = res.result("dense")
    dense_ms = dense.median_ms if dense else None
    ort_ms = res.onnxruntime.median_ms if res.onnxruntime else None
    rows = []
    for r in res.results:
        b = r.build
        row = {
            "build": b.name, "kernels": b.kernels, "sparsity": b.sparsity,
            "same_binary_as": b.same_binary_as, "vmfb_bytes": len(b.artifact.vmfb),
            "median_ms": _r(r.median_ms), "min_ms": _r(min(r.times_ms)),
            "times_ms": [_r(t) for t in r.times_ms],
            "time_vs_dense": _ratio(r.median_ms, dense_ms),
            "time_vs_onnxruntime": _ratio(r.median_ms, ort_ms),
            "split_ms": {k: _r(v) for k, v in r.split_ms.items()},
            "dispatch_ms": {k: _r(v, 4) for k, v in r.profile_ms.items()},
            "sparse_layers": sum(1 for d in b.decisions if d.get("decision") == "sparse"),
            "decisions": [{k: d[k] for k in ("layer", "op", "weight", "decision", "reason") if k in d}
                          for d in b.decisions],
        }
        if r.wasm_ms is not None:
            row["in_wasm_ms"] = _r(statistics.median(r.wasm_ms))
            row["copy_ms"] = _r(statistics.median(r.copy_ms))
        if res.instructions and "unavailable" not in res.instructions:
            row["instructions"] = res.instructions.get(b.name)
        rows.append(row)
    o = res.options
    return {
        "format": FORMAT,
        "model": res.model,
        "target": res.target.name,
        "threads": o.threads,
        "device": str(res.device),
        "group": o.group,
        "sparsities": list(o.sparsities),
        "repeats": o.repeats,
        "warmup": o.warmup,
        "timing": ("iree-benchmark-module under qemu (emulated)" if res.target.runner == "qemu" and not res.target.is_native
                   else "in-process calls as spiree.load runs them") + ", ms per inference, medians of alternating rounds",
        "builds": rows,
        "onnxruntime": None if res.onnxruntime is None else {
            "version": res.onnxruntime.version, "threads": res.onnxruntime.threads,
            "median_ms": _r(ort_ms), "min_ms": _r(min(res.onnxruntime.times_ms)),
            "times_ms": [_r(t) for t in res.onnxruntime.times_ms]},
        "instructions_unavailable": (res.instructions or {}).get("unavailable"),
        "notes": res.notes,
    }
