"""The KxK / strided convolution kernels (templates/conv.c.in) and their prep kernel
(templates/convprep.c.in) against numpy: every stride / padding / kernel size / G, dense and
sparse, both plane modes, residual add, every activation, odd image sizes, 3 input channels,
unit (output-channel group) ranges split across calls. Outputs start as NaN so any element the
kernels do not write fails. Tolerance: 2e-5 relative to the output's scale (float32 sums of up
to a few hundred products against a float64 reference)."""
import itertools
import zlib

import numpy as np
import pytest

from spiree.mlir_passes import pattern
from spiree.mlir_passes.kernels import ACTIVATIONS, render_sources
from spiree.mlir_passes.kernels.conv import ConvVariant
from spiree.mlir_passes.kernels.convprep import ConvPlanes, ConvPrepVariant

from .cabi import activation, build, call

RTOL = 2e-5

# (C_in, H, W, K, stride, pad, C_out): ResNet/MobileNet shapes at small sizes, odd sizes, 3-channel stems
GEOMETRIES = [
    (5, 7, 7, 3, 1, 1, 8),
    (4, 14, 14, 3, 2, 1, 6),
    (3, 16, 16, 7, 2, 3, 8),  # ResNet stem
    (3, 15, 15, 3, 2, 1, 8),  # MobileNet stem, odd size
    (6, 9, 11, 5, 1, 2, 5),
    (3, 13, 10, 5, 2, 2, 7),
    (8, 7, 7, 1, 2, 0, 12),  # ResNet downsample shortcut (1x1/2)
    (4, 8, 9, 3, 1, 0, 4),  # no padding
    (2, 1, 1, 3, 1, 1, 3),  # one pixel
    (4, 56, 56, 3, 1, 1, 4),
    (4, 12, 12, 7, 1, 3, 9),
    (3, 14, 14, 1, 2, 0, 16),
]


def out_size(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def reference(x, w, bias, stride, pad, residual=None, act="minmax", vmin=-np.inf, vmax=np.inf):
    """float64 NCHW convolution (symmetric zero padding), + bias (+ residual), activation, clamp."""
    n, c, h, wd = x.shape
    co, _, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = out_size(h, kh, stride, pad), out_size(wd, kw, stride, pad)
    y = np.zeros((n, co, ho, wo)) + bias.reshape(1, -1, 1, 1)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, :, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, ky, kx].astype(np.float64))
    if residual is not None:
        y += residual
    return activation(act, y, vmin, vmax)


def group_sparse_weight(rng, c_out, c_in, k, group, density):
    """A balanced group-sparse [C_out, C_in, K, K] weight (pattern.holds with `group`)."""
    p = c_in * k * k
    keep = max(1, round(density * p))
    w = rng.normal(0, 1 / np.sqrt(keep), (c_out, p)).astype(np.float32)
    for s in pattern.group_slices(c_out, group):
        mask = np.zeros(p, bool)
        mask[rng.choice(p, keep, replace=False)] = True
        w[s, ~mask] = 0.0
    return w.reshape(c_out, c_in, k, k)


def pack(w, group, planes, sparse):
    """(values [NG, K, G], offsets) as the pass materializes them."""
    table = planes.offsets()
    if sparse:
        values, indices = pattern.pack(w, group)
        return values, table[indices.astype(np.int64)].astype(np.int32)
    w2d = pattern.positions_view(w).astype(np.float32)
    ng = pattern.num_groups(w2d.shape[0], group)
    padded = np.zeros((ng * group, w2d.shape[1]), np.float32)
    padded[:w2d.shape[0]] = w2d
    return np.ascontiguousarray(padded.reshape(ng, group, -1).transpose(0, 2, 1)), table


