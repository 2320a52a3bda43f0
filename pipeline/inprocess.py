"""Runner "in-process": a compiled artifact through `iree.runtime` in this Python process (the
host target, and arm64 artifacts on an arm64 machine). `to_numpy` turns what an IREE function
returns into numpy arrays, for every runner that calls `iree.runtime` (this one and the wasm one).
"""
from __future__ import annotations

import numpy as np

from .device import Device, hal_device, resolve_device
from .errors import RunError, first_line


def to_numpy(result) -> list[np.ndarray]:
    """An IREE function's result (one value or a list/tuple of them, device arrays or host
    values) as a list of numpy arrays on the host."""
    results = result if isinstance(result, (list, tuple)) else [result]
    return [np.asarray(r.to_host() if hasattr(r, "to_host") else r) for r in results]


class InProcessRunner:
    """iree.runtime in this process."""

    def __init__(self, vmfb: bytes, entry: str, device: "str | Device | None" = None):
        import iree.runtime as rt

        self._config = rt.Config(device=hal_device(resolve_device(device)))
        try:
            vm_module = rt.VmModule.copy_buffer(self._config.vm_instance, vmfb)
        except Exception as e:
            raise RunError(f"the .vmfb is not a valid IREE module ({first_line(e)}): recompile it with `spiree compile`") from None
        self._ctx = rt.SystemContext(config=self._config)
        try:
            self._ctx.add_vm_module(vm_module)
        except Exception as e:
            raise RunError(f"IREE could not load the module on this CPU ({first_line(e)}): compile it for --target host") from None
        self._fn = self._ctx.modules[vm_module.name][entry]

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        return to_numpy(self._fn(*arrays))
