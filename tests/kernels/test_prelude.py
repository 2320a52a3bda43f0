"""The epilogue activations of templates/prelude.c.in, vector (4/8/16 lanes) and scalar,
against numpy: relative error below 5e-6 (plus 1e-30 absolute near zero): the vector exp is a degree-4
polynomial in base 2 (prelude.c.in), < 5e-6 relative for |x| < 30."""
import numpy as np
import pytest

from spiree.mlir_passes.kernels import ACTIVATIONS, prelude

from .cabi import activation, build, call

WRAPPERS = "".join(f"""
void act_{a}_v{L}(const float* b0, const float* restrict x, size_t o0, size_t n0, size_t s0,
                  float* b1, float* restrict y, size_t o1, size_t n1, size_t s1,
                  size_t n, float lo, float hi) {{
  size_t i = 0;
  for (; i + {L} <= n; i += {L}) *(spiree_v{L}*)(y + i) = spiree_act_{a}_v{L}(*(const spiree_v{L}*)(x + i), lo, hi);
  for (; i < n; ++i) y[i] = spiree_act_{a}_s(x[i], lo, hi);
}}
""" for a in ACTIVATIONS for L in (4, 8, 16))


@pytest.fixture(scope="module")
def lib():
    return build(prelude() + WRAPPERS)


@pytest.mark.parametrize("lanes", [4, 8, 16])
@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("bounds", [(-np.inf, np.inf), (0.0, 6.0)])
def test_activation(lib, act, lanes, bounds):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 4, 997), [-200, -88, -87.5, -10, -3, -1e-8, 0, 1e-8, 3, 10, 87.9, 88.5, 200]])
    x = x.astype(np.float32)
    y = np.full_like(x, np.nan)
    call(lib, f"act_{act}_v{lanes}", [x, y], [x.size], *bounds)
    ref = activation(act, x, *bounds)
    np.testing.assert_allclose(y, ref, rtol=5e-6, atol=1e-30)
