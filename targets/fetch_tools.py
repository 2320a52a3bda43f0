"""Fetch the aarch64 IREE runtime tools (iree-run-module, iree-benchmark-module) once.

They come from the manylinux aarch64 wheel of the same `iree-base-runtime` version as the
installed runtime, downloaded with pip into a cache directory, and are run under
`qemu-aarch64 -L /usr/aarch64-linux-gnu` on non-arm64 machines.

    python -m spiree.targets.fetch_tools        # prints the tools directory

This module imports nothing of spiree.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

TOOLS = ("iree-run-module", "iree-benchmark-module")
QEMU_SYSROOT = "/usr/aarch64-linux-gnu"


def cache_root() -> Path:
    base = os.environ.get("SPIREE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spiree"
    )
    return Path(base)


def runtime_version() -> str:
    return metadata.version("iree-base-runtime")


def tools_dir(version: str | None = None) -> Path:
    return cache_root() / f"iree-runtime-aarch64-{version or runtime_version()}"


def fetch(version: str | None = None, *, quiet: bool = False) -> Path:
    """Download and unpack the aarch64 tools if they are not cached; return their directory."""
    version = version or runtime_version()
    dest = tools_dir(version)
    if all((dest / t).is_file() for t in TOOLS):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary=:all:", "--platform", "manylinux_2_28_aarch64",
            "--python-version", "3.11", f"iree-base-runtime=={version}", "-d", tmp,
        ]
        if not quiet:
            print(f"[spiree] fetching aarch64 IREE runtime tools {version} ...", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"could not download the aarch64 iree-base-runtime=={version} wheel "
                f"(needs PyPI access): {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
            )
        wheel = next(Path(tmp).glob("*.whl"))
        staging = Path(tmp) / "tools"
        staging.mkdir()
        with zipfile.ZipFile(wheel) as zf:
            for t in TOOLS:
                (staging / t).write_bytes(zf.read(f"iree/_runtime_libs/{t}"))
                (staging / t).chmod(0o755)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    return dest


if __name__ == "__main__":
    print(fetch())
