"""The wasm bridge library (`targets/wasm/bridge.c`) and the stub template (`stub.c`), built once
per source/compiler/flags/arch/Wasmtime with the system C compiler and cached in
`$SPIREE_CACHE/wasm-bridge-<key>/`; `arch="aarch64"` on another machine cross-builds them with
clang, to check arm64 hosts under qemu.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ...targets import fetch_tools, host_arch
from ..errors import RunError
from ..fsutil import package_data, publish_dir

log = logging.getLogger(__name__)

SOURCES = package_data("spiree.targets", "wasm")
# The stub's placeholder for the sha256 of its wasm executable (patched in by `twin.host_twin`).
KEY_MARKER = b"SPIREE-WASM-KEY:"


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

    publish_dir(dest, build_into)
    return result


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        first = next((l for l in proc.stderr.splitlines() if "error" in l), proc.stderr.strip()[-300:])
        raise RunError(f"building the wasm bridge failed: {first.strip()} (command: {' '.join(cmd)})")
