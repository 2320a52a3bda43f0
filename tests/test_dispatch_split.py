"""How dispatch.py cuts work into workgroups: balanced ranges, grid validation."""
import pytest

from spiree.mlir_passes.dispatch import MAX_WORKGROUPS, Export, split
from spiree.mlir_passes.kernels.spmm import DENSE, SpmmVariant
from spiree.mlir_passes.materialize import work_grid


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


def test_pointwise_work_grid():
    # MobileNet-v1's first 1x1 layer (32 -> 64 channels, 112x112): pixels, 8 tiles-workgroups.
    assert work_grid(1, 32, 112 * 112, 16, 64 * 32 * 4, 64) == (1, 8)
    # The kernel's pixel chunk, a multiple of MR: on 16 lanes 256 KiB of the kept input rows and
    # at least 512 pixels; on 4 lanes 16 KiB.
    assert SpmmVariant(64, 4, DENSE, 16).chunk(32) == 2048 and SpmmVariant(32, 8, DENSE, 16).chunk(1024) == 512
    assert SpmmVariant(64, 4, 8, 16).chunk(13) == 4992
    assert SpmmVariant(16, 4, DENSE, 4).chunk(32) == 128 and SpmmVariant(16, 4, DENSE, 4).chunk(1024) == 16
    # Its 14x14 512 -> 512 layer, dense: the weights (1 MB) outweigh the input (400 KB): groups.
    assert work_grid(1, 512, 196, 128, 512 * 512 * 4, 64) == (8, 1)
    # The same layer 90% sparse: pixels (4 tiles) x 2 group halves.
    assert work_grid(1, 512, 196, 128, 512 * 52 * 4 + 128 * 52 * 2, 64) == (2, 4)
    # A Linear layer (one pixel): groups.
    assert work_grid(1, 1024, 1, 250, 1000 * 1024 * 4, 64) == (8, 1)
