"""The host twin of a wasm32 artifact (see `spiree.pipeline.wasm`): `host_twin` derives it in
memory; `export_twin` writes it as files for IREE's own tools, `cached_twin` does so once per
artifact and bridge build under `$SPIREE_CACHE/wasm-twins/<key>/`.
"""
from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ...targets import fetch_tools, host_arch
from ..errors import RunError
from ..fsutil import publish_dir
from .bridge import KEY_MARKER, Bridge, bridge
from .module import WASM_MAGIC, WasmExecutable, read_wasm_executable
from .vmfb import SEGMENT_ALIGNMENT, parse_vmfb

WASM_FORMAT = b"system-wasm-wasm_32"
# IREE's format of a system shared library executable (dlopen'ed by the stock runtime), per host.
SYSTEM_FORMATS = {"x86_64": b"system-elf-x86_64", "aarch64": b"system-elf-arm_64"}


def host_format(arch: str | None = None) -> bytes:
    """The executable format the host twin uses on `arch` (default: this machine)."""
    arch = arch or host_arch()
    if arch not in SYSTEM_FORMATS:
        raise RunError(
            f"wasm32 artifacts run on x86_64 or aarch64 Linux hosts only, this one is {arch}: "
            f"run the artifact in a browser with IREE's web runtime"
        )
    return SYSTEM_FORMATS[arch]


@dataclass(frozen=True)
class HostTwin:
    vmfb: bytes
    executables: tuple[WasmExecutable, ...]


def host_twin(vmfb: bytes, stub_template: bytes, arch: str | None = None) -> HostTwin:
    """Derive the host-runnable twin of a wasm32 vmfb (see the module docstring); `stub_template`
    is the stub library built for `arch` (default: this machine)."""
    fmt = host_format(arch)
    layout = parse_vmfb(vmfb)
    out = bytearray(vmfb)
    executables = []
    format_segments = [s for s in layout.segments if vmfb[s.data_offset:s.data_offset + s.length] == WASM_FORMAT]
    wasm_segments = [s for s in layout.segments if vmfb[s.data_offset:s.data_offset + 4] == WASM_MAGIC[:4]]
    if not format_segments or not wasm_segments:
        raise RunError(
            "this vmfb contains no system-wasm-wasm_32 executable, so it was not compiled for "
            "target 'wasm32': recompile it with --target wasm32"
        )
    marker = stub_template.find(KEY_MARKER)
    for i, seg in enumerate(wasm_segments):
        exe = read_wasm_executable(i, bytes(vmfb[seg.data_offset:seg.data_offset + seg.length]))
        executables.append(exe)
        if not seg.external:
            raise RunError(f"{exe.label} is embedded in the module flatbuffer, which the host twin cannot relocate: recompile it with `spiree compile --target wasm32`")
        stub = bytearray(stub_template)
        stub[marker + len(KEY_MARKER):marker + len(KEY_MARKER) + 32] = exe.key
        out += b"\0" * (-len(out) % SEGMENT_ALIGNMENT)
        struct.pack_into("<Q", out, seg.offset_field, len(out) - layout.rodata_base)
        struct.pack_into("<Q", out, seg.length_field, len(stub))
        out += stub
    for seg in format_segments:  # embedded strings: shorten the vector in place
        struct.pack_into("<I", out, seg.length_field, len(fmt))
        out[seg.data_offset:seg.data_offset + len(WASM_FORMAT)] = fmt.ljust(len(WASM_FORMAT), b"\0")
    return HostTwin(bytes(out), tuple(executables))


def export_twin(vmfb: bytes, directory: "str | os.PathLike", *, arch: str | None = None) -> Path:
    """Write the host twin of a wasm32 vmfb for IREE's own tools (iree-run-module,
    iree-benchmark-module) on `arch` (default: this machine) into `directory`: `model.vmfb` plus,
    per wasm executable, `<sha256>.wasm` and `<sha256>.meta`. Run the tools with
    `SPIREE_WASM_DIR=<directory>`: the bridge registers each executable from there when IREE
    first queries it. Returns the path of `model.vmfb`."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    _write_twin(vmfb, d, bridge(arch=arch), arch)
    return d / "model.vmfb"


def _write_twin(vmfb: bytes, d: Path, b: Bridge, arch: str | None) -> None:
    twin = host_twin(vmfb, b.stub.read_bytes(), arch)
    for e in twin.executables:
        (d / f"{e.key.hex()}.wasm").write_bytes(e.data)
        (d / f"{e.key.hex()}.meta").write_text(f"{e.mem_size} {e.mem_align_log2} {e.table_size}\n")
    (d / "model.vmfb").write_bytes(twin.vmfb)


def cached_twin(vmfb: bytes, *, arch: str | None = None) -> Path:
    """`export_twin` into `$SPIREE_CACHE/wasm-twins/<key>/`, built once: the key hashes the vmfb
    bytes and the bridge build the twin's stubs come from (its sources, compiler, flags, arch),
    so a changed artifact or bridge gets a new directory and a directory is never stale."""
    b = bridge(arch=arch)
    h = hashlib.sha256(vmfb)
    h.update(b.directory.name.encode())
    dest = fetch_tools.cache_root() / "wasm-twins" / h.hexdigest()[:24]
    model = dest / "model.vmfb"
    if not model.is_file():
        publish_dir(dest, lambda t: _write_twin(vmfb, t, b, arch), complete=model.is_file)
    return model
