"""Every global-average-pooling variant (templates/gap.c.in) against numpy: plane sizes that
exercise the 4-vector loop, the 1-vector loop and the scalar tail (1, 7x7, 14x14, 15x13,
112x112), batch 2, a channel sub-range, each activation. Tolerance 1e-6 relative."""
import numpy as np
import pytest

from spiree.mlir_passes.kernels import ACTIVATIONS, render_sources
from spiree.mlir_passes.kernels.gap import GapVariant

from .cabi import activation, build, call


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("lanes", [4, 8, 16])
def test_gap(lanes, act):
    v = GapVariant(lanes, act)
    lib = build(render_sources([v]))
    rng = np.random.default_rng(lanes)
    for hw in (1, 49, 196, 195, 112 * 112):
        x = rng.normal(size=(2, 10, hw)).astype(np.float32)
        out = np.full((2, 10), np.nan, np.float32)
        lo, hi = (0.0, 6.0) if act == "minmax" else (-np.inf, np.inf)
        call(lib, v.name, [x, out], [2, 10, hw, 3, 8], lo, hi)
        ref = activation(act, x.astype(np.float64).mean(axis=2), lo, hi)
        np.testing.assert_allclose(out[:, 3:8], ref[:, 3:8], rtol=1e-6, atol=1e-6)
        assert np.isnan(out[:, :3]).all() and np.isnan(out[:, 8:]).all()


def test_name():
    assert GapVariant(16).name == "spiree_gap_f32_v16"
    assert GapVariant(4, "sigmoid").name == "spiree_gap_f32_v4_sigmoid"
