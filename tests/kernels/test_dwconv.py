"""The depthwise kernel family (templates/dwconv.c.in) against a numpy reference, at the C level:
every variant the dwconv pass can pick on this host (K 3/5/7, stride 1/2, every activation, the
host's lanes) and the 4/8-lane variants of the other targets built for this CPU; planes from 1x1
to 112x112, symmetric and asymmetric zero padding, batch 2 x several channels, unit sub-ranges,
planes wide enough to be split into column tiles. Outputs start NaN, so an element the kernel
does not write fails. Tolerance: |y - ref| <= 1e-5 * (1 + sum |w * x| + |bias|) per element
(float32 accumulation of up to 49 products against float64)."""
import itertools

import numpy as np
import pytest

from spiree.mlir_passes.kernels import ACTIVATIONS, render_sources
from spiree.mlir_passes.kernels.dwconv import KERNEL_SIZES, LANES, STRIDES, DwconvVariant
from spiree.targets import get_target

from .cabi import activation, build, call

HOST_LANES = get_target("host").vector_f32_lanes
VARIANTS = [DwconvVariant(k, s, l, a) for k in KERNEL_SIZES for s in STRIDES for l in LANES for a in ACTIVATIONS]
BOUNDS = {"minmax": (0.0, 6.0), "sigmoid": (-np.inf, np.inf), "silu": (-0.1, 3.0), "hswish": (-np.inf, np.inf)}


@pytest.fixture(scope="module")
def lib():
    return build(render_sources(VARIANTS))


def reference(x, w, b, k, s, pads, act, vmin, vmax):
    """numpy float64: (out, scale) with scale = |bias| + sum |w * x| for the tolerance."""
    top, bottom, left, right = pads
    n, c, h, wd = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom), (left, right)))
    ho = (top + h + bottom - k) // s + 1
    wo = (left + wd + right - k) // s + 1
    acc = np.broadcast_to(b.astype(np.float64)[None, :, None, None], (n, c, ho, wo)).copy()
    scale = np.abs(acc)
    for ky, kx in itertools.product(range(k), range(k)):
        win = xp[:, :, ky:ky + s * (ho - 1) + 1:s, kx:kx + s * (wo - 1) + 1:s]
        term = win * w[None, :, ky, kx, None, None].astype(np.float64)
        acc += term
        scale += np.abs(term)
    return activation(act, acc, vmin, vmax), scale


def run(lib, v, x, w, b, pads, vmin, vmax, units=None):
    n, c, h, wd = x.shape
    top, bottom, left, right = pads
    ho = (top + h + bottom - v.kernel) // v.stride + 1
    wo = (left + wd + right - v.kernel) // v.stride + 1
    y = np.full((n, c, ho, wo), np.nan, np.float32)
    u0, u1 = units if units is not None else (0, n * c)
    call(lib, v.name, [x, w.reshape(c, -1), b, y], [c, h, wd, top, bottom, left, right, u0, u1], vmin, vmax)
    return y


def wrong(y, ref, scale):
    """Elements outside the tolerance (NaN, i.e. unwritten, counts as wrong)."""
    return ~(np.abs(y - ref) <= 1e-5 * (1.0 + scale))


def check(lib, v, shape, pads, seed, units=None):
    rng = np.random.default_rng(seed)
    n, c, h, wd = shape
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((c, v.kernel, v.kernel)).astype(np.float32) / v.kernel
    b = rng.standard_normal(c).astype(np.float32)
    vmin, vmax = BOUNDS[v.act]
    y = run(lib, v, x, w, b, pads, vmin, vmax, units)
    ref, scale = reference(x, w, b, v.kernel, v.stride, pads, v.act, vmin, vmax)
    u0, u1 = units if units is not None else (0, n * c)
    ys, refs, scales = (a.reshape(n * c, *a.shape[2:]) for a in (y, ref, scale))
    assert np.isnan(ys[:u0]).all() and np.isnan(ys[u1:]).all(), f"{v.name}: wrote outside units [{u0}, {u1})"
    bad = wrong(ys[u0:u1], refs[u0:u1], scales[u0:u1])
    assert not bad.any(), (f"{v.name} shape {shape} pads {pads}: {int(bad.sum())} wrong of {bad.size}, "
                           f"first at {np.argwhere(bad)[0].tolist()}, max err {np.nanmax(np.abs(ys[u0:u1] - refs[u0:u1]))}")


