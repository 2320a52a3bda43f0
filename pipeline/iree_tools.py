"""Runner "qemu" and IREE's runtime tools: `iree-run-module`, `iree-benchmark-module` for a
target, from the installed `iree-base-runtime` wheel on this machine's CPU, or its aarch64 build
(fetched once from the aarch64 wheel, `targets/fetch_tools.py`) under `qemu-aarch64` for arm64
artifacts on a non-arm64 machine. `RunModuleToolRunner` runs an artifact with `iree-run-module`,
arrays passing through `.npy` files.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..targets import Target, fetch_tools
from .device import Device, resolve_device
from .errors import RunError


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
