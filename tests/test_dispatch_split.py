"""How dispatch.py cuts work into workgroups: balanced ranges, grid validation."""
import pytest

from spiree.mlir_passes.dispatch import MAX_WORKGROUPS, Export, split
from spiree.mlir_passes.kernels.spmm import SpmmVariant
from spiree.mlir_passes.materialize import work_split


def test_split_is_balanced_and_covers_everything():
    for total in (1, 7, 8, 10, 13, 250, 12544):
        for parts in range(1, min(total, 12) + 1):
            ranges = split(total, parts)
            assert ranges[0][0] == 0 and ranges[-1][1] == total
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
            sizes = [b - a for a, b in ranges]
            assert max(sizes) - min(sizes) <= 1, (total, parts, sizes)


def test_old_ceil_split_left_short_tails():
    # 10 units in 8 workgroups: ceil-sized ranges (2 each) used only 5 workgroups; balanced ones use all 8.
    assert sorted(b - a for a, b in split(10, 8)) == [1, 1, 1, 1, 1, 1, 2, 2]


def _export(**kw):
    base = dict(name="e", kernel="k", bindings=(("f32", 4),), scalars=(), units=16, vmin=0.0, vmax=1.0)
    return Export(**{**base, **kw})


def test_export_default_grid_and_validation():
    assert _export().workgroups == (min(16, MAX_WORKGROUPS), 1)
    assert _export(units=3).workgroups == (3, 1)
    assert _export(span=100, span_align=64, grid=(2, 2)).span_blocks == 2
    with pytest.raises(ValueError, match=r"grid \(2, 3\) must be within 1\.\.16 units x 1\.\.2 span blocks"):
        _export(span=100, span_align=64, grid=(2, 3))
    with pytest.raises(ValueError, match="units must be >= 1"):
        _export(units=0)


def test_pointwise_work_split():
    host, arm = SpmmVariant(64, 4, 8, 16), SpmmVariant(16, 4, 8, 4)  # 16 lanes stream, 4 do not
    dense = SpmmVariant(64, 4, 0, 16)
    # MobileNet-v1's first 1x1 layer (32 -> 64 channels, 112x112): pixels, 8 tile-workgroups.
    assert work_split(1, 32, 112 * 112, 16, 64 * 32 * 4, dense) == ((1, 8), 2048)
    # Its 14x14 512 -> 512 layer, dense: the weights (1 MB) outweigh the input (400 KB): groups.
    assert work_split(1, 512, 196, 128, 512 * 512 * 4, dense)[0] == (8, 1)
    # The same layer 90% sparse: pixels (8 workgroups of its 13 16-pixel tiles) where the kernel does not
    # stream; whole rows (196 floats, not a cache-line multiple) per workgroup where it does.
    sparse = 512 * 52 * 4 + 128 * 52 * 2
    assert work_split(1, 512, 196, 128, sparse, arm) == ((1, 8), 128)
    assert work_split(1, 512, 196, 128, sparse, host) == ((8, 1), 196)
    # 28x28 rows (784 floats) are whole lines: pixels (8 workgroups of its 13 64-pixel tiles).
    assert work_split(1, 256, 784, 64, 256 * 26 * 4 + 64 * 26, host)[0] == (1, 8)
    # A Linear layer (one pixel): groups.
    assert work_split(1, 1024, 1, 250, 1000 * 1024 * 4, dense)[0] == (8, 1)