def paddings(k, h, w, rng):
    """Symmetric (k // 2), none (if the plane holds the window) and two random asymmetric ones."""
    out = [(k // 2,) * 4]
    if h >= k and w >= k:
        out.append((0, 0, 0, 0))
    while len(out) < 4:
        t, b_, l, r = (int(p) for p in rng.integers(0, k, 4))
        if t + h + b_ >= k and l + w + r >= k and (t, b_) != (b_, t) and (l, r) != (r, l):
            out.append((t, b_, l, r))
    return out


PLANES = [(1, 1), (2, 2), (7, 7), (14, 14), (15, 13), (4, 23), (112, 112)]


@pytest.mark.parametrize("v", [v for v in VARIANTS if v.lanes == HOST_LANES], ids=lambda v: v.name)
def test_host_variant(lib, v):
    rng = np.random.default_rng(v.kernel * 10 + v.stride)
    for i, (h, w) in enumerate(PLANES):
        for j, pads in enumerate(paddings(v.kernel, h, w, rng)):
            shape = (1, 2, h, w) if h * w > 1000 else (2, 3, h, w)
            check(lib, v, shape, pads, seed=100 * i + j)


@pytest.mark.parametrize("v", [v for v in VARIANTS if v.lanes != HOST_LANES and v.act in ("minmax", "silu")],
                         ids=lambda v: v.name)
def test_other_lanes(lib, v):
    # The arm64 / wasm32 variants (4 lanes) and 8 lanes, built for this CPU: same C, same answers.
    rng = np.random.default_rng(v.kernel * 10 + v.stride + v.lanes)
    for i, (h, w) in enumerate([(1, 1), (7, 7), (14, 14), (15, 13), (56, 56)]):
        for j, pads in enumerate(paddings(v.kernel, h, w, rng)[:3]):
            check(lib, v, (2, 3, h, w), pads, seed=100 * i + j)


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("k, s", [(3, 1), (5, 2), (7, 2)])
def test_unit_subranges(lib, lanes, k, s):
    # Workgroups get [u_begin, u_end) of batch x channels; nothing else may be written.
    v = DwconvVariant(k, s, lanes, "hswish")
    for units in [(0, 1), (3, 7), (11, 12), (5, 5)]:
        check(lib, v, (2, 6, 15, 13), (k // 2, k // 2 + 1, k // 2 - 1, k // 2), seed=sum(units), units=units)


@pytest.mark.parametrize("lanes", LANES)
@pytest.mark.parametrize("k, s", [(3, 1), (5, 1), (3, 2)])
@pytest.mark.parametrize("act", ["minmax", "silu"])
def test_planes_between_the_ends(lib, lanes, k, s, act):
    # Planes away from both ends of x: on 16 lanes these kernels read them in place (rows several
    # vectors wide: masked first and last vectors, unmasked ones between; rows of at most 8
    # outputs: two rows per vector); the end planes take the scratch.
    v = DwconvVariant(k, s, lanes, act)
    for i, pads in enumerate([(1, 1, 1, 1), (0, 2, 2, 0), (2, 0, 0, 1), (1, 1, 0, 2)]):
        check(lib, v, (1, 5, 19, 83), pads, seed=20 + i)
        check(lib, v, (2, 3, 9, 2 * lanes + 3), pads, seed=30 + i, units=(1, 5))
        check(lib, v, (1, 6, 7 * s, 7 * s), pads, seed=40 + i)
        check(lib, v, (1, 6, 17, 5 * s), pads, seed=50 + i, units=(1, 6))


@pytest.mark.parametrize("k", [3, 5])
def test_minmax_stride1_direct_only_for_wide_rows(lib, k):
    # On 16 lanes, stride 1 with a minmax epilogue reads the planes between the ends in place only
    # when a row is wider than one vector (wo > 16); narrower rows take the scratch even there.
    # Widths around that edge, heights around the 7-row blocks of 3x3, the scratch before and
    # after the direct planes within one call (unit sub-ranges).
    v = DwconvVariant(k, 1, HOST_LANES, "minmax")
    rng = np.random.default_rng(k)
    for i, (h, w) in enumerate([(7, 16), (15, 16), (8, 17), (14, 14), (22, 18), (13, 33), (29, 56)]):
        for j, pads in enumerate(paddings(k, h, w, rng)):
            check(lib, v, (1, 7, h, w), pads, seed=60 + 10 * i + j)
            check(lib, v, (2, 4, h, w), pads, seed=61 + 10 * i + j, units=(1, 7))


@pytest.mark.parametrize("k, s", [(3, 1), (7, 1), (5, 2), (7, 2)])
def test_wide_plane_column_tiles(lib, k, s):
    # Wider than one row strip of the stack scratch: the kernel splits columns into tiles.
    v = DwconvVariant(k, s, HOST_LANES, "minmax")
    check(lib, v, (1, 2, 9, 1500), (k // 2, 1, 2, k - 1), seed=7)
    check(lib, v, (1, 1, 300, 611), (0, k - 1, k // 2, k // 2), seed=8)


@pytest.mark.parametrize("k, s", [(3, 1), (3, 2), (5, 2)])
def test_padding_wider_than_the_window(lib, k, s):
    # Border outputs that see only zeros are act(bias); the reference covers them too.
    v = DwconvVariant(k, s, HOST_LANES, "sigmoid")
    check(lib, v, (2, 3, 3, 4), (k + 1, k + 2, k + 3, k), seed=9)


def test_variant_checks():
    with pytest.raises(ValueError, match="kernel size must be one of"):
        DwconvVariant(4, 1, 16)
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        DwconvVariant(3, 3, 16)
    with pytest.raises(ValueError, match="lanes must be 4, 8 or 16"):
        DwconvVariant(3, 1, 32)
    with pytest.raises(ValueError, match="activation 'gelu' is not one of"):
        DwconvVariant(3, 1, 16, "gelu")
    assert DwconvVariant(5, 2, 16, "silu").name == "spiree_dwconv_k5s2_v16_silu"


IN_PLACE = [v for v in VARIANTS if v.lanes == HOST_LANES == 16 and v.stride == 1 and v.kernel in (3, 5)]
# (h, w, pads top/bottom/left/right as multiples of... given per kernel below): rows of 17 to 256
IN_PLACE_PLANES = [(112, 112), (56, 56), (28, 28), (17, 40), (9, 256), (30, 17), (5, 33)]


@pytest.mark.parametrize("v", IN_PLACE, ids=lambda v: v.name)
def test_in_place(lib, v):
    """The output written over the input, as the dwconv pass ties the dispatch's result to x
    (stride 1, output the shape of the input, rows of 17 to 256): the planes of the call, taken
    in three sub-ranges one after the other as workgroups are, match the reference; with one
    sub-range, the planes outside it keep their input. "Same" and an asymmetric padding."""
    k = v.kernel
    vmin, vmax = BOUNDS[v.act]
    for i, (h, wd) in enumerate(IN_PLACE_PLANES):
        for pads in [(k // 2,) * 4, (0, k - 1, k - 1, 0)]:
            rng = np.random.default_rng(1000 + 10 * i + pads[0])
            n, c = (1, 3) if h * wd > 1000 else (2, 3)
            x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
            w = rng.standard_normal((c, k, k)).astype(np.float32) / k
            b = rng.standard_normal(c).astype(np.float32)
            ref, scale = reference(x, w, b, k, 1, pads, v.act, vmin, vmax)
            assert ref.shape == x.shape
            io = x.copy()
            cuts = [0, 1, n * c - 1, n * c]
            for u0, u1 in zip(cuts, cuts[1:]):
                call(lib, v.name, [io, w.reshape(c, -1), b, io], [c, h, wd, *pads, u0, u1], vmin, vmax)
            bad = wrong(io, ref, scale)
            assert not bad.any(), (f"{v.name} in place {h}x{wd} pads {pads}: {int(bad.sum())} wrong of {bad.size}, "
                                   f"first at {np.argwhere(bad)[0].tolist()}")
            io = x.copy()
            call(lib, v.name, [io, w.reshape(c, -1), b, io], [c, h, wd, *pads, 1, 2], vmin, vmax)
            flat, xf = io.reshape(n * c, h, wd), x.reshape(n * c, h, wd)
            assert np.array_equal(flat[0], xf[0]) and np.array_equal(flat[2:], xf[2:]), "wrote outside its planes"
            assert not wrong(flat[1], ref.reshape(n * c, h, wd)[1], scale.reshape(n * c, h, wd)[1]).any()
