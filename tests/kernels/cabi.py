"""Calling generated kernels from numpy, for the per-variant C tests.

`build(source)` compiles C (a kernel source from `render_sources`) for this machine into a
shared library (cached by content under pytest's tmp dir); `memref(a)` expands a 1-D numpy
array into the five arguments MLIR passes for a `memref<?xT>` (base, aligned, offset, size,
stride), which is how IREE calls every spiree kernel.
"""
from __future__ import annotations

import ctypes
import hashlib
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from spiree.mlir_passes.kernels import COMMON_CFLAGS, clang

_DIR = Path(tempfile.gettempdir()) / "spiree-ctest"
_TYPES = {np.float32: ctypes.c_float, np.int8: ctypes.c_int8, np.int16: ctypes.c_int16, np.int32: ctypes.c_int32}


def build(source: str) -> ctypes.CDLL:
    """`source` built with spiree's kernel flags for this CPU, as a loaded shared library."""
    flags = [f for f in COMMON_CFLAGS if f != "-ffreestanding"] + ["-march=native", "-fPIC", "-shared",
                                                                   "-fvisibility=default"]
    key = hashlib.sha256(("\0".join(flags) + source).encode()).hexdigest()[:20]
    so = _DIR / f"k{key}.so"
    if not so.is_file():
        _DIR.mkdir(parents=True, exist_ok=True)
        src = _DIR / f"k{key}.c"
        src.write_text(source)
        tmp = so.with_suffix(".tmp.so")
        subprocess.run([clang(), *flags, str(src), "-o", str(tmp)], check=True)
        tmp.replace(so)
    return ctypes.CDLL(str(so))


def memref(a: np.ndarray) -> list:
    """The 5 arguments of a 1-D memref over `a` (C-contiguous; flattened)."""
    assert a.flags.c_contiguous
    ptr = ctypes.c_void_p(a.ctypes.data)
    return [ptr, ptr, ctypes.c_size_t(0), ctypes.c_size_t(a.size), ctypes.c_size_t(1)]


def call(lib: ctypes.CDLL, name: str, arrays, scalars, vmin: float = -np.inf, vmax: float = np.inf) -> None:
    """Call kernel `name`(memrefs of `arrays`..., size_t `scalars`..., float vmin, float vmax)."""
    args = [x for a in arrays for x in memref(a)]
    args += [ctypes.c_size_t(int(s)) for s in scalars]
    args += [ctypes.c_float(vmin), ctypes.c_float(vmax)]
    fn = getattr(lib, name)
    fn.restype = None
    fn(*args)


ACT_REFERENCE = {
    "minmax": lambda x: x,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "hswish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
}


def activation(act: str, x: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    """numpy reference of the kernels' epilogue: clamp(act(x), vmin, vmax), in float64."""
    return np.clip(ACT_REFERENCE[act](x.astype(np.float64)), vmin, vmax)


def pointwise_reference(weight, x, bias, *, act: str, vmin: float, vmax: float, res=None, scale=None) -> np.ndarray:
    """numpy reference of a pointwise kernel, in float64: clamp(act(W (x * scale) + bias + res))
    for weight [C_out, C_in, 1, 1], x [N, C_in, HW], scale [N, C_in], res [N, C_out, HW]."""
    xs = x * scale[:, :, None] if scale is not None else x
    acc = np.einsum("oc,ncp->nop", weight[:, :, 0, 0].astype(np.float64), xs.astype(np.float64)) + bias[None, :, None]
    return activation(act, acc if res is None else acc + res, vmin, vmax)


def check_written(out: np.ndarray, ref: np.ndarray, rows: slice, px: slice) -> None:
    """`out` matches `ref` on [:, rows, px] (1e-5 relative to the output scale) and is still
    NaN everywhere else (the kernel wrote only its share)."""
    np.testing.assert_allclose(out[:, rows, px], ref[:, rows, px], rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    written = np.zeros(out.shape, bool)
    written[:, rows, px] = True
    assert np.isnan(out[~written]).all(), "wrote outside its share of channels and pixels"
