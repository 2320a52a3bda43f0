"""Every squeeze-and-excitation variant (templates/se.c.in) against numpy: channel counts
with and without a vector tail (16, 37, 96), squeeze sizes 1..24 (groups padded at the end),
planes that exercise the 4-vector, 1-vector and scalar loops of the squeeze (1, 7x7, 15x13),
dense and group-pruned weights packed by `pattern.pack`, batch 3 with a batch sub-range, each
activation pair with a clamp after the reduce. Tolerance 1e-5 relative."""
import numpy as np
import pytest

from spiree.mlir_passes import pattern
from spiree.mlir_passes.kernels import ACTIVATIONS, render_sources
from spiree.mlir_passes.kernels.se import SeVariant

from .cabi import activation, build, call


def se_reference(x, w1, b1, w2, b2, act1, lo1, hi1, act2, lo2, hi2):
    """float64: the gate of each batch element, x [N, C, HW] -> [N, C]."""
    m = x.astype(np.float64).mean(axis=2)
    h = activation(act1, m @ w1.T.astype(np.float64) + b1, lo1, hi1)
    return activation(act2, h @ w2.T.astype(np.float64) + b2, lo2, hi2)


def pruned(rng, rows, cols, group, keep):
    """A [rows, cols] weight whose G-groups of rows share `keep` random nonzero columns."""
    w = rng.normal(size=(rows, cols)).astype(np.float32)
    for s in pattern.group_slices(rows, group):
        drop = rng.permutation(cols)[keep:]
        w[s, drop] = 0.0
    return w


def run_se(lib, v, x, w1, b1, w2, b2, clamp1, lo2, hi2, n_range):
    n, ch, hw = x.shape
    v1, i1 = pattern.pack(w1, v.g1)
    v2, i2 = pattern.pack(w2, v.g2)
    out = np.full((n, ch), np.nan, np.float32)
    call(lib, v.name, [x, v1, i1.astype(np.int32), b1, v2, i2.astype(np.int32), b2, clamp1, out],
         [n, ch, hw, w1.shape[0], v1.shape[1], v2.shape[1], *n_range], lo2, hi2)
    return out


@pytest.mark.parametrize("act2", ACTIVATIONS)
@pytest.mark.parametrize("act1", ACTIVATIONS)
@pytest.mark.parametrize("lanes", [4, 8, 16])
def test_se(lanes, act1, act2):
    rng = np.random.default_rng(lanes)
    for ch, sq, hw, g1, g2, keep1, keep2 in ((16, 4, 49, 4, 8, 16, 4), (37, 1, 195, 1, 1, 37, 1),
                                            (96, 24, 1, 8, 4, 10, 3), (96, 6, 112, 4, 2, 96, 6)):
        v = SeVariant(lanes, g1, g2, act1, act2)
        lib = build(render_sources([v]))
        x = rng.normal(size=(3, ch, hw)).astype(np.float32)
        w1, w2 = pruned(rng, sq, ch, g1, keep1), pruned(rng, ch, sq, g2, keep2)
        b1 = rng.normal(size=sq).astype(np.float32)
        b2 = rng.normal(size=ch).astype(np.float32)
        lo1, hi1 = (0.0, 6.0) if act1 == "minmax" else (-np.inf, np.inf)
        lo2, hi2 = (0.0, 1.0) if act2 == "minmax" else (-np.inf, np.inf)
        out = run_se(lib, v, x, w1, b1, w2, b2, np.array([lo1, hi1], np.float32), lo2, hi2, (1, 3))
        ref = se_reference(x, w1, b1, w2, b2, act1, lo1, hi1, act2, lo2, hi2)
        np.testing.assert_allclose(out[1:], ref[1:], rtol=1e-5, atol=1e-5 * np.abs(ref).max())
        assert np.isnan(out[0]).all()


def test_name():
    assert SeVariant(16, 8, 4, "silu", "sigmoid").name == "spiree_se_f32_g8g4_v16_silu_sigmoid"
    with pytest.raises(ValueError, match="activation 'tanh'"):
        SeVariant(16, 4, 4, "tanh")
    with pytest.raises(ValueError, match="group sizes must be 1, 2, 4 or 8, got 3"):
        SeVariant(16, 3, 4)


def test_dense_baseline_packing_reads_every_position():
    """The `se` pass's dense-baseline packing (exploit_sparsity=False) of a pruned weight keeps
    every position, so the kernel computes the same gate as from the pruned packing."""
    from spiree.mlir_passes.se import _packed

    rng = np.random.default_rng(1)
    w = pruned(rng, 12, 40, 4, 5)
    (vs, is_), (vd, id_) = _packed(w, True), _packed(w, False)
    assert vs.shape == (3, 5, 4) and vd.shape == (2, 40, 8) and (id_ == np.arange(40)).all()
    np.testing.assert_array_equal(pattern.unpack(vs, is_, 12, 40), w)
    np.testing.assert_array_equal(pattern.unpack(vd, id_, 12, 40), w)
