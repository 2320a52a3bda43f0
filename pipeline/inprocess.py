"""Runner "in-process": a compiled artifact through `iree.runtime` in this Python process (the
host target, and arm64 artifacts on an arm64 machine). `to_numpy` turns what an IREE function
returns into numpy arrays, for every runner that calls `iree.runtime` (this one and the wasm one).
"""
from __future__ import annotations

import threading

import numpy as np

from .device import Device, hal_device, resolve_device, waiting_on_workers
from .errors import RunError, first_line


def to_numpy(result) -> list[np.ndarray]:
    """An IREE function's result (one value or a list/tuple of them, device arrays or host
    values) as a list of numpy arrays on the host."""
    results = result if isinstance(result, (list, tuple)) else [result]
    return [np.asarray(r.to_host() if hasattr(r, "to_host") else r) for r in results]


class InProcessRunner:
    """iree.runtime in this process.

    Inputs go through one staging buffer per argument, allocated on the first call and reused
    (copy the array in, pass the buffer view): iree.runtime's own conversion allocates and fills
    a fresh device buffer on every call, which measured 0.3-0.6 ms per MobileNetV2 inference
    more on this machine under load. An array of another shape or dtype, or a second thread
    calling while the buffers are in use, takes the plain path."""

    def __init__(self, vmfb: bytes, entry: str, device: "str | Device | None" = None):
        import iree.runtime as rt

        self._device = resolve_device(device)
        self._config = rt.Config(device=hal_device(self._device))
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
        self._staging: list[tuple[object, np.ndarray]] | None = None  # [] : staging not possible
        self._staging_lock = threading.Lock()

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        if not self._staging_lock.acquire(blocking=False):
            return to_numpy(self._invoke(arrays))
        try:
            views = self._stage(arrays)
            return to_numpy(self._invoke(arrays if views is None else views))
        finally:
            self._staging_lock.release()

    def _invoke(self, args):
        with waiting_on_workers(self._device):
            return self._fn(*args)

    def _stage(self, arrays) -> list | None:
        """The staging buffer views holding `arrays`, or None when an argument is not a
        contiguous numpy array of the shape and dtype the buffers were made for."""
        if not all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in arrays):
            return None
        if self._staging is None:
            try:
                self._staging = [self._staging_buffer(a) for a in arrays]
            except (RuntimeError, ValueError):  # a dtype IREE has no element type for, ...
                self._staging = []
        if not self._staging or len(arrays) != len(self._staging) or any(
                a.shape != host.shape or a.dtype != host.dtype for a, (_, host) in zip(arrays, self._staging)):
            return None
        for a, (_, host) in zip(arrays, self._staging):
            np.copyto(host, a)
        return [view for view, _ in self._staging]

    def _staging_buffer(self, a: np.ndarray) -> tuple[object, np.ndarray]:
        import iree.runtime as rt
        from iree.runtime.array_interop import map_dtype_to_element_type

        element_type = map_dtype_to_element_type(a.dtype)  # what iree.runtime's own conversion uses
        if element_type is None:
            raise ValueError(f"no IREE element type for {a.dtype}")
        device = self._config.device
        buffer = device.allocator.allocate_buffer(
            memory_type=rt.MemoryType.DEVICE_LOCAL | rt.MemoryType.HOST_VISIBLE,
            allowed_usage=rt.BufferUsage.DEFAULT | rt.BufferUsage.MAPPING, allocation_size=max(1, a.nbytes))
        view = rt.HalBufferView(buffer, a.shape, element_type)
        return view, view.map().asarray(a.shape, a.dtype)
