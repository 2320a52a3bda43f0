"""Runner "wasm": execute a wasm32 artifact on this machine, running IREE's real wasm code.

A wasm32 `.vmfb` holds its dispatch code as WebAssembly side modules (executable format
`system-wasm-wasm_32`), meant for IREE's web runtime in a browser. The stock host runtime has
no loader for them, so `spiree run`/`spiree.load` derive a *host twin* of the artifact:

1. `parse_vmfb` finds the rodata segments of the module flatbuffer: the wasm executables and
   the executable-format string the VM code selects them with.
2. `host_twin` appends, for each wasm executable, a tiny host shared library (the stub of
   `targets/wasm/stub.c`, carrying the sha256 of the wasm bytes) after the archive, points the
   segment at it, and renames the format to this host's system library format
   (`system-elf-x86_64` or `system-elf-arm_64`). The wasm bytes are not touched; they stay in
   the twin's rodata too.
3. `WasmRunner` registers each wasm module with the bridge (`targets/wasm/bridge.c`, built once
   with the system C compiler and cached): Wasmtime compiles and instantiates it, the bridge
   calls its library query and builds the 64-bit library the stub returns. Then the stock
   `iree.runtime` loads the twin (dlopen of the stubs) on the chosen device (`local-sync` or
   `local-task` with N workers) and every dispatch runs in Wasmtime. The bridge runs a
   dispatch's whole workgroup grid in one call inside wasm (one Wasmtime store per
   executable), so extra local-task workers overlap IREE's own fills and copies with it, never
   one dispatch's workgroups with each other: wasm32 times are one-thread times.

The twin is derived in memory on each load (a few byte patches, no compiler), so it can never
be stale; only the bridge build is cached (`$SPIREE_CACHE/wasm-bridge-<hash>/`). The twin never
replaces or ships as the artifact.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from ..targets import fetch_tools, host_arch
from .errors import RunError
from .runtime import Device, hal_device, resolve_device

log = logging.getLogger(__name__)

WASM_FORMAT = b"system-wasm-wasm_32"
# IREE's format of a system shared library executable (dlopen'ed by the stock runtime), per host.
SYSTEM_FORMATS = {"x86_64": b"system-elf-x86_64", "aarch64": b"system-elf-arm_64"}
WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
KEY_MARKER = b"SPIREE-WASM-KEY:"
SEGMENT_ALIGNMENT = 64  # IREE_VM_ARCHIVE_SEGMENT_ALIGNMENT
SOURCES = Path(__file__).resolve().parent.parent / "targets" / "wasm"

# Field ordinals in IREE's bytecode_module_def.fbs (iree.vm.BytecodeModuleDef / RodataSegmentDef).
_MODULE_RODATA_SEGMENTS = 9
_SEGMENT_EMBEDDED_DATA = 2  # 0/1 are the compression_type union (type, value)
_SEGMENT_EXTERNAL_OFFSET = 3
_SEGMENT_EXTERNAL_LENGTH = 4


# --------------------------------------------------------------------------------------------
# The vmfb archive: zip local header, size-prefixed flatbuffer, external rodata after it.
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RodataSegment:
    index: int
    data_offset: int  # absolute offset of the bytes in the file
    length: int
    external: bool
    table: int  # absolute offset of the RodataSegmentDef table
    length_field: int  # absolute offset of the u32 vector length (embedded) or u64 (external)
    offset_field: int  # absolute offset of the u64 external_data_offset (external only)


@dataclass(frozen=True)
class VmfbLayout:
    rodata_base: int  # absolute offset that external_data_offset is relative to
    segments: tuple[RodataSegment, ...]


class _Flatbuffer:
    def __init__(self, data: bytes, start: int):
        self.d = data
        self.start = start

    def u16(self, p): return struct.unpack_from("<H", self.d, p)[0]
    def u32(self, p): return struct.unpack_from("<I", self.d, p)[0]
    def i32(self, p): return struct.unpack_from("<i", self.d, p)[0]
    def u64(self, p): return struct.unpack_from("<Q", self.d, p)[0]

    def field(self, table: int, ordinal: int) -> int:
        """Absolute offset of a table field, or 0 when absent."""
        vtable = table - self.i32(table)
        vsize = self.u16(vtable)
        slot = 4 + 2 * ordinal
        if slot >= vsize:
            return 0
        off = self.u16(vtable + slot)
        return table + off if off else 0

    def deref(self, p: int) -> int:
        return p + self.u32(p)


def parse_vmfb(vmfb: bytes) -> VmfbLayout:
    """Locate the rodata segments of an IREE bytecode module archive."""
    try:
        base = 0
        if vmfb[:4] == b"PK\x03\x04":
            name_len, extra_len = struct.unpack_from("<HH", vmfb, 26)
            base = 30 + name_len + extra_len
        size = struct.unpack_from("<I", vmfb, base)[0]
        fb_start = base + 4
        if vmfb[fb_start + 4:fb_start + 8] != b"IREE" or fb_start + size > len(vmfb):
            raise ValueError("no IREE module flatbuffer")
        rodata_base = -(-(fb_start + size) // SEGMENT_ALIGNMENT) * SEGMENT_ALIGNMENT
        fb = _Flatbuffer(vmfb, fb_start)
        root = fb.deref(fb_start)
        segs_field = fb.field(root, _MODULE_RODATA_SEGMENTS)
        segments = []
        if segs_field:
            vec = fb.deref(segs_field)
            for i in range(fb.u32(vec)):
                table = fb.deref(vec + 4 + 4 * i)
                emb = fb.field(table, _SEGMENT_EMBEDDED_DATA)
                if emb:
                    v = fb.deref(emb)
                    segments.append(RodataSegment(i, v + 4, fb.u32(v), False, table, v, 0))
                    continue
                off_f = fb.field(table, _SEGMENT_EXTERNAL_OFFSET)
                len_f = fb.field(table, _SEGMENT_EXTERNAL_LENGTH)
                off = fb.u64(off_f) if off_f else 0
                length = fb.u64(len_f) if len_f else 0
                segments.append(RodataSegment(i, rodata_base + off, length, True, table, len_f, off_f))
        for s in segments:
            if s.data_offset + s.length > len(vmfb):
                raise ValueError(f"rodata segment {s.index} lies outside the file")
        return VmfbLayout(rodata_base, tuple(segments))
    except (struct.error, IndexError, ValueError) as e:
        raise RunError(f"the .vmfb is not a valid IREE module ({e}): recompile it with `spiree compile`") from None


# --------------------------------------------------------------------------------------------
# The wasm side modules: dylink.0 memory info, and imports the bridge cannot provide.
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# The host twin.
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# The bridge library: built once per source/compiler/wasmtime, cached.
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Bridge:
    directory: Path
    library: Path
    stub: Path


def _wasmtime_library() -> Path:
    try:
        import wasmtime  # noqa: F401
    except ImportError:
        raise RunError("the `wasmtime` Python package is missing, so wasm32 artifacts cannot run here: run scripts/setup.sh (or pip install wasmtime)") from None
    lib = Path(wasmtime.__file__).parent / f"linux-{host_arch()}" / "_libwasmtime.so"
    if not lib.is_file():
        found = sorted(Path(wasmtime.__file__).parent.glob("*/_libwasmtime.*"))
        if not found:
            raise RunError(f"the wasmtime package at {Path(wasmtime.__file__).parent} ships no _libwasmtime library: reinstall it with pip install wasmtime")
        lib = found[0]
    return lib


def _compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("clang") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise RunError("no C compiler (clang or cc) on PATH to build the wasm bridge: run scripts/setup.sh (installs clang and lld)")
    return cc


# Compiler flags of the two libraries (part of the cache key, so changing them rebuilds).
_BRIDGE_FLAGS = ("-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-Wl,-soname,libspiree_wasm.so", "-lpthread")
_STUB_FLAGS = ("-O2", "-fPIC", "-shared", "-nostdlib", "-fvisibility=hidden", "-s")


def _cross_flags(arch: str) -> list[str]:
    """clang flags that build a shared library for another Linux arch against Debian's cross
    libc (libc6-dev-<arch>-cross: headers and libraries under /usr/<arch>-linux-gnu)."""
    sysroot = Path(f"/usr/{arch}-linux-gnu")
    if not (sysroot / "include" / "stdio.h").is_file():
        raise RunError(f"the {arch} cross libc headers are missing ({sysroot}/include): run scripts/setup.sh "
                       f"(installs libc6-dev-arm64-cross)")
    resource = subprocess.run(["clang", "-print-resource-dir"], capture_output=True, text=True).stdout.strip()
    return [f"--target={arch}-linux-gnu", "-fuse-ld=lld", "-nostdinc", "-isystem", f"{resource}/include",
            "-isystem", str(sysroot / "include"), f"-L{sysroot / 'lib'}"]


def bridge(*, rebuild: bool = False, sources: Path | None = None, arch: str | None = None) -> Bridge:
    """The built bridge and stub template, compiling them on first use.

    `arch` (default: this machine) other than this machine's cross-builds them with clang against
    the aarch64 Wasmtime library (`fetch_tools.fetch_wasmtime`), to check arm64 hosts under qemu.
    Cached in `$SPIREE_CACHE/wasm-bridge-<key>/`, the key being a hash of the C sources, the
    compiler, its flags, the arch and the Wasmtime library: any change builds a new directory, and
    a directory is only ever served for exactly the inputs it was built from."""
    sources = sources or SOURCES
    arch = arch or host_arch()
    native = arch == host_arch()
    if native:
        lib, cc, extra = _wasmtime_library(), _compiler(), []
    else:
        if arch != "aarch64":
            raise RunError(f"the wasm bridge cross-builds for aarch64 only, not {arch}")
        if not shutil.which("clang"):
            raise RunError("clang is missing, so the wasm bridge cannot be cross-built: run scripts/setup.sh")
        try:
            lib = fetch_tools.fetch_wasmtime(quiet=True)
        except RuntimeError as e:
            raise RunError(f"{e}; or run scripts/setup.sh") from None
        cc, extra = "clang", _cross_flags(arch)
    try:
        wt_version = metadata.version("wasmtime")
    except metadata.PackageNotFoundError:
        wt_version = "unknown"
    h = hashlib.sha256()
    for part in ((sources / "bridge.c").read_bytes(), (sources / "stub.c").read_bytes(), cc.encode(), arch.encode(),
                 " ".join(_BRIDGE_FLAGS + _STUB_FLAGS + tuple(extra)).encode(), str(lib).encode(), wt_version.encode()):
        h.update(hashlib.sha256(part).digest())
    dest = fetch_tools.cache_root() / f"wasm-bridge-{h.hexdigest()[:16]}"
    result = Bridge(dest, dest / "libspiree_wasm.so", dest / "stub.so")
    if result.library.is_file() and result.stub.is_file() and not rebuild:
        return result
    log.info("wasm: building the Wasmtime bridge for %s with %s into %s ...", arch, cc, dest)
    libc = [] if native else ["-nostdlib", "-lc"]

    def build_into(t: Path) -> None:
        _run([cc, *extra, *_BRIDGE_FLAGS[:4], "-o", str(t / "libspiree_wasm.so"), _BRIDGE_FLAGS[4],
              str(sources / "bridge.c"), str(lib), f"-Wl,-rpath,{lib.parent}", *libc, _BRIDGE_FLAGS[5]])
        # The stub finds the bridge by soname (already loaded) or by its runpath (the cache dir).
        _run([cc, *extra, *_STUB_FLAGS[:5], "-o", str(t / "stub.so"), str(sources / "stub.c"), f"-L{t}",
              "-lspiree_wasm", f"-Wl,-rpath,{dest}", _STUB_FLAGS[5]])
        if (t / "stub.so").read_bytes().count(KEY_MARKER) != 1:
            raise RunError(f"the wasm stub built by {cc} does not hold exactly one key placeholder")

    _publish(dest, build_into)
    return result


def _publish(dest: Path, build_into, *, complete=lambda: False) -> None:
    """Build a cache directory in a temporary sibling, then rename it to `dest`, so `dest` is
    either complete or absent, also when the build fails half-way. If `complete()` says another
    process published `dest` meanwhile, its directory is kept."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}-") as tmp:
        build_into(Path(tmp))
        if complete():
            return
        if dest.exists():
            shutil.rmtree(dest)
        os.rename(tmp, dest)
        os.mkdir(tmp)  # TemporaryDirectory cleans up a path that now exists again


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        first = next((l for l in proc.stderr.splitlines() if "error" in l), proc.stderr.strip()[-300:])
        raise RunError(f"building the wasm bridge failed: {first.strip()} (command: {' '.join(cmd)})")


