"""spiree's C microkernels, built per target with clang into objects that IREE links into its
executables (`hal.executable.objects`).

Objects are cached by the hash of (source, flags, clang version) under the spiree cache dir,
so the same kernels and flags give the same bytes (and the same .vmfb).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ...targets import Target
from ...targets.fetch_tools import cache_root

COMMON_CFLAGS = (
    "-std=c17", "-O3", "-ffreestanding", "-fno-builtin", "-fvisibility=hidden", "-fno-plt",
    "-fdata-sections", "-ffunction-sections", "-fno-stack-protector", "-ffp-contract=fast",
)


class KernelBuildError(RuntimeError):
    pass


# Epilogue activations every kernel family takes (templates/prelude.c.in): y = clamp(act(x),
# vmin, vmax). "minmax" is the identity, so none / ReLU / ReLU6 are minmax with their bounds.
ACTIVATIONS = ("minmax", "sigmoid", "silu", "hswish")


def check_activation(act: str) -> str:
    if act not in ACTIVATIONS:
        raise ValueError(f"activation {act!r} is not one of {', '.join(ACTIVATIONS)}")
    return act


def prelude() -> str:
    """The C every kernel source starts with: vector types and the epilogue activations."""
    from .xngen import render_file

    return render_file("prelude.c.in")


def render_sources(variants) -> str:
    """One C source for a set of kernel variants (any families): the prelude, then each
    distinct variant's `render()` once, in name order."""
    unique = {v.name: v for v in variants}
    return prelude() + "".join(unique[k].render() for k in sorted(unique))


def _cache_dir() -> Path:
    return cache_root() / "kernels"


def clang() -> str:
    found = shutil.which(os.environ.get("SPIREE_CLANG", "clang"))
    if not found:
        raise KernelBuildError(
            "clang is not installed, so spiree's sparse kernels cannot be built: run scripts/setup.sh "
            "(installs clang and lld), or compile without sparsity")
    return found


def build_object(source: str, target: Target) -> Path:
    """Compile C `source` for `target`; returns the cached object's path."""
    cc = clang()
    flags = [*COMMON_CFLAGS, *target.kernel_cflags]
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    key = hashlib.sha256("\0".join([source, *flags, version]).encode()).hexdigest()[:24]
    out = _cache_dir() / f"{target.name}-{key}.o"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        src = Path(tmp) / "kernels.c"
        src.write_text(source)
        obj = Path(tmp) / "kernels.o"
        proc = subprocess.run([cc, *flags, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise KernelBuildError(f"clang failed to build the kernels for {target.name}: {proc.stderr.strip()[:500]}")
        os.replace(obj, out)
    return out