def run_conv(lib, variant, x, w, bias, stride, pad, mode, residual=None, vmin=-np.inf, vmax=np.inf, splits=(0.5,)):
    """Prep + conv through the C kernels; the output-channel groups are done in len(splits)+1 calls."""
    n, c, h, wd = x.shape
    co, _, kh, kw = w.shape
    ho, wo = out_size(h, kh, stride, pad), out_size(wd, kw, stride, pad)
    planes = ConvPlanes(n, c, h, wd, (kh, kw), stride, (pad, pad), (ho, wo), mode, variant.lanes)
    prepped = np.full(planes.size, np.nan, np.float32)
    prep = ConvPrepVariant(stride).name
    # prep in two channel ranges, the last one zeroes the slack
    half = c // 2
    for c0, c1 in ((0, half), (half, c)):
        call(lib, prep, [np.ascontiguousarray(x), prepped], [*planes.prep_scalars(), c0, c1])
    assert not np.isnan(prepped).any(), "prep left elements unwritten"
    values, offsets = pack(w, variant.group, planes, variant.sparse)
    ng, k = values.shape[:2]
    out = np.full((n, co, ho, wo), np.nan, np.float32)
    arrays = [prepped, values, offsets, bias.astype(np.float32)]
    if variant.residual:
        arrays.append(np.ascontiguousarray(residual, np.float32))
    arrays.append(out)
    cuts = sorted({0, ng, *(int(round(f * ng)) for f in splits)})
    for u0, u1 in zip(cuts, cuts[1:]):
        call(lib, variant.name, arrays, [*planes.conv_scalars(co, k), u0, u1], vmin, vmax)
    return out, planes, prepped


def prep_reference(x, planes):
    """numpy version of the prep kernel's planes (without the slack)."""
    s, (pt, pl) = planes.stride, planes.pad
    n, c, h, w = x.shape
    big = np.zeros((n, c, s * planes.rows + s + h + pt, s * planes.pitch + planes.col_phases + w + pl), np.float32)
    big[:, :, pt:pt + h, pl:pl + w] = x
    out = np.zeros((n, c, planes.row_phases, planes.col_phases, planes.rows, planes.pitch), np.float32)
    for py in range(planes.row_phases):
        for cx in range(planes.col_phases):
            out[:, :, py, cx] = big[:, :, py:py + s * planes.rows:s, cx:cx + s * planes.pitch:s]
    return out.reshape(-1)


# Every test case as (geometry, mode, sparse, G, variant knobs); the variants they need are
# built into one library.
def _cases():
    knobs = itertools.cycle([(16, 4, "minmax", False), (8, 2, "silu", True), (4, 3, "minmax", True),
                             (16, 1, "hswish", False), (4, 1, "sigmoid", True), (8, 4, "minmax", False),
                             (16, 3, "minmax", True)])
    cases = []
    for geo, mode, sparse, group in itertools.product(GEOMETRIES, ("pitch", "columns"), (False, True), (1, 2, 4, 8)):
        lanes, nv, act, add = next(knobs)
        cases.append((geo, mode, sparse, group, ConvVariant(lanes * nv, group, lanes, sparse, act, add)))
    return cases


CASES = _cases()
EXTRA = [ConvVariant(L * nv, g, L, s, a, r)
         for L, nv, g, s, a, r in itertools.product((4, 8, 16), (2,), (4,), (True,), ACTIVATIONS, (False, True))]


@pytest.fixture(scope="module")
def lib():
    variants = {c[-1] for c in CASES} | set(EXTRA) | {ConvPrepVariant(1), ConvPrepVariant(2)}
    return build(render_sources(variants))


def _case_id(case):
    geo, mode, sparse, group, v = case
    c, h, w, k, s, p, co = geo
    return f"{c}x{h}x{w}-k{k}s{s}p{p}-o{co}-{mode}-{'sparse' if sparse else 'dense'}-G{group}-{v.name}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_conv_against_numpy(lib, case):
    (c, h, wd, k, s, p, co), mode, sparse, group, variant = case
    rng = np.random.default_rng(zlib.crc32(_case_id(case).encode()))
    x = rng.normal(0, 1, (1, c, h, wd)).astype(np.float32)
    w = group_sparse_weight(rng, co, c, k, group, 0.3 if sparse else 1.0)
    bias = rng.normal(0, 0.5, co).astype(np.float32)
    ho, wo = out_size(h, k, s, p), out_size(wd, k, s, p)
    residual = rng.normal(0, 1, (1, co, ho, wo)).astype(np.float32) if variant.residual else None
    bounds = (0.0, 6.0) if variant.activation == "minmax" and variant.residual else (-np.inf, np.inf)
    out, planes, prepped = run_conv(lib, variant, x, w, bias, s, p, mode, residual, *bounds)
    np.testing.assert_array_equal(prepped[:planes.batch * planes.image], prep_reference(x, planes))
    assert not prepped[planes.batch * planes.image:].any(), "slack not zeroed"
    ref = reference(x, w, bias, s, p, residual, variant.activation, *bounds)
    np.testing.assert_allclose(out, ref, rtol=RTOL, atol=RTOL * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("variant", EXTRA, ids=[v.name for v in EXTRA])
@pytest.mark.parametrize("mode", ["pitch", "columns"])
def test_activations_and_residual(lib, variant, mode):
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (2, 6, 11, 13)).astype(np.float32)  # batch 2
    w = group_sparse_weight(rng, 10, 6, 3, 4, 0.5)
    bias = rng.normal(0, 0.5, 10).astype(np.float32)
    residual = rng.normal(0, 2, (2, 10, 11, 13)).astype(np.float32) if variant.residual else None
    for bounds in ((-np.inf, np.inf), (0.0, np.inf), (0.0, 6.0)):
        out, _, _ = run_conv(lib, variant, x, w, bias, 1, 1, mode, residual, *bounds, splits=(0.34, 0.67))
        ref = reference(x, w, bias, 1, 1, residual, variant.activation, *bounds)
        np.testing.assert_allclose(out, ref, rtol=RTOL, atol=RTOL * max(1.0, np.abs(ref).max()))


