"""The max-pooling kernel (templates/maxpool.c.in) against numpy: windows 2x2/3x3/3x2, strides
1/2, paddings 0/1 (-inf, as torch pads), odd sizes, a clamp after it, channel ranges split
across calls, NaN-filled outputs (exact: max is exact)."""
import itertools

import numpy as np
import pytest

from spiree.mlir_passes.kernels import render_sources
from spiree.mlir_passes.kernels.maxpool import MaxpoolVariant

from .cabi import build, call

CASES = [((3, 3), 2, 1, (1, 5, 112, 112)), ((3, 3), 2, 1, (1, 3, 7, 7)), ((3, 3), 2, 1, (2, 4, 14, 15)),
         ((2, 2), 2, 0, (1, 3, 9, 8)), ((3, 3), 1, 1, (1, 2, 6, 5)), ((3, 2), 2, 0, (1, 3, 11, 10)),
         ((3, 3), 2, 0, (1, 2, 9, 9)), ((3, 3), 2, 1, (1, 2, 1, 1))]
VARIANTS = [MaxpoolVariant(k, s, lanes) for (k, s, _, _), lanes in itertools.product(CASES, (4, 8, 16))]


@pytest.fixture(scope="module")
def lib():
    return build(render_sources(set(VARIANTS)))


def reference(x, kernel, stride, pad, vmin, vmax):
    n, c, h, w = x.shape
    kh, kw = kernel
    ho, wo = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    xp = np.full((n, c, h + 2 * pad + kh, w + 2 * pad + kw), -np.inf, np.float32)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    y = np.full((n, c, ho, wo), -np.inf, np.float32)
    for ky in range(kh):
        for kx in range(kw):
            y = np.maximum(y, xp[:, :, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride])
    return np.clip(y, vmin, vmax)


@pytest.mark.parametrize("lanes", [4, 8, 16])
@pytest.mark.parametrize("kernel, stride, pad, shape", CASES, ids=[f"k{k[0]}x{k[1]}s{s}p{p}-{'x'.join(map(str, sh))}" for k, s, p, sh in CASES])
def test_maxpool_against_numpy(lib, kernel, stride, pad, shape, lanes):
    rng = np.random.default_rng(sum(shape))
    x = rng.normal(0, 1, shape).astype(np.float32)
    n, c, h, w = shape
    ho, wo = (h + 2 * pad - kernel[0]) // stride + 1, (w + 2 * pad - kernel[1]) // stride + 1
    v = MaxpoolVariant(kernel, stride, lanes)
    for bounds in ((-np.inf, np.inf), (0.0, 1.5)):
        out = np.full((n, c, ho, wo), np.nan, np.float32)
        for c0, c1 in ((0, c // 2), (c // 2, c)):
            call(lib, v.name, [x, out], [n, c, h, w, ho, wo, pad, pad, c0, c1], *bounds)
        np.testing.assert_array_equal(out, reference(x, kernel, stride, pad, *bounds))


def test_variant_checks():
    assert MaxpoolVariant((3, 3), 2, 16).name == "spiree_maxpool3x3s2_f32_v16"
    with pytest.raises(ValueError, match="window must be between 1x1 and 8x8, got 9x3"):
        MaxpoolVariant((9, 3), 2, 4)
    with pytest.raises(ValueError, match="stride must be 1 to 4, got 5"):
        MaxpoolVariant((3, 3), 5, 4)
