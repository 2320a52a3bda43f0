"""The direct stride-2 convolution kernel (templates/convdirect.c.in) against numpy: kernel sizes
3/5/7, both G, paddings 0 to K/2, odd sizes, rows narrower and wider than a vector, a last block
of fewer than G channels, batch 2, every activation, the work split across calls by channel
block and by output row. Outputs start as NaN, so an element the kernel does not write fails,
and one it writes outside its share is caught too. The input lies against an inaccessible page
(before it, then after it), so a read outside x crashes the test instead of passing unnoticed.
Tolerance: 2e-5 relative to the output's scale (float32 sums of up to 196 products against a
float64 reference). x86-64 AVX-512 only, like the kernel."""
import ctypes
import mmap
from pathlib import Path

import numpy as np
import pytest

from spiree.mlir_passes.kernels import ACTIVATIONS, render_sources
from spiree.mlir_passes.kernels.convdirect import GROUPS, ConvDirectVariant, group_for

from .cabi import build, call
from .test_conv import out_size, reference

RTOL = 2e-5
HAS_AVX512 = "avx512f" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else False
pytestmark = pytest.mark.skipif(not HAS_AVX512, reason="the direct conv kernel is x86-64 AVX-512 only")

# (C_in, H, W, K, pad, C_out)
GEOMETRIES = [
    (3, 15, 15, 3, 1, 8),  # MobileNet stem, odd size: one partial vector per row
    (3, 16, 16, 7, 3, 16),  # ResNet stem
    (3, 40, 37, 3, 1, 32),  # a full vector and a partial one per row
    (1, 9, 70, 5, 2, 24),  # three vectors per row
    (4, 33, 34, 3, 0, 16),  # no padding
    (2, 5, 5, 3, 1, 20),  # a last block of 4 (G=8) or 4 of 16 (G=16)
    (3, 2, 2, 7, 3, 8),  # every row and column but one is padding
]

PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]


def guarded(values: np.ndarray, guard_after: bool):
    """A float32 copy of `values` that ends at (guard_after) or starts at an inaccessible page:
    (the array, the mapping that must outlive it)."""
    nbytes = values.size * 4
    span = -(-nbytes // PAGE) * PAGE
    m = mmap.mmap(-1, span + 2 * PAGE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    for guard in (base, base + span + PAGE):
        assert _libc.mprotect(guard, PAGE, 0) == 0, ctypes.get_errno()
    start = base + PAGE + (span - nbytes if guard_after else 0)
    a = np.frombuffer((ctypes.c_float * values.size).from_address(start), np.float32)
    a[:] = values.ravel()
    return a, m


def kernel_lib(variants):
    return build(render_sources(variants))


def run(lib, v: ConvDirectVariant, x, w, bias, pad, *, act="minmax", vmin=-np.inf, vmax=np.inf,
        guard_after=True, group_split=1, row_split=1):
    n, c_in, h, wd = x.shape
    c_out, k = w.shape[0], v.kernel
    ho, wo = out_size(h, k, 2, pad), out_size(wd, k, 2, pad)
    ng = -(-c_out // v.group)
    packed = np.zeros((ng * v.group, c_in * k * k), np.float32)
    packed[:c_out] = w.reshape(c_out, -1)
    values = np.ascontiguousarray(packed.reshape(ng, v.group, -1).transpose(0, 2, 1))
    xg, mapping = guarded(x, guard_after)
    out = np.full((n, c_out, ho, wo), np.nan, np.float32)
    for g0, g1 in [(i * ng // group_split, (i + 1) * ng // group_split) for i in range(group_split)]:
        for r0, r1 in [(i * ho // row_split, (i + 1) * ho // row_split) for i in range(row_split)]:
            call(lib, v.name, [xg, values, bias, out], [n, c_in, c_out, h, wd, ho, wo, pad, pad, g0, g1, r0, r1],
                 vmin, vmax)
    del xg, mapping
    return out


def variants_for(geometries):
    return [ConvDirectVariant(k, g) for g in GROUPS for k in sorted({geo[3] for geo in geometries})]


@pytest.fixture(scope="module")
def lib():
    acts = [ConvDirectVariant(3, 8, a) for a in ACTIVATIONS if a != "minmax"]
    return kernel_lib(variants_for(GEOMETRIES) + acts)


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=lambda g: "x".join(map(str, g)))
def test_matches_numpy(lib, geometry, group):
    c_in, h, wd, k, pad, c_out = geometry
    rng = np.random.default_rng(hash(geometry) % 2**32)
    x = rng.normal(size=(2, c_in, h, wd)).astype(np.float32)
    w = rng.normal(0, 1 / np.sqrt(c_in * k * k), (c_out, c_in, k, k)).astype(np.float32)
    bias = rng.normal(size=c_out).astype(np.float32)
    ref = reference(x, w, bias, 2, pad)
    for guard_after in (True, False):
        out = run(lib, ConvDirectVariant(k, group), x, w, bias, pad, guard_after=guard_after)
        np.testing.assert_allclose(out, ref, rtol=RTOL, atol=RTOL * np.abs(ref).max())


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activations_and_clamp(lib, act):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1, 3, 15, 15)).astype(np.float32)
    w = rng.normal(0, 0.5, (8, 3, 3, 3)).astype(np.float32)
    bias = rng.normal(size=8).astype(np.float32)
    vmin, vmax = (0.0, 6.0) if act == "minmax" else (-np.inf, np.inf)
    out = run(lib, ConvDirectVariant(3, 8, act), x, w, bias, 1, act=act, vmin=vmin, vmax=vmax)
    ref = reference(x, w, bias, 2, 1, act=act, vmin=vmin, vmax=vmax)
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=RTOL * np.abs(ref).max())


@pytest.mark.parametrize("group_split,row_split", [(2, 1), (1, 3), (2, 4)])
def test_work_split_by_block_and_row(lib, group_split, row_split):
    """Workgroups take a range of channel blocks and of output rows each: together they write
    every output once (NaN would remain otherwise) and the same numbers as one call."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 3, 40, 37)).astype(np.float32)
    w = rng.normal(0, 0.2, (32, 3, 3, 3)).astype(np.float32)
    bias = rng.normal(size=32).astype(np.float32)
    v = ConvDirectVariant(3, 16)
    whole = run(lib, v, x, w, bias, 1)
    split = run(lib, v, x, w, bias, 1, group_split=group_split, row_split=row_split)
    np.testing.assert_array_equal(split, whole)


def test_group_for():
    assert [group_for(c) for c in (16, 32, 64, 24, 8, 20)] == [16, 16, 16, 8, 8, 8]


def test_variant_errors():
    with pytest.raises(ValueError, match="G must be one of"):
        ConvDirectVariant(3, 4)
    with pytest.raises(ValueError, match="kernel size must be 1..7"):
        ConvDirectVariant(9, 8)