class _BridgeLib:
    """ctypes view of the loaded bridge (one per process)."""

    _instance: "_BridgeLib | None" = None

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
    def get(cls) -> "_BridgeLib":
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
    _BridgeLib.get().lib.spiree_wasm_stats(out, 1 if reset else 0)
    return WasmStats(out[0] / 1e9, out[1] / 1e9, out[2] / 1e9, out[3], out[4], out[5])


def profile(*, reset: bool = False) -> dict[str, tuple[int, float]]:
    """Per dispatch function (by export name, all wasm executables): (dispatches, seconds inside
    wasm) since the last reset."""
    lib = _BridgeLib.get().lib
    need = lib.spiree_wasm_profile(None, 0, 0)
    buf = ctypes.create_string_buffer(need + 4096)
    lib.spiree_wasm_profile(buf, len(buf), 1 if reset else 0)
    out: dict[str, tuple[int, float]] = {}
    for line in buf.value.decode(errors="replace").splitlines():
        name, calls, ns = line.split("\t")
        c, t = out.get(name, (0, 0.0))
        out[name] = (c + int(calls), t + int(ns) / 1e9)
    return out


# --------------------------------------------------------------------------------------------
# The runner.
# --------------------------------------------------------------------------------------------

class WasmRunner:
    """Runs a wasm32 vmfb with the stock `iree.runtime`, its dispatches inside Wasmtime."""

    def __init__(self, vmfb: bytes, entry: str, device: "str | Device | None" = None):
        import iree.runtime as rt

        lib = _BridgeLib.get()
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
            raise RunError(f"IREE could not load the host twin of this wasm32 artifact ({_short(e)}); {self._bridge_hint()}") from None
        self._fn = self._ctx.modules[vm_module.name][entry]

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        try:
            result = self._fn(*arrays)
            results = result if isinstance(result, (list, tuple)) else [result]
            return [np.asarray(r.to_host() if hasattr(r, "to_host") else r) for r in results]
        except RunError:
            raise
        except Exception as e:
            raise RunError(f"running the wasm32 artifact failed ({_short(e)}); {self._bridge_hint()}") from None

    def _bridge_hint(self) -> str:
        last = self._lib.last_error()
        return f"the wasm bridge says: {last}" if last else "the wasm bridge reported nothing"

    def __del__(self):
        try:
            self._fn = self._ctx = None
            self._lib.lib.spiree_wasm_remove_constant_range(self._range)
        except Exception:
            pass


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
        _publish(dest, lambda t: _write_twin(vmfb, t, b, arch), complete=model.is_file)
    return model


class WasmToolRunner:
    """A wasm32 artifact under IREE's `iree-run-module`, through its cached twin: natively, or
    for an aarch64 host (`arch="aarch64"`) with the aarch64 tool, bridge and Wasmtime under
    qemu-user. This checks the arm64-host path of the bridge on an x86 machine."""

    def __init__(self, vmfb: bytes, entry: str, device: "str | Device | None" = None, arch: str | None = None):
        from ..targets import get_target
        from .runtime import RunModuleToolRunner

        path = cached_twin(vmfb, arch=arch)
        target = get_target("host" if (arch or host_arch()) == host_arch() else "arm64-linux")
        self._run = RunModuleToolRunner(path, entry, target, device, env={"SPIREE_WASM_DIR": str(path.parent)})

    def __call__(self, *arrays: np.ndarray) -> list[np.ndarray]:
        return self._run(*arrays)


def _short(e: Exception) -> str:
    s = str(e).strip().splitlines()
    return s[0][:300] if s else type(e).__name__
