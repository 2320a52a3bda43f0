"""Fetch aarch64 binaries once: the IREE runtime tools and Wasmtime's C library.

The IREE tools (iree-run-module, iree-benchmark-module) come from the manylinux aarch64 wheel
of the same `iree-base-runtime` version as the installed runtime and run under
`qemu-aarch64 -L /usr/aarch64-linux-gnu` on non-arm64 machines. `_libwasmtime.so` comes from
the aarch64 wheel of the installed `wasmtime` version: the wasm bridge is cross-built against it
to check wasm32 artifacts on an arm64 host (under qemu here). Both are downloaded with pip into
a cache directory.

    python -m spiree.targets.fetch_tools        # prints the tools directory

This module imports nothing of spiree but `pipeline/fsutil.py` (standard library only).
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from ..pipeline.fsutil import publish_dir

TOOLS = ("iree-run-module", "iree-benchmark-module")
QEMU_SYSROOT = "/usr/aarch64-linux-gnu"


def cache_root() -> Path:
    base = os.environ.get("SPIREE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spiree"
    )
    return Path(base)


def runtime_version() -> str:
    """The installed IREE runtime's version: the aarch64 tools fetched, and the runtime the Android
    module is built against (spiree pins it)."""
    return metadata.version("iree-base-runtime")


def tools_dir(version: str | None = None) -> Path:
    return cache_root() / f"iree-runtime-aarch64-{version or runtime_version()}"


def fetch(version: str | None = None, *, quiet: bool = False) -> Path:
    """Download and unpack the aarch64 tools if they are not cached; return their directory."""
    version = version or runtime_version()
    members = {t: f"iree/_runtime_libs/{t}" for t in TOOLS}
    return _fetch_from_wheel(f"iree-base-runtime=={version}", members, tools_dir(version),
                             "aarch64 IREE runtime tools", quiet=quiet, executable=True)


def wasmtime_dir(version: str | None = None) -> Path:
    return cache_root() / f"wasmtime-aarch64-{version or metadata.version('wasmtime')}"


def fetch_wasmtime(version: str | None = None, *, quiet: bool = False) -> Path:
    """The aarch64 `_libwasmtime.so` of the installed wasmtime version (downloaded once)."""
    version = version or metadata.version("wasmtime")
    dest = _fetch_from_wheel(f"wasmtime=={version}", {"_libwasmtime.so": "wasmtime/linux-aarch64/_libwasmtime.so"},
                             wasmtime_dir(version), "aarch64 Wasmtime library", quiet=quiet,
                             platforms=("manylinux2014_aarch64", "manylinux_2_28_aarch64"))
    return dest / "_libwasmtime.so"


def _fetch_from_wheel(spec: str, members: dict[str, str], dest: Path, what: str, *, quiet: bool,
                      executable: bool = False, platforms=("manylinux_2_28_aarch64",)) -> Path:
    def complete() -> bool:
        return all((dest / name).is_file() for name in members)

    if complete():
        return dest

    def download_into(tmp: Path) -> None:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               *(a for p in platforms for a in ("--platform", p)), "--python-version", "3.11", spec, "-d", tmp]
        if not quiet:
            print(f"[spiree] fetching {what} ({spec}) ...", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"could not download the aarch64 {spec} wheel (needs PyPI access): "
                f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
            )
        wheel = next(tmp.glob("*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for name, member in members.items():
                (tmp / name).write_bytes(zf.read(member))
                if executable:
                    (tmp / name).chmod(0o755)
        wheel.unlink()

    return publish_dir(dest, download_into, complete=complete)


if __name__ == "__main__":
    print(fetch())
