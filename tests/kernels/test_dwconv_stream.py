"""The depthwise kernel's two ways of writing its output, against numpy: in place (one thread)
and streamed (once workgroups have run concurrently: rows staged, whole cache lines written with
non-temporal stores, the partial lines at a workgroup's two ends stored normally). Both are
called on channel ranges like a dispatch's workgroups, into NaN-filled outputs at several
alignments, so a float written twice wrongly or not at all fails."""
import numpy as np
import pytest

from spiree.mlir_passes.dispatch import split
from spiree.mlir_passes.kernels.dwconv import DwconvVariant, render_source

from .cabi import build, call

VARIANTS = [DwconvVariant(1, 16), DwconvVariant(2, 16)]


def _wrappers() -> str:
    out = []
    for v in VARIANTS:
        for how in ("in_place", "streamed"):
            out.append(f"""
void test_{how}_s{v.stride}(
    const float* x_base, const float* x_al, size_t x_off, size_t x_size, size_t x_stride,
    const float* w_base, const float* w_al, size_t w_off, size_t w_size, size_t w_stride,
    const float* b_base, const float* b_al, size_t b_off, size_t b_size, size_t b_stride,
    float* o_base, float* o_al, size_t o_off, size_t o_size, size_t o_stride,
    size_t batch, size_t ch, size_t h, size_t w, size_t ho, size_t wo,
    size_t c_begin, size_t c_end, float vmin, float vmax) {{
  {v.name}_{how}(x_base, x_al, x_off, x_size, x_stride, w_base, w_al, w_off, w_size, w_stride,
      b_base, b_al, b_off, b_size, b_stride, o_base, o_al, o_off, o_size, o_stride,
      batch, ch, h, w, ho, wo, c_begin, c_end, vmin, vmax);
}}""")
    return "".join(out)


@pytest.fixture(scope="module")
def lib():
    return build(render_source(VARIANTS) + _wrappers())


def _reference(x, w, b, stride, vmin, vmax):
    n, c, h, wd = x.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    out = np.zeros((n, c, ho, wo)) + b[None, :, None, None]
    for ky in range(3):
        for kx in range(3):
            out += w[None, :, ky, kx, None, None] * xp[:, :, ky:ky + stride * ho:stride, kx:kx + stride * wo:stride]
    return np.clip(out, vmin, vmax)


def _output(shape, misalign: int) -> np.ndarray:
    size = int(np.prod(shape))
    raw = np.empty(size + 32, np.float32)
    start = (-raw.ctypes.data // 4) % 16 + misalign
    out = raw[start:start + size].reshape(shape)
    out[...] = np.nan
    return out


@pytest.mark.parametrize("how", ["in_place", "streamed"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("shape", [(1, 11, 14, 14), (2, 6, 7, 7), (1, 5, 56, 40), (1, 3, 33, 21), (1, 9, 1, 3)])
@pytest.mark.parametrize("misalign", [0, 5])
def test_matches_numpy(lib, how, stride, shape, misalign):
    n, c, h, wd = shape
    rng = np.random.default_rng(h * wd + c)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((c, 3, 3)).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    ref = _reference(x, w, b, stride, 0.0, 6.0)
    ho, wo = ref.shape[2:]
    out = _output((n, c, ho, wo), misalign)
    for c0, c1 in split(c, min(c, 4)):  # workgroups of channels, as a dispatch calls them
        call(lib, f"test_{how}_s{stride}", [x.ravel(), w.ravel(), b, out.reshape(-1)],
             [n, c, h, wd, ho, wo, c0, c1], 0.0, 6.0)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5, err_msg=f"{how}, stride {stride}, {shape}")


def test_streamed_workgroup_writes_only_its_channels(lib):
    n, c, h, wd = 1, 6, 14, 14
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
    w = rng.standard_normal((c, 3, 3)).astype(np.float32)
    b = np.zeros(c, np.float32)
    out = _output((n, c, h, wd), 3)
    call(lib, "test_streamed_s1", [x.ravel(), w.ravel(), b, out.reshape(-1)], [n, c, h, wd, h, wd, 2, 4])
    written = ~np.isnan(out[0])
    assert written[2:4].all() and not written[:2].any() and not written[4:].any()
    np.testing.assert_allclose(out[0, 2:4], _reference(x, w, b, 1, -np.inf, np.inf)[0, 2:4], rtol=1e-5, atol=1e-5)
