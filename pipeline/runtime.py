"""Stage `run`: execute a compiled artifact on numpy inputs.

How an artifact runs is the target's `runner` field; `make_runner` picks one:
- "in-process": `iree.runtime` in this Python process (the host target; `inprocess.py`);
- "qemu": the aarch64 `iree-run-module` (fetched from the aarch64 wheel of
  `iree-base-runtime`) under `qemu-aarch64` on a non-arm64 machine, natively on arm64; arrays
  pass through `.npy` files (`iree_tools.py`);
- "wasm": the stock `iree.runtime` on a host twin of the artifact whose executables forward
  into Wasmtime, running the real wasm code IREE generated (`wasm/`).

Every runner takes a `Device` (`device.py`): IREE's CPU device "local-sync" (the calling thread)
or "local-task" with its number of worker threads. `check_inputs` checks arrays against the
artifact's signature (`TensorSpec`s, from its manifest) before any runner sees them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..targets import Target
from .device import Device, resolve_device
from .errors import RunError
from .inprocess import InProcessRunner
from .iree_tools import RunModuleToolRunner
from .wasm.runner import WasmRunner


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, d: dict) -> "TensorSpec":
        return cls(d["name"], tuple(d["shape"]), d["dtype"])


def check_inputs(arrays: Sequence[np.ndarray], specs: Sequence[TensorSpec]) -> list[np.ndarray]:
    """Validate inputs against the manifest's signature; one clear error for the first mismatch."""
    if len(arrays) != len(specs):
        raise RunError(
            f"the model takes {len(specs)} input(s) "
            f"({', '.join(f'{s.name}: {_fmt(s)}' for s in specs)}), got {len(arrays)}"
        )
    out = []
    for a, s in zip(arrays, specs):
        a = np.asarray(a)
        if tuple(a.shape) != tuple(s.shape) or a.dtype != np.dtype(s.dtype):
            raise RunError(
                f"input {s.name!r} must be {_fmt(s)}, got {a.dtype}{list(a.shape)}: "
                f"reshape/cast the array or recompile the model for this shape"
            )
        out.append(np.ascontiguousarray(a))
    return out


def _fmt(s: TensorSpec) -> str:
    return f"{s.dtype}{list(s.shape)}"


def make_runner(vmfb: bytes, entry: str, target: Target, device: "str | Device | None" = None):
    """The runner for `target`'s artifacts on this machine: a callable taking numpy arrays and
    returning the list of outputs; a RunError when this machine cannot run them."""
    device = resolve_device(device)
    if target.runner == "in-process" or (target.runner == "qemu" and target.is_native):
        return InProcessRunner(vmfb, entry, device)
    if target.runner == "qemu":
        return RunModuleToolRunner(vmfb, entry, target, device)
    if target.runner == "wasm":
        return WasmRunner(vmfb, entry, device)
    raise RunError(
        f"artifacts for target {target.name!r} cannot be executed on this machine yet "
        f"(the host IREE runtime has no loader for {target.executable_format} executables); "
        f"run it in a browser with IREE's web runtime, or compile for --target host/arm64"
    )
