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


CACHE_LINE = 64  # bytes


def stream_writer(name: str, vt: str) -> str:
    """C helpers `{name}_stream_begin/put/end` and the per-kernel flags `{name}_running`,
    `{name}_shared`: a workgroup whose output is one contiguous range, produced in order,
    writes it with non-temporal stores of whole cache lines (no read-for-ownership; see
    spmm.py for why this matters under local-task). The kernel stages its output on the stack
    and `put`s it; a line that straddles two `put`s is assembled in `part`; only the partial
    lines at the range's two ends (shared with the neighbouring workgroups) use normal stores.
    `vt` must be a 64-byte vector type (16 f32 lanes)."""
    return f"""
static int {name}_running;  /* workgroups of this kernel running now, on all workers */
static int {name}_shared;  /* 1 once two of them have run at the same time */

struct {name}_stream {{
  float* dst;  /* where the next float goes */
  float* line;  /* start of the line being assembled in part (fill > 0) */
  float part[16];
  size_t fill;
}};

static inline __attribute__((always_inline)) void {name}_stream_begin(struct {name}_stream* s, float* dst) {{
  s->dst = dst;
  s->line = dst;
  s->fill = 0;
}}

static inline __attribute__((always_inline)) void {name}_stream_put(struct {name}_stream* s, const float* src, size_t n) {{
  float* d = s->dst;
  s->dst += n;
  if (s->fill) {{
    const size_t m = 16 - s->fill < n ? 16 - s->fill : n;
    for (size_t i = 0; i < m; ++i) s->part[s->fill + i] = src[i];
    s->fill += m;
    src += m;
    d += m;
    n -= m;
    if (s->fill < 16) return;
    __builtin_nontemporal_store(*(const {vt}*)s->part, ({vt}*)s->line);
    s->fill = 0;
  }}
  for (; n && ((size_t)d & {CACHE_LINE - 1}); --n) *d++ = *src++;  /* the range's first, shared line */
  for (; n >= 16; n -= 16, d += 16, src += 16) __builtin_nontemporal_store(*(const {vt}*)src, ({vt}*)d);
  if (n) {{
    s->line = d;
    for (size_t i = 0; i < n; ++i) s->part[i] = src[i];
    s->fill = n;
  }}
}}

static inline __attribute__((always_inline)) void {name}_stream_end(struct {name}_stream* s) {{
  for (size_t i = 0; i < s->fill; ++i) s->line[i] = s->part[i];  /* the range's last, shared line */
  s->fill = 0;
}}
"""



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
