"""The pointwise (SpMM / dense GEMM) kernel against numpy: variants of each tile shape, G, index
width and vector width (16-lane ones also through each of their two bodies: stores in place,
streaming stores), called on a grid of (group range) x (pixel range) pieces like the
workgroups of a dispatch, with pixel chunks smaller than, equal to and larger than a piece,
into line-aligned and misaligned outputs; outputs start NaN so an element no piece writes
fails, and one piece alone must write exactly its own block."""
import numpy as np
import pytest

from spiree.mlir_passes import pattern
from spiree.mlir_passes.dispatch import split
from spiree.mlir_passes.kernels import render_sources
from spiree.mlir_passes.kernels.spmm import DENSE, SpmmVariant

from .cabi import build, call

HOST_LANES = 16  # the test machine's AVX-512 (the host target); 4 and 8 lanes run on it too

VARIANTS = [SpmmVariant(64, 4, 8, HOST_LANES), SpmmVariant(64, 4, DENSE, HOST_LANES), SpmmVariant(32, 8, 16, 8),
            SpmmVariant(16, 4, 8, 4), SpmmVariant(16, 2, DENSE, 4), SpmmVariant(16, 1, 32, 4)]


def _wrappers() -> str:
    """test_<how>_<name>: the two bodies of a streaming variant (see spmm.py), callable alone."""
    out = []
    for v in VARIANTS:
        if not v.streams:
            continue
        for how in ("in_place", "streamed"):
            out.append(f"void test_{how}_{v.name}({v._params()}) {{ {v.name}_{how}({v._args()}); }}\n")
    return "".join(out)


@pytest.fixture(scope="module")
def lib():
    return build(render_sources(VARIANTS) + _wrappers())


def _layer(v: SpmmVariant, c_in: int, c_out: int, sparsity: float, seed: int):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((c_out, c_in)).astype(np.float32)
    ng = pattern.num_groups(c_out, v.group)
    if v.dense:
        vals = np.zeros((ng * v.group, c_in), np.float32)
        vals[:c_out] = w
        return w, np.ascontiguousarray(vals.reshape(ng, v.group, c_in).transpose(0, 2, 1)), None, c_in
    k = c_in - round(sparsity * c_in)
    for g in range(ng):  # balanced group pattern: each group keeps k positions
        keep = np.zeros(c_in, bool)
        keep[rng.choice(c_in, k, replace=False)] = True
        w[g * v.group:(g + 1) * v.group, ~keep] = 0.0
    vals, idx = pattern.pack(w[:, :, None, None], v.group)
    want = {8: np.int8, 16: np.int16, 32: np.int32}[v.index_bits]
    return w, vals, idx.astype(want), k


def _output(shape, misalign: int) -> np.ndarray:
    """A NaN-filled float32 array starting `misalign` floats past a 64-byte boundary (the
    16-lane kernels write line-aligned rows with streaming stores, the others normally)."""
    n = int(np.prod(shape))
    raw = np.empty(n + 32, np.float32)
    start = (-raw.ctypes.data // 4) % 16 + misalign
    out = raw[start:start + n].reshape(shape)
    out[...] = np.nan
    return out


def _call(lib, v, x, vals, idx, bias, out, k, chunk, groups, pixels, vmin, vmax, how=None):
    n, c_in, h, wd = x.shape
    arrays = [x.ravel(), vals.ravel()] + ([] if idx is None else [idx.ravel()]) + [bias, out.reshape(-1)]
    name = v.name if how is None else f"test_{how}_{v.name}"
    call(lib, name, arrays, [n, c_in, out.shape[1], h * wd, k, chunk, *groups, *pixels], vmin, vmax)


def _hows(v):
    return [None] if not v.streams else [None, "in_place", "streamed"]


@pytest.mark.parametrize("v", VARIANTS, ids=lambda v: v.name)
# n, c_in, c_out, h, w: rows that are and are not whole cache lines (a 16-lane kernel streaming a
# workgroup of whole unaligned rows stages them: 7x7, 14x14 and 5x9 below)
@pytest.mark.parametrize("shape", [(1, 24, 18, 13, 11), (2, 40, 9, 8, 8), (1, 16, 8, 16, 12), (1, 24, 20, 7, 7),
                                   (1, 12, 16, 14, 14), (2, 16, 10, 5, 9)])
@pytest.mark.parametrize("misalign", [0, 3])
def test_grid_of_pieces_matches_numpy(lib, v, shape, misalign):
    n, c_in, c_out, h, wd = shape
    w, vals, idx, k = _layer(v, c_in, c_out, 0.75, seed=c_in + v.mr)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c_in, h, wd)).astype(np.float32)
    bias = rng.standard_normal(c_out).astype(np.float32)
    ref = np.clip(np.einsum("oc,nchw->nohw", w.astype(np.float64), x) + bias[None, :, None, None], 0.0, 6.0)
    ng, hw = vals.shape[0], h * wd
    for how in _hows(v):
        for chunk in (v.mr, 2 * v.mr, 0):  # 0: the whole piece at once
            out = _output((n, c_out, h, wd), misalign)
            blocks = -(-hw // v.mr)
            pieces = 1 if chunk == 0 else min(blocks, 2)  # chunk 0: whole rows per workgroup
            for g0, g1 in split(ng, min(ng, 3)):
                for b0, b1 in split(blocks, pieces):
                    pixels = (min(b0 * v.mr, hw), min(b1 * v.mr, hw))
                    _call(lib, v, x, vals, idx, bias, out, k, chunk, (g0, g1), pixels, 0.0, 6.0, how)
            np.testing.assert_allclose(out, ref, rtol=2e-5, atol=2e-5, err_msg=f"{v.name} ({how}), chunk {chunk}")


@pytest.mark.parametrize("v", VARIANTS[:2], ids=lambda v: v.name)
def test_one_piece_writes_only_its_block(lib, v):
    n, c_in, c_out, h, wd = 1, 16, 12, 16, 10  # 160 pixels: MR=64 tiles 0-63, 64-127, 128-159
    w, vals, idx, k = _layer(v, c_in, c_out, 0.5, seed=3)
    x = np.random.default_rng(2).standard_normal((n, c_in, h, wd)).astype(np.float32)
    bias = np.zeros(c_out, np.float32)
    out = _output((n, c_out, h, wd), 0)
    _call(lib, v, x, vals, idx, bias, out, k, v.mr, (1, 2), (64, 128), -np.inf, np.inf, "streamed")
    flat = out.reshape(c_out, h * wd)
    written = ~np.isnan(flat)
    expect = np.zeros_like(written)
    expect[4:8, 64:128] = True  # group 1 = channels 4..7 (G=4), pixels [64, 128)
    assert (written == expect).all()
    ref = (w.astype(np.float64) @ x.reshape(c_in, -1))[4:8, 64:128]
    np.testing.assert_allclose(flat[4:8, 64:128], ref, rtol=2e-5, atol=2e-5)
