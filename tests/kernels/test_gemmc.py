"""Every channel-vectorized dense pointwise variant (templates/gemmc.c.in) against numpy, on its
own: blocks of 8/16/32/48 output channels on 4/8/16 lanes, each epilogue activation, residual
add and SE input scale, pixel counts that exercise every tile (T, T-1, ..., 1), output-channel
counts that are not a multiple of the block, batch 2, a sub-range of blocks and of pixels (one
workgroup's share). Outputs start as NaN so an element the kernel does not write fails.
Tolerance: 1e-5 relative to the output scale (float32 sums in a different order)."""
import itertools

import numpy as np
import pytest

from spiree.mlir_passes import pattern
from spiree.mlir_passes.kernels import ACTIVATIONS, render_sources
from spiree.mlir_passes.kernels.gemmc import GemmcVariant, prefer

from .cabi import build, call, check_written, pointwise_reference


def run_variant(v: GemmcVariant, *, batch=2, c_in=19, c_out=70, hw=49, units=None, pixels=None, seed=0):
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(c_out, c_in, 1, 1)).astype(np.float32)
    x = rng.normal(size=(batch, c_in, hw)).astype(np.float32)
    bias = rng.normal(size=c_out).astype(np.float32)
    res = rng.normal(size=(batch, c_out, hw)).astype(np.float32)
    scale = rng.uniform(0.1, 1.0, size=(batch, c_in)).astype(np.float32)
    values = pattern.dense_values(weight, v.block)
    nb = values.shape[0]
    out = np.full((batch, c_out, hw), np.nan, np.float32)
    operands = [x, values, bias] + ([res] if v.add else []) + ([scale] if v.scale else []) + [out]
    g0, g1 = units or (0, nb)
    p0, p1 = pixels or (0, hw)
    lo, hi = (0.0, 6.0) if v.act == "minmax" else (-np.inf, np.inf)
    call(build(render_sources([v])), v.name, operands, [batch, c_in, c_out, hw, c_in, v.chunk(c_in), g0, g1, p0, p1],
         lo, hi)

    ref = pointwise_reference(weight, x, bias, act=v.act, vmin=lo, vmax=hi, res=res if v.add else None,
                              scale=scale if v.scale else None)
    check_written(out, ref, slice(g0 * v.block, min(g1 * v.block, c_out)), slice(p0, p1))


@pytest.mark.parametrize("block, lanes", [(8, 4), (16, 4), (16, 8), (32, 16), (48, 16)])
def test_blocks_and_lanes(block, lanes):
    for hw in (1, 6, 7, 13, 49):
        run_variant(GemmcVariant(block, lanes), hw=hw, seed=hw)


@pytest.mark.parametrize("act, add, scale", list(itertools.product(ACTIVATIONS, [False, True], [False, True])))
def test_epilogues(act, add, scale):
    run_variant(GemmcVariant(32, 16, act, add, scale))


@pytest.mark.parametrize("pixels", [1, 3, 14])
def test_tile_sizes(pixels):
    v = GemmcVariant(16, 8, "silu", True, pixels=pixels)
    assert v.tile_sizes() == list(range(pixels, 0, -1))
    for hw in (1, 5, 29):
        run_variant(v, hw=hw, seed=hw)


def test_block_and_pixel_ranges():
    """A workgroup's share: blocks [1, 2) of 3, pixels cut at a multiple of T, and the tail."""
    v = GemmcVariant(32, 16, "hswish", True, True)
    run_variant(v, units=(1, 2), pixels=(14, 35))
    run_variant(v, units=(2, 3), pixels=(42, 49))


def test_variant_names_and_checks():
    assert GemmcVariant(32, 16).name == "spiree_gemmc_f32_32x7_v16"
    assert GemmcVariant(16, 8, "silu", True, True, pixels=3).name == "spiree_gemmc_f32_16x3_v8_silu_add_scale"
    with pytest.raises(ValueError, match="lanes must be 4, 8 or 16 and divide the block 20, got 16"):
        GemmcVariant(20, 16)
    with pytest.raises(ValueError, match="activation 'gelu' is not one of minmax, sigmoid, silu, hswish"):
        GemmcVariant(32, 16, "gelu")


def test_prefer():
    """7x7 planes (and Linear) of deep layers on 16 lanes, 14x14 ones with weights of 1 MB or
    more; not other 14x14 layers, narrow layers or 4 lanes."""
    assert prefer(49, 1024, 1024, 32, 16) and prefer(1, 1024, 1000, 32, 16) and prefer(49, 160, 960, 32, 16)
    assert prefer(196, 512, 512, 32, 16)
    assert not prefer(196, 256, 512, 32, 16) and not prefer(196, 96, 576, 32, 16)
    assert not prefer(784, 1024, 1024, 32, 16)
    assert not prefer(49, 32, 1024, 32, 16)
    assert not prefer(49, 1024, 1024, 16, 4)