def test_empty_unit_range_writes_nothing(lib):
    v = ConvVariant(32, 4, 16, True)
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (1, 4, 6, 6)).astype(np.float32)
    w = group_sparse_weight(rng, 8, 4, 3, 4, 0.5)
    planes = ConvPlanes(1, 4, 6, 6, (3, 3), 1, (1, 1), (6, 6), "columns", 16)
    prepped = np.zeros(planes.size, np.float32)
    call(lib, ConvPrepVariant(1).name, [x, prepped], [*planes.prep_scalars(), 0, 4])
    values, offsets = pack(w, 4, planes, True)
    out = np.full((1, 8, 6, 6), np.nan, np.float32)
    call(lib, v.name, [prepped, values, offsets, np.zeros(8, np.float32), out],
         [*planes.conv_scalars(8, values.shape[1]), 1, 1])
    assert np.isnan(out).all()
    call(lib, v.name, [prepped, values, offsets, np.zeros(8, np.float32), out],
         [*planes.conv_scalars(8, values.shape[1]), 1, 2])
    assert np.isnan(out[:, :4]).all() and not np.isnan(out[:, 4:]).any()


def test_plane_geometry():
    # ResNet-18's 3x3/2 at 56x56: pitch mode is the polyphase split (4 planes of 29 x 29),
    # columns mode one plane per kx and row parity (6 planes of 29 x 28)
    p = ConvPlanes(1, 64, 56, 56, (3, 3), 2, (1, 1), (28, 28), "pitch", 16)
    assert (p.row_phases, p.col_phases, p.rows, p.pitch, p.q_count) == (2, 2, 29, 29, 27 * 29 + 28)
    assert list(p.offsets()[:9]) == [0, 841, 1, 2 * 841, 3 * 841, 2 * 841 + 1, 29, 841 + 29, 30]
    c = ConvPlanes(1, 64, 56, 56, (3, 3), 2, (1, 1), (28, 28), "columns", 16)
    assert (c.row_phases, c.col_phases, c.rows, c.pitch, c.q_count) == (2, 3, 29, 28, 28 * 28)
    plane = 29 * 28
    assert list(c.offsets()[:9]) == [0, plane, 2 * plane, 3 * plane, 4 * plane, 5 * plane, 28, plane + 28, 2 * plane + 28]
    with pytest.raises(ValueError, match="mode 'rows' is not one of pitch, columns"):
        ConvPlanes(1, 1, 4, 4, (3, 3), 1, (1, 1), (4, 4), "rows", 4)
    with pytest.raises(ValueError, match="stride must be 1 or 2, got 3"):
        ConvPrepVariant(3)


def test_variant_names_and_checks():
    assert ConvVariant(64, 4, 16, True, "silu", True).name == "spiree_conv_f32_64x4_v16_sparse_silu_add"
    assert ConvVariant(48, 8, 16, False).name == "spiree_conv_f32_48x8_v16_dense_minmax"
    with pytest.raises(ValueError, match="MR must be a positive multiple of lanes=16, got 40"):
        ConvVariant(40, 4, 16, True)
    with pytest.raises(ValueError, match="G must be 1, 2, 4 or 8, got 3"):
        ConvVariant(16, 3, 16, True)
    with pytest.raises(ValueError, match="activation 'gelu' is not one of"):
        ConvVariant(16, 4, 16, True, "gelu")
