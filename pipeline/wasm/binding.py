"""The ctypes binding of the loaded wasm bridge (`bridge.py` builds it): `BridgeLib` registers
wasm executables and reports the bridge's errors; `stats` and `profile` read its clocks.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

from ..errors import RunError
from .bridge import Bridge, bridge
from .module import WasmExecutable


class BridgeLib:
    """ctypes view of the loaded bridge (one per process)."""

    _instance: "BridgeLib | None" = None

    def __init__(self, b: Bridge):
        self.bridge = b
        self.stub_template = b.stub.read_bytes()
        self.lib = ctypes.CDLL(str(b.library), mode=ctypes.RTLD_GLOBAL)
        self.lib.spiree_wasm_register.restype = ctypes.c_int
        self.lib.spiree_wasm_register.argtypes = [
            ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
            ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t]
        self.lib.spiree_wasm_add_constant_range.restype = ctypes.c_uint64
        self.lib.spiree_wasm_add_constant_range.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        self.lib.spiree_wasm_remove_constant_range.restype = None
        self.lib.spiree_wasm_remove_constant_range.argtypes = [ctypes.c_uint64]
        self.lib.spiree_wasm_stats.restype = None
        self.lib.spiree_wasm_stats.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_int]
        self.lib.spiree_wasm_last_error.restype = ctypes.c_char_p
        self.lib.spiree_wasm_profile.restype = ctypes.c_size_t
        self.lib.spiree_wasm_profile.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]

    @classmethod
    def get(cls) -> "BridgeLib":
        if cls._instance is None:
            cls._instance = cls(bridge())
        return cls._instance

    def register(self, exe: WasmExecutable) -> None:
        err = ctypes.create_string_buffer(1024)
        rc = self.lib.spiree_wasm_register(exe.key, exe.label.encode(), exe.data, len(exe.data),
                                           exe.mem_size, exe.mem_align_log2, exe.table_size, err, len(err))
        if rc != 0:
            raise RunError(
                f"{exe.label} of this artifact cannot run: {err.value.decode(errors='replace')}; "
                f"the executable is corrupted or was built by another IREE version: recompile it "
                f"with `spiree compile --target wasm32`"
            )

    def last_error(self) -> str:
        return (self.lib.spiree_wasm_last_error() or b"").decode(errors="replace")


@dataclass(frozen=True)
class WasmStats:
    """Time and bytes spent by the bridge since the last reset (all wasm executables)."""
    copy_in_s: float
    wasm_s: float
    copy_out_s: float
    dispatches: int
    bytes_in: int
    bytes_out: int


def stats(*, reset: bool = False) -> WasmStats:
    out = (ctypes.c_uint64 * 6)()
    BridgeLib.get().lib.spiree_wasm_stats(out, 1 if reset else 0)
    return WasmStats(out[0] / 1e9, out[1] / 1e9, out[2] / 1e9, out[3], out[4], out[5])


def profile(*, reset: bool = False) -> dict[str, tuple[int, float]]:
    """Per dispatch function (by export name, all wasm executables): (dispatches, seconds inside
    wasm) since the last reset."""
    lib = BridgeLib.get().lib
    need = lib.spiree_wasm_profile(None, 0, 0)
    buf = ctypes.create_string_buffer(need + 4096)
    lib.spiree_wasm_profile(buf, len(buf), 1 if reset else 0)
    out: dict[str, tuple[int, float]] = {}
    for line in buf.value.decode(errors="replace").splitlines():
        name, calls, ns = line.split("\t")
        c, t = out.get(name, (0, 0.0))
        out[name] = (c + int(calls), t + int(ns) / 1e9)
    return out
