"""Stage `compile`: MLIR (bytecode) -> IREE `.vmfb` for a target.

Runs the `iree-compile` of the installed `iree-base-compiler` with the target's flags plus
spiree's dense-build flags. On failure the input is kept in a repro directory and the error
carries IREE's diagnostics and the exact command to rerun.
"""
from __future__ import annotations

import logging
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..targets import Target
from .errors import CompileError
from .fsutil import atomic_write
from .ir_module import MlirModule

log = logging.getLogger(__name__)

# spiree's dense build: NCHW convs rewritten to channels-last, 1x1 convs to matmuls. On this
# machine MobileNet-v1 runs ~2x faster than with IREE's defaults (see docs/pipeline.md).
DENSE_FLAGS: tuple[str, ...] = (
    "--iree-preprocessing-pass-pipeline=builtin.module(util.func("
    "iree-preprocessing-convert-conv-to-channels-last,"
    "iree-preprocessing-convert-1x1-filter-conv2d-to-matmul))",
)


@dataclass(frozen=True)
class CompileOptions:
    # More iree-compile flags, after the target's and the dense flags.
    extra_flags: tuple[str, ...] = ()
    # Dense-build preprocessing flags (DENSE_FLAGS); empty tuple = IREE defaults.
    dense_flags: tuple[str, ...] = DENSE_FLAGS


def iree_compile_tool() -> str:
    from iree.compiler.tools.binaries import find_tool

    return find_tool("iree-compile")


def compile_flags(target: Target, options: CompileOptions = CompileOptions()) -> list[str]:
    return [*target.iree_flags(), *_linker_flags(target), *options.dense_flags, *options.extra_flags]


def _linker_flags(target: Target) -> list[str]:
    """`--iree-llvmcpu-...-linker-path=WRAPPER` when the target wants extra linker arguments:
    the wrapper (a cached script, named by its content) runs IREE's own lld with them."""
    if target.linker_wrap is None:
        return []
    import hashlib

    from iree.compiler.tools.binaries import find_tool

    from ..targets.fetch_tools import cache_root

    flag, extra = target.linker_wrap
    script = f'#!/bin/sh\nexec "{find_tool("iree-lld")}" "$@" {shlex.join(extra)}\n'
    path = cache_root() / "linkers" / f"iree-lld-{hashlib.sha256(script.encode()).hexdigest()[:16]}.sh"
    if not path.is_file():
        atomic_write(path, script, mode=0o755)
    return [f"{flag}={path}"]


def compile_module(module: MlirModule, target: Target, options: CompileOptions = CompileOptions(),
                   *, stage: str = "compile") -> bytes:
    """Compile to a vmfb; returns its bytes."""
    flags = compile_flags(target, options)
    with tempfile.TemporaryDirectory(prefix="spiree-compile-") as tmp:
        src = Path(tmp) / "input.mlirbc"
        out = Path(tmp) / "out.vmfb"
        src.write_bytes(module.bytecode)
        cmd = [iree_compile_tool(), str(src), *flags, "-o", str(out)]
        log.debug("running %s", shlex.join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise _compile_error(proc, module, flags, stage, target)
        if proc.stderr.strip():  # IREE's warnings: kept by the CLI, shown with --verbose
            logging.getLogger("iree").warning("iree-compile: %s", proc.stderr.strip())
        return out.read_bytes()


def _compile_error(proc, module: MlirModule, flags: list[str], stage: str, target: Target) -> CompileError:
    repro_dir = Path(tempfile.mkdtemp(prefix="spiree-repro-"))
    src = repro_dir / "input.mlirbc"
    src.write_bytes(module.bytecode)
    cmd = shlex.join(["iree-compile", str(src), *flags, "-o", str(repro_dir / "out.vmfb")])
    (repro_dir / "command.sh").write_text(cmd + "\n")
    (repro_dir / "stderr.txt").write_text(proc.stderr)
    diag = next((l.strip() for l in proc.stderr.splitlines() if "error:" in l), proc.stderr.strip()[-300:])
    return CompileError(
        f"IREE failed at stage {stage!r} for target {target.name!r}: {diag} "
        f"(repro kept in {repro_dir}; rerun with: {cmd})", repro_dir=repro_dir
    )
