"""The wasm side modules inside a wasm32 artifact: `read_wasm_executable` reads the dylink.0
memory info the bridge needs, and refuses a module that imports what the bridge cannot provide.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..errors import RunError

WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"


@dataclass(frozen=True)
class WasmExecutable:
    index: int  # ordinal among the artifact's wasm executables
    data: bytes
    mem_size: int
    mem_align_log2: int
    table_size: int

    @property
    def key(self) -> bytes:
        return hashlib.sha256(self.data).digest()

    @property
    def label(self) -> str:
        return f"wasm executable #{self.index} ({len(self.data):,} bytes)"


def _leb(data: bytes, p: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = data[p]
        p += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, p


def _name(data: bytes, p: int) -> tuple[str, int]:
    n, p = _leb(data, p)
    return data[p:p + n].decode("utf-8", "replace"), p + n


# Globals, tables and memory the bridge defines for an emscripten side module (bridge.c).
_PROVIDED_IMPORTS = {"memory", "__indirect_function_table", "__stack_pointer", "__memory_base", "__table_base"}


def read_wasm_executable(index: int, data: bytes) -> WasmExecutable:
    """Parse what the bridge needs from a wasm executable; a clear RunError if it cannot run."""
    label = f"wasm executable #{index} ({len(data):,} bytes)"
    if data[:8] != WASM_MAGIC:
        raise RunError(f"{label} of this artifact is not a WebAssembly module (bad header): recompile it with `spiree compile --target wasm32`")
    mem_info = None
    unsupported: list[str] = []
    try:
        p = 8
        while p < len(data):
            sid = data[p]
            size, p = _leb(data, p + 1)
            end = p + size
            if end > len(data):
                raise IndexError("section runs past the end")
            if sid == 0:
                name, q = _name(data, p)
                if name == "dylink.0":
                    while q < end:
                        sub, q = data[q], q + 1
                        sub_size, q = _leb(data, q)
                        if sub == 1:  # WASM_DYLINK_MEM_INFO
                            ms, r = _leb(data, q)
                            ma, r = _leb(data, r)
                            ts, r = _leb(data, r)
                            mem_info = (ms, ma, ts)
                        q += sub_size
            elif sid == 2:  # imports
                count, q = _leb(data, p)
                for _ in range(count):
                    mod, q = _name(data, q)
                    field, q = _name(data, q)
                    kind, q = data[q], q + 1
                    if kind == 0:  # function
                        _, q = _leb(data, q)
                        unsupported.append(f"{mod}.{field}")
                    elif kind == 1:  # table: reftype + limits
                        q = _skip_limits(data, q + 1)
                    elif kind == 2:  # memory
                        q = _skip_limits(data, q)
                    elif kind == 3:  # global: valtype + mutability
                        q += 2
                    else:
                        _, q = _leb(data, q + 1)
                    if kind != 0 and field not in _PROVIDED_IMPORTS:
                        unsupported.append(f"{mod}.{field}")
            p = end
    except (IndexError, UnicodeDecodeError) as e:
        raise RunError(f"{label} of this artifact is corrupted ({e}): recompile it with `spiree compile --target wasm32`") from None
    if unsupported:
        raise RunError(
            f"{label} imports {', '.join(unsupported)}, which the wasm bridge does not provide "
            f"(IREE's wasm executables must be self-contained; an op lowered to a libm call such as "
            f"fmodf from arith.remf needs one): rewrite that op in the model, or run the artifact in a "
            f"browser with IREE's web runtime"
        )
    if mem_info is None:
        raise RunError(f"{label} has no dylink.0 section, so it is not an emscripten side module as IREE emits them: recompile it with `spiree compile --target wasm32`")
    return WasmExecutable(index, data, *mem_info)


def _skip_limits(data: bytes, q: int) -> int:
    flags, q = data[q], q + 1
    _, q = _leb(data, q)
    if flags & 1:
        _, q = _leb(data, q)
    return q
