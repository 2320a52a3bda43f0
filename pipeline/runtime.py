"""Stage `run`: execute a compiled artifact on numpy inputs.

How an artifact runs is the target's `runner` field:
- "in-process": `iree.runtime` in this Python process (the host target);
- "qemu": the aarch64 `iree-run-module` (fetched from the aarch64 wheel of
  `iree-base-runtime`) under `qemu-aarch64` on a non-arm64 machine, natively on arm64; arrays
  pass through `.npy` files;
- "wasm": the stock `iree.runtime` on a host twin of the artifact whose executables forward
  into Wasmtime, running the real wasm code IREE generated (`wasm_runner.py`).

Every runner takes a `Device`: IREE's CPU device "local-sync" (the default: the calling thread,
like the browser's web runtime and a phone app's simplest setup) or "local-task" (IREE's
multi-threaded task executor) with its number of worker threads. `resolve_device(device,
threads)` gives the meaning of `threads` shared with the Android API's `Options().threads(n)`:
1 = the calling thread (local-sync), N > 1 = local-task with N workers; without `threads`,
local-task has IREE's default (one worker per core).
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..targets import Target, fetch_tools
from .errors import RunError

log = logging.getLogger(__name__)


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


DEVICES = ("local-sync", "local-task")
DEFAULT_DEVICE = "local-sync"


def check_device(device: str | None) -> str:
    """The IREE device name to run on; one clear error for anything else."""
    if device is None:
        return DEFAULT_DEVICE
    if device not in DEVICES:
        raise RunError(f"unknown device {device!r}: choose local-sync (one thread) or local-task (a worker per core)")
    return device


@dataclass(frozen=True)
class Device:
    """An IREE CPU device and its threads: "local-sync" runs every dispatch on the calling
    thread; "local-task" runs workgroups on `workers` worker threads (None: IREE's default, one
    per core of the machine's performance cluster)."""
    name: str = DEFAULT_DEVICE
    workers: int | None = None

    def tool_flags(self) -> list[str]:
        """The flags that select this device in IREE's tools (iree-run-module, ...)."""
        flags = [f"--device={self.name}"]
        if self.name == "local-task":
            flags.append(f"--task_topology_group_count={self.workers or 0}")
        return flags

    def __str__(self) -> str:
        if self.name == "local-sync":
            return "local-sync, 1 thread"
        return f"local-task, {self.workers} worker(s)" if self.workers else "local-task, a worker per core"


def check_threads(threads, *, what: str = "threads") -> int | None:
    """`threads` as a count >= 1 (None: not given); a ValueError naming `what` otherwise."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ValueError(f"{what} must be a whole number >= 1 (1: the calling thread, N: IREE's local-task "
                         f"device with N worker threads), got {threads!r}")
    return int(threads)


def resolve_device(device: "str | Device | None" = None, threads: int | None = None) -> Device:
    """The device to run on from a device name and/or a thread count (the meaning of
    `spiree run --threads N`, `spiree.load(..., threads=N)` and the Android API's
    `Options().threads(n)`): threads=1 is local-sync (the calling thread; measured faster than
    a one-worker local-task on MobileNet-v1, see README "Threads"), threads=N > 1 local-task
    with N workers; with `device` local-task and threads=1, a one-worker local-task."""
    threads = check_threads(threads)
    if isinstance(device, Device):
        if threads is None:
            return device
        device = device.name
    if device is not None:
        device = check_device(device)
    if threads is None:
        return Device(device or DEFAULT_DEVICE)
    if device == "local-sync" and threads > 1:
        raise RunError(f"local-sync runs on the calling thread only, so it cannot use {threads} threads: "
                       f"use local-task (or leave the device out) with {threads} threads")
    if device == "local-task" or threads > 1:
        return Device("local-task", threads)
    return Device("local-sync")


_HAL_DEVICES: dict[Device, tuple] = {}
_HAL_LOCK = threading.Lock()


def hal_device(device: Device):
    """The in-process `iree.runtime` HAL device for `device`, created once per process.

    local-task's driver builds its task executor from IREE's process-global
    `--task_topology_group_count` flag when the driver is created, so each worker count gets
    its own (uncached) driver, created right after setting the flag."""
    with _HAL_LOCK:
        found = _HAL_DEVICES.get(device)
        if found is None:
            import iree.runtime as rt
            from iree.runtime._binding import create_hal_driver

            if device.name == "local-sync":
                found = (None, rt.get_device("local-sync"))
            else:
                rt.flags.parse_flags(f"--task_topology_group_count={device.workers or 0}")
                try:
                    driver = create_hal_driver("local-task")
                    found = (driver, driver.create_default_device())
                finally:
                    rt.flags.parse_flags("--task_topology_group_count=0")
            _HAL_DEVICES[device] = found
        return found[1]


def _fmt(s: TensorSpec) -> str:
    return f"{s.dtype}{list(s.shape)}"


class InProcessRunner:
    """iree.runtime in this process."""

    def __init__(self, vmfb: bytes, entry: str, device: "str | Device | None" = None):
        import iree.runtime as rt

        self._config = rt.Config(device=hal_device(resolve_device(device)))
        try:
            vm_module = rt.VmModule.copy_buffer(self._config.vm_instance, vmfb)
        except Exception as e:
            raise RunError(f"the .vmfb is not a valid IREE module ({_short(e)}): recompile it with `spiree compile`") from None
        self._ctx = rt.SystemContext(config=self._config)
        try:
            self._ctx.add_vm_module(vm_module)
        except Exception as e:
            raise RunError(f"IREE could not load the module on this CPU ({_short(e)}): compile it for --target host") from None
        self._fn = self._ctx.modules[vm_module.name][entry]

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        result = self._fn(*arrays)
        results = result if isinstance(result, (list, tuple)) else [result]
        return [np.asarray(r.to_host() if hasattr(r, "to_host") else r) for r in results]


class RunModuleToolRunner:
    """`iree-run-module` as a subprocess (under qemu-user when the CPU differs)."""

    def __init__(self, vmfb: "bytes | Path", entry: str, target: Target, device: "str | Device | None" = None,
                 env: dict[str, str] | None = None):
        self._vmfb = vmfb  # bytes (written to a temporary file per call) or a module file
        self._entry = entry
        self._device = resolve_device(device)
        self._env = {**os.environ, **env} if env else None
        self._prefix = tool_command_prefix(target)

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory(prefix="spiree-run-") as tmp:
            tmpd = Path(tmp)
            module = self._vmfb
            if not isinstance(module, Path):
                module = tmpd / "model.vmfb"
                module.write_bytes(self._vmfb)
            cmd = [*self._prefix, f"--module={module}", *self._device.tool_flags(), f"--function={self._entry}"]
            for i, a in enumerate(arrays):
                np.save(tmpd / f"in{i}.npy", a)
                cmd.append(f"--input=@{tmpd / f'in{i}.npy'}")
            # The number of outputs is not known here; iree-run-module writes each --output in order.
            cmd += [f"--output=@{tmpd / 'out0.npy'}"]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=self._env)
            if proc.returncode != 0:
                msg = next((l for l in proc.stderr.splitlines() if l.strip()), "no message")
                raise RunError(f"iree-run-module failed: {msg.strip()[:400]}")
            return [np.load(tmpd / "out0.npy")]


def tool_command_prefix(target: Target, tool: str = "iree-run-module") -> list[str]:
    """The command that runs an IREE runtime tool for `target` on this machine."""
    if target.is_native:
        import iree._runtime_libs as libs

        found = Path(libs.__file__).parent / tool
        if not found.is_file():
            raise RunError(f"{tool} is missing from iree-base-runtime ({found}): reinstall it with scripts/setup.sh")
        return [str(found)]
    if target.arch != "aarch64":
        raise RunError(f"no way to execute {target.name} artifacts on this machine")
    return [*qemu_prefix(), str(aarch64_tool(tool))]


def qemu_prefix() -> list[str]:
    """`qemu-aarch64 -L <arm64 sysroot> -E LD_LIBRARY_PATH=<sysroot>/lib`: the start of a command
    running an aarch64 Linux program under emulation (on any host, also an arm64 one)."""
    qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if not qemu:
        raise RunError(
            "qemu-aarch64 is not installed, so arm64 artifacts cannot run on this x86 machine: "
            "run scripts/setup.sh (installs qemu-user and the arm64 cross libc)"
        )
    if not os.path.isdir(fetch_tools.QEMU_SYSROOT):
        raise RunError(
            f"the arm64 libc ({fetch_tools.QEMU_SYSROOT}) is missing: run scripts/setup.sh "
            f"(installs libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross)"
        )
    # The guest's loader searches /lib/aarch64-linux-gnu etc. too, which qemu maps to the host's
    # arm64 multiarch libraries when those are installed (a different glibc than the sysroot's
    # ld.so: the tool hangs). The sysroot's library directory first, explicitly, avoids them.
    return [qemu, "-L", fetch_tools.QEMU_SYSROOT, "-E", f"LD_LIBRARY_PATH={fetch_tools.QEMU_SYSROOT}/lib"]


def aarch64_tool(tool: str) -> Path:
    """The aarch64 build of an IREE runtime tool (fetched from the aarch64 wheel once)."""
    tool_path = fetch_tools.tools_dir() / tool
    if not tool_path.is_file():
        try:
            fetch_tools.fetch()
        except RuntimeError as e:
            raise RunError(f"{e}; or run scripts/setup.sh") from None
    return tool_path


def make_runner(vmfb: bytes, entry: str, target: Target, device: "str | Device | None" = None):
    device = resolve_device(device)
    if target.runner == "in-process" or (target.runner == "qemu" and target.is_native):
        return InProcessRunner(vmfb, entry, device)
    if target.runner == "qemu":
        return RunModuleToolRunner(vmfb, entry, target, device)
    if target.runner == "wasm":
        from .wasm_runner import WasmRunner

        return WasmRunner(vmfb, entry, device)
    raise RunError(
        f"artifacts for target {target.name!r} cannot be executed on this machine yet "
        f"(the host IREE runtime has no loader for {target.executable_format} executables); "
        f"run it in a browser with IREE's web runtime, or compile for --target host/arm64"
    )


def _short(e: Exception) -> str:
    s = str(e).strip().splitlines()
    return s[0][:300] if s else type(e).__name__
