"""What `spiree bench` takes and returns: `BenchOptions`, the builds it compares (`Build`), their
times (`BuildResult`, `Reference` for ONNX Runtime), the whole `BenchResult`, and its documented
JSON (`to_json`, README "spiree bench"). `bench.py` fills them in.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..targets import Target
from . import benchmark
from .artifact import Artifact
from .device import Device

FORMAT = "spiree-bench/1"


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
