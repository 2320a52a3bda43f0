"""The wasm runners: `WasmRunner` runs a wasm32 artifact with the stock `iree.runtime`, its
dispatches inside Wasmtime through the bridge; `WasmToolRunner` runs its cached twin under IREE's
`iree-run-module`, natively or as an aarch64 host under qemu-user.
"""
from __future__ import annotations

import numpy as np

from ...targets import get_target, host_arch
from ..device import Device, hal_device, resolve_device
from ..errors import RunError, first_line
from ..inprocess import to_numpy
from ..iree_tools import RunModuleToolRunner
from .binding import BridgeLib
from .twin import cached_twin, host_twin
from .vmfb import SEGMENT_ALIGNMENT


class WasmRunner:
    """Runs a wasm32 vmfb with the stock `iree.runtime`, its dispatches inside Wasmtime."""

    def __init__(self, vmfb: bytes, entry: str, device: "str | Device | None" = None):
        import iree.runtime as rt

        lib = BridgeLib.get()
        twin = host_twin(vmfb, lib.stub_template)
        for exe in twin.executables:
            lib.register(exe)
        self._lib = lib
        # The twin lives in a 64-byte aligned numpy buffer that IREE uses in place, so the
        # weights the module imports from its rodata have known, constant host addresses: the
        # bridge keeps them resident in wasm memory instead of copying them per dispatch.
        raw = np.empty(len(twin.vmfb) + SEGMENT_ALIGNMENT, np.uint8)
        start = (-raw.ctypes.data) % SEGMENT_ALIGNMENT
        self._buffer = raw[start:start + len(twin.vmfb)]
        self._buffer[:] = np.frombuffer(twin.vmfb, np.uint8)
        self._range = lib.lib.spiree_wasm_add_constant_range(self._buffer.ctypes.data, len(twin.vmfb))
        self._config = rt.Config(device=hal_device(resolve_device(device)))
        try:
            vm_module = rt.VmModule.wrap_buffer(self._config.vm_instance, self._buffer)
            self._ctx = rt.SystemContext(config=self._config)
            self._ctx.add_vm_module(vm_module)
        except Exception as e:
            raise RunError(f"IREE could not load the host twin of this wasm32 artifact ({first_line(e)}); {self._bridge_hint()}") from None
        self._fn = self._ctx.modules[vm_module.name][entry]

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        try:
            return to_numpy(self._fn(*arrays))
        except RunError:
            raise
        except Exception as e:
            raise RunError(f"running the wasm32 artifact failed ({first_line(e)}); {self._bridge_hint()}") from None

    def _bridge_hint(self) -> str:
        last = self._lib.last_error()
        return f"the wasm bridge says: {last}" if last else "the wasm bridge reported nothing"

    def __del__(self):
        try:
            self._fn = self._ctx = None
            self._lib.lib.spiree_wasm_remove_constant_range(self._range)
        except Exception:
            pass


class WasmToolRunner:
    """A wasm32 artifact under IREE's `iree-run-module`, through its cached twin: natively, or
    for an aarch64 host (`arch="aarch64"`) with the aarch64 tool, bridge and Wasmtime under
    qemu-user. This checks the arm64-host path of the bridge on an x86 machine."""

    def __init__(self, vmfb: bytes, entry: str, device: "str | Device | None" = None, arch: str | None = None):
        path = cached_twin(vmfb, arch=arch)
        target = get_target("host" if (arch or host_arch()) == host_arch() else "arm64-linux")
        self._run = RunModuleToolRunner(path, entry, target, device, env={"SPIREE_WASM_DIR": str(path.parent)})

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        return self._run(*arrays)
