"""Every pointwise-kernel variant (templates/spmm.c.in) against numpy, on its own: sparse
(8/16/32-bit indices) and dense, G 1/2/4/8, each epilogue activation, residual add and SE
input scale, pixel counts that exercise every tile (MR, MR/2, ..., 4, 1), output-channel
counts that are not a multiple of G, batch 2, and a sub-range of groups (one workgroup's share).
Outputs start as NaN so an element the kernel does not write fails. Tolerance: 1e-5 relative
to the output scale (float32 sums in a different order; the activations' exp ~2 ulp)."""
import itertools

import numpy as np
import pytest

from spiree.mlir_passes import pattern
from spiree.mlir_passes.kernels import ACTIVATIONS, render_sources
from spiree.mlir_passes.kernels.spmm import DENSE, SpmmVariant

from .cabi import build, call, check_written, pointwise_reference


def random_group_sparse(rng, c_out, c_in, group, keep):
    """A [c_out, c_in, 1, 1] weight whose groups of `group` rows share `keep` kept columns."""
    w = np.zeros((c_out, c_in), np.float32)
    for g0 in range(0, c_out, group):
        cols = rng.choice(c_in, keep, replace=False)
        w[g0:g0 + group, cols] = rng.normal(size=(min(group, c_out - g0), keep))
    return w.reshape(c_out, c_in, 1, 1)


def run_variant(v: SpmmVariant, *, batch=2, c_in=19, c_out=30, hw=64 + 32 + 4 + 3, keep=7, units=None, seed=0,
                pixels=None, chunk=None):
    rng = np.random.default_rng(seed)
    weight = random_group_sparse(rng, c_out, c_in, v.group, keep if not v.dense else c_in)
    x = rng.normal(size=(batch, c_in, hw)).astype(np.float32)
    bias = rng.normal(size=c_out).astype(np.float32)
    res = rng.normal(size=(batch, c_out, hw)).astype(np.float32)
    scale = rng.uniform(0.1, 1.0, size=(batch, c_in)).astype(np.float32)
    if v.dense:
        values, arrays = pattern.dense_values(weight, v.group), []
    else:
        values, indices = pattern.pack(weight, v.group)
        indices = indices.astype({8: np.int8, 16: np.int16, 32: np.int32}[v.index_bits])
        arrays = [indices]
    ng, k = values.shape[0], values.shape[1]
    out = np.full((batch, c_out, hw), np.nan, np.float32)
    operands = [x, values, *arrays, bias] + ([res] if v.add else []) + ([scale] if v.scale else []) + [out]
    g0, g1 = units or (0, ng)
    lo, hi = (0.0, 6.0) if v.act == "minmax" else (-np.inf, np.inf)
    p0, p1 = pixels or (0, hw)
    call(build(render_sources([v])), v.name, operands, [batch, c_in, c_out, hw, k, chunk or v.chunk(k), g0, g1, p0, p1],
         lo, hi)

    ref = pointwise_reference(weight, x, bias, act=v.act, vmin=lo, vmax=hi, res=res if v.add else None,
                              scale=scale if v.scale else None)
    check_written(out, ref, slice(g0 * v.group, min(g1 * v.group, c_out)), slice(p0, p1))


@pytest.mark.parametrize("index_bits", [8, 16, 32, DENSE])
@pytest.mark.parametrize("group", [1, 2, 4, 8])
def test_groups_and_index_types(group, index_bits):
    run_variant(SpmmVariant(64, group, index_bits, 16))


@pytest.mark.parametrize("act, add, scale", list(itertools.product(ACTIVATIONS, [False, True], [False, True])))
@pytest.mark.parametrize("index_bits", [16, DENSE])
def test_epilogues(act, add, scale, index_bits):
    run_variant(SpmmVariant(64, 4, index_bits, 16, act, add, scale))


@pytest.mark.parametrize("mr, lanes", [(16, 4), (32, 8), (32, 16), (128, 16)])
def test_tiles_and_lanes(mr, lanes):
    for hw in (1, 3, 4, 7, 49, 196):
        run_variant(SpmmVariant(mr, 4, 8, lanes, "silu"), hw=hw, seed=hw)


def test_pixel_ranges_and_chunks():
    """A workgroup's pixel range (a multiple of MR, or the tail) in chunks of MR or more."""
    v = SpmmVariant(32, 8, DENSE, 16, "silu", True)
    for pixels, chunk in (((32, 96), 32), ((64, 103), 64), ((0, 103), 32), ((96, 103), 32)):
        run_variant(v, pixels=pixels, chunk=chunk, units=(1, 3))
    run_variant(SpmmVariant(64, 4, 8, 16), pixels=(64, 103), chunk=64)


def test_group_subrange():
    run_variant(SpmmVariant(64, 4, 8, 16), c_out=30, units=(2, 5))
    run_variant(SpmmVariant(64, 8, DENSE, 16, "hswish", True, True), c_out=30, units=(3, 4))


def test_variant_names():
    assert SpmmVariant(64, 4, 8, 16).name == "spiree_spmm_f32_64x4_v16_i8"
    assert SpmmVariant(64, 4, DENSE, 16, "silu", True, True).name == "spiree_gemm_f32_64x4_v16_silu_add_scale"
    with pytest.raises(ValueError, match="activation 'gelu' is not one of minmax, sigmoid, silu, hswish"):
        SpmmVariant(64, 4, 8, 16, "gelu")


@pytest.mark.parametrize("index_bits, k", [(8, 7), (16, 7), (DENSE, 19)])
@pytest.mark.parametrize("lanes, mr", [(4, 16), (16, 64)])
def test_fixed_k(index_bits, k, lanes, mr):
    """A variant built for one layer's K (7 kept positions sparse, C_in = 19 dense), every tile."""
    v = SpmmVariant(mr, 4, index_bits, lanes, "silu", True, k=k)
    assert v.name.endswith(f"_k{k}_silu_add")
    for hw in (1, 7, 103):
        run_variant(v, hw=hw, seed=hw)


def test_fixed_k_limits():
    assert SpmmVariant(64, 4, 8, 16, k=32).name == "spiree_spmm_f32_64x4_v16_i8_k32"
    for k in (0, 33):
        with pytest.raises(ValueError, match=f"a fixed K must be 1..32, got {k}"):
            SpmmVariant(64, 4, 8, 16, k=k)
